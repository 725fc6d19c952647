"""The event-based forward pass of :mod:`.events`, compiled per neuron (numba).

:func:`.events.simulate_layer` advances all (sample, neuron) pairs of a layer together
through the input events, so every step of the bisection for a threshold crossing is a
whole-array numpy operation, even when one neuron in a thousand is near threshold. Here
each neuron runs through its own input events in scalar code: the exact free flow between
events, the first crossing bracketed on a monotone piece of v(s), bisected and polished by
Newton steps, the reset and refractory hold, as :mod:`.events` states them (Wunderlich &
Pehle 2021, Sci. Rep. 11:12829). The spike times agree with the whole-array form
(:func:`.events_numpy.simulate_layer_numpy`) to rounding (``tests/test_eventprop_kernel.py``:
relative 1e-12; the exponentials are libm's here and numpy's there).
"""

from __future__ import annotations

import math

import numba
import numpy as np


@numba.njit(cache=True, inline="always")
def _exprel(x):  # pragma: no cover - compiled
    """(e^x - 1) / x, 1 at x = 0."""
    if x == 0.0:
        return 1.0
    return math.expm1(x) / x


@numba.njit(cache=True, inline="always")
def _v_at(v0, i0, s, tm, ts):  # pragma: no cover - compiled
    """v(s) of the free flow from (v0, I0): v0 e^{-s/tm} + I0 kappa(s)."""
    kappa = math.exp(-s / tm) * (s / tm) * _exprel(s * (1.0 / tm - 1.0 / ts))
    return v0 * math.exp(-s / tm) + i0 * kappa


@numba.njit(cache=True)
def _extremum(v0, i0, tm, ts):  # pragma: no cover - compiled
    """Time of v's extremum (where v = I), inf if none for s > 0."""
    if abs(tm - ts) <= 1e-9 * ts:
        if i0 == 0.0:
            return np.inf
        s = tm * (1.0 - v0 / i0)
    else:
        b = i0 * ts / (ts - tm)
        a = v0 - b
        arg = -(b * tm) / (a * ts) if a != 0.0 else np.inf
        if not (arg > 0.0) or not math.isfinite(arg):
            return np.inf
        s = math.log(arg) / (1.0 / ts - 1.0 / tm)
    return s if (math.isfinite(s) and s > 0.0) else np.inf


@numba.njit(cache=True)
def _first_crossing(v0, i0, span, tm, ts):  # pragma: no cover - compiled
    """Time of the first threshold crossing in [0, span], or inf (see :mod:`.events`)."""
    se = _extremum(v0, i0, tm, ts)
    ve = _v_at(v0, i0, min(se, span), tm, ts)
    vend = _v_at(v0, i0, span, tm, ts)
    peak_in = se < span and ve >= 1.0
    if not (peak_in or vend >= 1.0):
        return np.inf
    if peak_in:
        lo, hi = 0.0, se
    else:
        lo = se if (math.isfinite(se) and se < span) else 0.0
        hi = span
    if v0 >= 1.0:
        lo = 0.0
    for _ in range(34):
        mid = 0.5 * (lo + hi)
        if _v_at(v0, i0, mid, tm, ts) >= 1.0:
            hi = mid
        else:
            lo = mid
    t = hi
    for _ in range(3):  # Newton polish: dv/ds = (I - v) / tau_m
        v = _v_at(v0, i0, t, tm, ts)
        i = i0 * math.exp(-t / ts)
        slope = (i - v) / tm
        step = (v - 1.0) / slope if slope > 0.0 else 0.0
        t = min(max(t - step, lo), hi)
    return t


@numba.njit(cache=True, nogil=True)
def simulate_layer_loop(in_t, in_unit, w, tm, ts, t_ref, v_reset, duration, max_spikes):  # pragma: no cover
    """Spike times (B, N, max_spikes), inf-padded, and counts (B, N) of one layer.

    ``in_t`` (B, E) sorted input times (inf = padding), ``in_unit`` (B, E) the rows of
    ``w`` (n_in, N) they drive.
    """
    B, E = in_t.shape
    N = w.shape[1]
    spikes = np.full((B, N, max_spikes), np.inf)
    count = np.zeros((B, N), dtype=np.int64)
    for b in range(B):
        for n in range(N):
            v, cur, t_now, free_at, k = 0.0, 0.0, 0.0, 0.0, 0
            for e in range(E + 1):
                t_next = min(in_t[b, e], duration) if e < E else duration
                while True:
                    if free_at > t_now and free_at <= t_next:  # the refractory hold ends
                        cur *= math.exp(-(free_at - t_now) / ts)
                        v = v_reset
                        t_now = free_at
                    if free_at > t_now or k >= max_spikes:
                        break
                    s_hit = _first_crossing(v, cur, t_next - t_now, tm, ts)
                    if not math.isfinite(s_hit):
                        break
                    t_spike = t_now + s_hit
                    spikes[b, n, k] = t_spike
                    k += 1
                    cur *= math.exp(-s_hit / ts)
                    v = v_reset
                    t_now = t_spike
                    free_at = t_spike + t_ref
                    if free_at > t_next:
                        break
                dt = t_next - t_now
                if free_at > t_now:  # held at reset: only the current decays
                    cur *= math.exp(-dt / ts)
                else:
                    v = _v_at(v, cur, dt, tm, ts)
                    cur *= math.exp(-dt / ts)
                t_now = t_next
                if e < E and math.isfinite(in_t[b, e]):
                    cur += w[in_unit[b, e], n]
            count[b, n] = k
    return spikes, count
