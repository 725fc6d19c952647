"""The software model the gradients are computed on against the Brian2 chip, with the
chip's mismatch and noise switched off (a second simulator of the same network).

Same input spikes, same weights (written as codes through the process model's nominal
weight transfer), model time step = the emulator's: the two must spike at the same times
up to the one-step quantisation of where a crossing falls, and read out the same.
"""

import numpy as np
import pytest

from anamorph.models.chip import sample_chip
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import ProcessModel
from anamorph.training.config import make_config
from anamorph.training.mapping import to_codes, w_max
from anamorph.training.prepare import prepare_data
from anamorph.training.run import _runner
from anamorph.training.trainer import init_weights


def _first_spike_steps(s: np.ndarray) -> np.ndarray:
    return np.where(s.sum(axis=1) > 0, np.argmax(s > 0, axis=1), -1)


@pytest.fixture(scope="module")
def both():
    c = make_config("yinyang", n_hidden=60, n_train=100, n_test=100, noise=False)
    prep = prepare_data(c)
    chip = sample_chip(ProcessModel.default().without_mismatch(), 0)
    runner, scale = _runner(c, prep, chip, DEFAULT_TARGETS)
    tables = runner.chip_fwd.tables
    w = init_weights(c, [prep.n_inputs, c.n_hidden, 3], w_max(scale, tables))
    # The model runs the weights the chip realises (codes back through the nominal transfer).
    exc, inh = (np.asarray(t) for t in tables)
    codes = [to_codes(q, scale, tables) for q in w]
    w = [np.where(k >= 0, exc[np.abs(k)], -inh[np.abs(k)]) / scale for k in codes]
    X = prep.data.X_test
    _, chip_tr = runner.forward(X, w, on_chip=True, run_id=0)
    _, model_tr = runner.forward(X, w, on_chip=False)
    return chip_tr, model_tr


def test_hidden_spikes_agree(both):
    chip_tr, model_tr = both
    sc, sm = chip_tr.s[0], model_tr.s[0]
    assert sm.sum() > 1000  # the comparison is not vacuous
    assert abs(sc.sum() / sm.sum() - 1) < 0.03
    fc, fm = _first_spike_steps(sc), _first_spike_steps(sm)
    assert np.mean((fc >= 0) != (fm >= 0)) < 0.01
    d = (fc - fm)[(fc >= 0) & (fm >= 0)]
    assert np.mean(d == 0) > 0.85 and np.mean(np.abs(d) <= 1) > 0.98


def test_readout_agrees(both):
    chip_tr, model_tr = both
    mc, mm = chip_tr.v[-1].max(axis=1), model_tr.v[-1].max(axis=1)
    assert np.median(np.abs(mc - mm)) < 0.05 * np.median(np.abs(mm))
    assert np.mean(mc.argmax(axis=1) == mm.argmax(axis=1)) > 0.9
