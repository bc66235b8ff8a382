//! `workload.multimodal.encoder = "pool"` and `[workload.multimodal.pool]`: images encoded on a
//! disaggregated encode pool (vLLM's encode–prefill–decode disaggregation, its `ec_connector`
//! "disaggregated encoder": encoder instances compute the vision embeddings and hand them to
//! the prefill instance). The pool is `replicas` encoders of `tp` ranks each on instances of
//! its own type; an encoder runs one request's images per step (no batching across requests);
//! the embeddings (image tokens × the LLM's hidden × bf16) cross EFA to the LLM replica, which
//! no longer holds the encoder's weights nor runs it.

use super::multimodal::{ENCODER_DTYPE_BYTES, MultimodalConfig, MultimodalSection};
use crate::error::{Error, Result};
use crate::hw::Hardware;
use crate::perf::EncoderRates;
use crate::perf::network::Link;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Where a request's images are encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Placement {
    /// On the LLM replica's chips, in the step that starts the prefill.
    #[default]
    Inline,
    /// On the encode pool, before the request reaches the router.
    Pool,
}

/// `[workload.multimodal.pool]` as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncodePoolSection {
    /// The encoders' instance type (default: `hardware.instance`).
    #[serde(default)]
    pub instance: Option<String>,
    /// Ranks per encoder, within one instance (default 1).
    #[serde(default)]
    pub tp: Option<u32>,
    /// Encoders (default 1).
    #[serde(default)]
    pub replicas: Option<u32>,
}

/// The validated encode pool.
#[derive(Debug, Clone, PartialEq)]
pub struct EncodePoolConfig {
    pub hardware: Hardware,
    pub tp: u32,
    pub replicas: u32,
    /// Whole instances the encoders take (they pack tp ranks each into instances).
    pub instances: u32,
    /// One rank of the pool's chip.
    pub rates: EncoderRates,
    /// The embeddings' way to the LLM replica: the slower of the two instances' EFA and the
    /// larger of their latencies.
    pub link: Link,
    /// Embedding bytes per image token: the merger's output width × bf16.
    pub embed_bytes_per_token: f64,
}

/// Resolves the pool into `cfg` when `s` asks for one. `hardware_of(name, key)`: an instance
/// type's hardware (the scenario's engine overlays and overrides applied); `llm`: the LLM
/// replicas' hardware; `gateway`: a `[gateway]` is set.
pub fn resolve(
    s: &MultimodalSection,
    cfg: &mut MultimodalConfig,
    hardware_of: &dyn Fn(&str, &str) -> Result<Hardware>,
    llm: &Hardware,
    gateway: bool,
    path: &Path,
    notes: &mut Vec<String>,
) -> Result<()> {
    let placement = s.encoder.unwrap_or_default();
    if placement == Placement::Inline {
        if s.pool.is_some() {
            return Err(Error::input(
                path,
                "workload.multimodal.pool",
                "is set while workload.multimodal.encoder is \"inline\" (the default); accepted: encoder = \"pool\" with the pool, or no pool",
            ));
        }
        return Ok(());
    }
    if gateway {
        return Err(Error::input(
            path,
            "workload.multimodal.encoder",
            "is \"pool\" with a [gateway]; accepted: \"inline\" (a gateway's timeouts and cancellations are not modelled for requests on the encode pool)",
        ));
    }
    let p = s.pool.clone().unwrap_or(EncodePoolSection {
        instance: None,
        tp: None,
        replicas: None,
    });
    let key = |k: &str| format!("workload.multimodal.pool.{k}");
    let hardware = match &p.instance {
        Some(name) => hardware_of(name, &key("instance"))?,
        None => llm.clone(),
    };
    let ranks = hardware.ranks_per_instance().max(1);
    let tp = p.tp.unwrap_or(1);
    if tp == 0 || tp > ranks {
        return Err(Error::input(
            path,
            key("tp"),
            format!(
                "is {tp}; accepted: 1 to {ranks} (the ranks of one {})",
                hardware.instance.name
            ),
        ));
    }
    let replicas = p.replicas.unwrap_or(1);
    if replicas == 0 || replicas > super::MAX_REPLICAS {
        return Err(Error::input(
            path,
            key("replicas"),
            format!("is {replicas}; accepted: 1 to {}", super::MAX_REPLICAS),
        ));
    }
    let Some(rates) = EncoderRates::of_chip(&hardware) else {
        return Err(Error::input(
            path,
            key("instance"),
            format!(
                "{}'s chip {} has no bf16 (or fp16) peak for the encoder; accepted: an instance whose chip computes in bf16",
                hardware.instance.name, hardware.chip.name
            ),
        ));
    };
    let rank_hbm_bytes = hardware.chip.hbm_gib * (1u64 << 30) as f64 / hardware.chip.ranks_per_chip.max(1) as f64;
    if cfg.weight_bytes / tp as f64 > rank_hbm_bytes {
        return Err(Error::input(
            path,
            key("tp"),
            format!(
                "is {tp}: the encoder's {:.2} GB of bf16 weights over {tp} rank(s) exceed a rank's {:.2} GB of HBM; accepted: a larger tp or instance",
                cfg.weight_bytes / 1e9,
                rank_hbm_bytes / 1e9
            ),
        ));
    }
    for (which, h) in [("the pool's", &hardware), ("the LLM replicas'", llm)] {
        if h.instance.efa_gbps.is_nan() || h.instance.efa_gbps <= 0.0 {
            return Err(Error::input(
                path,
                key("instance"),
                format!(
                    "{which} instance {} has no network bandwidth (efa_gbps = {}); accepted: an instance with efa_gbps > 0",
                    h.instance.name, h.instance.efa_gbps
                ),
            ));
        }
    }
    let link = Link::from_gbps(
        hardware.instance.efa_gbps.min(llm.instance.efa_gbps),
        hardware.instance.efa_latency_us.max(llm.instance.efa_latency_us),
    );
    let out_hidden = cfg.out_hidden as f64;
    let pool = EncodePoolConfig {
        instances: (replicas * tp).div_ceil(ranks),
        hardware,
        tp,
        replicas,
        rates,
        link,
        embed_bytes_per_token: out_hidden * ENCODER_DTYPE_BYTES,
    };
    notes.push(note(&pool, cfg, &p));
    cfg.pool = Some(pool);
    Ok(())
}

fn note(pool: &EncodePoolConfig, cfg: &MultimodalConfig, p: &EncodePoolSection) -> String {
    let mut defaults = Vec::new();
    if p.instance.is_none() {
        defaults.push("instance = hardware.instance");
    }
    if p.tp.is_none() {
        defaults.push("tp 1");
    }
    if p.replicas.is_none() {
        defaults.push("replicas 1");
    }
    let defaults = if defaults.is_empty() {
        String::new()
    } else {
        format!(" (defaults: {})", defaults.join(", "))
    };
    let image_bytes = cfg.tokens_per_image as f64 * pool.embed_bytes_per_token;
    format!(
        "multimodal encode pool: {} encoder(s) of tp {} on {} ({} instance(s), in the cost and energy){defaults}, FCFS on the first free encoder, one request's images per encoder step (no batching across requests), weights {:.2} GB per rank; then each image's {} embeddings × {:.0} B = {:.2} MB cross {:.0} Gbit/s + {:.1} µs (the slower of the two instances' EFA, transfers do not queue) to the LLM replica, which holds no encoder weights; TTFT part `encode` = pool queue + encode + transfer",
        pool.replicas,
        pool.tp,
        pool.hardware.instance.name,
        pool.instances,
        cfg.weight_bytes / pool.tp as f64 / 1e9,
        cfg.tokens_per_image,
        pool.embed_bytes_per_token,
        image_bytes / 1e6,
        pool.link.bytes_per_ns * 8.0,
        pool.link.latency_ns / 1e3,
    )
}
