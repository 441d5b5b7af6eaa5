import os
import pathlib
import shutil

import pytest

# Ray's token authentication is for shared clusters; the test's cluster is local.
os.environ.setdefault("RAY_AUTH_MODE", "disabled")

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    """Tests name shipped files relative to the repository root."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def cli():
    """The nodepack command built from this checkout (NODEPACK_BIN, else the release
    build, else the debug build)."""
    for c in (os.environ.get("NODEPACK_BIN"), ROOT / "target/release/nodepack", ROOT / "target/debug/nodepack"):
        if c and pathlib.Path(c).is_file():
            return str(c)
    found = shutil.which("nodepack")
    if found:
        return found
    pytest.fail("no nodepack binary: run cargo build --release -p nodepack-cli (or set NODEPACK_BIN)")
