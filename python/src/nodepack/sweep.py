"""Sweeps: a grid of scenarios, NodePool sets, strategies, seeds and settings, replayed
on local threads (the engine of ``nodepack sweep``) or as Ray tasks, with the same
result rows either way. A sweep started again skips the runs whose results exist.

The sweep file format is described in ``scenarios/sweeps/`` and ``docs/python.md``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from . import _native

__all__ = ["SweepResult", "sweep"]


@dataclasses.dataclass(frozen=True)
class SweepResult:
    """What a sweep wrote: one row per run (CSV and Parquet) and the paired statistics
    of each group of runs that differ only in strategy and seed."""

    #: The sweep's name.
    name: str
    #: The results directory (``runs/`` holds one record per run).
    out: str
    #: ``results.csv``.
    csv: str
    #: ``results.parquet``.
    parquet: str
    #: ``statistics.json``.
    statistics_path: str
    #: Rows (runs) in the tables.
    rows: int
    #: Runs replayed by this call (the others were recorded already).
    ran: int
    #: ``local`` or ``ray``.
    engine: str
    #: Wall time of this call, seconds.
    seconds: float

    @property
    def statistics(self) -> Dict[str, Any]:
        """The paired statistics, by group."""
        with open(self.statistics_path, encoding="utf-8") as f:
            return json.load(f)

    def to_arrow(self):
        """The result rows as a pyarrow Table (read from ``results.parquet``)."""
        import pyarrow.parquet as pq

        return pq.read_table(self.parquet)

    def to_pandas(self):
        """The result rows as a pandas DataFrame (needs pandas)."""
        return self.to_arrow().to_pandas()


def _spec_text(spec: Any) -> Tuple[str, str, str]:
    """(label, text, base directory) of a sweep given as a path, text or dict; paths in
    a sweep given as text or a dict are relative to the working directory."""
    from . import _is_path, _read_path

    if isinstance(spec, dict):
        return "<sweep>", json.dumps(spec), os.getcwd()
    if _is_path(spec):
        label, text = _read_path(spec)
        return label, text, os.path.dirname(label) or "."
    return "<sweep>", str(spec), os.getcwd()


class _Progress:
    """A line on standard error as runs finish (at most every second)."""

    def __init__(self, total: int, show: bool, name: str):
        self.total, self.done, self.show, self.name = total, 0, show and total > 0, name
        self.start = time.monotonic()
        self.last = 0.0

    def add(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.show and (now - self.last >= 1.0 or self.done == self.total):
            self.last = now
            print(
                f"\rsweep {self.name}: {self.done}/{self.total} runs, {now - self.start:.0f} s",
                end="\n" if self.done == self.total else "",
                file=sys.stderr,
                flush=True,
            )


def _batches(ids: List[str], cpus: int) -> List[List[str]]:
    """``ids`` in batches for ``cpus`` workers. The runs are first dealt like cards into
    piles (the grid lists a scenario's runs together, and scenarios differ in cost by
    orders of magnitude), so that any stretch of the dealt order holds a like share of
    each scenario; then cut into batches that shrink as the sweep goes (each a quarter
    of what remains per worker, guided self-scheduling): the first tasks last long
    enough that the per-task overhead does not count, the last are short, so workers
    finish together."""
    piles = max(1, min(len(ids), 16 * cpus))
    dealt = [i for k in range(piles) for i in ids[k::piles]]
    out: List[List[str]] = []
    start = 0
    while start < len(dealt):
        size = max(1, -(-(len(dealt) - start) // (4 * cpus)))
        out.append(dealt[start : start + size])
        start += size
    return out


def _fault_hook() -> None:
    """Fault injection for the tests of retries: with NODEPACK_SWEEP_FAIL_ONCE set to a
    path that does not exist yet, the first task to get here creates it and fails."""
    marker = os.environ.get("NODEPACK_SWEEP_FAIL_ONCE")
    if marker:
        try:
            with open(marker, "x"):
                pass
        except FileExistsError:
            return
        raise RuntimeError(f"injected failure (NODEPACK_SWEEP_FAIL_ONCE={marker})")


def _ray_records(
    plan_json: str,
    todo: List[str],
    address: Optional[str],
    retries: int,
    take: Callable[[List[Tuple[str, str]]], None],
) -> None:
    """Replay the runs ``todo`` of a plan as Ray tasks (batches of runs, retried up to
    ``retries`` times), handing each task's records (id, record JSON) to ``take`` as
    it finishes. Uses the Ray cluster already initialized, else the one at ``address``,
    else a new local one (shut down afterwards)."""
    import ray

    started_here = False
    if not ray.is_initialized():
        ray.init(address=address, include_dashboard=False, log_to_driver=False)
        started_here = True
    try:
        cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
        # A task replays a batch of runs one after another, so that a task takes
        # seconds (the per-task overhead is milliseconds).
        batches = _batches(todo, cpus)

        @ray.remote(max_retries=retries, retry_exceptions=True)
        def run_batch(plan: str, ids: List[str]) -> List[Tuple[str, str]]:
            from nodepack import _native as native

            _fault_hook()
            return native.sweep_run_batch(plan, ids)

        plan_ref = ray.put(plan_json)
        pending = [run_batch.remote(plan_ref, b) for b in batches]
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for records in ray.get(ready):
                take(records)
    finally:
        if started_here:
            ray.shutdown()


def _run_ray(
    plan_json: str,
    out: str,
    todo: List[str],
    address: Optional[str],
    retries: int,
    progress: _Progress,
) -> None:
    def take(records: List[Tuple[str, str]]) -> None:
        for run_id, record in records:
            _native.sweep_store(out, run_id, record)
        progress.add(len(records))

    _ray_records(plan_json, todo, address, retries, take)


def sweep(
    spec: Union[str, os.PathLike, Dict[str, Any]],
    engine: str = "local",
    out: Union[str, os.PathLike, None] = None,
    workers: Optional[int] = None,
    address: Optional[str] = None,
    retries: int = 3,
    progress: bool = True,
) -> SweepResult:
    """Run a sweep (a sweep file, its YAML text, or a dict of the same shape).

    ``engine="local"`` replays on ``workers`` threads (default: one per CPU), as
    ``nodepack sweep`` does; ``engine="ray"`` replays batches of runs as Ray tasks on the
    cluster at ``address`` (default: the one already initialized, else a new local one),
    retrying a failed task up to ``retries`` times. Results go to ``out`` (default:
    ``NAME-results``); runs recorded there already are skipped, so an interrupted sweep
    started again finishes the rest. Both engines write the same rows."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine {engine!r}: expected 'local' or 'ray'")
    label, text, base = _spec_text(spec)
    plan_json = _native.sweep_plan(label, text, base)
    plan = json.loads(plan_json)
    out_dir = os.fspath(out) if out is not None else f"{plan['name']}-results"
    os.makedirs(out_dir, exist_ok=True)
    todo = _native.sweep_pending(plan_json, out_dir)
    bar = _Progress(len(todo), progress, plan["name"])
    start = time.monotonic()
    if todo:
        if engine == "local":
            n = workers or os.cpu_count() or 1
            _native.sweep_local(plan_json, out_dir, n)
            bar.add(len(todo))
        else:
            _run_ray(plan_json, out_dir, todo, address, retries, bar)
    written = json.loads(_native.sweep_finish(plan_json, out_dir))
    return SweepResult(
        name=plan["name"],
        out=out_dir,
        csv=written["csv"],
        parquet=written["parquet"],
        statistics_path=written["statistics"],
        rows=written["rows"],
        ran=len(todo),
        engine=engine,
        seconds=time.monotonic() - start,
    )
