"""The NodePool advisor: which change to a cluster's NodePools saves how much on its
workload, proven by replays with common random numbers (the engine of
``nodepack advise``). Replays run on local threads or as Ray tasks, with the same
report either way."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Tuple, Union

from . import _native

__all__ = ["Advice", "advise"]

PathLike = Union[str, "os.PathLike[str]"]


@dataclasses.dataclass(frozen=True)
class Advice:
    """What the advisor found: every candidate with its paired differences from the
    NodePools as written, the recommended changes and the trade-offs, each with the
    unified diff of the NodePool file that makes it."""

    #: The report, as ``nodepack advise --output json`` gives it.
    report: Dict[str, Any]
    #: Its HTML page (Pareto chart, table, diffs).
    html: str
    #: ``local`` or ``ray``.
    engine: str
    #: Wall time, seconds.
    seconds: float

    @property
    def candidates(self) -> List[Dict[str, Any]]:
        """Every candidate, the current NodePools first."""
        return self.report["candidates"]

    @property
    def recommended(self) -> List[Dict[str, Any]]:
        """The recommended candidates, the cheapest first."""
        return [self.candidate(i) for i in self.report["recommended"]]

    @property
    def trade_offs(self) -> List[Dict[str, Any]]:
        """The trade-offs on the Pareto front, the cheapest first."""
        return [self.candidate(i) for i in self.report["trade_offs"]]

    def candidate(self, id: str) -> Dict[str, Any]:
        """The candidate ``id`` (``current``, ``e1``, ``c1``, ...)."""
        for c in self.report["candidates"]:
            if c["id"] == id:
                return c
        raise KeyError(id)

    def diff(self, id: str) -> str:
        """The unified diff of the NodePool file that makes candidate ``id``."""
        return self.candidate(id)["diff"]

    def write_report(self, path: PathLike) -> None:
        """Write the HTML page to ``path``."""
        with open(path, "w", encoding="utf-8") as f:
            f.write(self.html)

    def _rows(self) -> List[Dict[str, Any]]:
        rows = []
        for c in self.report["candidates"]:
            row: Dict[str, Any] = {
                "id": c["id"],
                "change": " + ".join(e["description"] for e in c["edits"]),
                "status": c["status"],
                "recommended": c["recommended"],
                "trade_off": c["trade_off"],
                "pareto": c["pareto"],
                "seeds": len(c["seeds"]),
                "pods_without_place": c["pods_without_place"],
                "note": c["note"],
            }
            for k, v in (c.get("mean") or {}).items():
                row[f"mean_{k}"] = v
            for k, v in (c.get("difference") or {}).items():
                row[f"diff_{k}"] = v["mean"]
                row[f"diff_{k}_ci95_low"] = v["ci95_low"]
                row[f"diff_{k}_ci95_high"] = v["ci95_high"]
            rows.append(row)
        # Every row has every column (the current NodePools have no differences).
        columns: Dict[str, None] = {}
        for r in rows:
            columns.update(dict.fromkeys(r))
        return [{k: r.get(k) for k in columns} for r in rows]

    def to_arrow(self):
        """The candidates as a pyarrow Table (one row each, means and differences as
        columns)."""
        import pyarrow as pa

        return pa.Table.from_pylist(self._rows())

    def to_pandas(self):
        """The candidates as a pandas DataFrame (needs pandas)."""
        return self.to_arrow().to_pandas()


def advise(
    scenario: Optional[PathLike] = None,
    *,
    trace: Optional[PathLike] = None,
    nodepools: Optional[PathLike] = None,
    strategy: str = "karpenter",
    seeds: int = 5,
    budget: int = 60,
    catalog: Optional[str] = None,
    horizon: Optional[str] = None,
    engine: str = "local",
    workers: Optional[int] = None,
    address: Optional[str] = None,
    retries: int = 3,
    progress: bool = True,
) -> Advice:
    """Advise on the NodePools of a scenario file (``nodepools``: another NodePool
    file to improve instead of the scenario's own), or of a trace file with a NodePool
    file, as ``nodepack advise`` does: candidate edits replayed on ``seeds`` seeds
    within ``budget`` replays, for the autoscaler ``strategy``.

    ``engine="local"`` replays on ``workers`` threads (default: one per CPU);
    ``engine="ray"`` replays each batch of the search as Ray tasks on the cluster at
    ``address`` (default: the one already initialized, else a new local one),
    retrying a failed task up to ``retries`` times. Both give the same report."""
    if engine not in ("local", "ray"):
        raise ValueError(f"engine {engine!r}: expected 'local' or 'ray'")
    if (scenario is None) == (trace is None):
        raise ValueError("give a scenario file, or trace= with nodepools=")
    adv = _native.advise_start(
        os.fspath(scenario) if scenario is not None else None,
        os.fspath(trace) if trace is not None else None,
        os.fspath(nodepools) if nodepools is not None else None,
        catalog,
        str(horizon) if horizon is not None else None,
        strategy,
        int(seeds),
        int(budget),
    )
    start = time.monotonic()
    n = workers or os.cpu_count() or 1
    ray_started = False
    if engine == "ray":
        import ray

        if not ray.is_initialized():
            ray.init(address=address, include_dashboard=False, log_to_driver=False)
            ray_started = True
    try:
        while True:
            plan_json = adv.next_batch()
            if plan_json is None:
                break
            if engine == "local":
                records = adv.run_local(plan_json, n)
            else:
                from .sweep import _ray_records

                ids = [r["id"] for r in json.loads(plan_json)["runs"]]
                got: List[Tuple[str, str]] = []
                _ray_records(plan_json, ids, address, retries, got.extend)
                records = got
            adv.feed(records)
            if progress:
                print(
                    f"\radvise: {adv.replays()}/{budget} replays, {time.monotonic() - start:.0f} s",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    finally:
        if ray_started:
            import ray

            ray.shutdown()
    if progress:
        print(file=sys.stderr)
    command = "nodepack.advise(" + ", ".join(
        f"{k}={v!r}"
        for k, v in [
            ("scenario", scenario),
            ("trace", trace),
            ("nodepools", nodepools),
            ("strategy", strategy),
            ("seeds", seeds),
            ("budget", budget),
        ]
        if v is not None
    ) + ")"
    report_json, html = adv.report(command)
    return Advice(
        report=json.loads(report_json),
        html=html,
        engine=engine,
        seconds=time.monotonic() - start,
    )
