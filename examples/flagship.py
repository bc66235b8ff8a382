"""The flagship question from Python: which configuration serves Llama-3.3-70B chat traffic
cheapest ($ per million output tokens) at p99 TPOT <= 50 ms (the first SLO of
scenarios/sweep-flagship-70b.toml)? Run from the repository root:

    python examples/flagship.py [SWEEP_FILE]

A run counts only if it meets the SLO with no request dropped and in a steady state (an
overloaded run never meets an SLO), as the sweep's report rules.
"""

import sys
import tempfile

import codesim
import polars as pl

sweep = sys.argv[1] if len(sys.argv) > 1 else "scenarios/sweep-flagship-70b.toml"
runs = codesim.sweep(sweep, out=tempfile.mkdtemp(prefix="flagship-"), plots=False).results_polars()
ok = runs.filter(pl.col("meets_slo") & (pl.col("requests_dropped") == 0) & (pl.col("saturation") == "stable"))
best = ok.sort("usd_per_mtok_output", "run").row(0, named=True)
print(
    f"cheapest at p99 TPOT <= 50 ms: {best['_config']} at {best['workload.arrival.rate_per_s']} req/s "
    f"({best['run']}): ${best['usd_per_mtok_output']:.3f}/M output tokens, TPOT p99 {best['tpot_ms_p99']:.1f} ms"
)
