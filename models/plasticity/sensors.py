r"""Per-synapse triplet-STDP correlation sensors, evaluated exactly from spike times.

Every plastic synapse of the chip (like BrainScaleS-2's causal and acausal correlation
sensors, Friedmann et al., IEEE TBioCAS 11(1), 2017) carries the four traces of the
nearest-spike triplet rule (Pfister & Gerstner, J. Neurosci. 26(38), 2006) with its own,
mismatched parameters::

    r1 = exp(-(t - t_pre_last) / tau_plus)     r2 = exp(-(t - t_pre_last) / tau_x)
    o1 = exp(-(t - t_post_last) / tau_minus)   o2 = exp(-(t - t_post_last) / tau_y)

(nearest spike: a spike resets its traces to 1; before the first spike they are 0) and
accumulates over a run

.. math::

    a^+ = \sum_{t \in post} r_1(t) \, (A_2^+ + A_3^+ o_2(t)), \qquad
    a^- = \sum_{t \in pre} o_1(t) \, (A_2^- + A_3^- r_2(t)),

where ``t_last`` is the last spike *strictly before* ``t`` (``o2`` and ``r2`` are read
before their own update; a pre and a post spike at the same instant both see the traces
from before it). The triplet rule's weight change is ``a+ - a-``
(:func:`anamorph.circuits.tstdp.rule.weight_change`, nearest interaction).

Exactness: between spikes the traces are exponentials since the last spike, so each term
needs only the time since the last spike of each neuron; no time step is involved. The
sensors do not act on the neuron dynamics within a run (weights change only at a
plasticity step, between runs), so evaluating them afterwards from the run's recorded pre
and post spike times gives exactly what sensors running alongside would have
accumulated. On the emulated chip, pre times are the input (or source neuron) spike
times and post times the stamped spike times of the target neurons (resolution one
emulator step).

Times and time constants only need a common unit: chip seconds on the chip (the chip runs
1000x faster than biology: a 16.8 ms rule time constant is 16.8 µs there). Only the
nearest-spike interaction is implemented (the one the transistor-level circuit realises).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from anamorph.circuits.tstdp.rule import TripletParams

if TYPE_CHECKING:
    from anamorph.models.backend import SpikeEvents

NAMES = ("a2p", "a3p", "a2m", "a3m", "tau_x_s", "tau_y_s", "tau_plus_s", "tau_minus_s")
_CHUNK = 500_000  # (event, synapse) pairs evaluated at once
_TABLE = 4_000_000  # entries of the last-spike table held at once
_SPARSE = 0.5  # below this fraction of pairs with a cross spike, only those are evaluated


@dataclass(frozen=True, eq=False)
class SensorParams:
    """Per-synapse triplet parameters; each a float or an array broadcastable to (n_source, n_target)."""

    a2p: float | np.ndarray
    a3p: float | np.ndarray
    a2m: float | np.ndarray
    a3m: float | np.ndarray
    tau_x_s: float | np.ndarray
    tau_y_s: float | np.ndarray
    tau_plus_s: float | np.ndarray
    tau_minus_s: float | np.ndarray

    @classmethod
    def from_rule(cls, params: TripletParams, time_scale: float = 1e-3) -> SensorParams:
        """The rule's parameters for every synapse, time constants times ``time_scale``."""
        if params.interaction != "nearest":
            raise ValueError("the sensors implement the nearest-spike interaction only")
        p = params.scaled_time(time_scale)
        return cls(**{n: float(getattr(p, n)) for n in NAMES})

    def take(
        self, rows: np.ndarray | slice | Sequence[int], cols: np.ndarray | slice | Sequence[int]
    ) -> SensorParams:
        """The sub-block ``[rows][:, cols]`` of every (2-D) field; scalars stay scalars."""

        def sub(a):
            a = np.asarray(a, dtype=np.float64)
            return a if a.ndim == 0 else a[rows][:, cols]

        return SensorParams(**{n: sub(getattr(self, n)) for n in NAMES})

    def broadcast(self, shape: int | tuple[int, ...]) -> SensorParams:
        """Every field as a read-only float64 array of ``shape``."""
        return replace(
            self,
            **{
                f.name: np.broadcast_to(np.asarray(getattr(self, f.name), dtype=np.float64), shape)
                for f in fields(self)
            },
        )


@dataclass(frozen=True, eq=False)
class Sensors:
    """Accumulated sensor values: shape (n_source, n_target), or (n_samples, n_source, n_target)."""

    causal: np.ndarray
    acausal: np.ndarray

    def __add__(self, other: Sensors) -> Sensors:
        return Sensors(self.causal + other.causal, self.acausal + other.acausal)

    @property
    def dw(self) -> np.ndarray:
        """The triplet rule's weight change ``a+ - a-``."""
        return self.causal - self.acausal


def _unique_events(
    samples: np.ndarray, units: np.ndarray, times: np.ndarray, rank: np.ndarray, n_units: int, n_ranks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events sorted by (sample, unit, time) with duplicates removed; their composite keys."""
    row = samples.astype(np.int64) * n_units + units
    key, first = np.unique(row * n_ranks + rank, return_index=True)
    return key, times[first], row[first]


def _add_sparse(
    out: np.ndarray,
    ev: np.ndarray,
    rows: np.ndarray,
    last: np.ndarray,
    seen: np.ndarray,
    o_t: np.ndarray,
    o_unit: np.ndarray,
    dt_own: np.ndarray,
    time_at: np.ndarray,
    amp2: np.ndarray,
    amp3: np.ndarray,
    rate_cross: np.ndarray,
    rate_own: np.ndarray,
) -> None:
    """The terms of :func:`_side` for the (own spike, cross neuron) pairs in ``seen`` only."""
    r, c = np.nonzero(seen)
    e, u = ev[r], o_unit[ev[r]]
    term = np.exp(-(o_t[e] - time_at[last[r, c]]) * rate_cross[u, c])
    factor = amp2[u, c]
    again = np.flatnonzero(np.isfinite(dt_own[e]))
    if again.size:
        ua, ca = u[again], c[again]
        factor[again] += amp3[ua, ca] * np.exp(-dt_own[e[again]] * rate_own[ua, ca])
    flat = rows[r] * out.shape[1] + c
    out += np.bincount(flat, weights=term * factor, minlength=out.size).reshape(out.shape)


def _side(
    own: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    cross: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    n_own: int,
    n_cross: int,
    n_samples: int,
    n_ranks: int,
    amp2: np.ndarray,
    amp3: np.ndarray,
    tau_cross: np.ndarray,
    tau_own: np.ndarray,
    per_sample: bool,
) -> np.ndarray:
    """Sum over the spikes of the ``own`` neurons of cross1 (A2 + A3 own2): shape (.., n_own, n_cross).

    ``own``/``cross`` are (samples, units, times, ranks) of one side each; the parameter
    arrays have shape (n_own, n_cross). The (sample, time) points of all events form one
    sorted axis; a table over the points where own neurons spike holds, for every cross
    neuron, the position of its last spike strictly before that point (a running maximum
    over the points), so each own spike reads the times since the last cross spikes of all
    its synapses as one row.
    """
    o_key, o_t, o_row = _unique_events(*own, n_own, n_ranks)
    c_key, c_t, c_row = _unique_events(*cross, n_cross, n_ranks)
    out = np.zeros(((n_samples if per_sample else 1) * n_own, n_cross))
    shape = (n_samples, n_own, n_cross) if per_sample else (n_own, n_cross)
    if o_key.size == 0 or c_key.size == 0:
        return out.reshape(shape)
    # time since the previous spike of the same own neuron (events sorted by row, then time)
    prev_same = np.r_[False, o_row[1:] == o_row[:-1]]
    dt_own = np.where(prev_same, o_t - np.r_[np.nan, o_t[:-1]], np.inf)
    o_sample, o_unit = o_row // n_own, o_row % n_own
    c_sample, c_unit = c_row // n_cross, c_row % n_cross
    o_point = o_sample * n_ranks + o_key % n_ranks
    c_point = c_sample * n_ranks + c_key % n_ranks
    axis = np.unique(np.concatenate([o_point, c_point]))
    o_pos, c_pos = np.searchsorted(axis, o_point), np.searchsorted(axis, c_point)
    time_at = np.empty(axis.size)
    time_at[c_pos] = c_t
    first_of_sample = np.searchsorted(axis, np.arange(n_samples) * n_ranks)
    amp2, amp3 = (np.ascontiguousarray(a) for a in (amp2, amp3))
    rate_cross, rate_own = 1.0 / np.ascontiguousarray(tau_cross), 1.0 / np.ascontiguousarray(tau_own)
    points = np.unique(o_pos)  # table rows: where own neurons spike
    o_line = np.searchsorted(points, o_pos)
    c_line = np.searchsorted(points, c_pos, side="right")  # first own point after the cross spike
    o_order, c_order = np.argsort(o_line, kind="stable"), np.argsort(c_line, kind="stable")
    o_sorted, c_sorted = o_line[o_order], c_line[c_order]
    seg = max(1, _TABLE // n_cross)
    carry = np.full(n_cross, -1, dtype=np.int64)
    for a in range(0, points.size, seg):
        b = min(a + seg, points.size)
        table = np.full((b - a, n_cross), -1, dtype=np.int64)
        cs = c_order[np.searchsorted(c_sorted, a) : np.searchsorted(c_sorted, b)]
        np.maximum.at(table, (c_line[cs] - a, c_unit[cs]), c_pos[cs])
        np.maximum(table[0], carry, out=table[0])
        np.maximum.accumulate(table, axis=0, out=table)
        carry = table[-1].copy()
        own_here = o_order[np.searchsorted(o_sorted, a) : np.searchsorted(o_sorted, b)]
        rows_here = o_sample[own_here] * n_own + o_unit[own_here] if per_sample else o_unit[own_here]
        by_row = np.argsort(rows_here, kind="stable")
        own_here, rows_here = own_here[by_row], rows_here[by_row]
        step = max(1, _CHUNK // n_cross)
        for lo in range(0, own_here.size, step):
            ev, rows = own_here[lo : lo + step], rows_here[lo : lo + step]
            last = table[o_line[ev] - a]
            seen = last >= first_of_sample[o_sample[ev]][:, None]  # a cross spike came before
            if seen.mean() < _SPARSE:
                _add_sparse(
                    out, ev, rows, last, seen, o_t, o_unit, dt_own, time_at, amp2, amp3, rate_cross, rate_own
                )
                continue
            u = o_unit[ev]
            term = time_at[np.maximum(last, 0)]  # r1 (or o1), in place
            np.subtract(o_t[ev, None], term, out=term)
            term[~seen] = np.inf
            term *= rate_cross[u]
            np.negative(term, out=term)
            np.exp(term, out=term)
            again = np.isfinite(dt_own[ev])  # own trace o2 (or r2) > 0
            factor = amp2[u]
            if again.any():
                i = np.flatnonzero(again)
                factor[i] += amp3[u[i]] * np.exp(-dt_own[ev[i], None] * rate_own[u[i]])
            term *= factor
            bounds = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
            out[rows[bounds]] += np.add.reduceat(term, bounds, axis=0)
    return out.reshape(shape)


def correlate(
    pre: SpikeEvents,
    post: SpikeEvents,
    params: SensorParams,
    n_source: int,
    n_target: int,
    per_sample: bool = False,
) -> Sensors:
    """The sensors of the ``n_source x n_target`` synapses for one run's spike events.

    Parameters
    ----------
    pre, post : SpikeEvents
        Source spikes (``units`` 0..n_source-1) and target spikes (``units``
        0..n_target-1) of the same batch; repeated (sample, unit, time) events count once.
    params : SensorParams
        Per-synapse parameters, broadcastable to (n_source, n_target), in the unit of the
        spike times.
    per_sample : bool
        Keep the samples apart (shape (n_samples, n_source, n_target)) instead of summing
        them (each sample is an independent run of the network; traces start at 0).

    Returns
    -------
    Sensors
        ``causal`` (a+) and ``acausal`` (a-), see the module docstring.
    """
    if pre.n_samples != post.n_samples:
        raise ValueError("pre and post events must come from the same batch")
    for name, ev, n in (("pre", pre, n_source), ("post", post, n_target)):
        if ev.units.size and (ev.units.min() < 0 or ev.units.max() >= n):
            raise ValueError(f"{name} units must lie in 0..{n - 1}")
    shape = (int(n_source), int(n_target))
    p = params.broadcast(shape)
    _, rank = np.unique(np.concatenate([pre.times_s, post.times_s]), return_inverse=True)
    n_ranks = int(rank.max()) + 1 if rank.size else 1
    pre_ev = (pre.samples, pre.units, pre.times_s, rank[: pre.times_s.size])
    post_ev = (post.samples, post.units, post.times_s, rank[pre.times_s.size :])
    n = pre.n_samples
    causal = _side(
        post_ev,
        pre_ev,
        shape[1],
        shape[0],
        n,
        n_ranks,
        p.a2p.T,
        p.a3p.T,
        p.tau_plus_s.T,
        p.tau_y_s.T,
        per_sample,
    )
    acausal = _side(
        pre_ev, post_ev, shape[0], shape[1], n, n_ranks, p.a2m, p.a3m, p.tau_minus_s, p.tau_x_s, per_sample
    )
    return Sensors(np.ascontiguousarray(np.swapaxes(causal, -1, -2)), acausal)
