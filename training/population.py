"""One trained network deployed on a population of sampled chips: the accuracy distribution.

Chip ``k`` of a population of ``N`` is ``sample_chip(ProcessModel.default(), first_seed + k)``
(its mismatch drawn from that recorded seed), calibrated by
:func:`anamorph.calibration.calibrate` (cached) unless ``calibrated`` is False, and the
run folder's weights are evaluated on it exactly as ``anamorph evaluate`` does
(:func:`anamorph.training.run.evaluate_run`). The spread of test accuracy over chips is
what fixed-pattern noise leaves after calibration (Cramer et al., PNAS 119(4), 2022,
Fig. 4).

Each chip is one task: in this process by default, or with ``scheduler=ADDRESS`` one Dask
task per chip on that cluster (:func:`anamorph.circuits.sweep.dask_client`). A chip's row
depends only on (run folder, chip seed, calibrated), so both give the same table.

Outputs in DIR (each written atomically): ``population.csv`` (one row per chip),
``population.json`` (the rows and the mean, std, min and max test accuracy) and
``manifest.json``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, write_json, write_manifest, write_text

COLUMNS = (
    "chip",
    "chip_seed",
    "calibrated",
    "test_accuracy",
    "spikes_per_hidden_neuron",
    "energy_per_sample_uj",
    "chip_fingerprint",
)


def chip_row(run_dir: str, chip: int, chip_seed: int, calibrated: bool) -> dict:
    """Deploy ``run_dir`` on chip ``chip`` (sampled from ``chip_seed``); one table row."""
    from anamorph.training.run import evaluate_run

    r = evaluate_run(run_dir, seed=chip_seed, calibrate_chip=calibrated)
    return {
        "chip": chip,
        "chip_seed": chip_seed,
        "calibrated": calibrated,
        "test_accuracy": float(r["test_accuracy"]),
        "spikes_per_hidden_neuron": float(r["spikes_per_hidden_neuron"]),
        "energy_per_sample_uj": float(r["energy_per_sample"]["total_uj"]),
        "chip_fingerprint": r["chip_fingerprint"],
    }


def summary(rows: list[dict]) -> dict:
    """Mean, (population) standard deviation, min and max test accuracy over the chips."""
    acc = np.array([r["test_accuracy"] for r in rows], dtype=np.float64)
    return {
        "chips": len(rows),
        "mean_test_accuracy": float(acc.mean()),
        "std_test_accuracy": float(acc.std()),
        "min_test_accuracy": float(acc.min()),
        "max_test_accuracy": float(acc.max()),
    }


def _import_brian2_in_main_thread() -> bool:
    import threading

    if threading.current_thread() is threading.main_thread():
        import brian2  # noqa: F401
    return True


def brian2_on_workers(client) -> None:
    """Import Brian2 (the emulator) in the main thread of this process and of every Dask worker.

    Brian2 installs a SIGINT handler when imported, which Python allows only in the main
    thread, and Dask runs tasks in other threads; ``client.run`` calls a function in the
    worker's event-loop thread, the main thread of a worker process. In-process (thread)
    workers share this process's import.
    """
    _import_brian2_in_main_thread()
    client.run(_import_brian2_in_main_thread)


def _rows(run_dir: str, seeds: list[int], calibrated: bool, scheduler) -> list[dict]:
    if scheduler is None:
        return [chip_row(run_dir, k, s, calibrated) for k, s in enumerate(seeds)]
    from anamorph.circuits.sweep import dask_client

    with dask_client(scheduler) as client:
        brian2_on_workers(client)
        tag = f"{os.getpid()}-{time.time_ns()}"
        futures = [
            client.submit(chip_row, run_dir, k, s, calibrated, pure=False, key=f"population-{k}-{tag}")
            for k, s in enumerate(seeds)
        ]
        return client.gather(futures)


def run_population(
    run_dir,
    chips: int,
    out,
    *,
    first_seed: int = 0,
    calibrated: bool = True,
    scheduler=None,
) -> list[dict]:
    """Evaluate the run folder ``run_dir`` on ``chips`` sampled chips; write the table to ``out``.

    Parameters
    ----------
    run_dir : path
        A finished training run (``weights.npz``, ``config.json``).
    chips : int
        Number of chips; chip ``k`` is sampled from seed ``first_seed + k``.
    out : path
        Output directory.
    calibrated : bool
        Calibrate each chip (cached) before deploying; False keeps its sampled codes.
    scheduler : str or distributed.Client, optional
        A Dask scheduler address (``tcp://host:8786``): one task per chip there.

    Returns
    -------
    list of dict
        One row per chip, in chip order (:data:`COLUMNS`).
    """
    from anamorph.circuits.sweep import check_scheduler
    from anamorph.training.run import load_run

    if not isinstance(chips, int) or isinstance(chips, bool) or chips <= 0:
        raise InputError(f"must be a positive integer, got {chips!r}", field="--chips")
    if not isinstance(first_seed, int) or first_seed < 0:
        raise InputError(f"must be a non-negative integer, got {first_seed!r}", field="--seed")
    check_scheduler(scheduler)
    load_run(run_dir)  # a missing or broken run folder: before anything is written
    out = ensure_writable_dir(out)
    run_dir = str(Path(run_dir).resolve())  # the same folder for every worker
    seeds = [first_seed + k for k in range(chips)]
    rows = _rows(run_dir, seeds, calibrated, scheduler)
    write_text(
        out / "population.csv",
        ",".join(COLUMNS) + "\n" + "".join(",".join(_cell(r[c]) for c in COLUMNS) + "\n" for r in rows),
    )
    write_json(out / "population.json", {"run_dir": run_dir, "rows": rows, "summary": summary(rows)})
    write_manifest(
        out,
        seeds={"first_chip_seed": first_seed},
        inputs={"weights": os.path.join(run_dir, "weights.npz")},
        extra={"run_dir": run_dir, "chips": chips, "calibrated": calibrated, "chip_seeds": seeds},
    )
    return rows


def _cell(v) -> str:
    if isinstance(v, float):
        return repr(v)  # round-trips exactly
    return str(v).lower() if isinstance(v, bool) else str(v)
