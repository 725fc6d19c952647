"""Calibration through the Backend interface alone, on two backends of the same chip.

The calibration receives a backend wrapped so that only the protocols are reachable
(``n_neurons``, ``max_fan_in``, ``dt_s``, ``configure``, ``run`` of Backend and
``configure_adc``, ``read_reference`` of ReferenceADC): any other access would fail. The
Brian2 emulator and the numpy reference (:class:`ReferenceChip`, an independent
integration with its own noise draws) are calibrated on the leak and the threshold, and
each result is checked against the chip's TRUE transfer, as ``test_calibration_flow.py``
does: every neuron within one DAC step of the target in true volts (the ADC is calibrated
against its common reference first, so its channels' errors do not enter), and the true
spread five-fold below the uncalibrated chip's.
"""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.calibration import calibrate
from anamorph.calibration.figures import spread
from anamorph.errors import InputError
from anamorph.models.backend import Backend, ReferenceADC, SpikeEvents, Stimulus
from anamorph.models.chip import sample_chip
from anamorph.models.dac import CODE_MAX
from anamorph.models.emulator import ChipEmulator
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference_backend import ReferenceChip

PARAMS = ("v_leak", "v_th")


class OnlyTheProtocol:
    """A backend reduced to the Backend and ReferenceADC protocols; counts the codes written."""

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

    def configure_adc(self, offset_lsb):
        self._backend.configure_adc(offset_lsb)

    def read_reference(self, v_ref_v):
        return self._backend.read_reference(v_ref_v)


@pytest.fixture(scope="module")
def chip():
    return sample_chip(ProcessModel.default(), 0)


def _true(chip, param, codes):
    """The TRUE potential ``param`` of each neuron at ``codes``."""
    tp = chip.with_codes(codes).true_params()
    return {"v_leak": tp.v_leak_v, "v_th": tp.v_th_v}[param]


def _step(chip, param, codes):
    c = codes[param]
    f0 = _true(chip, param, codes)
    up = _true(chip, param, {**codes, param: np.minimum(c + 1, CODE_MAX)})
    down = _true(chip, param, {**codes, param: np.maximum(c - 1, 0)})
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
    assert isinstance(door, Backend) and isinstance(door, ReferenceADC)
    cal = calibrate(chip, backend=door, params=PARAMS, measure_before=False, cache_dir=tmp_path)
    assert cal.settings["backend"] == "OnlyTheProtocol" and door.n_configured > 0
    assert len(cal.settings["adc"]["digital_offset_lsb"]) == 512
    for param in PARAMS:
        # Uncalibrated (the nominal codes), the mismatch puts many neurons further off.
        before = _true(chip, param, chip.codes)
        err = np.abs(before - cal.targets.value(param))
        assert np.mean(err > _step(chip, param, chip.codes)) > 0.5, param
        ok = cal.success[param]
        assert ok.all(), cal.reasons[param]
        after = _true(chip, param, cal.codes)
        assert spread(after, param) <= spread(before, param) / 5, param
        err = np.abs(after - cal.targets.value(param))
        assert np.all(err <= _step(chip, param, cal.codes)), param
