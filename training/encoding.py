"""Latency code of Cramer et al. 2022: larger features spike earlier.

A feature ``x`` in [0, 1] spikes once at

    t = tau_in * log(x / (x - theta_in))   for x > theta_in,

and not at all for ``x <= theta_in`` (or when ``t`` would exceed ``t_max``). Cramer et al.
use tau_in = 8 µs and theta_in = 0.2 on BrainScaleS-2. Yin-Yang networks usually get one
extra *bias* input channel that spikes at a fixed time in every sample (Göltz et al. 2021,
Kriener et al. 2021).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.models.backend import SpikeEvents


@dataclass(frozen=True)
class LatencyCode:
    """Parameters of the latency code (SI units).

    Attributes
    ----------
    tau_in_s : float
        Time scale of the code (8 µs in Cramer et al. 2022).
    theta_in : float
        Features at or below this value do not spike (0.2).
    t_max_s : float
        Spikes later than this are dropped.
    bias_time_s : float or None
        If set, one extra input channel (the last) spikes at this time in every sample.
    """

    tau_in_s: float = 8e-6
    theta_in: float = 0.2
    t_max_s: float = 40e-6
    bias_time_s: float | None = None

    def n_channels(self, n_features: int) -> int:
        return n_features + (self.bias_time_s is not None)

    def latencies(self, X: np.ndarray) -> np.ndarray:
        """Spike time of each (sample, channel) in seconds; ``inf`` where there is no spike."""
        X = np.asarray(X, dtype=np.float64)
        t = np.full(X.shape, np.inf)
        on = X > self.theta_in
        t[on] = self.tau_in_s * np.log(X[on] / (X[on] - self.theta_in))
        t[t > self.t_max_s] = np.inf
        if self.bias_time_s is not None:
            t = np.column_stack([t, np.full(len(X), float(self.bias_time_s))])
        return t

    def events(self, X: np.ndarray) -> SpikeEvents:
        """The code as :class:`~anamorph.models.backend.SpikeEvents` for a chip."""
        return SpikeEvents.from_latencies(self.latencies(X))

    def raster(self, X: np.ndarray, dt_s: float, n_steps: int) -> np.ndarray:
        """Dense spikes, shape (n_samples, n_steps, n_channels); step k holds [k dt, (k+1) dt)."""
        lat = self.latencies(X)
        out = np.zeros((lat.shape[0], n_steps, lat.shape[1]))
        s, c = np.nonzero(np.isfinite(lat))
        k = np.floor(lat[s, c] / dt_s + 1e-9).astype(np.int64)
        ok = k < n_steps
        out[s[ok], k[ok], c[ok]] = 1.0
        return out
