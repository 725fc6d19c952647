"""The transistor-level LIF neuron against independent references (real ngspice)."""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.circuits.lif.circuit import Instance, simulate_lif_current
from anamorph.circuits.testbench import dac_value, lif_rate_hz

pytestmark = pytest.mark.spice  # runs ngspice

SEED, INSTANCE = 5, 2


@pytest.fixture(scope="module")
def neuron():
    n = Instance(SEED, INSTANCE)
    v_th = n.v_th()
    g, c = n.small_signal()
    return {
        "n": n,
        "v_leak_v": n.v_leak(),
        "v_th_v": v_th,
        "v_reset_v": n.v_reset(),
        "tau_m_s": n.tau_m(),
        "t_ref_s": n.t_ref(None, v_th),
        "g_leak_s": g,
        "c_mem_f": c,
    }


def test_tau_m_from_transient_matches_c_over_g_from_ac_analysis(neuron):
    # transient: exponential fit to a small current step; reference: C and g from the
    # real and imaginary parts of the membrane admittance in an AC analysis
    assert neuron["tau_m_s"] == pytest.approx(neuron["c_mem_f"] / neuron["g_leak_s"], rel=0.05)
    assert 1e-6 < neuron["tau_m_s"] < 30e-6  # accelerated: microseconds


def test_f_i_curve_matches_analytic_lif_rate(neuron):
    # constant currents through the spike-time API; reference: the LIF rate formula with
    # this instance's measured v_leak, v_th, v_reset, tau_m, t_ref and C
    currents = np.array([120e-9, 250e-9, 400e-9])
    t_end = 30e-6
    for i in currents:
        spikes = simulate_lif_current(SEED, INSTANCE, np.array([0.0, t_end]), np.array([i, i]))
        assert spikes.size >= 4
        measured = 1.0 / np.diff(spikes).mean()  # every interval starts at a reset
        analytic = lif_rate_hz(
            i,
            neuron["v_leak_v"],
            neuron["v_th_v"],
            neuron["v_reset_v"],
            neuron["tau_m_s"],
            neuron["t_ref_s"],
            neuron["c_mem_f"],
        )
        assert measured == pytest.approx(analytic, rel=0.05), i


def test_no_spikes_below_rheobase(neuron):
    rheobase = neuron["g_leak_s"] * (neuron["v_th_v"] - neuron["v_leak_v"])
    i = 0.7 * rheobase
    spikes = simulate_lif_current(SEED, INSTANCE, np.array([0.0, 40e-6]), np.array([i, i]))
    assert spikes.size == 0


def test_dac_codes_move_parameters_the_right_way(neuron):
    n = neuron["n"]
    # voltage DACs: the analog value follows the ideal DAC voltage up to an offset
    lo, hi = n.v_leak(170), n.v_leak(285)
    ideal = dac_value(285, 1.8) - dac_value(170, 1.8)
    assert hi - lo == pytest.approx(ideal, rel=0.1)
    # more leak bias -> larger transconductance -> shorter tau_m
    assert n.tau_m(768) < neuron["tau_m_s"] < n.tau_m(256)
