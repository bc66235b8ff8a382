//! `[serving.kv_offload]`: KV offload tiers below HBM (`serve::kv_tiers`): the chain (`cpu`,
//! then storage tiers of the catalog, `hw-profiles/storage.toml`), what goes down it, and
//! capacities given by the scenario.

use crate::error::{Error, Result};
use crate::hw::Catalog;
use crate::serve::kv_tiers::{OffloadBlocks, OffloadConfig, OffloadTierChoice};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// Most tiers in a chain.
pub const MAX_TIERS: usize = 8;
/// What goes down the chain when `blocks` is not given.
pub const DEFAULT_BLOCKS: OffloadBlocks = OffloadBlocks::All;

/// `[serving.kv_offload]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KvOffloadSection {
    #[serde(default = "yes")]
    pub enabled: bool,
    /// The chain, top first: `cpu` (host DRAM) and storage tier names (`nvme`, `s3`,
    /// `fsx-lustre`, `mooncake-pool`, or a tier a profile file adds).
    pub tiers: Vec<String>,
    /// `prompt` (prompt-cache blocks) or `all` (and preempted sequences' whole KV). Default `all`.
    #[serde(default)]
    pub blocks: Option<OffloadBlocks>,
    /// Capacity per tier, GiB: per replica, or in total for a shared tier. Default: `cpu` half
    /// the replica's share of host memory, a storage tier its profile's `capacity_gib`.
    #[serde(default)]
    pub capacity_gib: BTreeMap<String, f64>,
}

fn yes() -> bool {
    true
}

/// What the section is checked against.
pub struct OffloadContext<'a> {
    pub catalog: &'a Catalog,
    /// The prompt cache is on, and its host and remote tiers (GiB).
    pub prefix_cache: Option<f64>,
    pub remote_tier_gib: f64,
    pub swap_preemption: bool,
    /// Why the deployment cannot have offload tiers (pipeline stages, disaggregated pools).
    pub unsupported: Option<&'static str>,
}

/// Validates `[serving.kv_offload]` (None when absent or disabled).
pub fn resolve(
    s: &KvOffloadSection,
    cx: &OffloadContext,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<Option<OffloadConfig>> {
    if !s.enabled {
        return Ok(None);
    }
    let key = |k: &str| format!("serving.kv_offload.{k}");
    if let Some(why) = cx.unsupported {
        return Err(Error::input(
            path,
            "serving.kv_offload",
            format!(
                "KV offload tiers are not modelled {why}: remove [serving.kv_offload] or use one unified pool with pp = 1"
            ),
        ));
    }
    let names: Vec<String> = std::iter::once("cpu".to_string())
        .chain(cx.catalog.storage.iter().map(|t| t.name.clone()))
        .collect();
    if s.tiers.is_empty() || s.tiers.len() > MAX_TIERS {
        return Err(Error::input(
            path,
            key("tiers"),
            format!(
                "has {} tiers; accepted: 1 to {MAX_TIERS} of {}",
                s.tiers.len(),
                names.join(", ")
            ),
        ));
    }
    let mut tiers = Vec::new();
    for (i, n) in s.tiers.iter().enumerate() {
        if s.tiers[..i].contains(n) {
            return Err(Error::input(
                path,
                format!("serving.kv_offload.tiers[{i}]"),
                format!("{n:?} is already in the chain; accepted: each tier once"),
            ));
        }
        let storage = if n == "cpu" {
            None
        } else {
            Some(cx.catalog.storage(n).cloned().map_err(|_| {
                Error::input(
                    path,
                    format!("serving.kv_offload.tiers[{i}]"),
                    format!("is {n:?}; accepted: {}", names.join(", ")),
                )
            })?)
        };
        tiers.push(OffloadTierChoice {
            name: n.clone(),
            storage,
            capacity_gib: None,
        });
    }
    for (n, &v) in &s.capacity_gib {
        let Some(t) = tiers.iter_mut().find(|t| &t.name == n) else {
            return Err(Error::input(
                path,
                format!("serving.kv_offload.capacity_gib.{n}"),
                format!("names no tier of the chain; accepted: {}", s.tiers.join(", ")),
            ));
        };
        if !(v.is_finite() && v > 0.0) {
            return Err(Error::input(
                path,
                format!("serving.kv_offload.capacity_gib.{n}"),
                format!("is {}; accepted: a finite number > 0", crate::error::given(v)),
            ));
        }
        t.capacity_gib = Some(v);
    }
    let blocks = s.blocks.unwrap_or(DEFAULT_BLOCKS);
    if s.blocks.is_none() {
        notes.push(
            "serving.kv_offload.blocks: default \"all\": prompt-cache blocks and preempted sequences' whole KV go down the chain (preempted sequences park instead of being recomputed)"
                .to_string(),
        );
    }
    check_neighbours(blocks, cx, path)?;
    Ok(Some(OffloadConfig { tiers, blocks }))
}

/// The mechanisms offload replaces or needs.
fn check_neighbours(blocks: OffloadBlocks, cx: &OffloadContext, path: &Path) -> Result<()> {
    if cx.prefix_cache.is_some_and(|g| g > 0.0) {
        return Err(Error::input(
            path,
            "serving.prefix_cache.host_tier_gib",
            "is set with [serving.kv_offload]: its `cpu` tier is the host tier (capacity_gib.cpu); remove host_tier_gib",
        ));
    }
    if cx.remote_tier_gib > 0.0 {
        return Err(Error::input(
            path,
            "serving.prefix_cache.remote_tier_gib",
            "is set with [serving.kv_offload]: use its shared `mooncake-pool` tier instead; remove remote_tier_gib",
        ));
    }
    if blocks == OffloadBlocks::Prompt && cx.prefix_cache.is_none() {
        return Err(Error::input(
            path,
            "serving.kv_offload.blocks",
            "is \"prompt\" but the prompt cache is off: nothing would be offloaded; add [serving.prefix_cache] or use blocks = \"all\"",
        ));
    }
    if blocks == OffloadBlocks::All && cx.swap_preemption {
        return Err(Error::input(
            path,
            "serving.preemption",
            "is \"swap\" with [serving.kv_offload] blocks = \"all\", which parks preempted sequences in the tiers (its `cpu` tier is host memory): set preemption = \"recompute\" or blocks = \"prompt\"",
        ));
    }
    Ok(())
}
