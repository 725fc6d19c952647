"""The whole-array numpy form of the sensors' evaluation: the reference of the compiled loop.

:func:`side` computes what :func:`anamorph.models.plasticity.sensors_kernel.side_loop`
computes (one side of :func:`anamorph.models.plasticity.sensors.correlate`) with array
operations in blocks: a table of the last cross spike before every point where an own
neuron spikes, then every (own spike, cross neuron) term at once. The tests compare the
two, and both against the circuit rule's weight change.
"""

from __future__ import annotations

import numpy as np

from anamorph.models.plasticity.sensors import unique_events

_CHUNK = 500_000  # (event, synapse) pairs evaluated at once
_TABLE = 4_000_000  # entries of the last-spike table held at once
_SPARSE = 0.5  # below this fraction of pairs with a cross spike, only those are evaluated


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


def side(
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
    o_key, o_t, o_row = unique_events(*own, n_own, n_ranks)
    c_key, c_t, c_row = unique_events(*cross, n_cross, n_ranks)
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
