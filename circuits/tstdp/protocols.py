"""Spike protocols of the STDP experiments: pairs, triplets, pairing frequency, Poisson rates.

Times are biological seconds; the circuit runs them ``time_scale`` faster (see
:mod:`anamorph.circuits.tstdp.circuit`). A periodic protocol is one pattern (pre and post spike
times within one period) repeated ``repetitions`` times at ``frequency_hz``:

- pair ``dt``: pre at 0, post at ``dt`` (``dt = t_post - t_pre``, either sign);
- pre-post-pre ``(dt1, dt2)``: pre at 0, post at ``dt1``, pre at ``dt1 + dt2``;
- post-pre-post ``(dt1, dt2)``: post at 0, pre at ``dt1``, post at ``dt1 + dt2``;
- quadruplet ``T`` (Wang et al. 2005): a post-pre and a pre-post pair, ``T`` apart;
- Poisson: independent Poisson trains at given rates (the BCM-like rate dependence,
  Pfister & Gerstner 2006, Fig. 6; Azghadi et al. 2013).

Triplet intervals are durations and must be positive; every pattern must fit inside its
period. Bad values raise :class:`~anamorph.errors.InputError`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.errors import InputError


@dataclass(frozen=True)
class Protocol:
    """One pattern of pre/post spike times (s, within a period) repeated at ``frequency_hz``."""

    name: str
    pre_s: tuple[float, ...]
    post_s: tuple[float, ...]
    frequency_hz: float
    repetitions: int

    def __post_init__(self):
        if not (np.isfinite(self.frequency_hz) and self.frequency_hz > 0):
            raise InputError(f"protocol {self.name}: frequency must be positive", field="frequency_hz")
        if int(self.repetitions) != self.repetitions or self.repetitions < 1:
            raise InputError(
                f"protocol {self.name}: repetitions must be a positive integer", field="repetitions"
            )
        times = np.array(self.pre_s + self.post_s, dtype=float)
        if not np.all(np.isfinite(times)):
            raise InputError(f"protocol {self.name}: spike times must be finite", field="pre_s")
        if times.size and np.ptp(times) >= 1.0 / self.frequency_hz:
            raise InputError(
                f"protocol {self.name}: the pattern ({np.ptp(times) * 1e3:g} ms) does not fit "
                f"in one period at {self.frequency_hz:g} Hz",
                field="frequency_hz",
            )

    @property
    def period_s(self) -> float:
        return 1.0 / self.frequency_hz

    def trains(self, repetitions: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Pre and post spike times (s) of the first ``repetitions`` periods (all by default)."""
        n = self.repetitions if repetitions is None else repetitions
        start = min(self.pre_s + self.post_s)
        offsets = np.arange(n) * self.period_s - start
        pre = (np.asarray(self.pre_s)[None, :] + offsets[:, None]).ravel()
        post = (np.asarray(self.post_s)[None, :] + offsets[:, None]).ravel()
        return np.sort(pre), np.sort(post)


def _positive(name: str, **intervals) -> None:
    for field, value in intervals.items():
        if not (np.isfinite(value) and value > 0):
            raise InputError(f"{name}: interval {field} = {value!r} s must be positive", field=field)


def pair(dt_s: float, repetitions: int = 60, frequency_hz: float = 1.0) -> Protocol:
    """A pre/post pair with ``dt = t_post - t_pre`` (either sign, not zero)."""
    if not (np.isfinite(dt_s) and dt_s != 0):
        raise InputError("pair: dt must be finite and non-zero", field="dt_s")
    return Protocol(
        f"pair {dt_s * 1e3:+g} ms @ {frequency_hz:g} Hz", (0.0,), (dt_s,), frequency_hz, repetitions
    )


def pre_post_pre(dt1_s: float, dt2_s: float, repetitions: int = 60, frequency_hz: float = 1.0) -> Protocol:
    """Pre, post ``dt1`` later, pre ``dt2`` after the post spike."""
    _positive("pre-post-pre", dt1_s=dt1_s, dt2_s=dt2_s)
    return Protocol(
        f"pre-post-pre ({dt1_s * 1e3:g},{dt2_s * 1e3:g}) ms",
        (0.0, dt1_s + dt2_s),
        (dt1_s,),
        frequency_hz,
        repetitions,
    )


def post_pre_post(dt1_s: float, dt2_s: float, repetitions: int = 60, frequency_hz: float = 1.0) -> Protocol:
    """Post, pre ``dt1`` later, post ``dt2`` after the pre spike."""
    _positive("post-pre-post", dt1_s=dt1_s, dt2_s=dt2_s)
    return Protocol(
        f"post-pre-post ({dt1_s * 1e3:g},{dt2_s * 1e3:g}) ms",
        (dt1_s,),
        (0.0, dt1_s + dt2_s),
        frequency_hz,
        repetitions,
    )


def quadruplet(t_s: float, dt_s: float = 5e-3, repetitions: int = 60, frequency_hz: float = 1.0) -> Protocol:
    """Wang et al. 2005 quadruplet: a post-pre and a pre-post pair (offsets ``dt``), ``T`` apart.

    ``T > 0``: post, pre ``dt`` later, pre ``T`` after that, post ``dt`` later (the
    depressing pair first); ``T < 0``: pre, post ``dt`` later, post ``|T|`` after that, pre
    ``dt`` later. ``|T|`` is the inner interval, between the two middle spikes.
    """
    if not (np.isfinite(t_s) and t_s != 0):
        raise InputError("quadruplet: T must be finite and non-zero", field="t_s")
    _positive("quadruplet", dt_s=dt_s)
    first, second = (0.0, 2 * dt_s + abs(t_s)), (dt_s, dt_s + abs(t_s))
    pre, post = (second, first) if t_s > 0 else (first, second)
    return Protocol(f"quadruplet T={t_s * 1e3:+g} ms", pre, post, frequency_hz, repetitions)


def for_datum(datum, repetitions: int = 60, frequency_hz: float = 1.0) -> Protocol:
    """The protocol of one :class:`~anamorph.circuits.tstdp.data.Datum`."""
    if datum.kind == "pair":
        return pair(datum.dt1_s, repetitions, frequency_hz)
    if datum.kind == "pre-post-pre":
        return pre_post_pre(datum.dt1_s, datum.dt2_s, repetitions, frequency_hz)
    if datum.kind == "post-pre-post":
        return post_pre_post(datum.dt1_s, datum.dt2_s, repetitions, frequency_hz)
    raise InputError(f"unknown protocol kind {datum.kind!r}", field="kind")


def pairing_frequency(dt_s: float, frequency_hz: float, repetitions: int = 60) -> Protocol:
    """Sjöström et al. 2001: ``repetitions`` pairs with offset ``dt`` at ``frequency_hz``."""
    return pair(dt_s, repetitions, frequency_hz)


def poisson_trains(
    rate_pre_hz: float, rate_post_hz: float, duration_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Independent homogeneous Poisson spike trains (s) over ``duration_s``."""
    for field, value in (("rate_pre_hz", rate_pre_hz), ("rate_post_hz", rate_post_hz)):
        if not (np.isfinite(value) and value >= 0):
            raise InputError(f"Poisson rate {field} must be non-negative", field=field)
    _positive("poisson", duration_s=duration_s)
    trains = []
    for rate in (rate_pre_hz, rate_post_hz):
        n = rng.poisson(rate * duration_s)
        trains.append(np.sort(rng.uniform(0.0, duration_s, n)))
    return trains[0], trains[1]
