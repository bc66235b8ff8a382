"""examples/flagship.py answers the flagship question, and its answer is the committed report's
(reports/flagship-70b/results.csv, the same sweep run by `codesim sweep`)."""

import csv
import subprocess
import sys


def test_flagship_example_names_the_reports_winner(root):
    p = subprocess.run(
        [sys.executable, "examples/flagship.py"], cwd=root, capture_output=True, text=True, timeout=3600
    )
    assert p.returncode == 0, p.stderr
    with open(root / "reports/flagship-70b/results.csv") as f:
        rows = [
            r
            for r in csv.DictReader(f)
            if r["meets_slo"] == "true" and r["requests_dropped"] in ("0", "0.0") and r["saturation"] == "stable"
        ]
    best = min(rows, key=lambda r: (float(r["usd_per_mtok_output"]), r["run"]))
    said = p.stdout.strip()
    assert said.startswith(f"cheapest at p99 TPOT <= 50 ms: {best['_config']} at "), said
    assert f"({best['run']}): ${float(best['usd_per_mtok_output']):.3f}/M" in said, said
