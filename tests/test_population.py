"""A trained network on a population of sampled chips: local run vs a Dask cluster."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anamorph.training.population import COLUMNS, run_population


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny Yin-Yang network trained in the loop for one epoch on chip 0 (uncalibrated)."""
    from anamorph.models.chip import sample_chip
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.config import make_config
    from anamorph.training.run import train_run

    d = tmp_path_factory.mktemp("population") / "run"
    c = make_config("yinyang", out=str(d), epochs=1, n_train=20, n_test=20, batch_size=20, n_hidden=6, seed=3)
    train_run(c, chip=sample_chip(ProcessModel.default(), 0), nominal=DEFAULT_TARGETS, progress=None)
    return d


def test_population_on_a_dask_cluster_equals_the_local_table(run_dir, tmp_path, loopback_cluster):

    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    local = run_population(run_dir, 3, tmp_path / "local", first_seed=5, calibrated=False)
    with loopback_cluster() as cluster:
        remote = run_population(
            run_dir, 3, tmp_path / "dask", first_seed=5, calibrated=False, scheduler=cluster.scheduler_address
        )
    assert remote == local
    for name in ("population.csv", "population.json"):
        assert (tmp_path / "dask" / name).read_bytes() == (tmp_path / "local" / name).read_bytes()
    # chip k is the process model's chip of the recorded seed first_seed + k
    assert [r["chip_seed"] for r in local] == [5, 6, 7]
    assert [r["chip_fingerprint"] for r in local] == [
        sample_chip(ProcessModel.default(), s).fingerprint() for s in (5, 6, 7)
    ]
    # the summary is the distribution of the table's column, re-read from the CSV
    lines = (tmp_path / "local" / "population.csv").read_text().splitlines()
    assert lines[0].split(",") == list(COLUMNS)
    acc = np.array([float(line.split(",")[COLUMNS.index("test_accuracy")]) for line in lines[1:]])
    s = json.loads((tmp_path / "local" / "population.json").read_text())["summary"]
    assert s["chips"] == 3 and 0.0 <= acc.min() and acc.max() <= 1.0
    assert s["mean_test_accuracy"] == pytest.approx(acc.sum() / 3, abs=1e-15)
    assert s["std_test_accuracy"] == pytest.approx(np.sqrt(((acc - acc.sum() / 3) ** 2).sum() / 3), abs=1e-12)
    assert (s["min_test_accuracy"], s["max_test_accuracy"]) == (acc.min(), acc.max())


@pytest.mark.parametrize(
    "args, field",
    [
        (["--chips", "0"], "--chips"),
        (["--chips", "2", "--scheduler", "not an address!"], "scheduler"),
    ],
)
def test_bad_population_input_is_one_line_and_writes_nothing(cli, tmp_path, args, field):
    out = tmp_path / "out"
    r = cli("population", "--run", tmp_path / "missing", "--out", out, *args)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and field in r.stderr
    assert not out.exists()


@pytest.mark.slow  # trains two tiny networks twice (about a minute in all)
def test_mismatch_experiment_on_a_dask_cluster_equals_the_local_rows(tmp_path, loopback_cluster):

    from anamorph.training.config import make_config
    from anamorph.training.experiment import mismatch_experiment

    c = make_config("yinyang", epochs=1, n_train=20, n_test=20, batch_size=20, n_hidden=6, seed=0)
    local = mismatch_experiment(c, tmp_path / "local", sigmas=(0.2,))
    with loopback_cluster() as cluster:
        remote = mismatch_experiment(c, tmp_path / "dask", sigmas=(0.2,), scheduler=cluster.scheduler_address)
    assert remote == local
    assert (tmp_path / "dask" / "mismatch.csv").read_bytes() == (
        tmp_path / "local" / "mismatch.csv"
    ).read_bytes()
