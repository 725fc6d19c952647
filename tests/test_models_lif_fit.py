"""The fitted behavioural LIF against ngspice, and its integrator against the analytic rate."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anamorph.models.lif_fit import (TRAIN_I_A, TRAIN_T_S, fit_lif_transient, lif_rate_hz,
                                     lif_spike_times)
from anamorph.models.process_model import ProcessModel

P = {"v_leak_v": 0.40, "v_th_v": 0.55, "v_reset_v": 0.35, "tau_m_s": 6.5e-6, "t_ref_s": 2.1e-6,
     "c_mem_f": 2.0e-12}
#: held-out waveform: two ramps (the fit saw constant currents and three plateaus only)
HELD_OUT_T_S = np.array([0.2e-6, 10e-6, 20e-6])
HELD_OUT_I_A = np.array([130e-9, 280e-9, 170e-9])


@pytest.mark.parametrize("i_a", [120e-9, 300e-9])
def test_spike_times_follow_the_analytic_rate(i_a):
    p = {**P, "delay_s": 0.1e-6}
    spikes = lif_spike_times(p, np.array([1e-12, 60e-6]), np.array([i_a, i_a]))
    isi = np.diff(spikes)
    np.testing.assert_allclose(isi, 1 / lif_rate_hz(i_a, p), rtol=2e-3)
    # the first spike: from rest (v_leak) to v_th, plus the delay
    v_inf = p["v_leak_v"] + i_a * p["tau_m_s"] / p["c_mem_f"]
    first = p["tau_m_s"] * np.log((v_inf - p["v_leak_v"]) / (v_inf - p["v_th_v"])) + p["delay_s"]
    assert abs(spikes[0] - first) < 10e-9


def test_transient_fit_recovers_known_parameters():
    truth = {**P, "v_th_v": 0.53, "t_ref_s": 2.3e-6, "c_mem_f": 2.2e-12, "delay_s": 0.15e-6}
    spikes = lif_spike_times(truth, TRAIN_T_S, TRAIN_I_A)
    row = {f"rate_hz@{i:g}": float(lif_rate_hz(i * 1e-9, truth)) for i in (100, 150, 250, 400)}
    fitted = fit_lif_transient(dict(P), row, TRAIN_T_S, TRAIN_I_A, spikes)
    for k in ("v_th_v", "t_ref_s", "c_mem_f", "delay_s"):
        assert abs(fitted[k] / truth[k] - 1) < 0.02, k


def test_fitted_instances_reproduce_ngspice_on_a_held_out_waveform():
    """>= 90 % of instances: every spike within 2 % of the median ISI (real ngspice)."""
    from anamorph.circuits.lif import simulate_lif_current

    pm = ProcessModel.default()
    instances = pm.data["instances"].get("lif", [])
    assert pm.data["source"].get("lif_transients"), "the shipped process model was not fitted to transients"
    chosen = instances[:10]
    good = []
    for inst in chosen:
        settings = json.loads(inst["settings"]) if inst.get("settings") else None
        ref = simulate_lif_current(inst["seed"], inst["instance"], HELD_OUT_T_S, HELD_OUT_I_A, settings=settings)
        model = lif_spike_times(inst["params"], HELD_OUT_T_S, HELD_OUT_I_A)
        isi = np.median(np.diff(ref))
        good.append(ref.size >= 3 and model.size == ref.size and np.max(np.abs(model - ref)) <= 0.02 * isi)
    assert len(chosen) == 10 and np.mean(good) >= 0.9, good
