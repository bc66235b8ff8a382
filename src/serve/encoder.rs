//! A replica's vision encoder (`workload.multimodal`, inline mode): as vLLM does, the encoder
//! runs in the engine step that schedules a request's first prompt tokens (images lead the
//! prompt), before the language model's forward pass, on the same chips (its weights sharded
//! 1/tp like the model's, their memory out of the KV cache). Its work is one more roofline
//! operation of that step (`perf::encoder_cost`): the encoder's weights read once per step, and
//! per image its FLOPs and activations (`model::VisionSpec::image_work`). A prefill that
//! restarts from token 0 (a preemption by recompute) encodes its images again: vLLM frees a
//! request's encoder outputs once its image tokens are in the KV cache.

use super::ReqState;
use super::replica::Replica;
use crate::model::ImageWork;
use crate::perf::{EncoderWork, StepCost};

/// What a replica's encoder did.
#[derive(Debug, Clone, Copy, Default)]
pub struct EncoderStats {
    pub images: u64,
    pub patches: u64,
    /// Steps that ran the encoder, and the time the encoder added to them, ns.
    pub steps: u64,
    pub encoder_ns: f64,
}

impl EncoderStats {
    pub fn add(&mut self, o: &EncoderStats) {
        self.images += o.images;
        self.patches += o.patches;
        self.steps += o.steps;
        self.encoder_ns += o.encoder_ns;
    }
}

/// A replica's encoder: one image's work and the weights, per rank.
#[derive(Debug, Clone)]
pub struct ImageEncoder {
    image: ImageWork,
    weight_bytes_per_rank: f64,
    pub stats: EncoderStats,
    /// KV blocks the replica gave up to the encoder's weights (for the summary).
    pub kv_blocks: u64,
    /// Encoder outputs kept by content hash (`workload.multimodal.repeat_share`), if on.
    pub cache: Option<super::encoder_cache::EncoderCache>,
}

impl ImageEncoder {
    /// `image`: one image's work on the whole encoder; `weight_bytes`: the whole encoder's.
    pub fn new(image: ImageWork, weight_bytes: f64, tp: u32) -> ImageEncoder {
        let tp = tp.max(1) as f64;
        ImageEncoder {
            image: ImageWork {
                flops: image.flops / tp,
                act_bytes: image.act_bytes / tp,
                ..image
            },
            weight_bytes_per_rank: weight_bytes / tp,
            stats: EncoderStats::default(),
            kv_blocks: 0,
            cache: None,
        }
    }

    /// A step encoding `images` images, per rank.
    pub fn step_work(&self, images: u64) -> EncoderWork {
        let n = images as f64;
        EncoderWork {
            flops: self.image.flops * n,
            bytes: self.weight_bytes_per_rank + self.image.act_bytes * n,
            patches: self.image.patches * n,
        }
    }
}

impl Replica {
    /// Adds the encoder pass of the step's newly started prompts to its cost.
    pub(super) fn add_encoder_cost(&mut self, cost: &mut StepCost, reqs: &[ReqState]) {
        let Some(e) = self.encoder.as_mut() else {
            return;
        };
        // A chunk starting at token 0: its request's `prefilled` (advanced when the step was
        // planned) equals the chunk. Media still in the encoder cache skips the encoder.
        let mut images = 0;
        for &(id, n) in &self.plan.chunks {
            let r = &reqs[id.index()];
            if r.images == 0 || r.progress.prefilled != n {
                continue;
            }
            let hit = match e.cache.as_mut() {
                Some(c) => c.lookup(r.media_hash, (e.image.tokens * r.images as f64) as u64),
                None => false,
            };
            if !hit {
                images += r.images as u64;
            }
        }
        if images == 0 {
            return;
        }
        let c = self.perf.encoder_cost(&e.step_work(images));
        e.stats.images += images;
        e.stats.patches += (e.image.patches * images as f64).round() as u64;
        e.stats.steps += 1;
        e.stats.encoder_ns += c.compute_ns + c.memory_ns;
        cost.add(&c);
    }
}
