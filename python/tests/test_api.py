"""The Python API against the shipped examples and the nodepack command."""

import json
import subprocess
import threading

import pyarrow as pa
import pytest
import yaml_free_manifests as m

import nodepack

PODS = "scenarios/examples/pods.yaml"
POOLS = "scenarios/examples/nodepools.yaml"
SCENARIO = "scenarios/sim/karpenter-basic.yaml"


def run_cli(cli, *args):
    out = subprocess.run([cli, "-q", *args], check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


def without_wall(summary):
    return {k: v for k, v in summary.items() if k != "wall_seconds"}


def test_solve_a_shipped_example():
    plan = nodepack.solve(PODS, POOLS)
    assert plan.strategy == "nodepack"
    assert plan.nodes and plan.cost_per_hour > 0
    assert plan.cost_per_hour >= plan.lower_bound_per_hour - 1e-9
    assert plan.cost_per_hour == pytest.approx(sum(n["price_per_hour_usd"] for n in plan.nodes))
    nodes = plan.to_arrow("nodes")
    assert nodes.num_rows == len(plan.nodes)
    # Every pod is in the pod table exactly once.
    pods = plan.to_arrow("pods").column("pod").to_pylist()
    assert len(pods) == len(set(pods)) == sum(len(n["pods"]) for n in plan.nodes) + len(plan.unschedulable)


def test_solve_matches_the_cli(cli):
    for strategy in nodepack.STRATEGIES:
        doc = run_cli(cli, "solve", "--pods", PODS, "--nodepools", POOLS, "--strategy", strategy, "--output", "json")
        plan = nodepack.solve(PODS, POOLS, strategy=strategy)
        assert plan.cost_per_hour == pytest.approx(doc["cost_per_hour"]), strategy
        assert [n["instance_type"] for n in plan.nodes] == [n["instance_type"] for n in doc["nodes"]], strategy


def test_explain_and_lower_bound():
    ex = nodepack.explain(PODS, POOLS, strategy="karpenter")
    assert ex["nodes"], ex.keys()
    lb = nodepack.lower_bound(PODS, POOLS)
    assert 0 < lb <= nodepack.solve(PODS, POOLS).cost_per_hour + 1e-9


def test_kubernetes_dicts_give_the_same_plan():
    from_yaml = nodepack.solve(m.DEPLOYMENT_YAML, m.NODEPOOL_YAML)
    from_dicts = nodepack.solve([m.deployment()], m.nodepool())
    from_client = nodepack.solve([m.ClientObject(m.snake(m.deployment()))], m.nodepool())
    assert from_yaml.raw == from_dicts.raw == from_client.raw
    # Several inputs: paths and texts mixed.
    both = nodepack.solve([PODS, m.DEPLOYMENT_YAML.replace("name: web,", "name: extra,")], POOLS)
    alone = nodepack.solve(PODS, POOLS)
    assert len(both.to_arrow("pods")) == len(alone.to_arrow("pods")) + 5
    assert len(from_yaml.nodes) >= 1


def test_catalog_tables():
    c = nodepack.catalog()
    assert c.name == "aws/us-east-1" and len(c) > 1000
    offers = c.to_arrow("offerings")
    assert offers.num_rows > len(c)
    spot = [p for p, ct in zip(offers.column("price_per_hour_usd").to_pylist(), offers.column("capacity_type").to_pylist()) if ct == "spot"]
    assert spot and min(spot) > 0


def test_replay_matches_the_cli_for_the_same_seed(cli):
    doc = run_cli(cli, "replay", SCENARIO, "--strategy", "karpenter", "--seed", "3", "--output", "json")
    r = nodepack.replay(SCENARIO, strategy="karpenter", seed=3)
    assert without_wall(r.summary) == without_wall(doc["runs"][0])
    assert r.document["scenario"] == doc["scenario"]
    assert r.document["horizon_seconds"] == doc["horizon_seconds"]
    assert r.to_arrow("nodes").num_rows == r.summary["nodes_launched"]
    pods = r.to_arrow("pods")
    assert pods.num_rows == r.summary["pods_total"]
    assert r.series[-1]["cost_so_far"] == pytest.approx(r.cost, rel=1e-6)


def test_compare_matches_the_cli(cli):
    doc = run_cli(cli, "compare", SCENARIO, "--seeds", "2", "--output", "json")
    c = nodepack.compare(SCENARIO, seeds=2)
    assert [without_wall(r) for r in c.runs] == [without_wall(r) for r in doc["runs"]]
    assert c.statistics == doc["statistics"]
    assert c.to_arrow().num_rows == len(nodepack.AUTOSCALERS) * 2


def test_replay_of_a_scenario_given_as_a_dict():
    scenario = {
        "name": "dict",
        "purpose": "a scenario built in Python",
        "nodepools": "scenarios/sim/nodepools.yaml",
        "horizon": "30m",
        "seed": 4,
        "workload": {"generate": {"services": [{"name": "web", "cpu_m": 500, "memory_mi": 512, "replicas": 6}]}},
    }
    r = nodepack.replay(scenario)
    assert r.summary["pods_scheduled"] == 6
    assert r.horizon_seconds == 1800
    short = nodepack.replay(SCENARIO, horizon="20m")
    assert short.horizon_seconds == 1200


def test_to_pandas_round_trip():
    r = nodepack.replay(SCENARIO, horizon=3600)
    df = r.to_pandas("series")
    assert len(df) == len(r.series)
    back = pa.Table.from_pandas(df, preserve_index=False)
    assert back.equals(r.to_arrow("series"))
    assert df.to_dict("records") == r.series


@pytest.mark.parametrize(
    "call, file, field, value",
    [
        (lambda: nodepack.solve(PODS, m.NODEPOOL_YAML.replace('cpu: "1000"', "cpu: lots")), "<nodepools>", "spec.limits.cpu", '"lots"'),
        (lambda: nodepack.solve("no/such/pods.yaml", POOLS), "no/such/pods.yaml", None, None),
        (
            lambda: nodepack.replay({"name": "x", "purpose": "y", "nodepools": "scenarios/sim/nodepools.yaml", "horizon": "1h", "cloud": {"boot_min_s": -5}, "workload": {"generate": {"services": []}}}),
            "<scenario>",
            "cloud.boot_min_s",
            "-5",
        ),
    ],
)
def test_errors_carry_file_field_and_value(call, file, field, value):
    with pytest.raises(nodepack.InputError) as e:
        call()
    assert e.value.file == file
    assert e.value.field == field
    if value is not None:
        assert value in (e.value.value or str(e.value)), str(e.value)


def test_unknown_strategy_is_an_input_error():
    with pytest.raises(nodepack.InputError, match="karpentr"):
        nodepack.replay(SCENARIO, strategy="karpentr")
    with pytest.raises(nodepack.InputError, match="karpentr"):
        nodepack.solve(PODS, POOLS, strategy="karpentr")


def test_the_gil_is_released_while_rust_works():
    # This thread counts while another thread is inside a replay. With the GIL held for
    # the whole replay, it could count for at most a switch interval or two; released,
    # it counts for the whole replay (which takes a good many switch intervals).
    import sys
    import time

    slice_s = sys.getswitchinterval()
    start, n = time.perf_counter(), 0
    while time.perf_counter() - start < 20 * slice_s:
        n += 1
    per_slice = n / 20
    state = {"inside": False, "done": False}

    def work():
        state["inside"] = True
        t0 = time.perf_counter()
        state["r"] = nodepack.replay("scenarios/sim/web-diurnal.yaml")
        state["seconds"] = time.perf_counter() - t0
        state["inside"] = False
        state["done"] = True

    t = threading.Thread(target=work)
    t.start()
    ticks = 0
    while not state["done"]:
        if state["inside"]:
            ticks += 1
    t.join()
    assert state["r"].cost > 0
    slices = state["seconds"] / slice_s
    assert slices > 40, f"the replay took {state['seconds']:.3f} s: too short to tell"
    assert ticks > 10 * per_slice, (ticks, per_slice, slices)
