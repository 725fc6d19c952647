"""Compiled time loops of the surrogate-gradient model (numba).

The model (:mod:`.snn`) and its backward pass (:mod:`.backprop`) are recurrences in time
whose every step is a handful of element-wise operations on (batch, n) arrays. Written as
numpy statements per step, a Yin-Yang batch (100 x 120 steps x 120 neurons) spends its
time in interpreter and array overhead, not arithmetic; here each recurrence is one
compiled loop over (sample, step, neuron) in time order. The arithmetic is the numpy
statements' own, operation for operation and in the same order, and numba does not fuse
or reorder floating-point operations without ``fastmath``, so the results are the same
bits (``tests/test_training_kernels.py`` checks them against the per-step numpy loops).

Numba: Lam, Pitrou & Seibert 2015, LLVM-Workshop in SC15, doi:10.1145/2833157.2833162.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def superspike_loop(v, beta):  # pragma: no cover - compiled
    """SuperSpike surrogate ``1 / (beta |v - 1| + 1)^2`` element-wise (Zenke & Ganguli 2018)."""
    out = np.empty_like(v)
    flat_v, flat_out = v.reshape(-1), out.reshape(-1)
    for k in range(flat_v.size):
        d = beta * abs(flat_v[k] - 1.0) + 1.0
        flat_out[k] = 1.0 / (d * d)
    return out


@numba.njit(cache=True, nogil=True)
def lerp_rows(values, j, frac):  # pragma: no cover - compiled
    """``values[:, j] * (1 - frac) + values[:, j + 1] * frac`` along axis 1; (B, len(j), n)."""
    B, _, n = values.shape
    out = np.empty((B, len(j), n))
    for b in range(B):
        for t in range(len(j)):
            lo, hi, f = j[t], j[t] + 1, frac[t]
            g = 1.0 - f
            for k in range(n):
                out[b, t, k] = values[b, lo, k] * g + values[b, hi, k] * f
    return out


@numba.njit(cache=True, nogil=True)
def free_loop(spikes, steps):  # pragma: no cover - compiled
    """``1 - C[t+1]`` of spike rasters (B, T, n), 1 at t = T-1: 0 where step t+1 is clamped.

    Step t+1 is clamped if the neuron spiked (S > 0.5) at one of the ``steps`` steps
    t+1-steps .. t (the chip holds the membrane at reset for t_ref after a spike).
    """
    B, T, n = spikes.shape
    free = np.empty_like(spikes)
    left = np.empty(n, dtype=np.int64)
    for b in range(B):
        left[:] = 0
        for t in range(T):
            for j in range(n):
                left[j] = steps if spikes[b, t, j] > 0.5 else max(left[j] - 1, 0)
                free[b, t, j] = 0.0 if left[j] > 0 and t < T - 1 else 1.0
    return free


@numba.njit(cache=True, nogil=True)
def driven_membrane_loop(drive, s_own, keep, decay_m, decay_s):  # pragma: no cover - compiled
    """V[t] of one layer driven by ``drive[t] = S_in[t] @ W`` and reset at its own spikes.

    ``V[t+1] = keep[t] (exp(-dt/tau_m) V[t] (1 - S[t]) + I[t])``,
    ``I[t+1] = exp(-dt/tau_s) I[t] + drive[t]``, from V = I = 0; arrays (B, T, n).
    """
    B, T, n = drive.shape
    v = np.empty_like(drive)
    vt = np.empty(n)
    it = np.empty(n)
    for b in range(B):
        vt[:] = 0.0
        it[:] = 0.0
        for t in range(T):
            for j in range(n):
                v[b, t, j] = vt[j]
                vt[j] = (decay_m * vt[j] * (1.0 - s_own[b, t, j]) + it[j]) * keep[b, t, j]
                it[j] = decay_s * it[j] + drive[b, t, j]
    return v


@numba.njit(cache=True, nogil=True)
def backward_layer_loop(
    keep, v, s, sg, g_s_direct, g_s_counts, g_v_direct, decay_m, decay_s, hidden, detach_reset
):  # pragma: no cover - compiled
    """gI[t+1] of one layer for t = 0..T-1, (B, T, n): the time-reversed loop of :mod:`.backprop`.

    Per step, from gV[T] = gI[T] = 0 (g~ = keep[t] gV[t+1]):
    ``gI[t] = g~ + exp(-dt/tau_s) gI[t+1]``; hidden layers
    ``gV[t] = exp(-dt/tau_m) g~ (1 - S[t]) + S'(V[t]) gS[t]`` with
    ``gS[t] = g_s_direct[t] + g_s_counts`` (minus ``exp(-dt/tau_m) V[t] g~`` unless the
    reset is detached); the readout ``gV[t] = exp(-dt/tau_m) g~ + g_v_direct[t]``.
    """
    B, T, n = keep.shape
    g_i_next_all = np.empty_like(keep)
    gv_next = np.empty(n)
    gi_next = np.empty(n)
    for b in range(B):
        gv_next[:] = 0.0
        gi_next[:] = 0.0
        for t in range(T - 1, -1, -1):
            for j in range(n):
                g_i_next_all[b, t, j] = gi_next[j]
                g = keep[b, t, j] * gv_next[j]
                gi = g + decay_s * gi_next[j]
                gv = decay_m * g
                if hidden:
                    gs = g_s_direct[b, t, j] + g_s_counts[b, j]
                    if not detach_reset:
                        gs = gs - decay_m * v[b, t, j] * g
                    gv = gv * (1.0 - s[b, t, j]) + sg[b, t, j] * gs
                else:
                    gv = gv + g_v_direct[b, t, j]
                gv_next[j] = gv
                gi_next[j] = gi
    return g_i_next_all
