//! Executing a step: the shape a stack runs (`shape.rs`), its operations timed by the roofline
//! (FLOPs over peak × efficiency, bytes over bandwidth × efficiency), the collectives, the
//! micro-batch overlap of the all-to-all and the power cap. Split from `mod.rs` for size; the
//! cost model's formulas are documented there.

use super::{BatchShape, MAX_STEP_NS, PerfModel, StepCost, shape};

impl PerfModel {
    /// A power cap stretches a step whose draw would exceed it.
    pub(super) fn capped(&self, c: StepCost) -> StepCost {
        match self.power_cap {
            Some(cap) if c.total_ns > 0 => {
                let t = c.compute_ns + c.memory_ns + c.comm_ns + c.overhead_ns;
                let capped = cap.capped_ns(&crate::hw::power::Phases::new(
                    c.compute_ns,
                    c.memory_ns,
                    c.comm_ns,
                    c.overhead_ns,
                ));
                if capped <= t {
                    return c;
                }
                let mut c = c;
                c.compute_ns += capped - t;
                c.total_ns = capped.round().clamp(1.0, MAX_STEP_NS) as u64;
                c
            }
            _ => c,
        }
    }

    /// The step's graph executions; decode rows carry `queries` tokens each.
    pub(super) fn step_uncapped(&self, b: &BatchShape, queries: u64) -> StepCost {
        if self.sequential_prefill && b.prefill_seqs > 1 {
            // One graph execution per prompt (each padded alike), then the decode rows.
            let n = b.prefill_seqs as f64;
            let mut one = BatchShape {
                prefill_seqs: 1,
                prefill_tokens: b.prefill_tokens / b.prefill_seqs as u64,
                prefill_pairs: b.prefill_pairs / n,
                prefill_cached_tokens: b.prefill_cached_tokens / b.prefill_seqs as u64,
                prefill_max_chunk: b.prefill_max_chunk,
                extra_logit_rows: b.extra_logit_rows / b.prefill_seqs as u64,
                ..BatchShape::default()
            };
            let mut c = self.step_one(&one, 1).scaled(n);
            if b.decode_seqs > 0 {
                one = BatchShape {
                    decode_seqs: b.decode_seqs,
                    decode_ctx_tokens: b.decode_ctx_tokens,
                    decode_max_ctx: b.decode_max_ctx,
                    ..BatchShape::default()
                };
                c.add(&self.step_one(&one, queries));
            }
            return c;
        }
        self.step_one(b, queries)
    }

    /// One graph execution over the whole batch, on the shape the stack runs (`shape.rs`):
    /// FLOPs on the padded shape (a captured decode batch padded to its graph's size), KV bytes
    /// as the layout reads them; decode rows carry `queries` tokens each. With `overlap_a2a`, as
    /// two micro-batches of half the batch each: every GEMM runs at half the tokens (lower
    /// efficiency, the weights read twice) and the all-to-all of one hides behind the compute of
    /// the other, so the all-to-all adds only what exceeds the compute: max(compute,
    /// all-to-all), not the sum. The fixed costs (`fixed.rs`) come on top, an eager launch
    /// hiding behind the device's busy time.
    pub(super) fn step_one(&self, b: &BatchShape, queries: u64) -> StepCost {
        if queries <= 1 && b.prefill_seqs == 0 && b.prefill_tokens == 0 && b.extra_logit_rows == 0 {
            if let Some(cell) = self.decode_table.get(b.decode_seqs as usize) {
                if let Some(d) = cell.get_or_init(|| self.decode_part(b.decode_seqs)) {
                    return self.tabulated_decode(b, d);
                }
            }
        }
        self.step_general(b, queries)
    }

    /// [`PerfModel::step_one`] evaluated in full, whatever the shape.
    pub(super) fn step_general(&self, b: &BatchShape, queries: u64) -> StepCost {
        let captured = self.fixed.captured(b);
        let mut e = self.shapes.execute(b);
        e.compute.decode_seqs = self.fixed.graph_rows(b, captured);
        let q = queries.max(1) as f64;
        let tokens = e.compute.decode_seqs as f64 * q + e.compute.prefill_tokens as f64;
        if tokens == 0.0 {
            return StepCost::default();
        }
        let split = self.expert_parallel.as_ref().is_some_and(|m| m.overlap()) && tokens >= 2.0;
        let (mut c, a2a_ns, tp_comm_ns) = if split {
            let (half, a2a, tp_comm) = self.work(&e, q, 0.5);
            (half.scaled(2.0), 2.0 * a2a, 2.0 * tp_comm)
        } else {
            self.work(&e, q, 1.0)
        };
        let busy = c.compute_ns + c.memory_ns;
        c.comm_ns = tp_comm_ns + if split { (a2a_ns - busy).max(0.0) } else { a2a_ns };
        let new_tokens = b.decode_seqs as f64 * q + b.prefill_tokens as f64;
        c.overhead_ns = self.fixed.overhead_ns(
            new_tokens,
            b.logit_rows(q),
            c.compute_ns + c.memory_ns + c.comm_ns,
            captured,
        );
        c.set_total();
        c
    }

    /// What a decode-only execution of `rows` rows, one query each, costs besides its attention
    /// (a function of `rows` alone); None where [`PerfModel::step_general`] must evaluate the
    /// step (no rows, or micro-batches overlapping an all-to-all).
    fn decode_part(&self, rows: u32) -> Option<DecodePart> {
        let b = BatchShape {
            decode_seqs: rows,
            ..BatchShape::default()
        };
        let captured = self.fixed.captured(&b);
        let graph_rows = self.fixed.graph_rows(&b, captured);
        let tokens = graph_rows as f64;
        let split = self.expert_parallel.as_ref().is_some_and(|m| m.overlap()) && tokens >= 2.0;
        if rows == 0 || split {
            return None;
        }
        // As `work` finds them for such a step: every token sampled, one query a row.
        let (linear, a2a_ns) = self.linear_all_sampled(tokens);
        // The new tokens and the sampled rows `step_general` gives the fixed costs, both the
        // rows before padding (`rows · 1 + 0`: exact).
        let rows_f = rows as f64;
        Some(DecodePart {
            linear,
            a2a_ns,
            graph_rows,
            eff_attn: self.eff_c(tokens * 1.0 / self.attention_dp),
            tp_comm_ns: self.tp_comm_ns(tokens),
            rows: rows_f,
            // A captured graph's launch does not depend on the busy time it follows.
            overhead_ns: captured.then(|| self.fixed.overhead_ns(rows_f, rows_f, 0.0, true)),
        })
    }

    /// [`PerfModel::step_general`] of a decode-only step of one query a row, its row count's
    /// part from the table: the same operations on the same values in the same order, so the
    /// same cost bit for bit (tested over stacks, models and shapes).
    #[inline]
    fn tabulated_decode(&self, b: &BatchShape, d: &DecodePart) -> StepCost {
        // `ShapeRules::execute`'s decode rows: contexts padded to the token bucket.
        let ctx_tokens = if self.shapes.token.is_exact() {
            b.decode_ctx_tokens
        } else {
            b.decode_seqs as u64 * self.shapes.token.pad(b.decode_max_ctx)
        };
        let kv_tokens = self.shapes.decode_read_tokens(b);
        let rows = d.graph_rows as f64;
        // `work`'s attention with q = 1 and share = 1: pairs = ctx, the multiplications by one
        // and the additions of zero exact.
        let pairs = ctx_tokens as f64;
        let x = self.mix.decode(rows, 1.0, pairs);
        let mut c = d.linear;
        c.add_op(&self.op_time(
            self.attn_decode_flops_per_pair * (pairs + x.pair_units) + x.flops,
            d.eff_attn,
            self.decode_read_bytes(rows, kv_tokens, pairs, 1.0) + x.bytes,
            self.eff_kv,
        ));
        c.comm_ns = d.tp_comm_ns + d.a2a_ns;
        c.overhead_ns = match d.overhead_ns {
            Some(ns) => ns,
            None => self
                .fixed
                .overhead_ns(d.rows, d.rows, c.compute_ns + c.memory_ns + c.comm_ns, false),
        };
        c.set_total();
        c
    }

    /// KV bytes per rank decode rows read: the layout's `layout_tokens` of the full layers (a
    /// paged layout's estimate adds half a page per row) plus each row's window and state. A
    /// paged estimate never exceeds the rank's KV budget (times `share` for a micro-batch) unless the
    /// rows' exact contexts (`ctx_tokens`) already do: nothing reads more than is held.
    pub(crate) fn decode_read_bytes(&self, rows: f64, layout_tokens: f64, ctx_tokens: f64, share: f64) -> f64 {
        let windows = self.mix.decode_read(rows, layout_tokens);
        let estimate = layout_tokens * self.kv_bytes_per_token + windows;
        if self.shapes.layout != crate::hw::KvLayout::Block {
            // A contiguous layout reads whole slots: exact, and checked against the budget.
            return estimate;
        }
        let exact = ctx_tokens * self.kv_bytes_per_token + self.mix.decode_read(rows, ctx_tokens);
        estimate.min(exact.max(self.memory.kv_bytes_per_rank * share))
    }

    /// The operations of `share` of an executed shape (1, or ½ for a micro-batch) whose decode
    /// rows carry `q` queries: its compute and memory time, its all-to-all time and its
    /// tensor-parallel all-reduce time, ns.
    ///
    /// Always inlined: returned through memory field by field and read back in 16-byte loads,
    /// its result stalled `step_one` on store forwarding (a time profile put a sixth of
    /// `step_one` on the first load after the call).
    #[inline(always)]
    pub(super) fn work(&self, e: &shape::Executed, q: f64, share: f64) -> (StepCost, f64, f64) {
        let p = &e.compute;
        let rows = p.decode_seqs as f64 * share;
        let tokens = rows * q + p.prefill_tokens as f64 * share;
        let logit_rows = p.logit_rows(q) * share;
        // The GEMMs of all layers and the LM head, and the sampled rows' logits. A step whose
        // every token is sampled (a decode step) of a tabulated size takes them from the table.
        let (mut c, a2a_ns) = if tokens == logit_rows {
            self.linear_all_sampled(tokens)
        } else {
            self.linear(tokens, logit_rows)
        };
        let op = |c: &mut StepCost, flops: f64, eff_c: f64, bytes: f64, eff_m: f64| {
            c.add_op(&self.op_time(flops, eff_c, bytes, eff_m));
        };
        // Decode attention: each of the q queries of a row attends to the padded context (and
        // the row's earlier queries); the KV is read once, as the layout holds it.
        if p.decode_seqs > 0 {
            let pairs = (q * p.decode_ctx_tokens as f64 + p.decode_seqs as f64 * q * (q - 1.0) / 2.0) * share;
            let kv_tokens = e.decode_kv_tokens * share;
            let x = self.mix.decode(rows, q, pairs);
            let ctx = p.decode_ctx_tokens as f64 * share;
            op(
                &mut c,
                self.attn_decode_flops_per_pair * (pairs + x.pair_units) + x.flops,
                self.eff_c(rows * q / self.attention_dp),
                self.decode_read_bytes(rows, kv_tokens, ctx, share) + x.bytes,
                self.eff_kv,
            );
        }
        // Prefill attention: causal pairs; reads cached context, writes new KV, maybe scores.
        if p.prefill_tokens > 0 {
            let pairs = p.prefill_pairs * share;
            let cached = p.prefill_cached_tokens as f64 * share;
            let new_tokens = p.prefill_tokens as f64 * share;
            let x = self
                .mix
                .prefill(p.prefill_seqs as f64 * share, new_tokens, cached, pairs);
            let bytes = self.kv_bytes_per_token * e.prefill_kv_tokens * share
                + self.score_bytes_per_pair * (pairs + x.pair_units)
                + x.bytes;
            op(
                &mut c,
                self.attn_flops_per_pair * (pairs + x.pair_units)
                    + x.flops
                    + self.expand_flops_per_cached_token * cached,
                self.eff_c(p.prefill_tokens as f64 * share / self.attention_dp),
                bytes,
                self.eff_memory,
            );
        }
        let tp_comm_ns = self.tp_comm_ns(tokens);
        (c, a2a_ns, tp_comm_ns)
    }

    /// One operation's roofline: its time bound by FLOPs (over peak × `eff_c`) and by bytes
    /// (over bandwidth × `eff_m`), and both at 100 % efficiency.
    #[inline]
    fn op_time(&self, flops: f64, eff_c: f64, bytes: f64, eff_m: f64) -> OpTime {
        let flops_per_ns = self.peak_flops * 1e-9;
        let bytes_per_ns = self.hbm_bw * 1e-9;
        OpTime {
            compute_ns: flops / (flops_per_ns * eff_c),
            memory_ns: bytes / (bytes_per_ns * eff_m),
            ideal_compute_ns: flops / flops_per_ns,
            ideal_memory_ns: bytes / bytes_per_ns,
        }
    }

    /// [`PerfModel::linear`] of a step whose `tokens` are all sampled (a decode step), from the
    /// table where it has the count.
    fn linear_all_sampled(&self, tokens: f64) -> (StepCost, f64) {
        let whole = tokens as usize;
        match self.linear_table.get(whole) {
            Some(cell) if whole as f64 == tokens => *cell.get_or_init(|| self.linear(tokens, tokens)),
            _ => self.linear(tokens, tokens),
        }
    }

    /// The GEMMs of a step of `tokens` tokens of which `logit_rows` are sampled, and the
    /// sampled rows' logits: the step's cost so far (it starts with them) and the MoE
    /// all-to-all time. A function of the two counts alone, which [`PerfModel::work`]
    /// tabulates for decode steps.
    pub(super) fn linear(&self, tokens: f64, logit_rows: f64) -> (StepCost, f64) {
        let lm_head = self.lm_head_flops_per_row * logit_rows;
        let mut c = StepCost::default();
        let mut a2a_ns = 0.0;
        let mut op = |o: OpTime| c.add_op(&o);
        match &self.expert_parallel {
            Some(m) if m.attention_dp > 1 => {
                // The attention layout's GEMMs run on a group's tokens; the routed experts on
                // the rows dispatched to the busiest rank.
                let s = m.step(tokens);
                let dense = self.linear_flops_per_token * tokens + lm_head - s.balanced_flops;
                op(self.op_time(
                    dense,
                    self.eff_c(tokens / self.attention_dp),
                    self.always_read_bytes,
                    self.eff_memory,
                ));
                op(self.op_time(s.flops, self.eff_c(s.rows), s.weight_bytes, self.eff_memory));
                a2a_ns = s.a2a_ns;
            }
            Some(m) => {
                let s = m.step(tokens);
                op(self.op_time(
                    self.linear_flops_per_token * tokens + lm_head + (s.flops - s.balanced_flops),
                    self.eff_c(tokens),
                    self.always_read_bytes + s.weight_bytes,
                    self.eff_memory,
                ));
            }
            None => op(self.op_time(
                self.linear_flops_per_token * tokens + lm_head,
                self.eff_c(tokens),
                self.always_read_bytes + self.expert_bytes * self.experts_touched(tokens),
                self.eff_memory,
            )),
        }
        // The sampled rows' fp32 logits: written by the LM head, read by the sampler.
        op(self.op_time(0.0, 1.0, self.fixed.logit_bytes_per_row * logit_rows, self.eff_memory));
        (c, a2a_ns)
    }
}

/// A decode-only step's cost besides its attention, by row count ([`PerfModel::decode_part`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct DecodePart {
    /// The linear part and the all-to-all of the executed rows.
    linear: StepCost,
    a2a_ns: f64,
    /// The rows executed: a captured batch is padded to its graph's size.
    graph_rows: u32,
    /// The attention's compute efficiency at those rows.
    eff_attn: f64,
    tp_comm_ns: f64,
    /// The rows before padding: the new tokens and the sampled rows the fixed costs see.
    rows: f64,
    /// The fixed costs of a captured graph (they do not depend on the step's busy time); None:
    /// an eager step, whose launch may hide behind it.
    overhead_ns: Option<f64>,
}

/// One operation's times, ns: bound by FLOPs, bound by bytes, and each at 100 % efficiency.
#[derive(Debug, Clone, Copy)]
pub(super) struct OpTime {
    compute_ns: f64,
    memory_ns: f64,
    ideal_compute_ns: f64,
    ideal_memory_ns: f64,
}

impl StepCost {
    /// Adds one operation: it takes the longer of its compute and memory times (the roofline).
    #[inline]
    fn add_op(&mut self, o: &OpTime) {
        self.ideal_compute_ns += o.ideal_compute_ns;
        self.ideal_memory_ns += o.ideal_memory_ns;
        if o.compute_ns >= o.memory_ns {
            self.compute_ns += o.compute_ns;
        } else {
            self.memory_ns += o.memory_ns;
        }
    }
}
