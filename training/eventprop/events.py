"""Exact event-based forward model of the chip's LIF (EventProp's forward pass).

The chip's neuron (:mod:`anamorph.models.neuron`) in dimensionless form, membrane
``v = (V - v_leak) / (v_th - v_leak)`` (threshold 1, reset ``v_r``) and current
``I = I_syn tau_m / (c_mem (v_th - v_leak))`` (Wunderlich & Pehle 2021, Sci. Rep. 11:12829):

    tau_m dv/dt = -v + I,     tau_s dI/dt = -I,
    input spike of presynaptic neuron i at t_i:   I += w_i,
    v(t*) = 1:  spike at t*; v = v_r and held there until t* + t_ref (I keeps decaying).

Between events the solution is exact: with ``s`` the time since the last event,

    I(s) = I0 exp(-s/tau_s),
    v(s) = v0 exp(-s/tau_m) + I0 kappa(s),
    kappa(s) = exp(-s/tau_m) (s/tau_m) exprel(s (1/tau_m - 1/tau_s)),   exprel(x) = (e^x - 1)/x,

which is finite for tau_m == tau_s (the chip's operating point; kappa = (s/tau) e^{-s/tau}).
``v(s)`` has at most one extremum, where ``v = I``; so whether the threshold is crossed
before the next event follows from ``v`` at that extremum and at the interval's end, and
the first crossing is bracketed on a monotone piece and found by bisection, then polished
by Newton steps to machine precision. Layers are simulated in order (feed-forward); all
samples and neurons of a layer advance together through the layer's input events.
Spike times are in seconds; a layer's spikes are ``(B, N, S)`` arrays, ``inf``-padded.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import exprel


@dataclass(frozen=True)
class EventParams:
    """Time constants (s), refractory time (s), dimensionless reset, run length (s).

    ``max_spikes`` bounds the spikes a neuron may fire in one sample (later ones are
    dropped); ``grazing_vdot`` is the guard of the backward pass: a spike's membrane slope
    ``dv/dt`` (in units of 1/tau_m) is taken as at least this value. 0.2 for training: on
    the emulated chip a few hidden spikes fall where the pinned model's current barely
    exceeds threshold, and with 1e-3 their jumps dominate the gradient (cosine with the
    ideal model's gradient 0.14 for the hidden layer; 0.91 with 0.2, bench/eventprop.py).
    """

    tau_m_s: float = 6e-6
    tau_syn_s: float = 6e-6
    t_ref_s: float = 2e-6
    v_reset: float = 0.0
    duration_s: float = 60e-6
    max_spikes: int = 8
    grazing_vdot: float = 0.2

    @classmethod
    def from_nominal(cls, nominal, duration_s: float, **kw) -> EventParams:
        """The model at a chip's nominal parameters (:class:`~anamorph.models.neuron.NeuronParams`)."""
        m = lambda x: float(np.mean(np.asarray(x, dtype=np.float64)))  # noqa: E731
        vr = (m(nominal.v_reset_v) - m(nominal.v_leak_v)) / (m(nominal.v_th_v) - m(nominal.v_leak_v))
        return cls(m(nominal.tau_m_s), m(nominal.tau_syn_s), m(nominal.t_ref_s), vr, float(duration_s), **kw)


def current_units_per_code(nominal) -> float:
    """Dimensionless current jump of one weight-code unit: w_unit tau_m / (c_mem (v_th - v_leak))."""
    m = lambda x: float(np.mean(np.asarray(x, dtype=np.float64)))  # noqa: E731
    dv = m(nominal.v_th_v) - m(nominal.v_leak_v)
    return m(nominal.w_unit_a) * m(nominal.tau_m_s) / (m(nominal.c_mem_f) * dv)


def kappa(s, p: EventParams):
    """Membrane response at time ``s`` to a unit current at ``s = 0`` (see module docstring)."""
    s = np.asarray(s, dtype=np.float64)
    return np.exp(-s / p.tau_m_s) * (s / p.tau_m_s) * exprel(s * (1.0 / p.tau_m_s - 1.0 / p.tau_syn_s))


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


def events_from_spikes(times: np.ndarray):
    """Flatten (B, N, S) spike times into time-sorted events: (times (B, E), unit (B, E), order).

    ``order`` maps an event back to its flat (N*S) slot; padding events have time inf.
    """
    B = times.shape[0]
    S = times.shape[2]
    flat = times.reshape(B, -1)
    order = np.argsort(flat, axis=1, kind="stable")
    t = np.take_along_axis(flat, order, axis=1)
    n_valid = int(np.isfinite(t).sum(axis=1).max()) if t.size else 0
    return t[:, :n_valid], (order // S)[:, :n_valid], order[:, :n_valid]


def simulate_layer(in_t: np.ndarray, in_unit: np.ndarray, w: np.ndarray, p: EventParams) -> np.ndarray:
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


def simulate(input_times: np.ndarray, weights: list[np.ndarray], p: EventParams) -> list[np.ndarray]:
    """Spike times of every layer; ``input_times`` (B, n_in) or (B, n_in, S), inf = no spike."""
    t = np.asarray(input_times, dtype=np.float64)
    if t.ndim == 2:
        t = t[:, :, None]
    out = [t]
    for w in weights:
        et, eu, _ = events_from_spikes(out[-1])
        out.append(simulate_layer(et, eu, w, p))
    return out
