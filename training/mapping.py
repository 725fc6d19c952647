"""From the dimensionless software weights to the chip's signed 6-bit codes, and back.

A spike through a synapse of code ``w`` raises the synaptic current by ``w * w_unit_a``;
over one step ``dt`` the exact propagator of the chip's LIF (models.neuron) moves the
membrane by ``I_syn * p_syn`` with

    p_syn = (dt / c_mem) exp(-dt/tau_m) exprel(dt/tau_m - dt/tau_syn).

The software model's current ``I`` is that increment in units of (v_th - v_leak), so one
code unit is worth

    W_unit = w_unit_a * p_syn / (v_th - v_leak)

and the codes are ``clip(rint(W / W_unit), -63, 63)`` (positive: excitatory row, negative:
inhibitory row). Where the process model's nominal weight transfer ``T(code)`` (code ->
current units; the DAC's systematic nonlinearity, the same on every chip) is given, the
code is the one whose ``T`` lies nearest to ``|W| / W_unit`` instead. Only the chip's
*nominal* parameters enter (what it is configured or calibrated to); its true, mismatched
values stay hidden. The membrane readout is mapped the same way:
v = (V - v_leak) / (v_th - v_leak).
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


def _nearest_code(units: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Index of the entry of the increasing ``table`` nearest to each of ``units``."""
    j = np.clip(np.searchsorted(table, units), 1, len(table) - 1)
    return np.where(units - table[j - 1] <= table[j] - units, j - 1, j)


def to_codes(w: np.ndarray, scale: float, tables=None) -> np.ndarray:
    """Signed 6-bit codes of float weights ``w`` (``scale`` codes per unit).

    ``tables``: optional nominal transfers (excitatory, inhibitory) of codes 0..63 in units.
    """
    u = np.asarray(w, dtype=np.float64) * scale
    if tables is None:
        return np.clip(np.rint(u), -WEIGHT_MAX, WEIGHT_MAX).astype(np.int64)
    exc, inh = (np.asarray(t, dtype=np.float64) for t in tables)
    return np.where(u >= 0, _nearest_code(u, exc), -_nearest_code(-u, inh)).astype(np.int64)


def w_max(scale: float, tables=None) -> float:
    """The largest dimensionless weight both rows represent (code 63)."""
    top = WEIGHT_MAX if tables is None else min(float(tables[0][WEIGHT_MAX]), float(tables[1][WEIGHT_MAX]))
    return top / scale


def membrane_to_model(v_v: np.ndarray, nominal) -> np.ndarray:
    """Dimensionless membrane (V - v_leak) / (v_th - v_leak) with the nominal leak and threshold."""
    vl, vt = _mean(nominal.v_leak_v), _mean(nominal.v_th_v)
    return (np.asarray(v_v, dtype=np.float64) - vl) / (vt - vl)


def readout_range(adc, nominal) -> tuple[float, float]:
    """The dimensionless membranes an ADC of range ``adc["v_lo"] .. adc["v_hi"]`` can report."""
    lo, hi = membrane_to_model(np.array([adc["v_lo"], adc["v_hi"]]), nominal)
    return float(lo), float(hi)
