"""results.parquet and requests.parquet as the tools people use read them: pyarrow, pandas,
polars and DuckDB see plain strings, integer counts as integers, and every column's description
in the file's metadata."""

import duckdb
import pandas
import polars
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

COUNTS = ["instances", "requests_arrived", "requests_completed", "requests_rejected", "preemptions"]


@pytest.fixture(scope="module")
def files(cli, tmp_path_factory):
    """A sweep's results.parquet and a run's requests.parquet, written by the `codesim` command."""
    d = tmp_path_factory.mktemp("tables")
    sweep = d / "sweep.toml"
    sweep.write_text(
        'name = "tables"\nseed = 5\n'
        '[axes]\n"hardware.instance" = ["inf2.48xlarge", "trn1.32xlarge"]\n'
        '"workload.arrival.rate_per_s" = [1.0, 3.0]\n'
        '[[slo]]\npercentile = 99\ntpot_ms = 50.0\n'
        '[base]\nname = "t"\n[base.hardware]\ninstance = "inf2.48xlarge"\n'
        '[base.model]\nname = "llama-3-8b"\n[base.deployment]\ntp = 8\n'
        '[base.workload]\nrequests = 150\narrival = { kind = "poisson", rate_per_s = 2.0 }\n'
        'input = { kind = "lognormal", mean = 600.0, cv = 1.0, max = 4000 }\n'
        'output = { kind = "lognormal", mean = 120.0, cv = 1.0, max = 1000 }\n'
    )
    code, _, err = cli("sweep", sweep, "--out", d / "sweep", "--no-plots")
    assert code == 0, err
    code, _, err = cli("run", "scenarios/quickstart.toml", "--out", d / "run", "--requests")
    assert code == 0, err
    return {"results": d / "sweep" / "results.parquet", "requests": d / "run" / "requests.parquet"}


def test_pyarrow_reads_plain_strings_integer_counts_and_descriptions(files):
    results = pq.read_table(files["results"])
    assert results.num_rows == 4
    for name in ["run", "hardware.instance", "status", "saturation"]:
        assert results.schema.field(name).type in (pa.string(), pa.large_string()), name
    for name in COUNTS:
        assert pa.types.is_integer(results.schema.field(name).type), name
    assert results.column("hardware.instance").to_pylist() == ["inf2.48xlarge"] * 2 + ["trn1.32xlarge"] * 2
    for path in files.values():
        meta = pq.read_metadata(path).metadata
        schema = pq.read_schema(path)
        for field in schema:
            text = meta[f"description:{field.name}".encode()]
            assert len(text) > 10 and field.metadata[b"description"] == text, field.name
    requests = pq.read_table(files["requests"])
    for name in ["id", "input_tokens", "output_tokens", "ttft_ns", "e2e_decode_ns"]:
        assert pa.types.is_integer(requests.schema.field(name).type), name


def test_pandas_reads_them(files):
    results = pandas.read_parquet(files["results"])
    assert results["hardware.instance"].tolist() == ["inf2.48xlarge"] * 2 + ["trn1.32xlarge"] * 2
    for name in COUNTS:
        assert pandas.api.types.is_integer_dtype(results[name]), (name, results[name].dtype)
    requests = pandas.read_parquet(files["requests"])
    assert pandas.api.types.is_integer_dtype(requests["output_tokens"])
    assert (requests["ttft_ns"] > 0).all()


def test_polars_reads_them(files):
    results = polars.read_parquet(files["results"])
    assert results["status"].dtype == polars.String
    for name in COUNTS:
        assert results[name].dtype.is_integer(), name
    requests = polars.read_parquet(files["requests"])
    assert requests["id"].dtype.is_integer() and requests.height > 0


def test_duckdb_reads_them_and_their_descriptions(files):
    con = duckdb.connect()
    path = str(files["results"])
    rows = con.execute(
        f"SELECT \"hardware.instance\", requests_completed FROM read_parquet('{path}') ORDER BY run"
    ).fetchall()
    assert [r[0] for r in rows] == ["inf2.48xlarge"] * 2 + ["trn1.32xlarge"] * 2
    assert all(isinstance(r[1], int) for r in rows)
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM read_parquet('{path}'))").fetchall())
    assert types["status"] == "VARCHAR" and types["requests_completed"] in ("UBIGINT", "BIGINT"), types
    kv = dict(
        (k.decode(), v.decode())
        for k, v in con.execute(f"SELECT key, value FROM parquet_kv_metadata('{path}')").fetchall()
    )
    assert kv["description:ttft_ms_p99"].startswith("99th percentile of the time to first token")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{files['requests']}')").fetchone()[0]
    assert n == pq.read_metadata(files["requests"]).num_rows > 0
