"""Replay a shipped scenario with three strategies and plot cost and pending pods over
time (the example of docs/python.md). Run from the repository root:

    .venv/bin/pip install matplotlib
    .venv/bin/python python/examples/three_strategies.py docs/python-three-strategies.png
"""

import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import nodepack  # noqa: E402

scenario = "scenarios/sim/web-diurnal.yaml"
strategies = ["nodepack", "karpenter", "cluster-autoscaler"]

results = {s: nodepack.replay(scenario, strategy=s, seed=1) for s in strategies}

fig, (cost, pending) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
for name, r in results.items():
    series = r.to_pandas("series")
    hours = series["t"] / 3600
    cost.plot(hours, series["cost_so_far"], label=f"{name} (${r.cost:,.0f})")
    pending.plot(hours, series["pending"], label=name)
cost.set_ylabel("cumulative cost, $")
cost.legend()
pending.set_ylabel("pending pods")
pending.set_xlabel("hours")
fig.suptitle(f"{scenario}: three strategies, seed 1")
fig.tight_layout()

for name, r in results.items():
    p99 = r.summary["pending_seconds"]["p99"]
    print(f"{name:20s} cost ${r.cost:8.2f}  pending p99 {p99:6.1f} s  nodes {len(r.nodes)}")

out = sys.argv[1] if len(sys.argv) > 1 else "three-strategies.png"
fig.savefig(out, dpi=100)
print(f"wrote {out}")
