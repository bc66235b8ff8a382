//! `serving.queue_order`, `serving.sjf_predictor`, `serving.sjf_aging_tokens_per_s`,
//! `serving.preemption_victim` and `serving.priority_preemption`: the waiting queue's order and
//! the preemption policy (`serve::queue_order`, `serve::victim`). Each default that changes an
//! answer is said in the notes when its mechanism is on.

use crate::error::{Error, Result};
use crate::scenario::ServingSection;
use crate::scenario::file::QueueOrderName;
use crate::serve::{Predictor, QueueOrder, SchedulerConfig, SchedulerKind, VictimChoice};
use std::path::Path;

/// Aging of shortest-job-first: a waiting request's predicted length drops by this many tokens
/// per second of wait. At 100 tokens/s a job predicted 1,000 tokens longer than another goes
/// ahead of every such job arriving 10 s or more after it.
pub const SJF_AGING_TOKENS_PER_S: f64 = 100.0;

/// Sets the scheduler's queue order, victim choice and priority preemption.
pub(super) fn resolve(s: &ServingSection, c: &mut SchedulerConfig, path: &Path, notes: &mut Vec<String>) -> Result<()> {
    let name = s.queue_order.unwrap_or(QueueOrderName::Priority);
    let sjf = matches!(name, QueueOrderName::SjfPredicted | QueueOrderName::SjfPrompt);
    if !sjf {
        for (key, set) in [
            ("serving.sjf_aging_tokens_per_s", s.sjf_aging_tokens_per_s.is_some()),
            ("serving.sjf_predictor", s.sjf_predictor.is_some()),
        ] {
            if set {
                return Err(Error::input(
                    path,
                    key,
                    "is set but serving.queue_order is not \"sjf-predicted\" or \"sjf-prompt\", so it would be ignored: remove it or set the order",
                ));
            }
        }
    }
    if name == QueueOrderName::SjfPrompt && s.sjf_predictor.is_some() {
        return Err(Error::input(
            path,
            "serving.sjf_predictor",
            "is set but serving.queue_order = \"sjf-prompt\" orders by prompt length and predicts nothing: remove it or use \"sjf-predicted\"",
        ));
    }
    let aging = s.sjf_aging_tokens_per_s.unwrap_or(SJF_AGING_TOKENS_PER_S);
    if !(aging.is_finite() && aging > 0.0) {
        return Err(Error::input(
            path,
            "serving.sjf_aging_tokens_per_s",
            format!(
                "is {aging}; accepted: a number > 0 (tokens of predicted length forgiven per second of wait; without aging long jobs could starve)"
            ),
        ));
    }
    let ns_per_token = 1e9 / aging;
    let aging_note = format!(
        "aged by serving.sjf_aging_tokens_per_s = {aging} (a job predicted ΔL tokens longer goes ahead of every job arriving more than ΔL / {aging} s after it){}",
        if s.sjf_aging_tokens_per_s.is_none() {
            ", the default"
        } else {
            ""
        }
    );
    c.order = match name {
        QueueOrderName::Priority => QueueOrder::Priority,
        QueueOrderName::Fcfs => QueueOrder::Fcfs,
        QueueOrderName::SjfPrompt => {
            notes.push(format!("serving.queue_order = sjf-prompt: each replica's waiting queue runs the shortest prompt first (arrival + prompt tokens / aging), class priorities ignored; {aging_note}"));
            QueueOrder::SjfPrompt { ns_per_token }
        }
        QueueOrderName::SjfPredicted => {
            let predictor = s.sjf_predictor.unwrap_or(Predictor::History);
            let what = match predictor {
                Predictor::History => {
                    "history: the running mean of the true outputs completed on the replica, per class and prompt-length bucket (powers of two), never above the request's max_tokens; its prior is the request's max_tokens until its bucket has a completion"
                }
                Predictor::MaxTokens => "max-tokens: the client's max_tokens",
                Predictor::Trace => {
                    "trace: the trace's predicted_output column (the user's predictor), never above the request's max_tokens"
                }
            };
            let default = if s.sjf_predictor.is_none() {
                " (serving.sjf_predictor default)"
            } else {
                ""
            };
            notes.push(format!("serving.queue_order = sjf-predicted: each replica's waiting queue runs the shortest predicted output first (arrival + predicted tokens / aging), class priorities ignored; predictor {what}{default}; {aging_note}"));
            QueueOrder::SjfPredicted {
                predictor,
                ns_per_token,
            }
        }
    };
    victim_and_priority_preemption(s, c, name, path, notes)
}

/// `serving.preemption_victim` and `serving.priority_preemption`.
fn victim_and_priority_preemption(
    s: &ServingSection,
    c: &mut SchedulerConfig,
    name: QueueOrderName,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<()> {
    c.victim = s.preemption_victim.unwrap_or_default();
    c.priority_preemption = s.priority_preemption.unwrap_or(false);
    if c.priority_preemption {
        let why = if c.kind == SchedulerKind::Static {
            Some("the static scheduler reserves each request's whole length and never preempts")
        } else if c.kv_admission == crate::serve::KvAdmission::Reserve {
            Some("serving.kv_admission = \"reserve\" reserves each request's whole length and never preempts")
        } else if name != QueueOrderName::Priority {
            Some(
                "it preempts for the waiting queue's head, which only serving.queue_order = \"priority\" puts in class order",
            )
        } else {
            None
        };
        if let Some(why) = why {
            return Err(Error::input(
                path,
                "serving.priority_preemption",
                format!("is true but {why}: remove it"),
            ));
        }
        notes.push(format!(
            "serving.priority_preemption: a waiting request that finds no batch slot or KV blocks preempts running sequences of lower classes (higher priority number) by {}, as vLLM's priority policy does",
            if c.preemption == crate::serve::PreemptionMode::Swap { "swap" } else { "recompute" }
        ));
    }
    if s.preemption_victim.is_some() && c.victim != VictimChoice::Newest {
        notes.push(format!(
            "serving.preemption_victim = {}: a preemption takes, among running sequences of the lowest class, the one holding the {} KV blocks (the newest among equals)",
            if c.victim == VictimChoice::FewestBlocks { "fewest-blocks" } else { "most-blocks" },
            if c.victim == VictimChoice::FewestBlocks { "fewest" } else { "most" },
        ));
    }
    Ok(())
}

/// What the policies read of the workload is there: classes of different priorities for
/// priority preemption, a trace's predictions for the `trace` predictor.
pub(super) fn check_inputs(
    c: &SchedulerConfig,
    classes: &[crate::scenario::WorkloadClass],
    workload: &super::workload::Workload,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<()> {
    if c.priority_preemption && classes.iter().all(|k| k.priority == classes[0].priority) {
        return Err(Error::input(
            path,
            "serving.priority_preemption",
            "is true but every workload class has the same priority, so nothing would be preempted for one: give [[workload.classes]] different priorities or remove it",
        ));
    }
    trace_predictions(c, workload.trace.as_deref(), path, notes)
}

/// `serving.sjf_predictor = "trace"` needs a trace with a `predicted_output` column; its rows
/// without one take their `max_tokens` (said in the notes).
fn trace_predictions(
    c: &SchedulerConfig,
    trace: Option<&crate::workload::trace::Trace>,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<()> {
    if !matches!(
        c.order,
        QueueOrder::SjfPredicted {
            predictor: Predictor::Trace,
            ..
        }
    ) {
        return Ok(());
    }
    let rows = trace.map_or(0, |t| t.requests.len());
    let missing = trace.map_or(0, |t| {
        t.requests.iter().filter(|r| r.predicted_output.is_none()).count()
    });
    if rows == 0 || missing == rows {
        return Err(Error::input(
            path,
            "serving.sjf_predictor",
            "is \"trace\" but the workload has no trace with a `predicted_output` column (a CSV trace's optional column, docs/reference/traces.md): add one, or use \"history\" or \"max-tokens\"",
        ));
    }
    if missing > 0 {
        notes.push(format!(
            "serving.sjf_predictor = trace: {missing} of {rows} trace rows have no predicted_output and take their max_tokens"
        ));
    }
    Ok(())
}
