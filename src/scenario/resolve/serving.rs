//! `[serving]`: the scheduler's batch limits, KV blocks and memory reserve: the scenario's keys,
//! else the engine's defaults (`engines/*.toml` `[serving]`), else `scenario::defaults`.

use super::at_least_one;
use super::engine::{self, EngineChoice};
use crate::error::{Error, Result};
use crate::scenario::ServingSection;
use crate::scenario::defaults;
use crate::scenario::limits::MAX_BLOCK_TOKENS;
use crate::serve::{SchedulerConfig, SchedulerKind};
use std::path::Path;

/// The resolved scheduler and KV reserve.
pub(super) struct Serving {
    pub scheduler: SchedulerConfig,
    pub kv_reserve_fraction: f64,
}

/// Takes the scenario's value, else the engine's (named in `taken`), else the built-in default.
fn pick<T: Copy + std::fmt::Debug>(
    key: &str,
    scenario: Option<T>,
    engine: Option<T>,
    default: T,
    taken: &mut Vec<String>,
) -> T {
    match (scenario, engine) {
        (Some(v), _) => v,
        (None, Some(v)) => {
            taken.push(format!("{key} {}", show(&v)));
            v
        }
        (None, None) => default,
    }
}

/// A value as the scenario file would spell it.
fn show<T: std::fmt::Debug>(v: &T) -> String {
    let s = format!("{v:?}");
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `[serving]` keys a static scheduler does not read.
const STATIC_UNUSED: [&str; 3] = ["max_batched_tokens", "kv_admission", "preemption"];

/// The keys the scenario set that a static scheduler does not read: it runs every prompt of its
/// batch in one step (no token budget) and reserves each request's whole length at admission
/// (no admission policy, no preemption). Said in the notes, not refused: a sweep's base may set
/// them for the configurations that do use them.
fn unused_under_static(s: &ServingSection, kind: SchedulerKind) -> Option<String> {
    if kind != SchedulerKind::Static {
        return None;
    }
    let set: Vec<String> = [
        s.max_batched_tokens.map(|v| format!("max_batched_tokens = {v}")),
        s.kv_admission.map(|v| format!("kv_admission = \"{}\"", show(&v))),
        s.preemption.map(|v| format!("preemption = \"{}\"", show(&v))),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!set.is_empty()).then(|| {
        format!(
            "serving.{} not used: the static scheduler runs every prompt of its batch in one step and reserves each request's whole length at admission (no token budget, admission policy or preemption)",
            set.join(", serving.")
        )
    })
}

pub(super) fn resolve(
    s: &ServingSection,
    engine: &EngineChoice,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Serving> {
    let e = engine::serving_defaults(engine)?;
    let mut taken = Vec::new();
    let mut scheduler = SchedulerConfig {
        kind: pick("scheduler", s.scheduler, e.scheduler, defaults::scheduler(), &mut taken),
        max_batch: pick("max_batch", s.max_batch, e.max_batch, defaults::max_batch(), &mut taken),
        max_batched_tokens: pick(
            "max_batched_tokens",
            s.max_batched_tokens,
            e.max_batched_tokens,
            defaults::max_batched_tokens(),
            &mut taken,
        ),
        block_tokens: pick(
            "block_tokens",
            s.block_tokens,
            e.block_tokens,
            defaults::block_tokens(),
            &mut taken,
        ),
        preemption: pick(
            "preemption",
            s.preemption,
            e.preemption,
            defaults::preemption(),
            &mut taken,
        ),
        max_queue: s.max_queue,
        kv_admission: pick(
            "kv_admission",
            s.kv_admission,
            e.kv_admission,
            defaults::kv_admission(),
            &mut taken,
        ),
        order: crate::serve::QueueOrder::Priority,
        victim: crate::serve::VictimChoice::Newest,
        priority_preemption: false,
    };
    let kv_reserve_fraction = pick(
        "kv_reserve_fraction",
        s.kv_reserve_fraction,
        e.kv_reserve_fraction,
        defaults::kv_reserve_fraction(),
        &mut taken,
    );
    let why = if engine.named {
        "[serving] engine".to_string()
    } else {
        "the chip's default engine; set [serving] engine to change".to_string()
    };
    if scheduler.kind == SchedulerKind::Static {
        // Defaults the static scheduler never reads would read as if they applied.
        taken.retain(|t| !STATIC_UNUSED.iter().any(|k| t.starts_with(&format!("{k} "))));
    }
    let from = if taken.is_empty() {
        String::new()
    } else {
        format!("; its defaults: {}", taken.join(", "))
    };
    notes.push(format!("engine: {} ({why}){from}", engine.label()));
    if let Some(note) = unused_under_static(s, scheduler.kind) {
        notes.push(note);
    }
    super::queue::resolve(s, &mut scheduler, path, notes)?;
    at_least_one(path, "serving.max_batch", scheduler.max_batch as u64)?;
    at_least_one(path, "serving.max_batched_tokens", scheduler.max_batched_tokens as u64)?;
    at_least_one(path, "serving.block_tokens", scheduler.block_tokens as u64)?;
    if scheduler.block_tokens > MAX_BLOCK_TOKENS {
        return Err(Error::input(
            path,
            "serving.block_tokens",
            format!(
                "{} tokens per KV block is more than the {MAX_BLOCK_TOKENS} accepted (vLLM uses 16, TensorRT-LLM 32 to 128)",
                scheduler.block_tokens
            ),
        ));
    }
    if !(0.0..0.95).contains(&kv_reserve_fraction) || kv_reserve_fraction.is_nan() {
        return Err(Error::input(
            path,
            "serving.kv_reserve_fraction",
            format!("must be in [0, 0.95), got {kv_reserve_fraction}"),
        ));
    }
    Ok(Serving {
        scheduler,
        kv_reserve_fraction,
    })
}
