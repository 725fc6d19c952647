"""Benchmark of chip populations on Dask (printed, never asserted).

Prints ``name: value unit`` lines: chips per minute of :func:`run_population` (one trained
network deployed on N sampled chips) on a Dask LocalCluster bound to 127.0.0.1 (no
dashboard) with 1 and with 2 worker processes, over the same chips, and their ratio.
Without ``--run`` a tiny Yin-Yang network is trained first (not timed). Chips are
deployed uncalibrated unless ``--calibrated`` (the calibration is cached after the first
run, so a calibrated rerun measures deployment again).

Usage: ``python bench/population.py [--chips 4] [--run RUN_DIR] [--calibrated]``
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def _tiny_run(folder: Path) -> Path:
    from anamorph.models.chip import sample_chip
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.config import make_config
    from anamorph.training.run import train_run

    c = make_config(
        "yinyang", out=str(folder / "run"), epochs=1, n_train=20, n_test=100, batch_size=20, n_hidden=16
    )
    train_run(c, chip=sample_chip(ProcessModel.default(), 0), nominal=DEFAULT_TARGETS, progress=None)
    return folder / "run"


def main() -> None:
    from distributed import LocalCluster

    from anamorph.training.population import run_population

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chips", type=int, default=4)
    ap.add_argument("--run", default=None, help="run directory (default: train a tiny one)")
    ap.add_argument("--calibrated", action="store_true")
    a = ap.parse_args()
    print(f"cpus: {os.cpu_count()} cores")
    print(f"load_average_1min: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run = Path(a.run) if a.run else _tiny_run(tmp)
        rate, tables = {}, {}
        for workers in (1, 2):
            with LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                protocol="tcp://",
                host="127.0.0.1",
                dashboard_address=None,
            ) as cluster:
                t0 = time.perf_counter()
                tables[workers] = run_population(
                    run,
                    a.chips,
                    tmp / f"out{workers}",
                    calibrated=a.calibrated,
                    scheduler=cluster.scheduler_address,
                )
                rate[workers] = 60.0 * a.chips / (time.perf_counter() - t0)
            print(f"population_{workers}_worker{'s' if workers > 1 else ''}: {rate[workers]:.2f} chips/min")
        print(f"population_2_vs_1_workers: {rate[2] / rate[1]:.3f} x")
        print(f"population_tables_equal: {tables[1] == tables[2]}")


if __name__ == "__main__":
    main()
