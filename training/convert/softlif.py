"""The soft-LIF rate function in the chip's units (Hunsberger & Eliasmith 2015).

A LIF neuron that resets to its leak potential and is driven by a constant current ``I``
fires at (Gerstner et al. 2014, eq. 1.13 with refractoriness)

    r(j) = 1 / (t_ref + tau_m log(1 + 1/(j - 1)))    for j > 1, else 0,
    j = I tau_m / (c_mem (v_th - v_leak)),

``j`` being the input current in units of the rheobase. Hunsberger & Eliasmith (2015,
arXiv:1510.08829, eq. 3) smooth the kink at ``j = 1`` by replacing ``j - 1`` with

    rho(x) = gamma log(1 + exp(x / gamma)),

which tends to ``max(x, 0)`` for ``gamma -> 0`` and has a derivative everywhere:

    dr/dj = r^2 tau_m sigmoid((j - 1)/gamma) / (rho (1 + rho)).

The network works with the dimensionless rate ``a = r tau_m`` (rates in units of
1/tau_m). The chip stamps spikes on a time grid ``dt``: a threshold crossing is
detected at the end of its step, on average ``dt/2`` late, so the inter-spike interval
carries an extra ``dt/2``; ``SoftLIF.t_ref_s`` is then ``t_ref + dt/2`` (see
:func:`from_nominal`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import expit


def _mean(x) -> float:
    return float(np.mean(np.asarray(x, dtype=np.float64)))


@dataclass(frozen=True)
class SoftLIF:
    """Soft-LIF constants: membrane time constant, (effective) refractory time, smoothing.

    Attributes
    ----------
    tau_m_s : float
        Membrane time constant (s).
    t_ref_s : float
        Refractory time (s), including the spike-stamp delay of the chip's time grid.
    gamma : float
        Smoothing of the threshold (in units of the rheobase current); 0 gives the LIF.
    """

    tau_m_s: float
    t_ref_s: float
    gamma: float = 0.05

    @property
    def a_max(self) -> float:
        """The largest dimensionless rate, tau_m / t_ref."""
        return self.tau_m_s / self.t_ref_s

    def _rho(self, j: np.ndarray) -> np.ndarray:
        x = np.asarray(j, dtype=np.float64) - 1.0
        if self.gamma <= 0:
            return np.maximum(x, 0.0)
        return self.gamma * np.logaddexp(0.0, x / self.gamma)

    def activation(self, j) -> np.ndarray:
        """Dimensionless rate ``a = r tau_m`` at input current ``j`` (units of the rheobase)."""
        p = self._rho(j)
        with np.errstate(divide="ignore"):
            log_term = np.where(p > 0, np.log1p(1.0 / np.maximum(p, 1e-300)), np.inf)
        return 1.0 / (self.t_ref_s / self.tau_m_s + log_term)

    def rate_hz(self, j) -> np.ndarray:
        """Firing rate (Hz) at input current ``j``."""
        return self.activation(j) / self.tau_m_s

    def derivative(self, j) -> np.ndarray:
        """``da/dj`` of :meth:`activation` (see module docstring); 0 where ``a`` is 0."""
        j = np.asarray(j, dtype=np.float64)
        a = self.activation(j)
        p = np.maximum(self._rho(j), 1e-300)
        gate = expit((j - 1.0) / self.gamma) if self.gamma > 0 else (j > 1.0).astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            d = a * a * gate / (p * (1.0 + p))
        return np.where(a > 0, np.nan_to_num(d, posinf=0.0), 0.0)


def from_nominal(nominal, dt_s: float = 0.0, gamma: float = 0.05) -> SoftLIF:
    """The soft-LIF of a chip calibrated to ``nominal`` (NeuronParams) with spike grid ``dt_s``."""
    return SoftLIF(_mean(nominal.tau_m_s), _mean(nominal.t_ref_s) + 0.5 * float(dt_s), float(gamma))


def current_unit_a(nominal) -> float:
    """The current (A) of ``j = 1``, the rheobase c_mem (v_th - v_leak) / tau_m."""
    return _mean(nominal.c_mem_f) * (_mean(nominal.v_th_v) - _mean(nominal.v_leak_v)) / _mean(nominal.tau_m_s)


def j_per_code(nominal) -> float:
    """Input current ``j`` per weight code per unit of presynaptic rate ``a = r tau_m``.

    A synaptic event of code ``w`` delivers the charge ``w w_unit tau_syn``; a train of
    rate ``r`` gives the mean current ``w w_unit tau_syn r``, i.e.
    ``j = w a w_unit tau_syn / (c_mem (v_th - v_leak))``.
    """
    return (
        _mean(nominal.w_unit_a)
        * _mean(nominal.tau_syn_s)
        / (_mean(nominal.c_mem_f) * (_mean(nominal.v_th_v) - _mean(nominal.v_leak_v)))
    )
