"""The Brian2 emulator against a reference that shares none of its code.

:mod:`anamorph.models.reference` shares the emulator's code-to-current path
(``Chip.true_params``, ``Chip.synapse_current_a``), its input binning (``input_drive``)
and its propagator (``neuron.propagator``), so an error in any of them would pass the
emulator-versus-reference test unnoticed. The reference here is written from the
specification alone:

* true parameters from the process model's raw DAC tables (``process.data["dac"]``: kind
  and coefficients ``a, b, q``) and each neuron's hidden offset and gain,
  ``u = (a + offset) + b (1 + gain) x + q x^2``, ``x = code / 1023``, the value ``u`` or
  ``1/u`` (reciprocal kind), then the detune factors (:mod:`anamorph.models.chip`);
* synaptic current jumps from the raw 6-bit tables (``data["synapse"]["table_exc"]``,
  ``["table_inh"]``) times each synapse's gain times the neuron's ``w_unit``;
* input binning by Brian2's convention for spike generators (a spike at ``t`` belongs to
  the step ``n`` with ``n dt <= t + dt/1000 < (n+1) dt``), found by a search over the step
  grid instead of a floor;
* the exact one-step solution of the current-based LIF written from its ODE,
  ``C dV/dt = -(C/tau_m)(V - v_leak) + I e^(-t/tau_s)``:
  ``V(t) = v_leak + (V0 - v_leak) e^(-t/tau_m) + (I/C) T (e^(-t/tau_s) - e^(-t/tau_m))``
  with ``T = tau_m tau_s / (tau_s - tau_m)`` (its Taylor limit ``t e^(-t/tau)`` when the
  time constants agree to 1e-6), stepped neuron by neuron in plain loops.

Spike steps must be identical (no tolerance) with mismatch off and on (noise off: the
emulator is then deterministic), for a feed-forward and for a recurrent network. The difference-of-exponentials PSP is also checked in
closed form against the emulator's membrane for a neuron whose tau_m and tau_syn differ,
the situation of every mismatched neuron.
"""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.models.backend import SpikeEvents
from anamorph.models.chip import sample_chip
from anamorph.models.emulator import ChipEmulator
from anamorph.models.network import ChipNetwork, Projection
from anamorph.models.process_model import ProcessModel

pytestmark = pytest.mark.brian2

DT = 0.5e-6
FIELDS = {
    "v_leak": "v_leak_v",
    "v_th": "v_th_v",
    "v_reset": "v_reset_v",
    "tau_m": "tau_m_s",
    "tau_syn": "tau_syn_s",
    "t_ref": "t_ref_s",
    "syn_gain": "w_unit_a",
}


# ---------------------------------------------------------------- the independent reference
def true_values(chip) -> dict[str, np.ndarray]:
    """Each neuron's true parameters from the raw DAC tables, hidden mismatch and detune."""
    out = {}
    for param, name in FIELDS.items():
        table = chip.process.data["dac"][param]
        a, b, q = (float(c) for c in table["coef"])
        x = np.asarray(chip.codes[param], dtype=np.float64) / 1023.0
        u = a + chip.hidden[f"{param}.offset"] + b * (1.0 + chip.hidden[f"{param}.gain"]) * x + q * x**2
        out[name] = 1.0 / u if table["kind"] == "reciprocal" else u
    h = chip.hidden
    out["tau_m_s"] = out["tau_m_s"] * h["detune_tau_m"]
    out["tau_syn_s"] = out["tau_syn_s"] * h["detune_tau_syn"]
    out["v_th_v"] = out["v_leak_v"] + h["detune_v_th"] * (out["v_th_v"] - out["v_leak_v"])
    out["w_unit_a"] = np.clip(out["w_unit_a"], 0.0, None)
    out["c_mem_f"] = h["c_mem_f"]
    return out


def layer_currents(chip, codes: np.ndarray, first: int, w_unit: np.ndarray, first_row: int = 0) -> np.ndarray:
    """Current jump (A) of synapse row ``first_row + r`` of neuron ``first + j`` for code ``codes[r, j]``."""
    syn = chip.process.data["synapse"]
    out = np.zeros(codes.shape)
    for r in range(codes.shape[0]):
        for j in range(codes.shape[1]):
            c, n, row = int(codes[r, j]), first + j, first_row + r
            if c > 0:
                out[r, j] = syn["table_exc"][c] * chip.hidden["syn_gain_exc"][row, n] * w_unit[n]
            elif c < 0:
                out[r, j] = -syn["table_inh"][-c] * chip.hidden["syn_gain_inh"][row, n] * w_unit[n]
    return out


def delivery_step(t_s: float, n_steps: int) -> int:
    """Step whose interval ``[n dt, (n+1) dt)`` holds ``t + dt/1000`` (Brian2's binning)."""
    edges = np.arange(n_steps + 1) * DT
    return int(np.searchsorted(edges, t_s + 1e-3 * DT, side="right")) - 1


def psp_kernel(t_s: np.ndarray, tau_m_s: float, tau_syn_s: float) -> np.ndarray:
    """``T (e^(-t/tau_s) - e^(-t/tau_m))``, ``T = tau_m tau_s/(tau_s - tau_m)``; V per (A/F).

    The membrane's response to a synaptic current ``I e^(-t/tau_s)`` from rest is
    ``(I/C)`` times this. Equal time constants (to 1e-6): the limit ``t e^(-t/tau)``
    (second-order Taylor term included).
    """
    t = np.asarray(t_s, dtype=np.float64)
    d = tau_syn_s - tau_m_s
    if abs(d) > 1e-6 * tau_m_s:
        return tau_m_s * tau_syn_s / d * (np.exp(-t / tau_syn_s) - np.exp(-t / tau_m_s))
    tau = 0.5 * (tau_m_s + tau_syn_s)
    return t * np.exp(-t / tau) * (1.0 + d * t / (2 * tau * tau))


def independent_spikes(chip, inputs: SpikeEvents, net: ChipNetwork, duration_s: float) -> set:
    """Spikes as a set of (sample, chip neuron, step) of a network of any direction.

    Populations sit on the chip's neurons in declaration order; the projections onto one
    population take consecutive synapse rows in declaration order (:mod:`anamorph.models.network`).
    """
    p = true_values(chip)
    first, n_used = {}, 0
    for name, size in net.populations:
        first[name], n_used = n_used, n_used + int(size)
    n_steps = int(round(duration_s / DT))
    rows_used = dict.fromkeys(first, 0)
    proj = []  # (source, first target neuron, currents (n_source, n_target))
    for q in net.projections:
        codes = np.asarray(q.codes)
        proj.append(
            (
                q.source,
                first[q.target],
                layer_currents(chip, codes, first[q.target], p["w_unit_a"], rows_used[q.target]),
            )
        )
        rows_used[q.target] += codes.shape[0]
    owner = np.concatenate([[name] * int(size) for name, size in net.populations])
    tm, ts, c = (p[k][:n_used] for k in ("tau_m_s", "tau_syn_s", "c_mem_f"))
    vl, vth, vr = (p[k][:n_used] for k in ("v_leak_v", "v_th_v", "v_reset_v"))
    n_ref = [int(round(p["t_ref_s"][k] / DT)) for k in range(n_used)]
    decay_m, decay_s = np.exp(-DT / tm), np.exp(-DT / ts)
    gain_syn = np.array([psp_kernel(DT, tm[k], ts[k]) for k in range(n_used)]) / c
    out = set()
    for s in range(inputs.n_samples):
        jumps = np.zeros((n_steps, n_used))
        sel = inputs.samples == s
        for t, u in zip(inputs.times_s[sel], inputs.units[sel]):
            n = delivery_step(float(t), n_steps)
            for src, tgt, cur in proj:
                if src == "input" and 0 <= n < n_steps:
                    jumps[n, tgt : tgt + cur.shape[1]] += cur[u]
        v, i_syn, refr = vl.copy(), np.zeros(n_used), np.zeros(n_used, dtype=int)
        for n in range(n_steps):
            for k in range(n_used):
                if refr[k]:
                    refr[k] -= 1
                else:
                    v[k] = vl[k] + (v[k] - vl[k]) * decay_m[k] + i_syn[k] * gain_syn[k]
            i_syn = i_syn * decay_s + jumps[n]
            spiking = [k for k in range(n_used) if refr[k] == 0 and v[k] >= vth[k]]
            for k in spiking:  # every neuron thresholds before any synaptic delivery
                out.add((s, k, n))
                v[k], refr[k] = vr[k], n_ref[k]
            for k in spiking:
                for src, tgt, cur in proj:
                    if src == owner[k]:
                        i_syn[tgt : tgt + cur.shape[1]] += cur[k - first[src]]
    return out


# ---------------------------------------------------------------- tests
def _inputs(rng, n_samples, n_in, t_max_s):
    """Random times, spikes on step boundaries and spikes just below a boundary (within
    Brian2's ``dt/1000``: they belong to the next step), where binning matters."""
    n = 3 * n_in
    grid = rng.integers(1, 60, (n_samples, n)) * DT
    below = rng.integers(1, 60, (n_samples, n)) * DT - rng.uniform(1e-5, 5e-4, (n_samples, n)) * DT
    t = np.concatenate([rng.uniform(0, t_max_s, (n_samples, n)), grid, below], axis=1)
    u = rng.integers(0, n_in, t.shape)
    s = np.repeat(np.arange(n_samples)[:, None], t.shape[1], axis=1)
    return SpikeEvents(t.ravel(), u.ravel(), s.ravel(), n_samples)


@pytest.mark.parametrize("mismatch", [False, True])
def test_emulator_spike_steps_equal_independent_reference(mismatch):
    process = ProcessModel.default()
    chip = sample_chip(process if mismatch else process.without_mismatch(), seed=11, detune=0.2 * mismatch)
    emu = ChipEmulator(chip, dt_s=DT, noise=False)
    rng = np.random.default_rng(3)
    sizes = (30, 16, 10, 5)
    weights = [rng.integers(-30, 64, sizes[k : k + 2]) for k in range(3)]
    inputs = _inputs(rng, 3, sizes[0], 40e-6)
    obs = emu.run(inputs, weights, 60e-6)
    got = {
        (int(s), int(u), int(round(t / DT)))
        for t, u, s in zip(obs.spikes.times_s, obs.spikes.units, obs.spikes.samples)
    }
    expect = independent_spikes(chip, inputs, ChipNetwork.from_layers(weights), 60e-6)
    layers = np.concatenate([[0], np.cumsum(sizes[1:])])
    per_layer = [sum(layers[j] <= k < layers[j + 1] for _, k, _ in expect) for j in range(3)]
    assert min(per_layer) >= 3, per_layer  # every layer spikes: the test exercises all paths
    assert got == expect, (sorted(got - expect)[:5], sorted(expect - got)[:5])


def _spike_set(spikes):
    return {
        (int(s), int(u), int(round(t / DT))) for t, u, s in zip(spikes.times_s, spikes.units, spikes.samples)
    }


def test_recurrent_emulator_spike_steps_equal_independent_reference():
    """Lateral, feedback and two input projections onto one population (consecutive rows)."""
    chip = sample_chip(ProcessModel.default(), seed=12)
    rng = np.random.default_rng(8)
    n_in, n_a, n_b = 16, 14, 6
    net = ChipNetwork(
        n_in,
        (("A", n_a), ("B", n_b)),
        (
            Projection("input", "A", rng.integers(-20, 64, (n_in, n_a))),
            Projection("A", "A", rng.integers(-40, 41, (n_a, n_a))),
            Projection("A", "B", rng.integers(-20, 64, (n_a, n_b))),
            Projection("B", "A", rng.integers(-40, 41, (n_b, n_a))),
            Projection("input", "A", rng.integers(-20, 30, (n_in, n_a))),
        ),
    )
    inputs = _inputs(rng, 2, n_in, 40e-6)
    got = _spike_set(ChipEmulator(chip, dt_s=DT, noise=False).run(inputs, net, 60e-6).spikes)
    expect = independent_spikes(chip, inputs, net, 60e-6)
    assert sum(k < n_a for _, k, _ in expect) > 20 and sum(k >= n_a for _, k, _ in expect) > 5
    assert got == expect, (sorted(got - expect)[:5], sorted(expect - got)[:5])
    no_lateral = net.with_codes(1, 0 * net.projections[1].codes)
    assert independent_spikes(chip, inputs, no_lateral, 60e-6) != expect  # the lateral synapses act


def test_emulator_psp_is_difference_of_exponentials():
    """One input spike into a neuron with tau_m != tau_syn; the emulator's membrane (exact
    volts at every step) must be ``v_leak + (w/C) T (e^(-t/tau_s) - e^(-t/tau_m))``,
    ``T = tau_m tau_s/(tau_s - tau_m)``, ``t`` from the end of the delivery step; it peaks
    at ``t* = T ln(tau_s/tau_m)``."""
    chip = sample_chip(ProcessModel.default(), seed=4, detune=0.2)
    p = true_values(chip)
    ratio = p["tau_m_s"] / p["tau_syn_s"]
    k = int(np.argmax(np.abs(np.log(ratio[:64]))))  # the most mismatched of the first 64
    assert abs(np.log(ratio[k])) > 0.1, ratio[k]
    n_used = k + 1
    codes = np.zeros((1, n_used), dtype=int)
    codes[0, k] = 20
    w_a = layer_currents(chip, codes, 0, p["w_unit_a"])[0, k]
    t0 = 3.3e-6  # delivered at the end of step 6
    emu = ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=DT)
    obs = emu.run(SpikeEvents([t0], [0], [0], 1), [codes], 60e-6, record=[k])
    assert obs.spikes.times_s.size == 0
    tm, ts, c, vl = (p[f][k] for f in ("tau_m_s", "tau_syn_s", "c_mem_f", "v_leak_v"))
    t = obs.adc_t_s - (delivery_step(t0, 120) + 1) * DT
    expect = vl + np.where(t > 0, w_a / c * psp_kernel(np.clip(t, 0, None), tm, ts), 0.0)
    v = obs.adc_v[0, :, 0]
    assert np.max(v - vl) > 5e-3  # a PSP of several millivolts
    np.testing.assert_allclose(v - vl, expect - vl, rtol=1e-9, atol=1e-12)
    t_peak = tm * ts / (ts - tm) * np.log(ts / tm)
    assert abs(t[np.argmax(v)] - t_peak) <= DT / 2 + 1e-12
