"""Per-instance fit of the behavioural LIF to one transistor-level neuron's measurements.

The sweep row of a LIF instance holds its DC and small-signal measurements (``v_leak_v,
v_th_v, v_reset_v, tau_m_s, t_ref_s, c_mem_f``) and its firing rates at constant input
currents (``"rate_hz@<i_in_na>"``). The spiking behaviour of the circuit differs from the
DC measurements (the comparator decides a little above its DC trip point, the leak OTA
saturates for large differential input, the reset takes time), so the effective threshold,
refractory time and capacitance are fitted to the f-I points with the analytic rate of the
LIF (Gerstner et al., "Neuronal Dynamics", 2014, eq. 1.13 with refractoriness):

    r(I) = 1 / (t_ref + tau_m ln((v_inf - v_reset) / (v_inf - v_th))),  v_inf = v_leak + I tau_m / c_mem

:func:`lif_spike_times` integrates the same behavioural neuron for an arbitrary
piecewise-linear input current (the held-out check against ngspice).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from scipy.optimize import least_squares

from anamorph.circuits.testbench import lif_rate_hz
from anamorph.models.neuron import NeuronParams, propagator

if TYPE_CHECKING:
    import pandas as pd

LIF_FIELDS = ("v_leak_v", "v_th_v", "v_reset_v", "tau_m_s", "t_ref_s", "c_mem_f")
#: The training waveforms of the transient fit: three plateaus; fast ramps up and down; one
#: slow ramp (the held-out check in the tests uses a different waveform)
TRAIN_WAVEFORMS = (
    (
        np.array([0.2e-6, 6e-6, 6.2e-6, 12e-6, 12.2e-6, 18e-6]),
        np.array([200e-9, 200e-9, 120e-9, 120e-9, 320e-9, 320e-9]),
    ),
    (np.array([0.2e-6, 8e-6, 16e-6, 24e-6, 30e-6]), np.array([110e-9, 320e-9, 120e-9, 260e-9, 200e-9])),
    (np.array([0.2e-6, 30e-6]), np.array([100e-9, 360e-9])),
)
TRAIN_T_S, TRAIN_I_A = TRAIN_WAVEFORMS[0]
FIT_FIELDS = ("delay_s", "v_th_v", "t_ref_s", "c_mem_f", "v_reset_v", "tau_m_s")
RATE_WEIGHT = 0.3  # relative f-I error weighs 0.3 of a spike-time error in ISIs


def rate_hz(i_a: np.ndarray | float, p: dict) -> np.ndarray:
    """Analytic rate at constant current of the LIF with the LIF_FIELDS of ``p``
    (:func:`anamorph.circuits.testbench.lif_rate_hz`; 0 below rheobase)."""
    return lif_rate_hz(i_a, *(p[k] for k in LIF_FIELDS))


def rate_points(row: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """``(i_in_a, rate_hz)`` from the ``"rate_hz@<i_in_na>"`` columns of a sweep row."""
    pts = sorted(
        (float(k.split("@", 1)[1]) * 1e-9, float(v))
        for k, v in row.items()
        if isinstance(k, str) and k.startswith("rate_hz@") and np.isfinite(v)
    )
    if not pts:
        return np.zeros(0), np.zeros(0)
    i, r = map(np.asarray, zip(*pts))
    return i, r


def fit_lif_instance(row: pd.Series) -> dict:
    """Behavioural parameters of one LIF instance (dict of LIF_FIELDS, SI units).

    v_leak, v_reset and tau_m are the measured values; v_th, t_ref and c_mem start at
    the measured values and are refined by least squares on the relative rate error of
    the f-I points (with fewer than 3 points only v_th and t_ref are refined).
    """
    p = {k: float(row[k]) for k in LIF_FIELDS}
    i_a, rate = rate_points(row)
    if i_a.size < 2:
        return p
    names = ["v_th_v", "t_ref_s", "c_mem_f"][: 3 if i_a.size >= 3 else 2]
    scale = np.array([p[n] for n in names])

    def residual(z):
        q = {**p, **{n: s * (1 + zz) for n, s, zz in zip(names, scale, z)}}
        model = rate_hz(i_a, q)
        return np.where(model > 0, model / rate - 1.0, -1.0 + 0 * model)

    sol = least_squares(
        residual, np.zeros(len(names)), x_scale=0.05, method="lm" if i_a.size > len(names) else "trf"
    )
    p.update({n: float(s * (1 + zz)) for n, s, zz in zip(names, scale, sol.x)})
    return p


def fit_lif_transient(
    p: dict, row: pd.Series, transients: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
) -> dict:
    """Refine an instance's parameters with the spike times of training transients.

    ``transients`` is a list of ``(t_s, i_in_a, spikes_s)`` (ngspice spike times for the
    piecewise-linear currents). The circuit reports a spike when its latch flips,
    ``delay_s`` after the membrane crosses threshold (the comparator's decision time);
    the refractory time is counted from the crossing (as the sweep's ``t_ref_s``).
    FIT_FIELDS are fitted by least squares to the spike-time errors (relative to the
    median inter-spike interval) together with the relative f-I rate errors of the row
    (weight RATE_WEIGHT). The effective parameters trade off against each other, so they
    describe the instance's spiking, not its DC operating point.
    """
    i_a, rate = rate_points(row)
    isi = float(np.median(np.concatenate([np.diff(np.asarray(s)) for _, _, s in transients])))
    start = {**p, "delay_s": p.get("delay_s", 0.0)}
    step = {
        "delay_s": isi * 0.05,
        "v_th_v": 0.02,
        "t_ref_s": start["t_ref_s"] * 0.1,
        "c_mem_f": start["c_mem_f"] * 0.1,
        "v_reset_v": 0.02,
        "tau_m_s": start["tau_m_s"] * 0.1,
    }
    scale = np.array([step[n] for n in FIT_FIELDS])
    base = np.array([start[n] for n in FIT_FIELDS])

    def params(z):
        return {**start, **dict(zip(FIT_FIELDS, base + scale * z))}

    def residual(z):
        q = params(z)
        out = []
        for t_s, i_in_a, spikes_s in transients:
            spikes_s = np.asarray(spikes_s, dtype=np.float64)
            model = lif_spike_times(q, t_s, i_in_a)
            n = min(model.size, spikes_s.size)
            err = np.ones(spikes_s.size)  # a missing or extra spike costs one ISI
            err[:n] = (model[:n] - spikes_s[:n]) / isi
            out += [err, np.ones(max(model.size - spikes_s.size, 0))]
        if i_a.size:
            out.append(RATE_WEIGHT * (rate_hz(i_a, q) / rate - 1.0))
        return np.concatenate(out)

    sol = least_squares(residual, np.zeros(len(FIT_FIELDS)), diff_step=1e-4, xtol=1e-12, ftol=1e-12)
    return params(sol.x)


def lif_spike_times(
    p: dict | NeuronParams, t_s: np.ndarray, i_in_a: np.ndarray, *, dt_s: float = 5e-9
) -> np.ndarray:
    """Spike times of the behavioural LIF for a piecewise-linear current ``(t_s, i_in_a)``.

    The neuron starts at rest; the current ramps from 0 at t = 0 to ``i_in_a[0]`` at
    ``t_s[0]`` and runs to ``t_s[-1]``. Each step integrates the exact propagator with the
    current at the step's midpoint; a spike time is interpolated linearly inside the step
    where V crosses v_th; the reported time is that crossing plus ``p["delay_s"]`` (0 if
    absent), the membrane is held at v_reset for t_ref from the crossing.
    """
    if isinstance(p, NeuronParams):
        p = {k: float(np.asarray(getattr(p, k))) for k in LIF_FIELDS}
    t_pts = np.concatenate([[0.0], np.asarray(t_s, dtype=np.float64)])
    i_pts = np.concatenate([[0.0], np.asarray(i_in_a, dtype=np.float64)])
    params = NeuronParams(
        p["v_leak_v"],
        p["v_th_v"],
        p["v_reset_v"],
        p["tau_m_s"],
        p["tau_m_s"],
        p["t_ref_s"],
        p["c_mem_f"],
        0.0,
    )
    prop = propagator(params, dt_s, 1)
    e_m, p_stim = float(prop.e_m[0]), float(prop.p_stim_ohm[0])
    n_steps = int(np.floor(t_pts[-1] / dt_s))
    i_mid = np.interp((np.arange(n_steps) + 0.5) * dt_s, t_pts, i_pts)
    v_leak, v_th, v_reset, t_ref = p["v_leak_v"], p["v_th_v"], p["v_reset_v"], p["t_ref_s"]
    delay = float(p.get("delay_s", 0.0))
    # between spikes V is linear in the inputs: V_n = v_leak + sum_k e_m^(n-1-k) p_stim I_k
    spikes = []
    v = v_leak
    spikes_end = t_pts[-1]
    n = 0
    while n < n_steps:
        seg = i_mid[n:]
        # advance in blocks with a vectorised recursion until the first crossing
        block = seg[: min(seg.size, 4096)]
        decay = e_m ** np.arange(1, block.size + 1)
        drive = np.cumsum(block * p_stim / decay[: block.size] * e_m) * decay / e_m
        vs = v_leak + (v - v_leak) * decay + drive
        above = np.nonzero(vs >= v_th)[0]
        if above.size == 0:
            v = vs[-1]
            n += block.size
            continue
        k = above[0]
        v_prev = v if k == 0 else vs[k - 1]
        frac = (v_th - v_prev) / (vs[k] - v_prev)
        t_spike = (n + k + frac) * dt_s
        spikes.append(t_spike + delay)
        t_free = t_spike + t_ref
        n = int(np.ceil(t_free / dt_s))
        # the partial step from t_free to the grid, exact for the current there (keeps the
        # spike times continuous in t_ref)
        h = n * dt_s - t_free
        e_h = np.exp(-h / p["tau_m_s"])
        i_h = np.interp(t_free, t_pts, i_pts)
        v = v_leak + (v_reset - v_leak) * e_h + i_h * p["tau_m_s"] / p["c_mem_f"] * (1 - e_h)
    spikes = np.asarray(spikes)
    return spikes[spikes <= spikes_end]
