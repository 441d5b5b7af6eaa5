"""The NodePool advisor from Python: the local engine against `nodepack advise`, its
tables and page, and its errors. (The Ray engine is tested in test_sweep.py, on the
Ray cluster started there.)"""

import json
import pathlib
import subprocess

import pytest

import nodepack

ADVISE = dict(
    scenario="scenarios/sim/karpenter-basic.yaml",
    nodepools="scenarios/nodepools/getting-started.yaml",
    seeds=2,
    budget=18,
)


def cli_args():
    return [
        ADVISE["scenario"],
        "--nodepools",
        ADVISE["nodepools"],
        "--seeds",
        str(ADVISE["seeds"]),
        "--budget",
        str(ADVISE["budget"]),
    ]


@pytest.fixture(scope="module")
def advice():
    import os

    os.chdir(pathlib.Path(__file__).resolve().parents[2])
    return nodepack.advise(**ADVISE, progress=False)


def test_local_engine_reports_what_the_cli_reports(cli, advice):
    out = subprocess.run(
        [cli, "-q", "advise", *cli_args(), "--output", "json"], check=True, capture_output=True, text=True
    )
    assert json.loads(out.stdout) == advice.report
    assert advice.report["replays"] <= ADVISE["budget"]


def test_adding_spot_is_recommended_with_its_diff(advice):
    spot = [c for c in advice.recommended if [e["kind"] for e in c["edits"]] == ["add-spot"]]
    assert spot, advice.report["recommended"]
    d = spot[0]["difference"]["cost_usd"]
    assert d["ci95_high"] < 0 < -d["mean"]
    diff = advice.diff(spot[0]["id"])
    assert diff.startswith("--- a/scenarios/nodepools/getting-started.yaml\n")
    assert "+      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand, spot]}" in diff


def test_tables_and_page(advice, tmp_path):
    df = advice.to_pandas()
    assert len(df) == len(advice.candidates)
    assert df.loc[df["id"] == "current", "status"].item() == "current"
    assert {"mean_cost_usd", "diff_cost_usd", "diff_cost_usd_ci95_low"} <= set(df.columns)
    advice.write_report(tmp_path / "advice.html")
    page = (tmp_path / "advice.html").read_text()
    assert "<svg" in page and "nodepack.advise(" in page


def test_errors_name_what_is_wrong():
    with pytest.raises(nodepack.InputError) as e:
        nodepack.advise(**{**ADVISE, "budget": 2}, progress=False)
    assert "budget 2" in str(e.value)
    with pytest.raises(nodepack.InputError) as e:
        nodepack.advise(**{**ADVISE, "strategy": "karpentr"}, progress=False)
    assert "karpentr" in str(e.value)
    with pytest.raises(nodepack.InputError) as e:
        nodepack.advise(**{**ADVISE, "nodepools": "no/such.yaml"}, progress=False)
    assert e.value.file == "no/such.yaml"
    with pytest.raises(ValueError):
        nodepack.advise(progress=False)
