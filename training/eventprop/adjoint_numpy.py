"""EventProp's backward pass through one layer as whole-array numpy (the reference).

The costate of every (sample, neuron, spike) and its value at every (sample, neuron, input
event) computed with (B, N, S, E) arrays: the plain statement of :mod:`.adjoint`'s
equations, against which the compiled per-neuron kernel (:mod:`.adjoint_kernel`) is
checked; training uses the kernel.
"""

from __future__ import annotations

import numpy as np

from anamorph.training.eventprop.events import EventParams, kappa


def current_at(t_q: np.ndarray, in_t: np.ndarray, in_unit: np.ndarray, w: np.ndarray, p: EventParams):
    """I of every neuron at query times ``t_q`` (B, N, S): sum of w e^{-(t - t_e)/tau_s} over t_e < t."""
    wpad = np.vstack([w, np.zeros((1, w.shape[1]))])
    unit = np.where(np.isfinite(in_t), in_unit, w.shape[0])
    wj = wpad[unit]  # (B, E, N)
    dt = t_q[:, :, :, None] - in_t[:, None, None, :]  # (B, N, S, E)
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.where(dt > 0, np.exp(-np.where(dt > 0, dt, 0.0) / p.tau_syn_s), 0.0)
    return np.einsum("bnse,ben->bns", k, wj)


def layer_backward_numpy(in_t, in_unit, w, spikes, g_spikes, p: EventParams):
    """(dL/dw (n_in, N), dL/d in_t (B, E)) of one layer.

    ``spikes`` (B, N, S) its spike times (inf-padded), ``g_spikes`` (B, N, S) dL/dt of each.
    """
    B, N, S = spikes.shape
    T = p.duration_s
    tm, ts = p.tau_m_s, p.tau_syn_s
    fin = np.isfinite(spikes)
    rel = spikes + p.t_ref_s
    i_sp = current_at(np.where(fin, spikes, 0.0), in_t, in_unit, w, p)
    i_rel = current_at(np.where(fin & (rel < T), rel, 0.0), in_t, in_unit, w, p)
    pv_m = np.zeros((B, N, S))  # costate just before each spike
    pi_m = np.zeros((B, N, S))
    pv_r = np.zeros((B, N, S))  # just after each release
    pi_r = np.zeros((B, N, S))
    nxt_t = np.full((B, N), T)
    nxt_v = np.zeros((B, N))
    nxt_i = np.zeros((B, N))
    for s in range(S - 1, -1, -1):
        f = fin[:, :, s]
        ok = f & (rel[:, :, s] < T)
        d = np.where(ok, nxt_t - rel[:, :, s], 0.0)
        pv_r[:, :, s] = np.where(ok, np.exp(-d / tm) * nxt_v, 0.0)
        pi_r[:, :, s] = np.where(ok, kappa(d, p) * nxt_v + np.exp(-d / ts) * nxt_i, 0.0)
        q = -pv_r[:, :, s] * (i_rel[:, :, s] - p.v_reset) / tm
        vdot = np.maximum((i_sp[:, :, s] - 1.0) / tm, p.grazing_vdot / tm)
        pv_m[:, :, s] = np.where(f, -(g_spikes[:, :, s] + q) / vdot, 0.0)
        pi_m[:, :, s] = np.where(ok, np.exp(-p.t_ref_s / ts) * pi_r[:, :, s], 0.0)
        nxt_t = np.where(f, spikes[:, :, s], nxt_t)
        nxt_v = np.where(f, pv_m[:, :, s], nxt_v)
        nxt_i = np.where(f, pi_m[:, :, s], nxt_i)
    # costate at every input event, for every neuron: (B, N, E)
    te = np.where(np.isfinite(in_t), in_t, T)[:, None, :]
    k = (spikes[:, :, :, None] <= te[:, :, None, :]).sum(axis=2)  # spikes before t_e
    pad = lambda a, val: np.concatenate([a, np.full((B, N, 1), val)], axis=2)  # noqa: E731
    nt, nv, ni = pad(spikes, T), pad(pv_m, 0.0), pad(pi_m, 0.0)
    end_t = np.take_along_axis(nt, k, axis=2)
    end_v = np.take_along_axis(nv, k, axis=2)
    end_i = np.take_along_axis(ni, k, axis=2)
    end_t = np.where(np.isfinite(end_t), end_t, T)
    d = np.maximum(end_t - te, 0.0)
    p_v = np.exp(-d / tm) * end_v
    p_i = kappa(d, p) * end_v + np.exp(-d / ts) * end_i
    kb = np.maximum(k - 1, 0)
    r_prev = np.take_along_axis(pad(rel, -np.inf), kb, axis=2)
    in_refr = (k > 0) & (te < r_prev)
    pir = np.take_along_axis(pad(pi_r, 0.0), kb, axis=2)
    ok_r = r_prev < T
    p_v = np.where(in_refr, 0.0, p_v)
    p_i = np.where(in_refr, np.where(ok_r, np.exp(-(r_prev - te) / ts) * pir, 0.0), p_i)
    valid = np.isfinite(in_t)
    p_v = np.where(valid[:, None, :], p_v, 0.0)
    p_i = np.where(valid[:, None, :], p_i, 0.0)
    unit = np.where(valid, in_unit, w.shape[0])
    dw = np.zeros((w.shape[0] + 1, N))
    np.add.at(dw, unit.ravel(), p_i.transpose(0, 2, 1).reshape(-1, N))
    wpad = np.vstack([w, np.zeros((1, N))])
    wj = wpad[unit]  # (B, E, N)
    g_in = np.einsum("ben,bne->be", wj, p_i / ts - p_v / tm)
    return dw[:-1], g_in
