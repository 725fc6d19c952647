"""The event-based forward pass of :mod:`.events` with all neurons of a layer advanced together.

Every (sample, neuron) pair moves through the layer's input events in lock step, each step
of the crossing search a whole-array numpy operation: the plain statement of the model's
event loop (:mod:`.events` has the equations). It is the reference the compiled per-neuron
kernel (:mod:`.events_kernel`) is checked against; training uses the kernel.
"""

from __future__ import annotations

import numpy as np

from anamorph.training.eventprop.events import EventParams, kappa


def free_flow(v0, i0, s, p: EventParams):
    """(v, I) after a time ``s`` of free evolution from (v0, I0)."""
    return v0 * np.exp(-s / p.tau_m_s) + i0 * kappa(s, p), i0 * np.exp(-s / p.tau_syn_s)


def _extremum(v0, i0, p: EventParams):
    """Time of the extremum of v(s) (inf if none for s > 0)."""
    tm, ts = p.tau_m_s, p.tau_syn_s
    with np.errstate(divide="ignore", invalid="ignore"):
        if abs(tm - ts) <= 1e-9 * ts:
            s = tm * (1.0 - v0 / i0)
        else:
            b = i0 * ts / (ts - tm)
            a = v0 - b
            s = np.log(-(b * tm) / (a * ts)) / (1.0 / ts - 1.0 / tm)
    return np.where(np.isfinite(s) & (s > 0), s, np.inf)


def _first_crossing(v0, i0, span, p: EventParams):
    """Time of the first threshold crossing within [0, span], or inf; arrays of one shape."""
    se = _extremum(v0, i0, p)
    ve = free_flow(v0, i0, np.minimum(se, span), p)[0]
    vend = free_flow(v0, i0, span, p)[0]
    peak_in = (se < span) & (ve >= 1.0)
    hit = peak_in | (vend >= 1.0)
    out = np.full(np.shape(v0), np.inf)
    if not np.any(hit):
        return out
    idx = np.nonzero(hit)
    a, b, s_ext = v0[idx], i0[idx], se[idx]
    # monotone bracket: rising piece [0, s_ext] if the peak crosses, else [max(0, s_ext), span]
    lo = np.where(peak_in[idx], 0.0, np.where(np.isfinite(s_ext) & (s_ext < span[idx]), s_ext, 0.0))
    hi = np.where(peak_in[idx], s_ext, span[idx])
    lo = np.where(a >= 1.0, 0.0, lo)
    for _ in range(34):
        mid = 0.5 * (lo + hi)
        above = free_flow(a, b, mid, p)[0] >= 1.0
        hi = np.where(above, mid, hi)
        lo = np.where(above, lo, mid)
    t = hi
    for _ in range(3):  # Newton polish: dv/ds = (I - v) / tau_m
        v, i = free_flow(a, b, t, p)
        slope = (i - v) / p.tau_m_s
        step = np.where(slope > 0, (v - 1.0) / np.where(slope > 0, slope, 1.0), 0.0)
        t = np.clip(t - step, lo, hi)
    out[idx] = t
    return out


def simulate_layer_numpy(in_t: np.ndarray, in_unit: np.ndarray, w: np.ndarray, p: EventParams) -> np.ndarray:
    """Spike times (B, N, max_spikes) of a layer driven by input events.

    ``in_t`` (B, E) sorted input times (inf = padding), ``in_unit`` (B, E) their
    presynaptic indices (rows of ``w``, shape (n_in, N)).
    """
    B, E = in_t.shape
    N = w.shape[1]
    wpad = np.vstack([w, np.zeros((1, N))])
    unit = np.where(np.isfinite(in_t), in_unit, w.shape[0])
    T = p.duration_s
    v = np.zeros((B, N))
    cur = np.zeros((B, N))
    t_now = np.zeros((B, N))
    free_at = np.zeros((B, N))  # refractory until this time
    spikes = np.full((B, N, p.max_spikes), np.inf)
    count = np.zeros((B, N), dtype=np.int64)
    rows = np.arange(B)
    for e in range(E + 1):
        t_next = np.broadcast_to(np.minimum(in_t[:, e] if e < E else np.full(B, T), T)[:, None], (B, N))
        while True:
            # leave the refractory period if it ends before the next input
            rel = (free_at > t_now) & (free_at <= t_next)
            if np.any(rel):
                cur = np.where(rel, cur * np.exp(-(free_at - t_now) / p.tau_syn_s), cur)
                v = np.where(rel, p.v_reset, v)
                t_now = np.where(rel, free_at, t_now)
            active = free_at <= t_now
            span = np.where(active, t_next - t_now, 0.0)
            s_hit = np.where(active, _first_crossing(v, cur, span, p), np.inf)
            fire = np.isfinite(s_hit) & (count < p.max_spikes)
            if not np.any(fire):
                break
            b, n = np.nonzero(fire)
            ts = t_now[b, n] + s_hit[b, n]
            spikes[b, n, count[b, n]] = ts
            count[b, n] += 1
            cur[b, n] *= np.exp(-s_hit[b, n] / p.tau_syn_s)
            v[b, n] = p.v_reset
            t_now[b, n] = ts
            free_at[b, n] = ts + p.t_ref_s
            # neurons still refractory at t_next just wait (handled by the next pass / event)
            if not np.any(free_at[b, n] <= t_next[b, n]):
                break
        # advance everyone to t_next: free neurons flow, refractory ones only decay I
        dt = t_next - t_now
        vf, cf = free_flow(v, cur, dt, p)
        refr = free_at > t_now
        v = np.where(refr, v, vf)
        cur = np.where(refr, cur * np.exp(-dt / p.tau_syn_s), cf)
        t_now = t_next.copy()
        if e < E:
            cur = cur + wpad[unit[:, e]] * np.isfinite(in_t[:, e])[:, None]
    del rows
    return spikes[:, :, : max(1, int(count.max(initial=0)))]
