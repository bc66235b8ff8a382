"""Shared fixtures: the repository root and the `codesim` command to compare the package with."""

import json
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _binary() -> Path:
    given = os.environ.get("CODESIM")
    if given:
        return Path(given)
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "codesim"


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def cli():
    """Runs the `codesim` command (the CI sets CODESIM to the binary `cargo test` built); returns
    (exit code, stdout, stderr)."""
    binary = _binary()
    if not binary.exists():
        if os.environ.get("CODESIM"):
            pytest.fail(f"CODESIM={binary} does not exist")
        pytest.skip(f"no codesim binary at {binary}: build it with `cargo build` or set CODESIM")

    def run(*args, cwd=ROOT):
        p = subprocess.run([str(binary), *map(str, args)], cwd=cwd, capture_output=True, text=True)
        return p.returncode, p.stdout, p.stderr

    return run


@pytest.fixture(scope="session")
def cli_json(cli):
    def run(*args, cwd=ROOT):
        code, out, err = cli(*args, cwd=cwd)
        assert code == 0, err
        return json.loads(out)

    return run


def without_wall_time(summary: dict) -> dict:
    """A run's summary without its one non-deterministic figure (wall-clock seconds)."""
    s = json.loads(json.dumps(summary))
    s["sim"]["wall_s"] = 0.0
    return s
