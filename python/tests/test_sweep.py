"""Sweeps: the Python local engine against `nodepack sweep`, resuming, and the Ray engine
on a real local Ray cluster."""

import os
import pathlib
import subprocess

import pytest

import nodepack

SMALL = "scenarios/sweeps/small.yaml"


def read(p):
    return pathlib.Path(p).read_text()


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    """The small sweep, run once by the Python local engine."""
    os.chdir(pathlib.Path(__file__).resolve().parents[2])
    out = tmp_path_factory.mktemp("local")
    return nodepack.sweep(SMALL, out=out, progress=False)


def test_local_engine_writes_what_the_cli_writes(cli, local, tmp_path):
    subprocess.run([cli, "-q", "sweep", SMALL, "--out", str(tmp_path)], check=True, capture_output=True)
    assert local.rows == 8 and local.ran == 8
    assert read(local.csv) == read(tmp_path / "results.csv")
    assert read(local.statistics_path) == read(tmp_path / "statistics.json")
    table = local.to_arrow()
    assert table.num_rows == 8
    assert set(table.column("strategy").to_pylist()) == {"nodepack", "karpenter"}
    assert table.column("horizon").to_pylist() == ["1h"] * 8
    df = local.to_pandas()
    assert (df["cost_usd"] >= df["lower_bound_usd"]).all()
    groups = local.statistics["groups"]
    assert len(groups) == 2 and all(g["statistics"]["paired"] for g in groups)


def test_an_interrupted_sweep_runs_only_what_is_missing(local, tmp_path):
    import shutil

    out = tmp_path / "resumed"
    shutil.copytree(local.out, out)
    runs = sorted((out / "runs").iterdir())
    for r in runs[:3]:
        r.unlink()
    again = nodepack.sweep(SMALL, out=out, progress=False)
    assert again.ran == 3
    assert read(again.csv) == read(local.csv)
    assert nodepack.sweep(SMALL, out=out, progress=False).ran == 0


def test_a_sweep_given_as_a_dict_and_its_errors(tmp_path):
    spec = {
        "name": "d",
        "scenarios": ["scenarios/sim/karpenter-basic.yaml"],
        "strategies": ["karpenter"],
        "seeds": [5],
        "settings": {"horizon": ["30m"]},
    }
    r = nodepack.sweep(spec, out=tmp_path, progress=False)
    assert r.rows == 1 and r.to_arrow().column("seed").to_pylist() == [5]
    with pytest.raises(nodepack.InputError) as e:
        nodepack.sweep({**spec, "strategies": ["karpentr"]}, out=tmp_path / "x", progress=False)
    assert e.value.field == "strategies[0]" and e.value.value == '"karpentr"'
    with pytest.raises(nodepack.InputError) as e:
        nodepack.sweep({**spec, "settings": {"cloud.ice_rate": [7]}}, out=tmp_path / "y", progress=False)
    assert "cloud.ice_rate" in str(e.value)


@pytest.fixture(scope="module")
def ray_cluster(tmp_path_factory):
    ray = pytest.importorskip("ray")
    # The first attempt of one task fails (see sweep._run_ray's fault hook): Ray must
    # retry it for the sweep to finish.
    marker = tmp_path_factory.mktemp("fault") / "failed-once"
    os.environ["NODEPACK_SWEEP_FAIL_ONCE"] = str(marker)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield marker
    ray.shutdown()
    del os.environ["NODEPACK_SWEEP_FAIL_ONCE"]


def test_ray_engine_gives_the_local_rows(ray_cluster, local, tmp_path):
    r = nodepack.sweep(SMALL, engine="ray", out=tmp_path, progress=False)
    assert ray_cluster.exists(), "the injected failure happened (and was retried)"
    assert r.engine == "ray" and r.ran == 8
    assert read(r.csv) == read(local.csv)
    assert read(r.statistics_path) == read(local.statistics_path)
    # Resumed on Ray: only the missing runs.
    for p in sorted((tmp_path / "runs").iterdir())[:2]:
        p.unlink()
    again = nodepack.sweep(SMALL, engine="ray", out=tmp_path, progress=False)
    assert again.ran == 2
    assert read(again.csv) == read(local.csv)


def test_ray_engine_gives_the_local_advice(ray_cluster):
    args = dict(
        scenario="scenarios/sim/karpenter-basic.yaml",
        nodepools="scenarios/nodepools/getting-started.yaml",
        seeds=2,
        budget=10,
        progress=False,
    )
    on_ray = nodepack.advise(**args, engine="ray")
    local = nodepack.advise(**args)
    assert on_ray.engine == "ray"
    assert on_ray.report == local.report
