"""Measurement helpers shared by the circuit testbenches: crossings, edges, fits, DACs.

All functions take plain numpy arrays in SI units and raise
:class:`MeasurementError` when a waveform does not show what is asked for (no spike,
no crossing): the sweep engine turns that into a row with status ``"failed"``.
"""

from __future__ import annotations

import numpy as np

DAC_BITS = 10


class MeasurementError(RuntimeError):
    """A waveform does not contain the feature being measured."""


def dac_value(code: int, full_scale: float, bits: int = DAC_BITS) -> float:
    """Ideal DAC output ``code / (2**bits - 1) * full_scale`` (code checked in range)."""
    top = 2**bits - 1
    if not (0 <= int(code) <= top) or int(code) != code:
        raise ValueError(f"DAC code {code!r} outside 0..{top}")
    return int(code) / top * full_scale


def crossings(t: np.ndarray, y: np.ndarray, level: float, direction: str = "rising") -> np.ndarray:
    """Times where ``y`` crosses ``level`` (linear interpolation between samples).

    ``direction`` is ``"rising"``, ``"falling"`` or ``"both"``.
    """
    t = np.asarray(t, float)
    d = np.asarray(y, float) - level
    neg = d < 0
    if direction == "rising":
        idx = np.flatnonzero(neg[:-1] & ~neg[1:])
    elif direction == "falling":
        idx = np.flatnonzero(~neg[:-1] & neg[1:])
    else:
        idx = np.flatnonzero(neg[:-1] != neg[1:])
    frac = d[idx] / (d[idx] - d[idx + 1])
    return t[idx] + frac * (t[idx + 1] - t[idx])


def first_crossing(x: np.ndarray, y: np.ndarray, level: float, what: str) -> float:
    """The first ``x`` where ``y`` crosses ``level`` either way (a DC transfer)."""
    found = crossings(x, y, level, "both")
    if found.size == 0:
        raise MeasurementError(f"{what}: no crossing of {level:g} in [{y.min():g}, {y.max():g}]")
    return float(found[0])


def fit_exponential(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Least-squares fit of ``y = y_inf + (y0 - y_inf) exp(-t / tau)``.

    Returns ``(tau, y0, y_inf)``. The start comes from the integral identity
    ``integral (y - y_inf) dt = (y0 - y_inf) tau`` over a long enough window.
    """
    from scipy.optimize import least_squares

    t = np.asarray(t, float) - t[0]
    y = np.asarray(y, float)
    y_inf0, y00 = y[-1], y[0]
    area = np.trapezoid(y - y_inf0, t)
    tau0 = area / (y00 - y_inf0) if y00 != y_inf0 else 0.0
    if not np.isfinite(tau0) or tau0 <= 0:
        raise MeasurementError("no exponential relaxation in the waveform")
    scale = abs(y00 - y_inf0)

    def resid(p):
        tau, a, b = p
        return (b + (a - b) * np.exp(-t / tau) - y) / scale

    sol = least_squares(resid, [tau0, y00, y_inf0], x_scale=[tau0, scale, scale])
    tau, y0, y_inf = sol.x
    if not (sol.success and tau > 0):
        raise MeasurementError("exponential fit did not converge")
    return float(tau), float(y0), float(y_inf)


def lif_rate_hz(i_a, v_leak_v, v_th_v, v_reset_v, tau_m_s, t_ref_s, c_mem_f) -> np.ndarray:
    """Analytic firing rate of a LIF neuron driven by a constant current.

    ``C dV/dt = -g (V - v_leak) + I``, ``g = C / tau_m``; from ``v_reset`` the membrane
    reaches ``v_th`` after ``tau_m ln((v_inf - v_reset)/(v_inf - v_th))`` with
    ``v_inf = v_leak + I / g``, then stays refractory for ``t_ref``
    (Gerstner et al., "Neuronal Dynamics", 2014, eq. 1.13 with refractoriness).
    Zero below rheobase.
    """
    i_a = np.asarray(i_a, float)
    v_inf = v_leak_v + i_a * tau_m_s / c_mem_f
    with np.errstate(divide="ignore", invalid="ignore"):
        t_isi = t_ref_s + tau_m_s * np.log((v_inf - v_reset_v) / (v_inf - v_th_v))
        return np.where(v_inf > v_th_v, 1.0 / t_isi, 0.0)


def supply_energy_j(t: np.ndarray, i_out_a: np.ndarray, v_supply_v: float, t0: float, t1: float) -> float:
    """Energy drawn from the supply between ``t0`` and ``t1``: ``V_dd integral i_out dt``.

    ``i_out_a`` is the current the supply delivers (``-<source>#branch`` in ngspice), summed
    over every source that stands for the supply; interpolated at ``t0`` and ``t1``.
    """
    t = np.asarray(t, float)
    sel = (t > t0) & (t < t1)
    tt = np.concatenate([[t0], t[sel], [t1]])
    return float(v_supply_v * np.trapezoid(np.interp(tt, t, np.asarray(i_out_a, float)), tt))


def simulate(netlist: str, source: str | None = None) -> dict:
    """Run ``netlist`` in this process's libngspice (see :func:`anamorph.ngspice.run_netlist`)."""
    from anamorph.ngspice import run_netlist

    return run_netlist(netlist, source=source)
