//! Wiring of `workload.multimodal` into a run: which requests carry images (their own random
//! stream) and the prompt tokens the images add, each replica's vision encoder and the KV
//! memory its weights take, and the run's multimodal summary.

use super::Simulation;
use crate::metrics::MultimodalResult;
use crate::perf::PerfModel;
use crate::scenario::multimodal::MultimodalConfig;
use crate::scenario::{Pool, Scenario};
use crate::serve::encoder::{EncoderStats, ImageEncoder};
use crate::serve::replica::{Replica, ReplicaSpec};
use rand::RngExt;
use rand::rngs::ChaCha8Rng;

/// Which requests carry images (or an audio clip), and a clip's length.
pub struct ImageDraw {
    images: u16,
    tokens: u32,
    share: f64,
    rng: ChaCha8Rng,
    /// Audio clips of lengths drawn in a range, and their stream.
    audio: Option<(crate::scenario::multimodal::AudioClips, ChaCha8Rng)>,
    /// Prompt tokens the media of the arrived requests added.
    pub media_tokens: u64,
    /// Repeated media (`repeat_share`): its share, the popular items, their stream, and the
    /// next new item.
    repeats: Option<(f64, u64, ChaCha8Rng, u64)>,
}

/// What a new request carries.
#[derive(Debug, Clone, Copy, Default)]
pub struct Media {
    pub images: u16,
    pub tokens: u32,
    /// Its content hash (0 without repeats).
    pub hash: u64,
}

impl ImageDraw {
    pub fn new(sc: &Scenario) -> Option<ImageDraw> {
        let m = sc.features.multimodal.as_ref()?;
        Some(ImageDraw {
            images: m.images_per_request as u16,
            tokens: (m.tokens_per_image * m.images_per_request as u64).min(u32::MAX as u64) as u32,
            share: m.share,
            rng: crate::rng::Stream::Images.rng(sc.seed),
            audio: m
                .audio
                .filter(|a| a.min_s < a.max_s)
                .map(|a| (a, crate::rng::Stream::AudioClips.rng(sc.seed))),
            media_tokens: 0,
            repeats: m.cache.map(|c| {
                let items = c.repeat_items as u64;
                (
                    c.repeat_share,
                    items,
                    crate::rng::Stream::MediaRepeats.rng(sc.seed),
                    items,
                )
            }),
        })
    }

    /// A new request: its images (or clip) and the prompt tokens they add (a draw only when
    /// not every request carries them; a clip's length drawn on its own stream).
    pub fn draw(&mut self) -> Media {
        if self.share < 1.0 {
            let u: f64 = self.rng.random();
            if u >= self.share {
                return Media::default();
            }
        }
        let tokens = match self.audio.as_mut() {
            Some((a, rng)) => {
                let s = a.min_s + (a.max_s - a.min_s) * rng.random::<f64>();
                a.spec.tokens(s).min(u32::MAX as u64) as u32
            }
            None => self.tokens,
        };
        self.media_tokens += tokens as u64;
        // A popular item (uniformly) or a new one; hashes of item numbers.
        let hash = match self.repeats.as_mut() {
            Some((share, items, rng, next)) => {
                let item = if rng.random::<f64>() < *share {
                    rng.random_range(0..*items)
                } else {
                    *next += 1;
                    *next
                };
                crate::hash::mix64(item + 1)
            }
            None => 0,
        };
        Media {
            images: self.images,
            tokens,
            hash,
        }
    }
}

impl Simulation {
    /// A new request's prompt with its media's tokens, and its media.
    pub(super) fn with_images(&mut self, text_tokens: u32) -> (u32, Media) {
        match self.images.as_mut() {
            Some(d) => {
                let m = d.draw();
                (text_tokens.saturating_add(m.tokens), m)
            }
            None => (text_tokens, Media::default()),
        }
    }
}

/// What every replica of a pool shares: the encoder and the KV blocks its weights take.
pub struct PoolEncoder {
    config: MultimodalConfig,
    tp: u32,
    blocks: u64,
    /// The encoder cache's capacity, embedding tokens (with repeated media).
    cache_tokens: Option<u64>,
}

impl PoolEncoder {
    pub fn new(sc: &Scenario, pool: &Pool, perf: &PerfModel, notes: &mut Vec<String>) -> Option<PoolEncoder> {
        // With an encode pool the replicas neither hold nor run the encoder.
        let config = sc.features.multimodal.clone().filter(|m| m.pool.is_none())?;
        let per_rank = config.weight_bytes / pool.tp.max(1) as f64;
        let block_bytes_per_rank = perf.memory.kv_bytes_per_token_per_rank * sc.scheduler.block_tokens.max(1) as f64;
        let blocks = (per_rank / block_bytes_per_rank.max(1e-9)).ceil() as u64;
        let note = format!(
            "multimodal: the {} encoder's weights take {:.2} GB per rank, {blocks} KV blocks per replica",
            if config.audio.is_some() { "audio" } else { "vision" },
            per_rank / 1e9
        );
        if !notes.contains(&note) {
            notes.push(note);
        }
        // vLLM's default encoder_cache_size: max(max_num_batched_tokens, one item's tokens).
        let cache_tokens = config.cache.map(|c| {
            let item = config.tokens_per_image * config.images_per_request as u64;
            c.capacity_tokens
                .unwrap_or((sc.scheduler.max_batched_tokens as u64).max(item))
        });
        if let (Some(t), Some(None)) = (cache_tokens, config.cache.map(|c| c.capacity_tokens)) {
            let note = format!("multimodal: the encoder cache holds {t} embedding tokens per replica");
            if !notes.contains(&note) {
                notes.push(note);
            }
        }
        Some(PoolEncoder {
            config,
            tp: pool.tp,
            blocks,
            cache_tokens,
        })
    }

    /// Gives a replica its encoder, its weights out of its KV blocks.
    pub fn setup_replica(&self, r: &mut ReplicaSpec) {
        r.total_blocks = r.total_blocks.saturating_sub(self.blocks);
        let mut e = ImageEncoder::new(self.config.image, self.config.weight_bytes, self.tp);
        e.kv_blocks = self.blocks;
        e.cache = self.cache_tokens.map(crate::serve::encoder_cache::EncoderCache::new);
        r.encoder = Some(e);
    }
}

pub fn multimodal_result(sc: &Scenario, replicas: &[Replica]) -> Option<MultimodalResult> {
    let m = sc.features.multimodal.as_ref()?;
    let mut s = EncoderStats::default();
    for r in replicas {
        if let Some(e) = &r.encoder {
            s.add(&e.stats);
        }
    }
    Some(MultimodalResult {
        images_per_request: m.images_per_request,
        image_px: [m.width_px, m.height_px],
        patches_per_image: m.patches_per_image,
        tokens_per_image: m.tokens_per_image,
        encoder_params: m.encoder_params,
        images_encoded: s.images,
        patches_encoded: s.patches,
        image_tokens: s.images * m.tokens_per_image,
        encoder_steps: s.steps,
        encoder_s: s.encoder_ns * 1e-9,
        kv_blocks_for_encoder: replicas
            .iter()
            .find_map(|r| r.encoder.as_ref())
            .map_or(0, |e| e.kv_blocks),
        audio_s: m.audio.map(|a| [a.min_s, a.max_s]),
        encoder_cache_hits: m.cache.map(|_| {
            replicas
                .iter()
                .filter_map(|r| r.encoder.as_ref()?.cache.as_ref())
                .map(|c| c.hits)
                .sum()
        }),
        encode_pool: None,
    })
}

impl Simulation {
    /// The run's multimodal summary, the encode pool's included.
    pub(super) fn multimodal_summary(&self) -> Option<MultimodalResult> {
        let mut m = multimodal_result(&self.sc, &self.cluster.replicas)?;
        if m.audio_s.is_some() {
            // Clips of drawn lengths: the tokens of the arrived requests' clips.
            m.image_tokens = self.images.as_ref().map_or(0, |d| d.media_tokens);
        }
        let Some(pool) = self.encode_pool_result() else {
            return Some(m);
        };
        // The images were encoded on the pool, one encoder step per request.
        Some(MultimodalResult {
            images_encoded: pool.images,
            patches_encoded: pool.images * m.patches_per_image,
            image_tokens: if m.audio_s.is_some() {
                m.image_tokens
            } else {
                pool.images * m.tokens_per_image
            },
            encoder_steps: pool.requests,
            encoder_s: pool.mean_encode_ms * 1e-3 * pool.requests as f64,
            encode_pool: Some(pool),
            ..m
        })
    }
}
