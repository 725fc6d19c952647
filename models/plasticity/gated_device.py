r"""Behavioural model of the gated-synapse weight memory: one gate pulse as a pure step.

The device (``circuits/gated_synapse``, Verilog-A) integrates, for a gate voltage
:math:`V_g(t)`,

.. math::

    ds/dt = m [f_p(V_g) (1 - s)^{\gamma_p} / t_p - f_d(V_g) s^{\gamma_d} / t_d] - s / \tau_{ret},
    \quad f_p = (V_g / v_{th,p} - 1)_+^{a_p}, \quad f_d = (-V_g / v_{th,d} - 1)_+^{a_d}

(threshold power-law drive as in VTEAM, Kvatinsky et al., IEEE TCAS-II 62(8), 2015;
saturating state-dependent steps as in the gated-synapse model of Jones & Jha, IEEE TCAD
40(9), 2021). During a pulse only one drive is on and the retention term is negligible
(``width << tau_ret``), so the ODE separates: with the drive integral
:math:`D = m \int f(V_g) dt / t` over the trapezoidal pulse (rise ``e``, flat ``w - e``,
fall ``e``; :func:`drive_integral`, exact) and :math:`u = 1 - s` (potentiation) or
:math:`u = s` (depression),

.. math::

    u' = (u^{1-\gamma} + (\gamma - 1) D)^{1/(1-\gamma)}  \;(\gamma > 1), \qquad u' = u e^{-D} \;(\gamma = 1).

One pulse slot of length ``period_s`` then decays the state by :math:`e^{-period/\tau_{ret}}`
(operator splitting; error of order ``width / tau_ret``). Cycle-to-cycle variation is the
factor :math:`m = e^{\sigma_{c2c} \xi}` with one standard-normal ``noise`` value
:math:`\xi` per pulse (the device's ``eta`` input). The conductance is
:math:`g = g_{min} + (g_{max} - g_{min}) s`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np

from anamorph.errors import InputError

PARAM_FIELDS = (
    "v_th_p_v",
    "v_th_d_v",
    "a_p",
    "a_d",
    "t_p_s",
    "t_d_s",
    "gamma_p",
    "gamma_d",
    "tau_ret_s",
    "g_min_s",
    "g_max_s",
    "sigma_c2c",
)


@dataclass(frozen=True)
class GatedDeviceParams:
    """Behavioural device parameters (the Verilog-A parameters without the conductance lag).

    Each field a float or an array (per device, broadcast against the state). Names and
    units as :class:`anamorph.circuits.gated_synapse.device.GatedSynapseParams`.
    """

    v_th_p_v: float | np.ndarray = 0.8
    v_th_d_v: float | np.ndarray = 0.6
    a_p: float | np.ndarray = 2.0
    a_d: float | np.ndarray = 3.0
    t_p_s: float | np.ndarray = 2e-6
    t_d_s: float | np.ndarray = 3e-6
    gamma_p: float | np.ndarray = 2.0
    gamma_d: float | np.ndarray = 1.5
    tau_ret_s: float | np.ndarray = 5e-3
    g_min_s: float | np.ndarray = 1e-9
    g_max_s: float | np.ndarray = 1e-6
    sigma_c2c: float | np.ndarray = 0.1

    def to_dict(self) -> dict:
        return {f.name: np.asarray(getattr(self, f.name)).tolist() for f in fields(self)}


@dataclass(frozen=True)
class GatePulse:
    """The gate pulse the chip issues: trapezoid of ``width_s`` (rise to fall start) with
    linear edges ``edge_s``, one per slot of ``period_s``."""

    width_s: float = 0.5e-6
    edge_s: float = 10e-9
    period_s: float = 2e-6


def validate_params(params: GatedDeviceParams, where: str = "gated synapse") -> GatedDeviceParams:
    """Raise InputError naming the field if a value lies outside the device's declared range."""
    from anamorph.circuits.gated_synapse.device import check_range, field_ranges

    ranges = field_ranges()
    for name in PARAM_FIELDS:
        check_range(name, getattr(params, name), ranges[name], where)
    if np.any(np.asarray(params.g_max_s) <= np.asarray(params.g_min_s)):
        raise InputError("g_max_s must exceed g_min_s", where, "g_max_s")
    return params


def drive_integral(
    amplitude_v: np.ndarray | float,
    v_th_v: np.ndarray | float,
    a: np.ndarray | float,
    pulse: GatePulse = GatePulse(),
) -> np.ndarray:
    """``int f(V_g(t)) dt`` over one trapezoidal pulse of height ``|amplitude_v|`` (seconds).

    Flat part ``(w - e) (A/v_th - 1)^a``; each linear edge ``e (v_th/A) (A/v_th - 1)^(a+1) / (a+1)``.
    """
    amp = np.abs(np.asarray(amplitude_v, dtype=np.float64))
    over = np.maximum(amp / v_th_v - 1.0, 0.0)
    safe = np.maximum(amp, 1e-300)
    flat = (pulse.width_s - pulse.edge_s) * over**a
    edges = 2.0 * pulse.edge_s * (v_th_v / safe) * over ** (a + 1.0) / (a + 1.0)
    return flat + edges


def _relax(u: np.ndarray | float, gamma: np.ndarray | float, d: np.ndarray | float) -> np.ndarray:
    """Solution of ``du/dT = -u^gamma`` after ``T = d`` from ``u`` (u >= 0)."""
    u = np.clip(u, 0.0, 1.0)
    g1 = np.where(gamma > 1.0 + 1e-9, gamma - 1.0, 1.0)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        power = (u ** (-g1) + g1 * d) ** (-1.0 / g1)
    out = np.where(gamma > 1.0 + 1e-9, power, u * np.exp(-d))
    return np.where(u > 0.0, out, 0.0)


def pulse_step(
    state: np.ndarray | float,
    amplitude_v: np.ndarray | float,
    params: GatedDeviceParams,
    noise: np.ndarray | float = 0.0,
    pulse: GatePulse = GatePulse(),
) -> np.ndarray:
    """State after one pulse slot: the gate pulse of signed ``amplitude_v``, then retention.

    ``amplitude_v > 0`` potentiates, ``< 0`` depresses, ``0`` (or below threshold) only
    decays. ``noise`` is the pulse's standard-normal cycle-to-cycle draw. Vectorised over
    ``state``, ``amplitude_v``, ``noise`` and array-valued ``params`` (broadcast).
    """
    s = np.asarray(state, dtype=np.float64)
    amp = np.asarray(amplitude_v, dtype=np.float64)
    m = np.exp(np.asarray(params.sigma_c2c) * np.asarray(noise, dtype=np.float64))
    d_p = m * drive_integral(amp, params.v_th_p_v, params.a_p, pulse) / params.t_p_s
    d_d = m * drive_integral(amp, params.v_th_d_v, params.a_d, pulse) / params.t_d_s
    up = 1.0 - _relax(1.0 - s, np.asarray(params.gamma_p, dtype=np.float64), d_p)
    down = _relax(s, np.asarray(params.gamma_d, dtype=np.float64), d_d)
    after = np.where(amp > 0.0, up, np.where(amp < 0.0, down, np.clip(s, 0.0, 1.0)))
    return retain(after, pulse.period_s, params)


def retain(state: np.ndarray | float, dt_s: np.ndarray | float, params: GatedDeviceParams) -> np.ndarray:
    """Retention over ``dt_s`` without gate pulses: ``s e^{-dt/tau_ret}``."""
    return np.asarray(state, dtype=np.float64) * np.exp(-np.asarray(dt_s) / np.asarray(params.tau_ret_s))


def conductance(state: np.ndarray | float, params: GatedDeviceParams) -> np.ndarray:
    """``g = g_min + (g_max - g_min) s`` (siemens)."""
    return params.g_min_s + (np.asarray(params.g_max_s) - params.g_min_s) * np.asarray(
        state, dtype=np.float64
    )


def run_train(
    amplitudes_v: np.ndarray | Sequence[float],
    params: GatedDeviceParams,
    noise: np.ndarray | None = None,
    state0: float = 0.0,
    pulse: GatePulse = GatePulse(),
) -> np.ndarray:
    """Conductance after each pulse slot of a train (``len(amplitudes_v)`` values)."""
    noise = np.zeros(len(amplitudes_v)) if noise is None else np.asarray(noise, dtype=np.float64)
    s, out = np.float64(state0), []
    for amp, xi in zip(amplitudes_v, noise):
        s = pulse_step(s, amp, params, xi, pulse)
        out.append(conductance(s, params))
    return np.asarray(out)
