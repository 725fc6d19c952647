"""Gated-synapse Verilog-A model, compiled with OpenVAF and run in ngspice, against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from anamorph.circuits.gated_synapse.device import (GatedSynapseParams, MembraneBench, gate_pwl, simulate,
                                             validate)
from anamorph.errors import InputError

PULSES = [(2e-6, 0.5e-6, 1.0), (6e-6, 0.5e-6, 1.0), (10e-6, 0.5e-6, 0.56), (14e-6, 0.5e-6, 0.45)]


def reference(params, pulses, t_eval, bench):
    """The model's ODE (module docstring), integrated independently with scipy (LSODA)."""
    pts = np.array(gate_pwl(pulses, t_eval[-1], bench.edge_s))

    def sigma(vg):
        u = (vg - params.v_th_v) / params.v_w_v
        return 0.0 if u <= 0 else 1.0 if u >= 1 else u * u * (3 - 2 * u)

    def rhs(t, y):
        s, x, v = y
        sig = sigma(np.interp(t, pts[:, 0], pts[:, 1]))
        g = params.g_min_s + (params.g_max_s - params.g_min_s) * x
        return [sig * (1 - s) / params.t_set_s - s / params.tau_decay_s,
                (s - x) / params.tau_g_s,
                (g * (bench.e_syn_v - v) - bench.g_leak_s * v) / bench.c_mem_f]

    v0 = bench.e_syn_v * params.g_min_s / (params.g_min_s + bench.g_leak_s)
    sol = solve_ivp(rhs, (0, t_eval[-1]), [0.0, 0.0, v0], t_eval=t_eval, method="LSODA",
                    rtol=1e-10, atol=1e-13, max_step=5e-9)
    s, x, v = sol.y
    return s, params.g_min_s + (params.g_max_s - params.g_min_s) * x, v


def test_conductance_follows_its_ode_in_a_membrane_circuit():
    params, bench = GatedSynapseParams(tau_decay_s=50e-6), MembraneBench()
    out = simulate(params, PULSES, 20e-6, bench)
    s_ref, g_ref, v_ref = reference(params, PULSES, out["t_s"], bench)
    g_range = params.g_max_s - params.g_min_s
    assert np.max(np.abs(out["g_s"] - g_ref)) < 1e-3 * g_range
    assert np.max(np.abs(out["s"] - s_ref)) < 1e-3
    assert np.max(np.abs(out["v_mem_v"] - v_ref)) < 1e-3 * bench.e_syn_v
    assert s_ref.max() > 0.5  # the protocol really set the state


def test_subthreshold_gate_pulse_leaves_state_unchanged():
    params = GatedSynapseParams(tau_decay_s=1e6)  # a memory that does not decay within the run
    set_pulse = (1e-6, 0.5e-6, 1.0)
    below = (5e-6, 2e-6, params.v_th_v - 0.02)
    t_stop = 10e-6
    with_pulse = simulate(params, [set_pulse, below], t_stop)
    t, s = with_pulse["t_s"], with_pulse["s"]
    before = s[np.searchsorted(t, 4.5e-6)]
    assert before > 0.3
    after = s[t > 5e-6]
    assert np.max(np.abs(after - before)) < 1e-6
    assert np.max(np.abs(with_pulse["g_s"][t > 5e-6] - with_pulse["g_s"][t > 5e-6][0])) < 1e-6 * params.g_max_s


@pytest.mark.parametrize("field,value", [("v_th_v", 7.0), ("t_set_s", 0.0), ("g_max_s", 5e-3)])
def test_parameter_out_of_declared_range_is_an_input_error(field, value):
    params = GatedSynapseParams(**{field: value})
    with pytest.raises(InputError, match=f"{field}.*outside its declared range"):
        simulate(params, PULSES[:1], 5e-6)


def test_ngspice_itself_rejects_an_out_of_range_parameter():
    """Bypassing the Python check, ngspice's OSDI loader aborts with a clear message."""
    from anamorph.circuits.gated_synapse.device import VA_PATH, netlist
    from anamorph.ngspice import Simulator, SimulationError, compile_va

    sim = Simulator()
    sim.load_osdi(compile_va(VA_PATH))
    with pytest.raises(SimulationError, match="Parameter v_th is out of bounds"):
        sim.run(netlist(GatedSynapseParams(v_th_v=7.0), PULSES[:1], 5e-6))
    assert validate(GatedSynapseParams()) == GatedSynapseParams()


def test_monte_carlo_sweep_draws_devices_from_their_seed(tmp_path):
    """Two devices: the measured decay constant equals each device's own drawn tau_decay."""
    from anamorph.circuits.gated_synapse.device import SWEEPABLE, DeviceVariation, sample_params
    from anamorph.circuits.sweep import run_sweep

    table = run_sweep(SWEEPABLE, 2, 5, tmp_path, workers=1)
    ok = table[table["status"] == "ok"]
    assert len(ok) == 2
    for _, row in ok.iterrows():
        drawn = sample_params(GatedSynapseParams(), DeviceVariation(),
                              np.random.default_rng([5, int(row["instance"])]))
        assert row["tau_decay_s"] == pytest.approx(drawn.tau_decay_s, rel=0.02)
        assert abs(row["ds_subthreshold"]) < 1e-6
        assert row["g_pulse1_s"] < row["g_pulse2_s"] < row["g_pulse3_s"] <= drawn.g_max_s
    assert ok["g_pulse1_s"].std() > 0
    assert (tmp_path / "gated-synapse-conductance.png").is_file()
