r"""The triplet STDP rule of Pfister & Gerstner, J. Neurosci. 26(38), 2006, evaluated exactly.

Four traces decay exponentially between spikes::

    dr1/dt = -r1 / tau_plus    dr2/dt = -r2 / tau_x     (presynaptic)
    do1/dt = -o1 / tau_minus   do2/dt = -o2 / tau_y     (postsynaptic)

At a postsynaptic spike ``w += r1 (A2p + A3p o2)``, then ``o1``, ``o2`` are updated; at a
presynaptic spike ``w -= o1 (A2m + A3m r2)``, then ``r1``, ``r2`` are updated (``o2`` and
``r2`` taken just before their own update). A trace update is ``x += 1`` for the
all-to-all interaction and ``x = 1`` for the nearest-spike interaction. Between events the
traces are advanced with their exact exponential, so the result has no time-step error.

Spikes of both neurons at the same instant both see the traces from before that instant.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from anamorph.errors import InputError

INTERACTIONS = ("all-to-all", "nearest")


@dataclass(frozen=True)
class TripletParams:
    """Amplitudes (dimensionless, per spike) and time constants (seconds) of the rule."""

    a2p: float
    a3p: float
    a2m: float
    a3m: float
    tau_x_s: float
    tau_y_s: float
    tau_plus_s: float = 16.8e-3
    tau_minus_s: float = 33.7e-3
    interaction: str = "nearest"

    def __post_init__(self):
        if self.interaction not in INTERACTIONS:
            raise InputError(
                f"interaction must be one of {INTERACTIONS}, not {self.interaction!r}", field="interaction"
            )
        for name in ("tau_x_s", "tau_y_s", "tau_plus_s", "tau_minus_s"):
            if not getattr(self, name) > 0:
                raise InputError(f"{name} must be positive", field=name)

    def scaled_time(self, factor: float) -> TripletParams:
        """The same rule with every time constant multiplied by ``factor`` (1e-3: 1000x faster)."""
        return replace(
            self,
            tau_x_s=self.tau_x_s * factor,
            tau_y_s=self.tau_y_s * factor,
            tau_plus_s=self.tau_plus_s * factor,
            tau_minus_s=self.tau_minus_s * factor,
        )


def weight_change(pre_s, post_s, params: TripletParams) -> float:
    r"""Total weight change of the rule for spike trains ``pre_s`` and ``post_s`` (seconds).

    Returns
    -------
    float
        :math:`\Delta w = \sum_{post} r_1 (A_2^+ + A_3^+ o_2) - \sum_{pre} o_1 (A_2^- + A_3^- r_2)`.
    """
    return float(weight_trajectory(pre_s, post_s, params)[1][-1]) if len(pre_s) + len(post_s) else 0.0


def weight_trajectory(pre_s, post_s, params: TripletParams) -> tuple[np.ndarray, np.ndarray]:
    """Event times and the cumulative weight change just after each event time."""
    pre = np.asarray(pre_s, dtype=float)
    post = np.asarray(post_s, dtype=float)
    times = np.unique(np.concatenate([pre, post]))
    pre_set, post_set = set(pre.tolist()), set(post.tolist())
    taus = np.array([params.tau_plus_s, params.tau_x_s, params.tau_minus_s, params.tau_y_s])
    trace = np.zeros(4)  # r1, r2, o1, o2
    nearest = params.interaction == "nearest"
    w, last = 0.0, None
    ws = np.empty(len(times))
    for k, t in enumerate(times):
        if last is not None:
            trace *= np.exp(-(t - last) / taus)
        last = t
        r1, r2, o1, o2 = trace
        is_pre, is_post = t in pre_set, t in post_set
        if is_post:
            w += r1 * (params.a2p + params.a3p * o2)
        if is_pre:
            w -= o1 * (params.a2m + params.a3m * r2)
        if is_pre:
            trace[0:2] = 1.0 if nearest else trace[0:2] + 1.0
        if is_post:
            trace[2:4] = 1.0 if nearest else trace[2:4] + 1.0
        ws[k] = w
    return times, ws
