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
by Newton steps to machine precision. Layers are simulated in order (feed-forward); each
neuron runs through its layer's input events in compiled scalar code (:mod:`.events_kernel`;
:mod:`.events_numpy` is the same loop over whole arrays, the reference). Spike times are in seconds; a layer's spikes are ``(B, N, S)`` arrays, ``inf``-padded.
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
    """Spike times (B, N, S) of a layer driven by input events, ``S`` = its most spikes (>= 1).

    ``in_t`` (B, E) sorted input times (inf = padding), ``in_unit`` (B, E) their
    presynaptic indices (rows of ``w``, shape (n_in, N)). Each neuron runs through its
    events in compiled scalar code (:func:`.events_kernel.simulate_layer_loop`).
    """
    from anamorph.training.eventprop.events_kernel import simulate_layer_loop

    spikes, count = simulate_layer_loop(
        np.ascontiguousarray(in_t, dtype=np.float64),
        np.ascontiguousarray(in_unit, dtype=np.int64),
        np.ascontiguousarray(w, dtype=np.float64),
        p.tau_m_s,
        p.tau_syn_s,
        p.t_ref_s,
        p.v_reset,
        p.duration_s,
        p.max_spikes,
    )
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
