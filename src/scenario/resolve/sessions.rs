//! `[workload.sessions]`: checked against the arrival and the features it cannot combine with.

use crate::error::{Error, Result};
use crate::scenario::ScenarioFile;
use crate::scenario::limits::MAX_REQUESTS;
use crate::workload::LengthSpec;
use crate::workload::sessions::{DelaySpec, SessionSpec};
use std::path::Path;

pub(super) fn resolve(
    f: &ScenarioFile,
    requests: u64,
    dir: &Path,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<SessionSpec>> {
    let Some(s) = &f.workload.sessions else {
        return Ok(None);
    };
    let key = "workload.sessions";
    let refuse = |k: &str, why: &str| Err(Error::input(path, k, why.to_string()));
    let a = f.workload.arrival();
    if a.rate_per_s().is_none() {
        return refuse(
            "workload.arrival.kind",
            &format!(
                "is \"{}\"; sessions start open-loop: accepted with [workload.sessions]: poisson, gamma, weibull, constant (each session is closed-loop within itself)",
                a.kind()
            ),
        );
    }
    if a.client() != crate::workload::Client::Ideal || a.max_concurrency().is_some() {
        return refuse(
            "workload.arrival.client",
            "a benchmark client or max_concurrency with [workload.sessions]: no benchmark tool sends multi-turn sessions; accepted: client = \"ideal\" without max_concurrency",
        );
    }
    if f.workload.prefix.is_some() || f.workload.prefix_groups.is_some() {
        return refuse(
            "workload.prefix",
            "with [workload.sessions], whose prompts hash their own history: remove [workload.prefix] and workload.prefix_groups",
        );
    }
    if f.gateway.is_some() {
        return refuse(
            "gateway",
            "with [workload.sessions] is not modelled (a timed-out turn would have to end or retry its session): remove one",
        );
    }
    if f.fleet.as_ref().and_then(|x| x.on_loss) == Some(crate::scenario::failures::OnLoss::Drop) {
        return refuse(
            "fleet.on_loss",
            "is \"drop\" with [workload.sessions], which is not modelled (a dropped turn would have to end its session or send the next one without its answer); accepted: \"retry\"",
        );
    }
    s.turns.check(path, &format!("{key}.turns"))?;
    s.think.check(path, &format!("{key}.think"))?;
    if let Some(l) = &s.new_tokens {
        if matches!(l, LengthSpec::Trace { .. }) {
            return refuse(
                "workload.sessions.new_tokens.kind",
                "is \"trace\"; accepted: fixed, uniform, lognormal, normal, exponential, pareto-lognormal",
            );
        }
        super::workload::length_column(l, "workload.sessions.new_tokens", true, dir, path)?;
    }
    let most = requests.saturating_mul(s.turns.max() as u64);
    if most > MAX_REQUESTS {
        return Err(Error::input(
            path,
            "workload.requests",
            format!(
                "{requests} sessions of up to {} turns are up to {most} requests, more than the {MAX_REQUESTS} one run accepts",
                s.turns.max()
            ),
        ));
    }
    notes.push(format!(
        "workload.sessions: workload.requests = {requests} sessions started by the {} arrival; turn n sends the history (every earlier prompt's new tokens and output) plus its new tokens; the next turn {} ms (mean) after the last completes; a turn whose prompt + max_tokens would pass max_model_len ends its session",
        a.kind(),
        s.think.mean_ms()
    ));
    Ok(Some(s.clone()))
}

/// `workload.client_rtt`: checked; not with a rate client's `max_concurrency` (whose slot would
/// free before the client heard of the completion).
pub(super) fn client_rtt(f: &ScenarioFile, path: &Path, notes: &mut Vec<String>) -> Result<Option<DelaySpec>> {
    let Some(d) = f.workload.client_rtt else {
        return Ok(None);
    };
    d.check(path, "workload.client_rtt")?;
    if f.workload.arrival().max_concurrency().is_some() {
        return Err(Error::input(
            path,
            "workload.client_rtt",
            "with workload.arrival.max_concurrency is not modelled (a slot would free before the client heard of its completion): remove one".to_string(),
        ));
    }
    notes.push(format!(
        "workload.client_rtt: each request's client round trip (mean {} ms) is split in halves: the first before the request reaches the front end, the second after its first token and after its last token leave the server; TTFT and E2E are the client's (each includes the whole round trip, in the `network` part); a closed-loop client or session hears of a completion the second half later",
        d.mean_ms()
    ));
    Ok(Some(d))
}
