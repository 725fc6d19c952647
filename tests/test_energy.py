"""Energy per inference: circuit energies from ngspice against hand estimates, and the
per-sample energy on an emulated chip against the spikes counted there."""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.errors import InputError
from anamorph.models.backend import SpikeEvents
from anamorph.models.chip import sample_chip
from anamorph.models.energy import EnergyParams, energy_per_sample, synaptic_events
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference_backend import ReferenceChip

# Hand estimate of one spike, C_mem (V_th - V_reset) V_dd: the charge the reset discards,
# drawn from the supply. The circuit also spends the leak charge of the interval and,
# above all, the refractory timer's: C_ref (100 fF) discharges at I_ref (50 nA) through
# an inverter's switching threshold, which then conducts ~20 uA of short-circuit current
# for ~1 us (~15 pJ, read off the supply current of one transient). So the measured
# energy lies between 1x and SPIKE_FACTOR x the hand estimate (about 22x at the nominal
# codes).
SPIKE_FACTOR = 40.0


@pytest.mark.spice
def test_spike_energy_against_the_membrane_charge_estimate():
    from anamorph.circuits.lif.circuit import DEFAULT_SETTINGS, measure_energy
    from anamorph.circuits.lif.netlist import LifDesign
    from anamorph.circuits.process import DEFAULT_PROCESS
    from anamorph.circuits.testbench import dac_value

    d = LifDesign()
    v_th = dac_value(DEFAULT_SETTINGS["code_v_th"], d.v_dac_fs_v)
    v_reset = dac_value(DEFAULT_SETTINGS["code_v_reset"], d.v_dac_fs_v)
    hand_j = d.c_mem_f * (v_th - v_reset) * DEFAULT_PROCESS.vdd_v
    for instance in (0, 1):
        e = measure_energy(1, instance)
        assert hand_j < e["e_spike_j"] < SPIKE_FACTOR * hand_j, (instance, e, hand_j)
        # the biased neuron: more than its two largest bias currents (buffer 10 uA, comparator 1 uA)
        assert 1.8 * 11e-6 < e["p_static_w"] < 1.8 * 100e-6


@pytest.mark.spice
def test_synaptic_event_energy_counts_the_switched_bits():
    """Each set bit toggles two gates (on, then off) of one switch: E(code) ~ popcount(code) x
    E(one bit); the weight current itself is steered, not drawn, so it adds little."""
    from anamorph.circuits.synapse.circuit import measure_energy

    codes = [0, 1, 2, 3, 7, 63]
    e = measure_energy(2, 0, {"energy_codes": codes})
    per_bit = e["e_exc_j@1"]
    for c in codes:
        assert e[f"e_exc_j@{c}"] == pytest.approx(bin(c).count("1") * per_bit, rel=0.1, abs=1e-15)
        assert e[f"e_inh_j@{c}"] == pytest.approx(bin(c).count("1") * per_bit, rel=0.1, abs=1e-15)
    assert 1e-15 < per_bit < 1e-13  # a few fF of gate at 1.8 V, twice


def test_synaptic_events_are_counted_per_code():
    codes = np.array([[3, -2, 0], [3, 5, -63]])
    exc, inh = synaptic_events(np.array([2.0, 1.0]), codes)
    assert exc[3] == 3 and exc[0] == 2 and exc[5] == 1 and exc.sum() == 6
    assert inh[2] == 2 and inh[63] == 1 and inh.sum() == 3


def test_a_bad_energy_section_names_the_field():
    d = ProcessModel.default().to_dict()
    d["energy"] = {**ProcessModel.default().energy, "e_spike_j": {"mean": float("nan")}}
    with pytest.raises(InputError) as err:
        ProcessModel(d)
    assert err.value.field == "energy.e_spike_j.mean"


def test_energy_grows_linearly_with_the_spikes_on_the_chip():
    """Samples with more input spikes make the chip's neurons spike more; the energy per
    sample, from the events counted on the chip, is a straight line in the spike count."""
    process = ProcessModel.default()
    chip = sample_chip(process, 0)
    backend = ReferenceChip(chip, noise=False)
    rng = np.random.default_rng([0, 0])
    n_in, n_hidden, n_out, n_samples, t_sample_s = 20, 30, 3, 12, 40e-6
    codes = [rng.integers(20, 64, (n_in, n_hidden)), rng.integers(-63, 64, (n_hidden, n_out))]
    times, units, samples = [], [], []
    for b in range(n_samples):  # sample b: every input spikes b times, spread over 30 us
        for u in range(n_in):
            t = np.sort(rng.uniform(1e-6, 31e-6, b))
            times += list(t)
            units += [u] * b
            samples += [b] * b
    obs = backend.run(SpikeEvents(times, units, samples, n_samples), codes, t_sample_s)
    params = EnergyParams.from_process(process)
    spikes, energy = [], []
    for b in range(n_samples):
        pre_in = np.bincount(np.array(units, int)[np.array(samples) == b], minlength=n_in)
        own = obs.spikes.units[obs.spikes.samples == b]
        pre_hidden = np.bincount(own[own < n_hidden], minlength=n_hidden)
        e0, i0 = synaptic_events(pre_in, codes[0])
        e1, i1 = synaptic_events(pre_hidden, codes[1])
        e = energy_per_sample(
            params,
            n_neurons=n_hidden + n_out,
            duration_s=t_sample_s,
            spikes=float(own.size),
            syn_exc=e0 + e1,
            syn_inh=i0 + i1,
            adc_conversions=0.0,
        )
        spikes.append(own.size)
        energy.append(e["total_j"])
    spikes, energy = np.array(spikes, float), np.array(energy)
    assert spikes.max() > 5 * max(spikes.min(), 1) and spikes.max() > 50
    slope, icpt = np.polyfit(spikes, energy, 1)
    r2 = 1 - np.sum((energy - (slope * spikes + icpt)) ** 2) / np.sum((energy - energy.mean()) ** 2)
    assert r2 > 0.99
    # the line starts at the static energy and rises by at least one spike's energy per spike
    assert icpt == pytest.approx(params.p_static_w * (n_hidden + n_out) * t_sample_s, rel=0.05)
    assert slope > params.e_spike_j
