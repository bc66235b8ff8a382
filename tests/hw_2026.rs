//! The physics floor on the 2026 chips (Blackwell B200/B300, B200 in a GB200 NVL72, Trainium3),
//! checked against the chip's own numbers rather than the cost model's: no step reads its weights
//! faster than weight bytes / HBM bandwidth, and none computes faster than its FLOPs over the
//! chip's highest peak of any dtype, in every precision including the FP4 formats with their
//! block scales.

use codesim::dtype::Dtype;
use codesim::hw::{Catalog, engine};
use codesim::model::builtin_presets;
use codesim::perf::{BatchShape, Parallelism, PerfModel, Precision};

const NEW_INSTANCES: [&str; 5] = [
    "p6-b200.48xlarge",
    "p6-b300.48xlarge",
    "p6e-gb200.36xlarge",
    "trn3.48xlarge",
    "trn3-gen2-server",
];

fn precision(weights: Dtype) -> Precision {
    Precision {
        weights,
        compute: weights,
        kv_cache: Dtype::Fp8,
        activations: Dtype::Bf16,
        weight_format: codesim::dtype::WeightFormat::Plain,
    }
}

#[test]
fn no_step_on_a_new_chip_beats_bytes_over_bandwidth_or_flops_over_peak() {
    let catalog = Catalog::builtin().unwrap();
    let models = builtin_presets().unwrap();
    let mut checked = 0;
    for inst in NEW_INSTANCES {
        let mut hw = catalog.hardware(inst).unwrap();
        hw.chip = engine::with_default_engine(&hw.chip).unwrap();
        let chip = &hw.chip;
        let rpc = f64::from(chip.ranks_per_chip);
        let top_peak = Dtype::ALL
            .iter()
            .filter_map(|&d| chip.peak_tflops.get(d))
            .fold(0.0, f64::max)
            * 1e12;
        for name in ["llama-3-8b", "llama-3.3-70b"] {
            let model = models.iter().find(|m| m.name == name).unwrap();
            for tp in [1u32, 2, 4, 8, 16]
                .into_iter()
                .filter(|&t| t <= hw.ranks_per_instance())
            {
                for w in [Dtype::Bf16, Dtype::Fp8, Dtype::Nvfp4, Dtype::Mxfp4] {
                    let prec = precision(w);
                    let Ok(p) = PerfModel::new(&hw, model, Parallelism { tp }, prec, 0.1, "hw_2026") else {
                        continue; // weights do not fit
                    };
                    let t = f64::from(tp);
                    // Bytes: every weight once per step, its block scales included.
                    let weight_bytes = model.params_total() * w.bytes() / t;
                    let mem_floor = weight_bytes / (chip.hbm_bytes_per_s() / rpc) * 1e9;
                    let mut decode = BatchShape::default();
                    for _ in 0..8 {
                        decode.add_decode(1024);
                    }
                    let d = p.step(&decode).total_ns as f64;
                    assert!(
                        d >= mem_floor,
                        "{inst} {name} TP{tp} {w}: decode {d} ns < {mem_floor} ns"
                    );
                    // FLOPs: 2 per active parameter per token, at the chip's highest peak.
                    let mut prefill = BatchShape::default();
                    prefill.add_prefill(4096, 0);
                    let flop_floor = 2.0 * model.params_active() * 4096.0 / t / (top_peak / rpc) * 1e9;
                    let f = p.step(&prefill).total_ns as f64;
                    assert!(
                        f >= flop_floor,
                        "{inst} {name} TP{tp} {w}: prefill {f} ns < {flop_floor} ns"
                    );
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 60, "only {checked} deployments fit");
}

/// FP4 weights are smaller by exactly their format's bytes: a bandwidth-bound decode step of
/// llama-3.3-70b on a B200 reads 0.5625/2 of the bf16 weight bytes in nvfp4 and 0.53125/2 in
/// mxfp4, so its memory time scales by those ratios (the KV and logits reads, equal in both,
/// aside: a batch of one at a short context makes them small).
#[test]
fn fp4_weights_cut_decode_memory_time_by_their_bytes_with_scales() {
    let hw = Catalog::builtin().unwrap().hardware("p6-b200.48xlarge").unwrap();
    let model = builtin_presets()
        .unwrap()
        .into_iter()
        .find(|m| m.name == "llama-3.3-70b")
        .unwrap();
    let mut b = BatchShape::default();
    b.add_decode(16);
    let mem = |w: Dtype| {
        let p = PerfModel::new(&hw, &model, Parallelism { tp: 2 }, precision(w), 0.1, "hw_2026").unwrap();
        p.step(&b).memory_ns
    };
    let bf16 = mem(Dtype::Bf16);
    for (w, ratio) in [(Dtype::Nvfp4, 0.5625 / 2.0), (Dtype::Mxfp4, 0.53125 / 2.0)] {
        let r = mem(w) / bf16;
        assert!((r - ratio).abs() < 0.01, "{w}: {r} vs {ratio}");
    }
}
