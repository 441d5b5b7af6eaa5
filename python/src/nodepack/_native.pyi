"""Type stubs of ``nodepack._native``, the Rust side of the package. Functions take
texts as ``(label, text)`` pairs or paths, return JSON text, and release the GIL while
they work. Use the ``nodepack`` module; these are its building blocks."""

from typing import List, Optional, Tuple

__version__: str

Text = Tuple[str, str]

class NodepackError(Exception):
    """Something nodepack could not do."""

    file: Optional[str]
    field: Optional[str]
    value: Optional[str]

class InputError(NodepackError):
    """Bad input: ``file``, ``field`` and ``value`` say where and what."""

def names() -> Tuple[List[str], List[str]]:
    """(solver strategies, simulator autoscalers)."""

def catalog(name: Optional[str] = None) -> str:
    """JSON ``{"catalog": ..., "warnings": [...]}`` of ``aws/us-east-1`` or a catalog file."""

def solve(
    manifests: List[Text],
    nodepools: Text,
    strategy: str,
    catalog: Optional[str] = None,
    explain: bool = False,
) -> str:
    """JSON ``{"plan", "lower_bound_usd", "explanation", "warnings"}``."""

def lower_bound(manifests: List[Text], nodepools: Text, catalog: Optional[str] = None) -> float:
    """Dollars per hour no plan for the pending pods can beat."""

def replay(
    scenario: Optional[str] = None,
    scenario_text: Optional[Text] = None,
    trace: Optional[str] = None,
    nodepools: Optional[Text] = None,
    strategy: str = "nodepack",
    seed: Optional[int] = None,
    horizon: Optional[str] = None,
    catalog: Optional[str] = None,
    pdbs: Optional[str] = None,
) -> str:
    """JSON ``{"document", "series", "nodes", "pods", "warnings"}``."""

def compare(
    strategies: List[str],
    seeds: int,
    scenario: Optional[str] = None,
    scenario_text: Optional[Text] = None,
    trace: Optional[str] = None,
    nodepools: Optional[Text] = None,
    horizon: Optional[str] = None,
) -> str:
    """JSON: the document of ``nodepack compare --output json``."""

def sweep_plan(label: str, text: str, base_dir: str) -> str:
    """JSON plan of a sweep file's text: its runs and the texts of the files they read."""

def sweep_pending(plan: str, out: str) -> List[str]:
    """Ids of the plan's runs with no record under ``out``."""

def sweep_run_batch(plan: str, ids: List[str]) -> List[Tuple[str, str]]:
    """Replay runs one after another: (id, record JSON) each."""

def sweep_store(out: str, id: str, record: str) -> None:
    """Keep a run's record under ``out``."""

def sweep_local(plan: str, out: str, workers: int) -> int:
    """Replay the pending runs on ``workers`` threads; how many ran."""

def sweep_finish(plan: str, out: str) -> str:
    """Write results.csv, results.parquet and statistics.json; JSON of their paths."""

class Advising:
    """The NodePool advisor's search, one batch of replays at a time."""

    def next_batch(self) -> Optional[str]:
        """The next batch as a plan (JSON), or None when the search is over."""
    def run_local(self, plan: str, workers: int) -> List[Tuple[str, str]]:
        """Replay a plan on ``workers`` threads: (id, record JSON) each."""
    def feed(self, records: List[Tuple[str, str]]) -> None:
        """Hand back a batch's records."""
    def replays(self) -> int:
        """Replays spent so far."""
    def report(self, command: str) -> Tuple[str, str]:
        """The report (JSON) and its HTML page."""

def advise_start(
    scenario: Optional[str],
    trace: Optional[str],
    nodepools: Optional[str],
    catalog: Optional[str],
    horizon: Optional[str],
    strategy: str,
    seeds: int,
    budget: int,
) -> Advising:
    """Start the advisor on a scenario file, or a trace file with a NodePool file."""
