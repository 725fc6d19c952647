"""The ADC's common reference and its calibration, checked against the chip's hidden ADC.

Every channel ``n`` reads ``g_n V + o_n`` (hidden gain and offset) quantised to the ADC's
levels plus its digital offset. The reference reaches all channels alike, so what each
channel reads of it, and what the calibration fits, is compared with the hidden
``adc_gain`` and ``adc_offset_v`` (the independent reference).
"""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.calibration.adc import CorrectedADC, calibrate_adc, reference_levels
from anamorph.calibration.steps import INSTRUMENT, ORDER, ReferenceFit
from anamorph.errors import InputError
from anamorph.models.backend import Backend, ReferenceADC, SpikeEvents
from anamorph.models.chip import N_NEURONS, sample_chip
from anamorph.models.emulator import ChipEmulator
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference_backend import ReferenceChip


@pytest.fixture(scope="module")
def chip():
    return sample_chip(ProcessModel.default(), 3)


def _lsb(chip):
    a = chip.process.data["adc"]
    return (a["v_hi"] - a["v_lo"]) / (2 ** int(a["bits"]) - 1), a["v_lo"], a["v_hi"]


def test_the_adc_row_comes_before_every_neuron_row():
    assert [s.param for s in INSTRUMENT] == ["adc"] and "adc" not in ORDER
    assert isinstance(INSTRUMENT[0].search, ReferenceFit)


@pytest.mark.parametrize("make", [ChipEmulator, ReferenceChip], ids=["emulator", "reference"])
def test_every_channel_reads_the_reference_through_its_own_transfer(chip, make):
    backend = make(chip, noise=False)
    assert isinstance(backend, Backend) and isinstance(backend, ReferenceADC)
    lsb, v_lo, v_hi = _lsb(chip)
    v = np.array([0.2, 0.4, 0.55, 0.8])
    h = chip.hidden
    truth = h["adc_gain"][None, :] * v[:, None] + h["adc_offset_v"][None, :]
    got = backend.read_reference(v)
    assert got.shape == (v.size, N_NEURONS)
    # Quantised to the ADC's levels: within half an LSB of the channel's hidden transfer.
    np.testing.assert_allclose(got, truth, atol=0.5 * lsb + 1e-12)
    assert np.allclose((got - v_lo) / lsb, np.rint((got - v_lo) / lsb))
    # A digital offset moves the reading by whole LSBs, saturating at the ADC's ends.
    d = np.random.default_rng([3, 0]).integers(-5, 6, N_NEURONS)
    backend.configure_adc(d)
    shifted = backend.read_reference(v)
    np.testing.assert_allclose(shifted, np.clip(got + d * lsb, v_lo, v_hi), atol=1e-12)


def test_membrane_readings_include_the_digital_offset(chip):
    """The same offset enters every reading of the membrane (clamped at rest, no noise)."""
    lsb, v_lo, v_hi = _lsb(chip)
    none = SpikeEvents(np.zeros(0), np.zeros(0), np.zeros(0), 1)
    backend = ReferenceChip(chip, noise=False)
    plain = backend.run(none, [], 10e-6, record="all").adc_v
    d = np.arange(N_NEURONS) % 7 - 3
    backend.configure_adc(d)
    moved = backend.run(none, [], 10e-6, record="all").adc_v
    np.testing.assert_allclose(moved, np.clip(plain + d * lsb, v_lo, v_hi), atol=1e-12)


@pytest.mark.parametrize("bad", [np.zeros(3), np.full(N_NEURONS, 128), np.full(N_NEURONS, 0.5)])
def test_bad_digital_offsets_are_refused(chip, bad):
    with pytest.raises(InputError):
        ReferenceChip(chip).configure_adc(bad)


def test_bad_reference_voltages_are_refused(chip):
    for bad in ([], [np.nan], [[0.4]]):
        with pytest.raises(InputError):
            ReferenceChip(chip).read_reference(np.array(bad))


def test_calibration_recovers_every_channel(chip):
    backend = ReferenceChip(chip, noise=False)
    process = chip.process
    fit = ReferenceFit()
    corr = calibrate_adc(backend, fit, process)
    lsb, v_lo, v_hi = _lsb(chip)
    v = reference_levels(fit, process)
    assert corr.n_levels == v.size and np.all(np.diff(v) < 0.5 * lsb)
    np.testing.assert_array_equal(backend.adc_offset_lsb, corr.digital_offset_lsb)
    h = chip.hidden
    for v_op in (0.3, 0.4, 0.55, 0.7):  # across the neurons' potentials
        truth = h["adc_gain"] * v_op + h["adc_offset_v"] + corr.digital_offset_lsb * lsb
        err = corr.reading(v_op) - truth
        assert np.sqrt(np.mean(err**2)) < 0.05e-3 and np.max(np.abs(err)) < 0.5e-3, v_op
    np.testing.assert_allclose(corr.gain, h["adc_gain"], atol=2e-3)
    # The digital offsets align the channels at mid-range to within about half an LSB.
    mid = h["adc_gain"] * 0.5 * (v_lo + v_hi) + h["adc_offset_v"] + corr.digital_offset_lsb * lsb
    assert np.ptp(mid) < 1.2 * lsb
    # Before: the channels' offsets spread ~5 mV; the digital offsets take out whole LSBs.
    assert np.std(h["adc_offset_v"]) > 3 * np.std(mid)


def test_corrected_readings_are_true_volts(chip):
    """A membrane at rest, read through the corrected ADC, against its true leak potential."""
    backend = ReferenceChip(chip, noise=True, seed=1)
    none = SpikeEvents(np.zeros(0), np.zeros(0), np.zeros(0), 16)
    raw = backend.run(none, [], 60e-6, record="all")  # before: no digital offsets
    raw_seen = np.mean(raw.adc_v[:, raw.adc_t_s > 20e-6, :], axis=(0, 1))
    corr = calibrate_adc(backend, ReferenceFit(), chip.process)
    obs = CorrectedADC(backend, corr).run(none, [], 60e-6, record="all")
    seen = np.mean(obs.adc_v[:, obs.adc_t_s > 20e-6, :], axis=(0, 1))
    true_leak = chip.true_params().v_leak_v
    # Through the raw channels the channel errors (~7 mV) stay; corrected, only the noise
    # average (2 mV rms dithered over ~600 samples) and the fit remain.
    assert np.std(raw_seen - true_leak) > 4e-3
    assert np.std(seen - true_leak) < 0.5e-3 and abs(np.mean(seen - true_leak)) < 0.2e-3


def test_ideal_adc_calibrates_to_identity(chip):
    corr = calibrate_adc(ReferenceChip(chip, ideal_adc=True), ReferenceFit(), chip.process)
    np.testing.assert_allclose(corr.gain, 1.0, atol=1e-9)
    np.testing.assert_allclose(corr.offset_v, 0.0, atol=1e-9)
