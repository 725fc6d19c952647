"""From the dimensionless software weights to the chip's signed 6-bit codes, and back.

A spike through a synapse of code ``w`` raises the synaptic current by ``w * w_unit_a``;
over one step ``dt`` the exact propagator of the chip's LIF (models.neuron) moves the
membrane by ``I_syn * p_syn`` with

    p_syn = (dt / c_mem) exp(-dt/tau_m) exprel(dt/tau_m - dt/tau_syn).

The software model's current ``I`` is that increment in units of (v_th - v_leak), so one
code unit is worth

    W_unit = w_unit_a * p_syn / (v_th - v_leak)

and the codes are ``clip(rint(W / W_unit), -63, 63)`` (positive: excitatory row, negative:
inhibitory row). Only the chip's *nominal* parameters enter (what it is configured or
calibrated to); its true, mismatched values stay hidden. The membrane readout is mapped the
same way: v = (V - v_leak) / (v_th - v_leak).
"""

from __future__ import annotations

import numpy as np
from scipy.special import exprel

WEIGHT_MAX = 63  # the chip's 6-bit weight magnitude (anamorph.models.chip.WEIGHT_MAX)


def _mean(x) -> float:
    return float(np.mean(np.asarray(x, dtype=np.float64)))


def codes_per_unit(nominal, dt_s: float) -> float:
    """Weight codes per unit of the dimensionless software weight (1 / W_unit above)."""
    a = dt_s / _mean(nominal.tau_m_s)
    b = dt_s / _mean(nominal.tau_syn_s)
    p_syn = dt_s / _mean(nominal.c_mem_f) * np.exp(-a) * exprel(a - b)
    return (_mean(nominal.v_th_v) - _mean(nominal.v_leak_v)) / (_mean(nominal.w_unit_a) * p_syn)


def to_codes(w: np.ndarray, scale: float) -> np.ndarray:
    """Signed 6-bit codes of float weights ``w`` (``scale`` codes per unit)."""
    return np.clip(np.rint(np.asarray(w) * scale), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int64)


def w_max(scale: float) -> float:
    """The largest representable dimensionless weight (code 63)."""
    return WEIGHT_MAX / scale


def membrane_to_model(v_v: np.ndarray, nominal) -> np.ndarray:
    """Dimensionless membrane (V - v_leak) / (v_th - v_leak) with the nominal leak and threshold."""
    vl, vt = _mean(nominal.v_leak_v), _mean(nominal.v_th_v)
    return (np.asarray(v_v, dtype=np.float64) - vl) / (vt - vl)
