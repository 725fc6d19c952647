"""Calibration through the Backend interface alone, on two backends of the same chip.

The calibration receives a backend wrapped so that only the protocol is reachable
(``n_neurons``, ``max_fan_in``, ``dt_s``, ``configure``, ``run``): any other access would
fail. The Brian2 emulator and the numpy reference (:class:`ReferenceChip`, an independent
integration with its own noise draws) are calibrated on the leak and the threshold, and
each result is checked against the chip's TRUE transfer, as ``test_calibration_flow.py``
does: every neuron within one DAC step of the target, the potentials as the neuron's ADC
channel reports them (``gain_n * V + offset_n``, the chip's hidden ADC error).
"""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.calibration import calibrate
from anamorph.errors import InputError
from anamorph.models.backend import Backend, SpikeEvents, Stimulus
from anamorph.models.chip import sample_chip
from anamorph.models.dac import CODE_MAX
from anamorph.models.emulator import ChipEmulator
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference_backend import ReferenceChip

PARAMS = ("v_leak", "v_th")


class OnlyTheProtocol:
    """A backend reduced to the Backend protocol; counts the codes written."""

    __slots__ = ("_backend", "n_configured")

    def __init__(self, backend):
        self._backend = backend
        self.n_configured = 0

    n_neurons = property(lambda self: self._backend.n_neurons)
    max_fan_in = property(lambda self: self._backend.max_fan_in)
    dt_s = property(lambda self: self._backend.dt_s)

    def configure(self, codes):
        self.n_configured += 1
        self._backend.configure(codes)

    def run(self, *args, **kwargs):
        return self._backend.run(*args, **kwargs)


@pytest.fixture(scope="module")
def chip():
    return sample_chip(ProcessModel.default(), 0)


def _adc_seen(chip, param, codes):
    """The potential ``param`` of each neuron at ``codes`` as its ADC channel reports it."""
    tp = chip.with_codes(codes).true_params()
    v = {"v_leak": tp.v_leak_v, "v_th": tp.v_th_v}[param]
    return chip.hidden["adc_gain"] * v + chip.hidden["adc_offset_v"]


def _step(chip, param, codes):
    c = codes[param]
    f0 = _adc_seen(chip, param, codes)
    up = _adc_seen(chip, param, {**codes, param: np.minimum(c + 1, CODE_MAX)})
    down = _adc_seen(chip, param, {**codes, param: np.maximum(c - 1, 0)})
    return np.maximum(np.abs(up - f0), np.abs(f0 - down))


def test_configure_writes_codes_and_validates(chip):
    """``configure`` then ``run`` equals a backend built on the chip with those codes."""
    codes = {**chip.codes, "tau_m": chip.codes["tau_m"] - 40, "v_leak": chip.codes["v_leak"] + 7}
    stim = Stimulus(np.full(512, 30e-9), 3.25e-6, 20.25e-6)
    none = SpikeEvents(np.zeros(0), np.zeros(0), np.zeros(0), 1)
    for make in (ChipEmulator, ReferenceChip):
        backend = make(chip, noise=False)
        assert isinstance(backend, Backend)
        backend.configure(codes)
        a = backend.run(none, [], 30e-6, record="all", stimulus=stim)
        b = make(chip.with_codes(codes), noise=False).run(none, [], 30e-6, record="all", stimulus=stim)
        np.testing.assert_array_equal(a.adc_v, b.adc_v)
        with pytest.raises(InputError, match="outside"):
            backend.configure({**codes, "v_th": np.full(512, CODE_MAX + 1)})
        with pytest.raises(InputError, match="512"):
            backend.configure({**codes, "v_th": np.zeros(3)})


@pytest.mark.slow
@pytest.mark.parametrize(
    "make",
    [
        lambda chip: ChipEmulator(chip, seed=0, noise=True),
        lambda chip: ReferenceChip(chip, seed=0, noise=True),
    ],
    ids=["emulator", "reference"],
)
def test_calibration_through_the_protocol_reaches_targets(chip, make, tmp_path):
    door = OnlyTheProtocol(make(chip))
    cal = calibrate(chip, backend=door, params=PARAMS, measure_before=False, cache_dir=tmp_path)
    assert cal.settings["backend"] == "OnlyTheProtocol" and door.n_configured > 0
    for param in PARAMS:
        # Uncalibrated (the nominal codes), the mismatch puts many neurons further off.
        err = np.abs(_adc_seen(chip, param, chip.codes) - cal.targets.value(param))
        assert np.mean(err > _step(chip, param, chip.codes)) > 0.5, param
        ok = cal.success[param]
        assert ok.all(), cal.reasons[param]
        err = np.abs(_adc_seen(chip, param, cal.codes) - cal.targets.value(param))
        assert np.all(err <= _step(chip, param, cal.codes)), param
