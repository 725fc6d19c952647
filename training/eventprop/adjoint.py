"""EventProp's backward pass: exact gradients from spike times (Wunderlich & Pehle 2021).

The adjoint (costate) ``p = (p_V, p_I) = dL/d(v, I)(t)`` of the model in
:mod:`.events` runs backward in time. Between events it follows the transposed
propagator exactly,

    p_V(t) = e^{-s/tau_m} p_V(t+s),   p_I(t) = kappa(s) p_V(t+s) + e^{-s/tau_s} p_I(t+s);

during a refractory period the membrane is clamped, so ``p_V = 0`` and ``p_I`` decays
with tau_s. In the paper's notation ``lambda_V = -p_V / tau_m`` and ``lambda_I = -p_I / tau_s``
(``tau_m lambda_V' = lambda_V``, ``tau_s lambda_I' = lambda_I - lambda_V`` backward in
time) and the weight gradient is

    dL/dw_ji = -tau_s sum_{spikes t_i of i} lambda_I,j(t_i) = sum p_I,j(t_i).

Input events leave the costate continuous. At a neuron's own spike ``t*`` (``v = 1``,
slope ``vdot = (I(t*) - 1)/tau_m``) the costate jumps:

    p_V(t*-) = -(dL/dt* + q) / vdot,    p_I(t*-) = p_I(t*+),
    q = -p_V(r+) (I(r) - v_r) / tau_m    at the end of refractoriness r = t* + t_ref

(a later spike releases the membrane later; ``r >= T``: q = 0), where ``dL/dt*`` is the
loss's own dependence plus that of every postsynaptic neuron k,

    dL/dt_j = sum_k w_kj (p_I,k(t_j)/tau_s - p_V,k(t_j)/tau_m)

(the W&P jump ``(lambda_V - lambda_I) w`` of the presynaptic neuron). For t_ref = 0 this is
the paper's ``(vdot+ / vdot-)`` factor. Grazing spikes (``vdot -> 0``) would make the jump
diverge; ``vdot`` is taken as at least ``grazing_vdot / tau_m`` (EventParams).
The currents the jumps need, ``I(t*)`` and ``I(r)``, are recomputed from the input spike
times and the weights, so the same backward pass serves spike times read from a chip.
"""

from __future__ import annotations

import numpy as np

from anamorph.training.eventprop.events import EventParams, events_from_spikes, kappa


def current_at(t_q: np.ndarray, in_t: np.ndarray, in_unit: np.ndarray, w: np.ndarray, p: EventParams):
    """I of every neuron at query times ``t_q`` (B, N, S): sum of w e^{-(t - t_e)/tau_s} over t_e < t."""
    wpad = np.vstack([w, np.zeros((1, w.shape[1]))])
    unit = np.where(np.isfinite(in_t), in_unit, w.shape[0])
    wj = wpad[unit]  # (B, E, N)
    dt = t_q[:, :, :, None] - in_t[:, None, None, :]  # (B, N, S, E)
    with np.errstate(invalid="ignore", over="ignore"):
        k = np.where(dt > 0, np.exp(-np.where(dt > 0, dt, 0.0) / p.tau_syn_s), 0.0)
    return np.einsum("bnse,ben->bns", k, wj)


def layer_backward(in_t, in_unit, w, spikes, g_spikes, p: EventParams):
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


def backward(spikes: list[np.ndarray], weights: list[np.ndarray], g_out: np.ndarray, p: EventParams):
    """Weight gradients of all layers from the spikes of :func:`.events.simulate` (or a chip)
    and ``g_out`` = dL/dt of the last layer's spikes (same shape as ``spikes[-1]``)."""
    grads = [None] * len(weights)
    g = g_out
    for l in range(len(weights) - 1, -1, -1):
        et, eu, order = events_from_spikes(spikes[l])
        dw, g_in = layer_backward(et, eu, weights[l], spikes[l + 1], g, p)
        grads[l] = dw
        if l > 0:
            B, n, S = spikes[l].shape
            flat = np.zeros((B, n * S))
            np.put_along_axis(flat, order, g_in, axis=1)
            g = flat.reshape(B, n, S)
    return grads
