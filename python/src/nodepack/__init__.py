"""nodepack: Kubernetes node autoprovisioning, from Python.

Solve provisioning problems (which spot or on-demand instance types to launch for
pending pods, and how to pack them), replay scenarios and traces through a deterministic
simulator of a cluster, its cloud and its autoscaler, compare strategies over seeds, and
sweep grids of scenarios and settings on local threads or on a Ray cluster.

Inputs are file paths, YAML or JSON text, or Python dicts shaped like Kubernetes objects
(also what the ``kubernetes`` client's ``to_dict()`` gives). Results are dataclasses
with ``to_arrow()`` and ``to_pandas()`` for their tables. Bad input raises
:class:`InputError` carrying ``file``, ``field`` and ``value``. The work happens in Rust
with the GIL released, so Python threads run alongside.

>>> import nodepack
>>> plan = nodepack.solve("scenarios/examples/pods.yaml", "scenarios/examples/nodepools.yaml")  # doctest: +SKIP
>>> plan.cost_per_hour  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import re
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native
from ._native import InputError, NodepackError

__all__ = [
    "AUTOSCALERS",
    "Advice",
    "Catalog",
    "Comparison",
    "DEFAULT_CATALOG",
    "InputError",
    "NodepackError",
    "Plan",
    "Result",
    "STRATEGIES",
    "SweepResult",
    "advise",
    "catalog",
    "compare",
    "explain",
    "lower_bound",
    "replay",
    "solve",
    "sweep",
]

__version__: str = _native.__version__

#: The embedded catalog (AWS us-east-1, with 2026 spot prices).
DEFAULT_CATALOG = "aws/us-east-1"

_names = _native.names()
#: Solver strategies (``solve``).
STRATEGIES: Tuple[str, ...] = tuple(_names[0])
#: Simulator autoscalers (``replay``, ``compare``, ``sweep``).
AUTOSCALERS: Tuple[str, ...] = tuple(_names[1])

#: An input: a path, YAML or JSON text, a dict (or list of dicts) shaped like
#: Kubernetes objects, or an object with ``to_dict()`` (the ``kubernetes`` client's).
Source = Any

# ---------------------------------------------------------------------------- inputs

# Maps whose keys are data, not field names: left as they are when converting the
# kubernetes client's snake_case dicts.
_DATA_MAPS = {
    "labels",
    "annotations",
    "node_selector",
    "nodeSelector",
    "match_labels",
    "matchLabels",
    "requests",
    "limits",
    "capacity",
    "allocatable",
    "data",
    "string_data",
}


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(w[:1].upper() + w[1:] for w in rest)


def _jsonable(obj: Any, snake: bool, parent: str = "") -> Any:
    """A kubernetes object as plain JSON data: None dropped; the client's snake_case
    field names made camelCase (keys of label and resource maps kept)."""
    if hasattr(obj, "to_dict") and callable(obj.to_dict):
        return _jsonable(obj.to_dict(), True, parent)
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if v is None:
                continue
            key = _camel(k) if snake and parent not in _DATA_MAPS else k
            out[key] = _jsonable(v, snake, k)
        return out
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v, snake, parent) for v in obj]
    if isinstance(obj, (datetime.datetime, datetime.date)):
        return obj.isoformat()
    return obj


def _looks_like_text(s: str) -> bool:
    t = s.lstrip()
    return "\n" in s or t.startswith("{") or t.startswith("[") or bool(re.match(r"^[\w.-]+:\s", t))


def _is_path(x: Any) -> bool:
    return isinstance(x, os.PathLike) or (isinstance(x, str) and not _looks_like_text(x))


def _read_path(p: Any) -> Tuple[str, str]:
    path = os.fspath(p)
    try:
        with open(path, encoding="utf-8") as f:
            return path, f.read()
    except OSError as e:
        err = InputError(f"{path}: {e.strerror or e}")
        err.file, err.field, err.value = path, None, None
        raise err from None


def _text(x: Source, what: str) -> Tuple[str, str]:
    """One input as (label, text)."""
    if x is None:
        raise TypeError(f"{what}: an input is needed")
    if _is_path(x):
        return _read_path(x)
    if isinstance(x, str):
        return f"<{what}>", x
    data = _jsonable(x, False)
    if isinstance(data, list):
        data = {"kind": "List", "items": data}
    snake = isinstance(data, dict) and "api_version" in data
    if snake:
        data = _jsonable(data, True)
    return f"<{what}>", json.dumps(data)


def _texts(x: Source, what: str) -> List[Tuple[str, str]]:
    """Several inputs: a list of paths or texts is several inputs; anything else (a
    dict, a list of dicts) is one."""
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, (str, os.PathLike)) for v in x):
        return [_text(v, what) for v in x]
    return [_text(x, what)]


def _catalog_name(c: Any) -> Optional[str]:
    if c is None:
        return None
    if isinstance(c, Catalog):
        return c.source
    return os.fspath(c)


def _horizon(h: Any) -> Optional[str]:
    if h is None:
        return None
    if isinstance(h, datetime.timedelta):
        return f"{int(h.total_seconds())}s"
    if isinstance(h, (int, float)):
        return f"{int(h)}s"
    return str(h)


def _table(rows: List[Dict[str, Any]]):
    import pyarrow as pa

    return pa.Table.from_pylist(rows)


def _flat(d: Dict[str, Any], prefix: str = "") -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for k, v in d.items():
        name = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, name + "_"))
        elif isinstance(v, list):
            out[name] = len(v) if k == "unschedulable" else json.dumps(v)
        else:
            out[name] = v
    return out


def _pod(p: Any) -> str:
    if isinstance(p, dict):
        return f"{p.get('namespace', '')}/{p.get('name', '')}"
    return str(p)


class _Tables:
    """``to_arrow(table)`` and ``to_pandas(table)`` over ``_rows(table)``."""

    _tables: Tuple[str, ...] = ()

    def _rows(self, table: str) -> List[Dict[str, Any]]:  # pragma: no cover - overridden
        raise NotImplementedError

    def to_arrow(self, table: Optional[str] = None):
        """The table ``table`` (default: the first of ``tables``) as a pyarrow Table."""
        name = table or self._tables[0]
        if name not in self._tables:
            raise ValueError(f"table {name!r}: expected one of {', '.join(self._tables)}")
        return _table(self._rows(name))

    def to_pandas(self, table: Optional[str] = None):
        """The table ``table`` as a pandas DataFrame (needs pandas)."""
        return self.to_arrow(table).to_pandas()


# --------------------------------------------------------------------------- catalog


@dataclasses.dataclass(frozen=True)
class Catalog(_Tables):
    """Instance types with their offerings (zone, capacity type, price per hour)."""

    #: Its name (e.g. ``aws/us-east-1``).
    name: str
    #: What was asked for: the embedded name or a file path.
    source: str
    #: Region, if known.
    region: Optional[str]
    #: When its data was collected, if known.
    data_date: Optional[str]
    #: The instance types as JSON data (prices in micro-dollars per hour).
    instance_types: List[Dict[str, Any]]
    #: What was ignored while reading it.
    warnings: List[str]

    _tables = ("offerings", "types")

    def __len__(self) -> int:
        return len(self.instance_types)

    def _rows(self, table: str) -> List[Dict[str, Any]]:
        rows = []
        for t in self.instance_types:
            cap = t.get("capacity", {})
            base = {
                "instance_type": t["name"],
                "cpu_m": cap.get("cpu"),
                "memory_bytes": cap.get("memory"),
                "pods": cap.get("pods"),
                "gpus": sum(cap.get("extended", {}).values()) if cap.get("extended") else 0,
            }
            if table == "types":
                rows.append({**base, "offerings": len(t.get("offerings", []))})
                continue
            for o in t.get("offerings", []):
                rows.append(
                    {
                        **base,
                        "zone": o["zone"],
                        "capacity_type": o["capacity_type"],
                        "price_per_hour_usd": o["price"] / 1e6,
                        "available": o.get("available", True),
                        "interruption": o.get("interruption"),
                    }
                )
        return rows


def catalog(name: Union[str, os.PathLike, None] = DEFAULT_CATALOG) -> Catalog:
    """The catalog ``name``: the embedded ``aws/us-east-1`` or a catalog file."""
    source = _catalog_name(name) or DEFAULT_CATALOG
    doc = json.loads(_native.catalog(source))
    c = doc["catalog"]
    return Catalog(
        name=c["name"],
        source=source,
        region=c.get("region"),
        data_date=c.get("data_date"),
        instance_types=c["instance_types"],
        warnings=doc["warnings"],
    )


# ---------------------------------------------------------------------------- solver


@dataclasses.dataclass(frozen=True)
class Plan(_Tables):
    """A provisioning plan: new nodes, pods bound to existing nodes, pods that cannot be
    scheduled, and the cost per hour of the new nodes."""

    #: The strategy that made it.
    strategy: str
    #: Dollars per hour of the new nodes.
    cost_per_hour: float
    #: The fractional lower bound of the pending pods' cost per hour (None if the LP
    #: failed).
    lower_bound_per_hour: Optional[float]
    #: New nodes (JSON data; prices in dollars per hour).
    nodes: List[Dict[str, Any]]
    #: Pods bound to existing nodes.
    existing: List[Dict[str, Any]]
    #: Pods that cannot be scheduled, with the reason.
    unschedulable: List[Dict[str, Any]]
    #: What was ignored or approximated while reading the inputs.
    warnings: List[str]
    #: Why each node and capacity type won, when asked (``explain=True``).
    explanation: Optional[Dict[str, Any]]
    #: The plan as nodepack writes it (``nodepack solve --output json``'s ``plan``).
    raw: Dict[str, Any]

    _tables = ("nodes", "pods")

    def _rows(self, table: str) -> List[Dict[str, Any]]:
        if table == "nodes":
            return [
                {
                    "name": n["name"],
                    "nodepool": n["nodepool"],
                    "instance_type": n["instance_type"],
                    "zone": n["zone"],
                    "capacity_type": n["capacity_type"],
                    "price_per_hour_usd": n["price_per_hour_usd"],
                    "pods": len(n["pods"]),
                    "cpu_m": n["requested"].get("cpu"),
                    "memory_bytes": n["requested"].get("memory"),
                    "alternatives": len(n.get("alternatives", [])),
                }
                for n in self.nodes
            ]
        rows = []
        for n in self.nodes:
            rows += [{"pod": _pod(p), "node": n["name"], "new_node": True, "reason": None} for p in n["pods"]]
        rows += [{"pod": _pod(b["pod"]), "node": b["node"], "new_node": False, "reason": None} for b in self.existing]
        rows += [{"pod": _pod(u["pod"]), "node": None, "new_node": False, "reason": str(u["reason"])} for u in self.unschedulable]
        return rows


def _problem_args(pods: Source, nodepools: Source, nodes: Optional[Source], catalog: Any):
    manifests = _texts(pods, "pods")
    if nodes is not None:
        manifests += _texts(nodes, "nodes")
    return manifests, _text(nodepools, "nodepools"), _catalog_name(catalog)


def solve(
    pods: Source,
    nodepools: Source,
    strategy: str = "nodepack",
    nodes: Optional[Source] = None,
    catalog: Union[str, os.PathLike, Catalog, None] = None,
    explain: bool = False,
) -> Plan:
    """Plan new nodes for the pending pods of ``pods`` (pods, Deployments, StatefulSets,
    Jobs, DaemonSets; pods with ``spec.nodeName`` run on ``nodes``) under the NodePools
    of ``nodepools``, with the strategy ``strategy`` (see ``STRATEGIES``)."""
    manifests, pools, cat = _problem_args(pods, nodepools, nodes, catalog)
    doc = json.loads(_native.solve(manifests, pools, strategy, cat, explain))
    p = doc["plan"]
    return Plan(
        strategy=p["strategy"],
        cost_per_hour=p["cost_per_hour_usd"],
        lower_bound_per_hour=doc["lower_bound_usd"],
        nodes=p["nodes"],
        existing=p["existing"],
        unschedulable=p["unschedulable"],
        warnings=doc["warnings"],
        explanation=doc.get("explanation"),
        raw=p,
    )


def explain(
    pods: Source,
    nodepools: Source,
    strategy: str = "nodepack",
    nodes: Optional[Source] = None,
    catalog: Union[str, os.PathLike, Catalog, None] = None,
) -> Dict[str, Any]:
    """Why the plan of ``strategy`` chose each node's instance type and capacity type
    over the next cheapest, and what ruled out each pool for every unschedulable pod."""
    plan = solve(pods, nodepools, strategy, nodes, catalog, explain=True)
    return plan.explanation or {}


def lower_bound(
    pods: Source,
    nodepools: Source,
    nodes: Optional[Source] = None,
    catalog: Union[str, os.PathLike, Catalog, None] = None,
) -> float:
    """The fractional-LP lower bound of the pending pods' cost per hour, dollars: no
    plan costs less."""
    manifests, pools, cat = _problem_args(pods, nodepools, nodes, catalog)
    return _native.lower_bound(manifests, pools, cat)


# ------------------------------------------------------------------------- simulator


@dataclasses.dataclass(frozen=True)
class Result(_Tables):
    """One replay: its summary and its tables (time series, nodes, pods)."""

    #: The scenario's name.
    scenario: str
    #: The autoscaler.
    strategy: str
    #: The seed.
    seed: int
    #: Simulated time, seconds.
    horizon_seconds: float
    #: What the replay measured (the ``runs[0]`` of ``nodepack replay --output json``).
    summary: Dict[str, Any]
    #: Samples over time: cost, nodes, pending pods, utilization.
    series: List[Dict[str, Any]]
    #: Every node launched.
    nodes: List[Dict[str, Any]]
    #: Every pod.
    pods: List[Dict[str, Any]]
    #: What was ignored while reading the inputs.
    warnings: List[str]
    #: The document ``nodepack replay --output json`` prints.
    document: Dict[str, Any]

    _tables = ("series", "nodes", "pods", "summary")

    @property
    def cost(self) -> float:
        """Total cost, dollars."""
        return self.summary["cost_usd"]

    def _rows(self, table: str) -> List[Dict[str, Any]]:
        if table == "summary":
            return [_flat(self.summary)]
        return list(getattr(self, table))


def _scenario_args(x: Source) -> Dict[str, Any]:
    """A scenario or a trace as keyword arguments of the native functions."""
    if _is_path(x):
        path = os.fspath(x)
        if path.endswith((".jsonl", ".ndjson")):
            return {"trace": path}
        return {"scenario": path}
    return {"scenario_text": _text(x, "scenario")}


def replay(
    scenario_or_trace: Source,
    nodepools: Optional[Source] = None,
    strategy: str = "nodepack",
    seed: Optional[int] = None,
    horizon: Union[str, float, datetime.timedelta, None] = None,
    catalog: Union[str, os.PathLike, Catalog, None] = None,
    pdbs: Union[str, os.PathLike, None] = None,
) -> Result:
    """Replay a simulation scenario (a file, text or dict; its relative paths are
    relative to it, or to the working directory for text) or a trace (a ``.jsonl``
    file, with ``nodepools``) under the autoscaler ``strategy`` (see ``AUTOSCALERS``).
    ``nodepools`` replaces a scenario's own; ``seed`` and ``horizon`` (``"2h"``,
    seconds or a timedelta) its settings; ``catalog`` and ``pdbs`` apply to traces."""
    kw = _scenario_args(scenario_or_trace)
    doc = json.loads(
        _native.replay(
            nodepools=_text(nodepools, "nodepools") if nodepools is not None else None,
            strategy=strategy,
            seed=seed,
            horizon=_horizon(horizon),
            catalog=_catalog_name(catalog),
            pdbs=os.fspath(pdbs) if pdbs is not None else None,
            **kw,
        )
    )
    d = doc["document"]
    s = d["runs"][0]
    return Result(
        scenario=d["scenario"],
        strategy=s["strategy"],
        seed=s["seed"],
        horizon_seconds=d["horizon_seconds"],
        summary=s,
        series=doc["series"],
        nodes=doc["nodes"],
        pods=doc["pods"],
        warnings=doc["warnings"],
        document=d,
    )


@dataclasses.dataclass(frozen=True)
class Comparison(_Tables):
    """Replays of several strategies over seeds: their summaries and, over two seeds or
    more, means with 95% intervals and paired differences."""

    #: The scenario's name.
    scenario: str
    #: One summary per (seed, strategy).
    runs: List[Dict[str, Any]]
    #: Means, intervals and paired differences (None with one seed).
    statistics: Optional[Dict[str, Any]]
    #: The document ``nodepack compare --output json`` prints.
    document: Dict[str, Any]

    _tables = ("runs",)

    def _rows(self, table: str) -> List[Dict[str, Any]]:
        return [_flat(r) for r in self.runs]


def compare(
    scenario_or_trace: Source,
    strategies: Optional[Sequence[str]] = None,
    seeds: int = 1,
    nodepools: Optional[Source] = None,
    horizon: Union[str, float, datetime.timedelta, None] = None,
) -> Comparison:
    """Replay ``scenario_or_trace`` with each strategy (default: every autoscaler, as
    ``nodepack compare`` does) over ``seeds`` seeds (from the scenario's own), on as many
    threads as the machine has."""
    kw = _scenario_args(scenario_or_trace)
    doc = json.loads(
        _native.compare(
            list(strategies or AUTOSCALERS),
            int(seeds),
            nodepools=_text(nodepools, "nodepools") if nodepools is not None else None,
            horizon=_horizon(horizon),
            **kw,
        )
    )
    return Comparison(
        scenario=doc["scenario"],
        runs=doc["runs"],
        statistics=doc.get("statistics"),
        document=doc,
    )


from .sweep import SweepResult, sweep  # noqa: E402  (uses the names above)
from .advise import Advice, advise  # noqa: E402
