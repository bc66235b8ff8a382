//! `workload.multimodal.repeat_share`: requests whose image (or clip) repeats an earlier one
//! (the same content hash, drawn on its own random stream), and the replicas' encoder cache
//! that lets them skip the encoder (`serve::encoder_cache`, vLLM's `encoder_cache_size`).

use super::encode_pool::Placement;
use super::multimodal::MultimodalSection;
use crate::error::{Error, Result, given};
use std::path::Path;

/// Popular media items when `repeat_items` is not set.
pub const DEFAULT_REPEAT_ITEMS: u32 = 100;

/// The validated repeats and cache.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EncoderCacheConfig {
    /// Share of the carrying requests whose media is one of `repeat_items` popular items
    /// (uniformly); the others carry new media.
    pub repeat_share: f64,
    pub repeat_items: u32,
    /// Capacity in embedding tokens; none: vLLM's default, max(max_batched_tokens, one
    /// request's media tokens), resolved with the replica.
    pub capacity_tokens: Option<u64>,
}

pub fn resolve(s: &MultimodalSection, path: &Path, notes: &mut Vec<String>) -> Result<Option<EncoderCacheConfig>> {
    let Some(share) = s.repeat_share else {
        for (k, set) in [
            ("repeat_items", s.repeat_items.is_some()),
            ("encoder_cache_tokens", s.encoder_cache_tokens.is_some()),
        ] {
            if set {
                return Err(Error::input(
                    path,
                    format!("workload.multimodal.{k}"),
                    "is set without repeat_share; accepted: with repeat_share (the encoder cache is on only when media repeats)",
                ));
            }
        }
        return Ok(None);
    };
    let key = "workload.multimodal.repeat_share";
    if !(share > 0.0 && share <= 1.0) {
        return Err(Error::input(
            path,
            key,
            format!("is {}; accepted: a fraction in (0, 1]", given(share)),
        ));
    }
    if s.encoder.unwrap_or_default() == Placement::Pool {
        return Err(Error::input(
            path,
            key,
            "is set with encoder = \"pool\"; accepted: the inline encoder (the encode pool's cache is not modelled)",
        ));
    }
    let items = s.repeat_items.unwrap_or(DEFAULT_REPEAT_ITEMS);
    if items == 0 || items > 1 << 30 {
        return Err(Error::input(
            path,
            "workload.multimodal.repeat_items",
            format!("is {items}; accepted: 1 to {}", 1u32 << 30),
        ));
    }
    if s.encoder_cache_tokens == Some(0) {
        return Err(Error::input(
            path,
            "workload.multimodal.encoder_cache_tokens",
            "is 0; accepted: a positive number of embedding tokens",
        ));
    }
    notes.push(format!(
        "multimodal: {:.0} % of the media repeats one of {items} popular items{} (uniformly, its own random stream), the rest is new; each replica keeps encoder outputs by content hash, LRU, {} (vLLM's encoder cache): a repeat still cached skips the encoder",
        share * 100.0,
        if s.repeat_items.is_none() { " (default)" } else { "" },
        match s.encoder_cache_tokens {
            Some(t) => format!("{t} embedding tokens"),
            None => "max(max_batched_tokens, one request's media tokens) embedding tokens (the default)".into(),
        }
    ));
    Ok(Some(EncoderCacheConfig {
        repeat_share: share,
        repeat_items: items,
        capacity_tokens: s.encoder_cache_tokens,
    }))
}
