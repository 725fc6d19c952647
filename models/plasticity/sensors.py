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
from anamorph.models.plasticity.sensors_kernel import side_loop

if TYPE_CHECKING:
    from anamorph.models.backend import SpikeEvents

NAMES = ("a2p", "a3p", "a2m", "a3m", "tau_x_s", "tau_y_s", "tau_plus_s", "tau_minus_s")


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


def unique_events(
    samples: np.ndarray, units: np.ndarray, times: np.ndarray, rank: np.ndarray, n_units: int, n_ranks: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events sorted by (sample, unit, time) with duplicates removed; their composite keys."""
    row = samples.astype(np.int64) * n_units + units
    key, first = np.unique(row * n_ranks + rank, return_index=True)
    return key, times[first], row[first]


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
    arrays have shape (n_own, n_cross). Both sides' events, without repeats, in time order
    within each sample, go to the compiled loop (:func:`.sensors_kernel.side_loop`).
    """
    sides = []
    for ev, n in ((own, n_own), (cross, n_cross)):
        key, t, row = unique_events(*ev, n, n_ranks)
        order = np.lexsort((key % n_ranks, row // n))  # by sample, then time
        sides += [(row // n)[order], (row % n)[order], t[order]]
    out = side_loop(
        *sides,
        n_own,
        n_cross,
        n_samples if per_sample else 1,
        np.ascontiguousarray(amp2),
        np.ascontiguousarray(amp3),
        1.0 / np.ascontiguousarray(tau_cross),
        1.0 / np.ascontiguousarray(tau_own),
        per_sample,
    )
    return out.reshape((n_samples, n_own, n_cross) if per_sample else (n_own, n_cross))


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
