"""Gated-synapse Verilog-A model, compiled with OpenVAF and run in ngspice, against scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from anamorph.circuits.gated_synapse.device import (
    GatedSynapseParams,
    MembraneBench,
    eta_pwl,
    gate_pwl,
    simulate,
    train,
    validate,
)
from anamorph.errors import InputError

pytestmark = pytest.mark.spice

# Potentiating and depressing pulses at several amplitudes, one sub-threshold pulse each way.
AMPS = [1.6, 1.6, 1.2, 0.7, -1.3, -0.9, -0.5, 1.0, -1.1]
PULSES = train(AMPS, 1e-6, 2e-6, 0.5e-6)
NOISE = [0.5, -1.2, 0.3, 2.0, -0.4, 1.1, 0.0, -0.8, 0.9]


def reference(params, pulses, noise, t_eval, bench):
    """The model's ODE (device module docstring), integrated independently with scipy (LSODA)."""
    gate = np.array(gate_pwl(pulses, t_eval[-1], bench.edge_s))
    eta = np.array(eta_pwl(pulses, noise, t_eval[-1], bench.edge_s))

    def rhs(t, y):
        s, x, v = y
        vg = np.interp(t, gate[:, 0], gate[:, 1])
        fp = (vg / params.v_th_p_v - 1) ** params.a_p if vg > params.v_th_p_v else 0.0
        fd = (-vg / params.v_th_d_v - 1) ** params.a_d if -vg > params.v_th_d_v else 0.0
        m = np.exp(params.sigma_c2c * np.interp(t, eta[:, 0], eta[:, 1]))
        up = fp * max(1 - s, 0) ** params.gamma_p / params.t_p_s
        down = fd * max(s, 0) ** params.gamma_d / params.t_d_s
        ds = m * (up - down) - s / params.tau_ret_s
        g = params.g_min_s + (params.g_max_s - params.g_min_s) * x
        return [ds, (s - x) / params.tau_g_s, (g * (bench.e_syn_v - v) - bench.g_leak_s * v) / bench.c_mem_f]

    v0 = bench.e_syn_v * params.g_min_s / (params.g_min_s + bench.g_leak_s)
    sol = solve_ivp(
        rhs,
        (0, t_eval[-1]),
        [0.0, 0.0, v0],
        t_eval=t_eval,
        method="LSODA",
        rtol=1e-10,
        atol=1e-13,
        max_step=2e-9,
    )
    s, x, v = sol.y
    return s, params.g_min_s + (params.g_max_s - params.g_min_s) * x, v


def test_conductance_follows_its_ode_for_both_polarities_with_cycle_noise():
    params, bench = GatedSynapseParams(tau_ret_s=50e-6, sigma_c2c=0.3), MembraneBench()
    out = simulate(params, PULSES, 19e-6, bench, NOISE)
    s_ref, g_ref, v_ref = reference(params, PULSES, NOISE, out["t_s"], bench)
    g_range = params.g_max_s - params.g_min_s
    assert np.max(np.abs(out["g_s"] - g_ref)) < 1e-3 * g_range
    assert np.max(np.abs(out["s"] - s_ref)) < 1e-3
    assert np.max(np.abs(out["v_mem_v"] - v_ref)) < 1e-3 * bench.e_syn_v
    after = np.interp([p[0] + 1.9e-6 for p in PULSES], out["t_s"], out["s"])
    steps = np.diff(np.concatenate([[0.0], after]))
    assert np.all(steps[[0, 1, 2]] > 0.01) and np.all(steps[[4, 5, 8]] < -0.01)  # both polarities act


def test_subthreshold_gate_pulses_leave_state_unchanged():
    params = GatedSynapseParams(tau_ret_s=1e6)  # a memory that does not decay within the run
    pulses = [
        (1e-6, 1.5e-6, 1.6),
        (4e-6, 1e-6, params.v_th_p_v - 0.02),
        (7e-6, 1e-6, -(params.v_th_d_v - 0.02)),
    ]
    out = simulate(params, pulses, 10e-6, noise=[0.0, 3.0, 3.0])
    t, s = out["t_s"], out["s"]
    before = s[np.searchsorted(t, 3.5e-6)]
    assert before > 0.3
    assert np.max(np.abs(s[t > 3.5e-6] - before)) < 1e-6


@pytest.mark.parametrize(
    "field,value",
    [("v_th_p_v", 7.0), ("t_p_s", 0.0), ("g_max_s", 5e-3), ("gamma_d", 0.5), ("sigma_c2c", 1.5)],
)
def test_parameter_out_of_declared_range_is_an_input_error(field, value):
    params = GatedSynapseParams(**{field: value})
    with pytest.raises(InputError, match=f"{field}.*outside its declared range") as info:
        simulate(params, PULSES[:1], 5e-6)
    assert info.value.field == field


def test_ngspice_itself_rejects_an_out_of_range_parameter():
    """Bypassing the Python check, ngspice's OSDI loader aborts with a clear message."""
    from anamorph.circuits.gated_synapse.device import VA_PATH, netlist
    from anamorph.ngspice import SimulationError, Simulator, compile_va

    sim = Simulator()
    sim.load_osdi(compile_va(VA_PATH))
    with pytest.raises(SimulationError, match="Parameter v_th_p is out of bounds"):
        sim.run(netlist(GatedSynapseParams(v_th_p_v=7.0), PULSES[:1], 5e-6))
    assert validate(GatedSynapseParams()) == GatedSynapseParams()


def test_monte_carlo_sweep_draws_devices_and_noise_from_their_seed(tmp_path):
    """Two devices: the measured retention time is each device's own drawn tau_ret."""
    from anamorph.circuits.gated_synapse.figures import gated_synapse_figures
    from anamorph.circuits.gated_synapse.sweep import SWEEPABLE, device_and_noise
    from anamorph.circuits.sweep import run_sweep

    table = run_sweep(
        SWEEPABLE, 2, 5, tmp_path, workers=1, figures=False
    )  # (histograms of ~200 columns: slow)
    gated_synapse_figures(table, tmp_path)
    ok = table[table["status"] == "ok"]
    assert len(ok) == 2
    for _, row in ok.iterrows():
        drawn, _ = device_and_noise(5, int(row["instance"]), dict(SWEEPABLE.default_settings), 1)
        assert row["tau_ret_s"] == pytest.approx(drawn.tau_ret_s, rel=0.01)
        assert row["g_s@0"] == pytest.approx(drawn.g_min_s, rel=1e-3)
        assert drawn.g_min_s < row["g_s@1"] < row["g_s@12"] <= drawn.g_max_s
    assert ok["g_s@12"].std() > 0
    assert (tmp_path / "gated-synapse-conductance.png").is_file()
