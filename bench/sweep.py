"""Benchmark of the Monte Carlo sweep engine (printed, never asserted).

Prints ``name: value unit`` lines:

- instances/s of ``sweep lif`` through :func:`run_sweep` with 1 and 2 worker processes,
  and of a plain sequential loop calling the same ``measure`` in this process, over the
  same instances, side by side in one run;
- resident memory (RSS) of a worker after 100 and after 2000 simulations, with the
  engine's recycling (a fresh process every ``--max-tasks`` simulations) and without it
  (one process for all 2000).

Usage: ``python bench/sweep.py [--instances 4] [--sims 2000] [--max-tasks 500]
[--only throughput|memory]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time


def _rss_mb(pid: int) -> float:
    import psutil

    return psutil.Process(pid).memory_info().rss / 2**20


def throughput(n: int, seed: int) -> None:
    from anamorph.circuits.lif import circuit as lif
    from anamorph.circuits.sweep import run_sweep

    settings = dict(lif.DEFAULT_SETTINGS)
    t0 = time.perf_counter()
    for k in range(n):
        lif.measure(seed, k, settings)
    loop_s = time.perf_counter() - t0
    print(f"sequential_loop_lif: {n / loop_s:.4f} instances/s")
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            t0 = time.perf_counter()
            table = run_sweep(lif.SWEEPABLE, n, seed, out, workers=workers, figures=False)
            dt = time.perf_counter() - t0
        ok = int((table["status"] == "ok").sum())
        print(f"sweep_lif_{workers}_worker{'s' if workers > 1 else ''}: {n / dt:.4f} instances/s")
        print(f"sweep_lif_{workers}_workers_ok: {ok} of {n} instances")
        print(f"sweep_lif_{workers}_workers_vs_loop: {loop_s / dt:.3f} x")


def memory(sims: int, max_tasks: int, seed: int) -> None:
    from anamorph.circuits.lif import circuit as lif
    from anamorph.circuits.sweep import SweepableCircuit
    from anamorph.circuits.sweep_worker import Worker

    # one small operating point per task (the leak OTA of the instance): PySpice's growth
    # is per simulation run, and this keeps 2 x 2000 runs within minutes
    circuit = SweepableCircuit("lif-leak-ota", lif.measure_leak_ota, lif.DEFAULT_SETTINGS)
    settings = dict(lif.DEFAULT_SETTINGS)
    for label, limit in (("recycled", max_tasks), ("not_recycled", sims + 1)):
        worker = Worker(max_tasks=limit)
        rss = {}
        t0 = time.perf_counter()
        for k in range(1, sims + 1):
            status, _, err = worker.run((circuit, seed, k, settings), 120.0)
            if status != "ok":
                raise RuntimeError(f"simulation {k} failed: {err}")
            if k in (100, sims):
                rss[k] = _rss_mb(worker.proc.pid)
        worker.close()
        print(f"rss_{label}_after_100_sims: {rss[100]:.1f} MB")
        print(f"rss_{label}_after_{sims}_sims: {rss[sims]:.1f} MB")
        print(f"rss_{label}_growth: {rss[sims] - rss[100]:.1f} MB")
        print(f"simulations_{label}: {sims / (time.perf_counter() - t0):.1f} sims/s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--sims", type=int, default=2000)
    ap.add_argument("--max-tasks", type=int, default=500)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=("throughput", "memory"), default=None)
    a = ap.parse_args()
    print(f"cpus: {os.cpu_count()} cores")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    if a.only != "memory":
        throughput(a.instances, a.seed)
    if a.only != "throughput":
        memory(a.sims, a.max_tasks, a.seed)


if __name__ == "__main__":
    main()
