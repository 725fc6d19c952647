"""An EqSpike run deployed on a chip (``anamorph evaluate RUN_DIR``).

Reference: the evaluation at the end of training, on the same chip with the same noise
draws, made from the weights in memory; the deployment reads them back from the run
folder. Both update kinds (float weights written through the transfer; codes as weights).
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from eqspike_runs import tiny_config

from anamorph.models.chip import sample_chip
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import ProcessModel

pytestmark = pytest.mark.brian2


CHIP = sample_chip(ProcessModel.default(), 5)


@pytest.fixture(scope="module", params=["software", "on-chip"])
def run(request, tmp_path_factory):
    """(run folder, metrics) of a one-epoch run with each update kind on CHIP."""
    from anamorph.training.eqprop.loop import train_eqspike

    out = tmp_path_factory.mktemp("eqspike") / request.param
    c = tiny_config(out, 1, request.param)
    return out, train_eqspike(c, chip=CHIP, nominal=DEFAULT_TARGETS, progress=None)


def test_deployed_on_its_own_chip_the_run_scores_as_in_training(run):
    from anamorph.training.eqprop.deploy import deploy_eqspike

    folder, m = run
    ev = deploy_eqspike(folder, chip=CHIP, nominal=DEFAULT_TARGETS)
    assert ev["test_accuracy"] == m["test_accuracy"]
    assert ev["spikes_per_hidden_neuron"] == m["spikes_per_hidden_neuron"]
    assert ev["energy_per_sample"] == m["energy_per_sample"]


def test_evaluate_command_deploys_on_another_chip_and_refuses_bad_weights(run, tmp_path, capsys):
    from anamorph.cli import main

    folder, _ = run
    run = tmp_path / "run"
    shutil.copytree(folder, run)
    other = tmp_path / "chip_b.json"
    sample_chip(ProcessModel.default(), 6).save(other)
    assert main(["evaluate", str(run), "--chip", str(other), "--uncalibrated"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["algo"] == "eqspike" and 0.0 <= res["test_accuracy"] <= 1.0

    with np.load(run / "weights.npz") as f:
        arrays = {k: f[k] for k in f.files}
    arrays["b1"] = np.full(3, np.nan)
    np.savez(run / "weights.npz", **arrays)
    assert main(["evaluate", str(run), "--chip", str(other), "--uncalibrated"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "weights.npz" in err and "b1" in err
