"""EventProp's backward pass through one layer, compiled per neuron (numba).

The adjoint of :mod:`.adjoint` (Wunderlich & Pehle 2021): per (sample, neuron), the costate
runs backward over the neuron's own spikes (the jump at each spike, the refractory hold
after it), then is read at every input event of the sample to give the weight gradient
``dL/dw = sum p_I`` and the input events' time gradients ``dL/dt_e = sum_n w (p_I / tau_s
- p_V / tau_m)``. Scalar loops over events instead of the (sample, neuron, spike, event)
arrays of the whole-array form (:func:`.adjoint_numpy.layer_backward_numpy`, the
reference; the two agree to rounding, ``tests/test_eventprop_kernel.py``).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _kappa(s, tm, ts):  # pragma: no cover - compiled
    x = s * (1.0 / tm - 1.0 / ts)
    exprel = 1.0 if x == 0.0 else math.expm1(x) / x
    return math.exp(-s / tm) * (s / tm) * exprel


@numba.njit(cache=True, inline="always")
def _current(t, b, n, in_t, in_unit, w, ts):  # pragma: no cover - compiled
    """I of neuron n of sample b at time t: sum of w e^{-(t - t_e)/tau_s} over t_e < t."""
    total = 0.0
    for e in range(in_t.shape[1]):
        d = t - in_t[b, e]
        if d > 0.0:
            total += math.exp(-d / ts) * w[in_unit[b, e], n]
    return total


@numba.njit(cache=True, nogil=True)
def layer_backward_loop(
    in_t, in_unit, w, spikes, g_spikes, tm, ts, t_ref, v_reset, duration, grazing
):  # pragma: no cover
    """(dL/dw (n_in, N), dL/d in_t (B, E)) of one layer; arguments as in :mod:`.adjoint`."""
    B, N, S = spikes.shape
    E = in_t.shape[1]
    dw = np.zeros(w.shape)
    g_in = np.zeros((B, E))
    pv_m = np.zeros(S)  # costate just before each spike
    pi_m = np.zeros(S)
    pi_r = np.zeros(S)  # p_I just after each release
    rel = np.zeros(S)
    for b in range(B):
        for n in range(N):
            nxt_t, nxt_v, nxt_i = duration, 0.0, 0.0
            for s in range(S - 1, -1, -1):
                t_s = spikes[b, n, s]
                rel[s] = t_s + t_ref
                pv_m[s] = pi_m[s] = pi_r[s] = 0.0
                if not math.isfinite(t_s):
                    continue
                pv_r = 0.0
                if rel[s] < duration:
                    d = nxt_t - rel[s]
                    pv_r = math.exp(-d / tm) * nxt_v
                    pi_r[s] = _kappa(d, tm, ts) * nxt_v + math.exp(-d / ts) * nxt_i
                    pi_m[s] = math.exp(-t_ref / ts) * pi_r[s]
                    q = -pv_r * (_current(rel[s], b, n, in_t, in_unit, w, ts) - v_reset) / tm
                else:
                    q = 0.0
                vdot = max((_current(t_s, b, n, in_t, in_unit, w, ts) - 1.0) / tm, grazing / tm)
                pv_m[s] = -(g_spikes[b, n, s] + q) / vdot
                nxt_t, nxt_v, nxt_i = t_s, pv_m[s], pi_m[s]
            for e in range(E):
                te = in_t[b, e]
                if not math.isfinite(te):
                    continue
                k = 0  # spikes at or before the event
                while k < S and spikes[b, n, k] <= te:
                    k += 1
                if k > 0 and te < rel[k - 1]:  # the membrane is held: p_V = 0, p_I decays
                    r = rel[k - 1]
                    p_v = 0.0
                    p_i = math.exp(-(r - te) / ts) * pi_r[k - 1] if r < duration else 0.0
                else:
                    end_t = spikes[b, n, k] if k < S else duration
                    end_v = pv_m[k] if k < S else 0.0
                    end_i = pi_m[k] if k < S else 0.0
                    if not math.isfinite(end_t):
                        end_t = duration
                    d = max(end_t - te, 0.0)
                    p_v = math.exp(-d / tm) * end_v
                    p_i = _kappa(d, tm, ts) * end_v + math.exp(-d / ts) * end_i
                u = in_unit[b, e]
                dw[u, n] += p_i
                g_in[b, e] += w[u, n] * (p_i / ts - p_v / tm)
    return dw, g_in
