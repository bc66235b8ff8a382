"""codesim: a discrete-event simulator of LLM inference serving, from Python.

    import codesim
    r = codesim.run("scenarios/quickstart.toml")
    r.summary["ttft_ms"]["p99"]          # what `codesim run --json` prints, as a dict
    r.requests                           # one row per request: a pyarrow.Table
    r.requests_polars()                  # the same as a polars DataFrame

Inputs (scenario, sweep, plan) are a path (str or os.PathLike), TOML text (a str with a newline
or an `=`), or a dict (converted to TOML and checked exactly as a file is). Relative paths inside
TOML text or a dict resolve from the working directory. Errors raise `codesim.Error` with the
`codesim` command's message and its `exit_code`. The GIL is released while simulating, so runs
in threads proceed in parallel.
"""

from __future__ import annotations

import json
import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

from . import _codesim
from ._codesim import Error, Frame

__version__: str = _codesim.__version__
__all__ = ["Error", "Result", "SweepResult", "run", "sweep", "plan", "validate", "hw", "models"]

Input = Union[str, "os.PathLike[str]", Dict[str, Any]]


def _source(x: Input) -> Tuple[str, str]:
    """(kind, value) for the extension: a dict as JSON, TOML text, or a path."""
    if isinstance(x, dict):
        return "json", json.dumps(x)
    if isinstance(x, os.PathLike):
        return "path", os.fspath(x)
    if isinstance(x, str):
        return ("toml", x) if ("\n" in x or "=" in x) else ("path", x)
    raise TypeError(f"expected a path, TOML text or a dict, not {type(x).__name__}")


def _polars(table: Any) -> Any:
    import polars

    return polars.from_arrow(table)


class Result:
    """One run: `summary` (a dict, `codesim run --json`) and `requests` (a pyarrow.Table)."""

    def __init__(self, summary_json: str, frame: Optional[Frame]) -> None:
        self.summary: Dict[str, Any] = json.loads(summary_json)
        self._frame = frame
        self._table: Any = None

    @property
    def requests(self) -> Any:
        """One row per completed request (requests.parquet's columns), as a pyarrow.Table shared
        with the simulator's memory through the Arrow C data interface (no copy). Each field's
        metadata holds its description."""
        if self._frame is None:
            raise ValueError("this run kept no per-request rows: run(..., requests=True)")
        if self._table is None:
            self._table = self._frame.to_pyarrow()
        return self._table

    def requests_polars(self) -> Any:
        """`requests` as a polars DataFrame (numbers shared, not copied)."""
        return _polars(self.requests)

    def __repr__(self) -> str:
        s = self.summary
        return f"<codesim.Result {s.get('scenario')!r}: {s['requests']['completed']} requests completed>"


class SweepResult:
    """A finished sweep: `dir` (where `codesim sweep` would write: results.parquet/.csv, runs/,
    plots, report) and `results`, the results table as a pyarrow.Table."""

    def __init__(self, out: str, frame: Frame) -> None:
        self.dir: str = out
        self._frame = frame
        self._table: Any = None

    @property
    def results(self) -> Any:
        if self._table is None:
            self._table = self._frame.to_pyarrow()
        return self._table

    def results_polars(self) -> Any:
        return _polars(self.results)

    def __repr__(self) -> str:
        return f"<codesim.SweepResult {len(self._frame)} runs in {self.dir!r}>"


def run(scenario: Input, seed: Optional[int] = None, requests: bool = True) -> Result:
    """Simulates one scenario (`codesim run`); `seed` overrides the scenario's."""
    kind, value = _source(scenario)
    summary, frame = _codesim.run(kind, value, seed, requests)
    return Result(summary, frame)


def sweep(
    sweep: Input,
    out: Optional[Union[str, "os.PathLike[str]"]] = None,
    jobs: Optional[int] = None,
    plots: bool = True,
) -> SweepResult:
    """Runs a sweep (`codesim sweep`) into `out` (default reports/<name>, as the command) and
    returns its results table; `jobs` threads (default one per core)."""
    kind, value = _source(sweep)
    out_dir, frame = _codesim.sweep(kind, value, None if out is None else os.fspath(out), jobs, plots)
    return SweepResult(out_dir, frame)


def plan(plan: Input, out: Optional[Union[str, "os.PathLike[str]"]] = None) -> Dict[str, Any]:
    """Sizes the cheapest fleet meeting a plan's SLO: what `codesim plan --json` prints; with
    `out`, also plan.json (every probe), plan.md and the plots, as `codesim plan --out`."""
    kind, value = _source(plan)
    return json.loads(_codesim.plan(kind, value, None if out is None else os.fspath(out)))


def validate(
    files: Union[str, "os.PathLike[str]", Sequence[Union[str, "os.PathLike[str]"]]], cv: bool = False
) -> Dict[str, Any]:
    """Simulates published measurements (`codesim validate --json`); `cv=True` cross-validates
    over one or more files (`codesim validate --cv --json`)."""
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    return json.loads(_codesim.validate([os.fspath(f) for f in files], cv))


def hw() -> Dict[str, List[Dict[str, Any]]]:
    """The hardware catalog (`codesim hw list --json`): chips, instances, hosts."""
    return json.loads(_codesim.hw())


def models() -> List[Dict[str, Any]]:
    """The model presets (`codesim model list --json`)."""
    return json.loads(_codesim.models())
