//! Pipeline-parallel timing: the stages of one replica, each busy with one micro-batch at a time
//! (first come, first served), with the activations crossing the stage link between them.

use crate::perf::pipeline::StageLink;

/// The stages of one pipeline-parallel replica: when each is next free.
#[derive(Debug, Clone)]
pub struct Pipeline {
    stage_free_ns: Vec<u64>,
    link: StageLink,
}

impl Pipeline {
    pub fn new(stages: usize, link: StageLink) -> Pipeline {
        Pipeline {
            stage_free_ns: vec![0; stages],
            link,
        }
    }

    /// A micro-batch of `tokens` entering stage 0 at `start` with `stage_ns` per stage: when it
    /// leaves the last stage.
    pub fn run(&mut self, start: u64, stage_ns: u64, tokens: u64) -> u64 {
        let xfer = self.link.transfer_ns(tokens).round() as u64;
        let mut t = start;
        let n = self.stage_free_ns.len();
        for (k, free) in self.stage_free_ns.iter_mut().enumerate() {
            let begin = t.max(*free);
            let end = begin.saturating_add(stage_ns);
            *free = end;
            t = if k + 1 < n { end.saturating_add(xfer) } else { end };
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four stages of 10 µs with a 1 µs link: one micro-batch leaves after 4 × 10 + 3 × 1 µs; a
    /// second entering at once follows one stage time behind (the pipeline overlaps them); a third
    /// arriving after both have left runs alone again.
    #[test]
    fn micro_batches_overlap_stage_by_stage() {
        let link = StageLink {
            latency_ns: 1_000.0,
            bytes_per_ns: 1.0,
            bytes_per_token: 0.0,
            efa: false,
        };
        let mut p = Pipeline::new(4, link);
        assert_eq!(p.run(0, 10_000, 16), 43_000);
        assert_eq!(p.run(0, 10_000, 16), 53_000);
        assert_eq!(p.run(100_000, 10_000, 16), 143_000);
    }
}
