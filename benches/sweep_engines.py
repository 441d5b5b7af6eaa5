"""The overhead of the Ray engine: one sweep run by the local engine (threads) and by the
Ray engine on a local Ray cluster with the same number of CPUs, in fresh result
directories; the rows must be identical. Run from the repository root after
`bash .ci/test` (which builds the package into .venv):

    .venv/bin/python benches/sweep_engines.py scenarios/sweeps/shipped.yaml 2

Prints the wall time of each engine (the Ray one including starting the cluster, and
without it) and their ratio.
"""

import os
import pathlib
import sys
import tempfile
import time

os.environ.setdefault("RAY_AUTH_MODE", "disabled")

import nodepack  # noqa: E402


def main() -> None:
    spec = sys.argv[1] if len(sys.argv) > 1 else "scenarios/sweeps/shipped.yaml"
    cpus = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    with tempfile.TemporaryDirectory() as tmp:
        local = nodepack.sweep(spec, out=pathlib.Path(tmp, "local"), workers=cpus, progress=False)
        print(f"local: {local.ran} runs on {cpus} threads in {local.seconds:.1f} s")

        import ray

        t0 = time.monotonic()
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
        init_s = time.monotonic() - t0
        try:
            on_ray = nodepack.sweep(spec, engine="ray", out=pathlib.Path(tmp, "ray"), progress=False)
        finally:
            ray.shutdown()
        total = init_s + on_ray.seconds
        print(f"ray:   {on_ray.ran} runs on {cpus} CPUs in {on_ray.seconds:.1f} s (+ {init_s:.1f} s to start the cluster)")
        same = pathlib.Path(local.csv).read_text() == pathlib.Path(on_ray.csv).read_text()
        print(f"rows identical: {same}")
        print(f"ratio ray/local: {on_ray.seconds / local.seconds:.3f} (with cluster start: {total / local.seconds:.3f})")
        if not same:
            sys.exit(1)


if __name__ == "__main__":
    main()
