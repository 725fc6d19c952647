"""Shared fixtures: the command line run as a user runs it, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

# pytest-xdist already runs one worker per core: one OpenMP thread each (the emulator's
# neuron loops, BLAS), as Dask does for its workers. Set before numpy or Brian2 load.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"


def run_cli(*args, cwd=None, env=None, timeout=600) -> subprocess.CompletedProcess:
    """Run ``anamorph ARGS...`` in a fresh interpreter; return the completed process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "anamorph.cli", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=full_env,
        timeout=timeout,
    )


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="module")
def calibrated_chip():
    """(chip, nominal parameters): the shipped process model's chip 0, calibrated (cached)."""
    from anamorph.training.prepare import load_chip

    chip, nominal, _ = load_chip(None, None, 0)
    return chip, nominal


@pytest.fixture
def loopback_cluster():
    """``loopback_cluster(n_workers=2)``: an in-process Dask LocalCluster listening on
    127.0.0.1 only, without a dashboard (a context manager)."""
    from distributed import LocalCluster

    def make(n_workers: int = 2):
        return LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=False,
            protocol="tcp://",
            host="127.0.0.1",
            dashboard_address=None,
        )

    return make
