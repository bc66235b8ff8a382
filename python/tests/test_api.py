"""The Python package against the `codesim` command: the same summaries, tables, errors and
reports, from paths, TOML text and dicts."""

import json
import threading

import pandas
import pyarrow.parquet as pq
import pytest

import codesim
from conftest import without_wall_time

# scenarios/quickstart.toml as a dict.
QUICKSTART = {
    "name": "quickstart",
    "seed": 42,
    "hardware": {"instance": "inf2.48xlarge"},
    "model": {"name": "llama-3-8b", "weights": "bf16", "kv_cache": "bf16"},
    "deployment": {"tp": 24, "replicas": 1},
    "serving": {"scheduler": "continuous", "max_batch": 32, "max_batched_tokens": 8192},
    "workload": {
        "requests": 2000,
        "arrival": {"kind": "poisson", "rate_per_s": 2.0},
        "input": {"kind": "lognormal", "mean": 1000.0, "cv": 1.0, "max": 6000},
        "output": {"kind": "lognormal", "mean": 200.0, "cv": 1.0, "max": 2000},
    },
    "slo": {"ttft_ms": 1000.0, "tpot_ms": 50.0},
}

TINY_PLAN = {
    "name": "tiny",
    "seed": 7,
    "demand": {
        "rate_per_s": 4.0,
        "requests": 200,
        "input": {"kind": "lognormal", "mean": 500.0, "cv": 1.0, "max": 4000},
        "output": {"kind": "lognormal", "mean": 100.0, "cv": 1.0, "max": 1000},
    },
    "slo": {"ttft_p95_ms": 500.0, "tpot_p99_ms": 30.0, "min_goodput": 0.95},
    "candidate": [
        {
            "name": "h100 8b",
            "max_replicas": 4,
            "scenario": {
                "hardware": {"instance": "p5.4xlarge"},
                "model": {"name": "llama-3.1-8b"},
                "deployment": {"tp": 1},
            },
        }
    ],
}


@pytest.fixture(scope="module")
def quickstart(root):
    return codesim.run(root / "scenarios/quickstart.toml")


def test_quickstart_summary_is_the_cli_json(quickstart, cli_json):
    cli = cli_json("run", "scenarios/quickstart.toml", "--json")
    assert without_wall_time(quickstart.summary) == without_wall_time(cli)
    # The one-liner: p99 TTFT, a number of milliseconds.
    p99 = quickstart.summary["ttft_ms"]["p99"]
    assert isinstance(p99, float) and p99 > 0
    assert quickstart.summary["ttft_ms"]["p50"] <= p99


def test_seed_overrides_the_scenarios(root, cli_json):
    r = codesim.run(str(root / "scenarios/quickstart.toml"), seed=7, requests=False)
    cli = cli_json("run", "scenarios/quickstart.toml", "--json", "--seed", "7")
    assert without_wall_time(r.summary) == without_wall_time(cli)
    assert r.summary["ttft_ms"] != codesim.run(QUICKSTART, requests=False).summary["ttft_ms"]
    with pytest.raises(ValueError, match="requests=True"):
        r.requests


def test_a_dict_and_toml_text_give_the_files_result(root, quickstart):
    text = (root / "scenarios/quickstart.toml").read_text()
    expected = without_wall_time(quickstart.summary)
    assert without_wall_time(codesim.run(text).summary) == expected
    assert without_wall_time(codesim.run(QUICKSTART).summary) == expected


def test_requests_table_is_the_cli_parquet(quickstart, cli, tmp_path):
    table = quickstart.requests
    assert table.num_rows == quickstart.summary["requests"]["completed"] > 0
    code, _, err = cli("run", "scenarios/quickstart.toml", "--out", tmp_path, "--requests")
    assert code == 0, err
    written = pq.read_table(tmp_path / "requests.parquet")
    assert table.schema.equals(written.schema, check_metadata=True)
    # NaN (a one-token request's TPOT) equals NaN here, as it should.
    pandas.testing.assert_frame_equal(table.to_pandas(), written.to_pandas())
    described = table.schema.field("ttft_queue_kv_ns").metadata[b"description"].decode()
    assert "KV blocks" in described
    frame = quickstart.requests_polars()
    assert frame.height == table.num_rows and frame["id"].dtype.is_integer()


def test_errors_carry_the_cli_message_and_exit_code(root, cli, tmp_path):
    bad = tmp_path / "bad.toml"
    text = (root / "scenarios/quickstart.toml").read_text().replace("rate_per_s = 2.0", "rate_per_s = -2.0")
    bad.write_text(text)
    code, _, err = cli("run", bad)
    assert code == 2
    with pytest.raises(codesim.Error) as e:
        codesim.run(bad)
    assert e.value.exit_code == 2
    assert err == f"error: {e.value}\n"
    assert "workload.arrival.rate_per_s" in str(e.value)
    # The same mistake in a dict names the same key, in `<inline>`.
    d = json.loads(json.dumps(QUICKSTART))
    d["workload"]["arrival"]["rate_per_s"] = -2.0
    with pytest.raises(codesim.Error, match=r"^<inline>: workload\.arrival\.rate_per_s") as e:
        codesim.run(d)
    assert e.value.exit_code == 2
    d["workload"]["arrival"]["rate_per_s"] = None
    with pytest.raises(codesim.Error, match=r"^<inline>: workload\.arrival\.rate_per_s: is None: TOML has no null"):
        codesim.run(d)
    missing = tmp_path / "missing.toml"
    code, _, err = cli("run", missing)
    with pytest.raises(codesim.Error) as e:
        codesim.run(missing)
    assert (e.value.exit_code, f"error: {e.value}\n") == (code, err)
    with pytest.raises(TypeError):
        codesim.run(42)


def test_the_gil_is_released_while_simulating():
    """A Python thread keeps counting while a run simulates; were the GIL held, it would stand
    still until the run returned."""
    count, stop = [0], threading.Event()

    def counter():
        while not stop.is_set():
            count[0] += 1

    t = threading.Thread(target=counter)
    t.start()
    try:
        before = count[0]
        codesim.run(QUICKSTART, requests=False)
        during = count[0] - before
    finally:
        stop.set()
        t.join()
    assert during > 1000, during


def test_sweep_writes_and_returns_what_the_cli_does(root, cli, tmp_path):
    sweep = tmp_path / "sweep.toml"
    sweep.write_text(
        'name = "tiny-sweep"\nseed = 3\n'
        '[axes]\n"workload.arrival.rate_per_s" = [1.0, 4.0]\n"serving.max_batch" = [8, 32]\n'
        '[[slo]]\npercentile = 99\ntpot_ms = 50.0\n'
        '[base]\nname = "q"\n[base.hardware]\ninstance = "inf2.48xlarge"\n'
        '[base.model]\nname = "llama-3-8b"\n[base.deployment]\ntp = 24\n'
        '[base.workload]\nrequests = 200\narrival = { kind = "poisson", rate_per_s = 2.0 }\n'
        'input = { kind = "fixed", tokens = 500 }\noutput = { kind = "fixed", tokens = 100 }\n'
    )
    r = codesim.sweep(sweep, out=tmp_path / "py", plots=False)
    assert r.dir == str(tmp_path / "py")
    code, _, err = cli("sweep", sweep, "--out", tmp_path / "cli", "--no-plots")
    assert code == 0, err
    for name in ["results.parquet", "results.csv"]:
        assert (tmp_path / "py" / name).read_bytes() == (tmp_path / "cli" / name).read_bytes(), name
    written = pq.read_table(tmp_path / "cli" / "results.parquet")
    assert r.results.schema.equals(written.schema, check_metadata=True)
    pandas.testing.assert_frame_equal(r.results.to_pandas(), written.to_pandas())
    assert r.results.num_rows == 4
    assert r.results_polars()["requests_completed"].dtype.is_integer()


def test_plan_returns_the_cli_json(cli_json, tmp_path):
    text = _toml(TINY_PLAN)
    (tmp_path / "plan.toml").write_text(text)
    expected = cli_json("plan", "plan.toml", "--json", cwd=tmp_path)
    got = codesim.plan(TINY_PLAN, out=tmp_path / "out")
    expected["file"] = got["file"]  # plan.toml vs <inline>
    assert got == expected
    assert got["best"]["candidate"] == "h100 8b"
    full = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert full["best"] == got["best"] and len(full["searches"]) == 1
    assert (tmp_path / "out" / "plan.md").exists()


def _toml(d, prefix=""):
    """Just enough of a TOML writer for TINY_PLAN (tables, arrays of tables, inline scalars)."""
    lines, tables = [], []
    for k, v in d.items():
        if isinstance(v, dict):
            tables.append((f"[{prefix}{k}]", v, f"{prefix}{k}."))
        elif isinstance(v, list) and v and isinstance(v[0], dict):
            for item in v:
                tables.append((f"[[{prefix}{k}]]", item, f"{prefix}{k}."))
        else:
            lines.append(f"{k} = {json.dumps(v)}")
    for head, v, p in tables:
        lines.append(head)
        lines.append(_toml(v, p))
    return "\n".join(lines) + "\n"


def test_validate_returns_the_cli_json(root, cli_json):
    path = root / "validation/neuron-features.toml"
    got = codesim.validate(path)
    assert got == cli_json("validate", path, "--json")
    assert got["cases"]


def test_hw_and_models_are_the_cli_lists(cli_json):
    assert codesim.hw() == cli_json("hw", "list", "--json")
    models = codesim.models()
    assert models == cli_json("model", "list", "--json")
    assert any(m["name"] == "llama-3-8b" for m in models)
