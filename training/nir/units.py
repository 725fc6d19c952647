"""Units of anamorph's NIR files and the conversion of a NIR neuron's weights to the run's.

NIR (Neuromorphic Intermediate Representation; Pedersen et al. 2024, Nat. Commun. 15:8122)
declares continuous-time equations. A ``CubaLIF`` node is

    tau_syn dI/dt = -I + w_in S(t),     tau_mem dv/dt = (v_leak - v) + r I,
    v >= v_threshold:  spike, v = v_reset,

fed by a ``Linear`` node ``S(t) = W s(t)``. What NIR leaves to the frameworks, and where
they disagree:

* **Time unit.** NIR's primitives table gives time constants in ms and potentials in mV;
  snnTorch writes seconds (its ``dt = 1e-4`` s is hard-coded), hxtorch (BrainScaleS-2)
  seconds of the chip's time (``dt = 1e-6``), and NIR's recorded-data format gives ``dt`` in
  seconds. anamorph writes **ms of biological-equivalent time** (the chip runs 1000x
  faster than biology: its 6 µs is written as 6 ms) and **mV**, and states both in the
  graph's metadata. On import the unit does not matter: the time scale ``k`` (chip seconds
  per time unit of the graph) is the chip's tau_m over the graph's, and every quantity with
  a time dimension is converted with that one factor.
* **What a spike is.** In NIR's continuous form a spike is a Dirac pulse of unit area, so
  one spike of weight W raises I by ``w_in W / tau_syn``, independently of any time step
  (the convention anamorph writes). snnTorch's exporter instead writes its discrete model
  ``I[t+1] = alpha I[t] + W s[t]``, ``v[t+1] = beta v[t] + I[t+1]`` as
  ``tau = dt / (1 - alpha)``, ``w_in = tau_syn / dt``, ``r = tau_mem / dt``: a spike there is
  1 for one step, a pulse of area ``dt``, and its decays are forward-Euler ones. Such a graph
  is imported with its ``dt``: the spike area is ``dt``, the input gains ``r / tau_mem`` and
  ``w_in / tau_syn`` stay as written (so ``dt r / tau_mem = 1``), and the decays use
  ``-dt / ln(1 - dt/tau)``, the exact time constant with Euler's decay per step. snnTorch
  adds a step's input to the membrane in the same step; the chip's exact propagator (and
  NIR's continuous form) lets it decay over that step first, a difference of one step
  (PSP peaks differ by the factor alpha).
* **Reset.** NIR resets to ``v_reset`` (reset by subtraction, snnTorch's default, cannot be
  written in NIR; its exporter writes ``v_reset = 0``). The chip resets to its reset
  potential, which calibration puts at the leak, so an imported node must have
  ``v_reset = v_leak``. The chip also holds the membrane at reset for ``t_ref`` (2 µs), which
  NIR has no field for: it is in the metadata (``refractory_time``) and cannot be removed.

The run's weights are dimensionless (:mod:`anamorph.training.mapping`): a spike of weight
``W_sw`` adds ``W_sw`` to the per-step membrane increment, in units of ``v_th - v_leak``.
In continuous time (u = (v - v_leak) / (v_th - v_leak)) that is a drive ``g`` of
du/dt = -u / tau_m + g which jumps by ``G`` per spike and decays with tau_syn; one exact step
``dt`` of the chip turns it into ``W_sw = G * P`` with

    P = dt exp(-dt/tau_m) exprel(dt/tau_m - dt/tau_syn)      (chip seconds; models.neuron).

A NIR ``CubaLIF`` in time units of ``k`` chip seconds gives

    G = r w_in W A / (k tau_mem tau_syn (v_threshold - v_leak))

(A: the area of one spike, 1 or dt, graph units). anamorph exports ``W = W_sw`` (its weights
unchanged, "model units") with ``w_in = 1`` and ``r`` chosen so that this holds.
"""

from __future__ import annotations

import numpy as np
from scipy.special import exprel

ACCELERATION = 1000.0  # the chip's time runs 1000x faster than biology (BrainScaleS-2)
EXPORT_TIME_UNIT_S = 1e-3  # anamorph writes ms of biological-equivalent time ...
EXPORT_K = EXPORT_TIME_UNIT_S / ACCELERATION  # ... i.e. 1e-6 chip seconds per graph unit
EXPORT_V_UNIT_V = 1e-3  # and mV


def step_drive_s(nominal, dt_s: float) -> float:
    """P of the module docstring: one exact chip step's membrane gain per unit drive (s)."""
    tau_m, tau_s = float(np.mean(nominal.tau_m_s)), float(np.mean(nominal.tau_syn_s))
    a, b = dt_s / tau_m, dt_s / tau_s
    return float(dt_s * np.exp(-a) * exprel(a - b))


def euler_equivalent_tau(tau: np.ndarray, dt: float) -> np.ndarray:
    """The exact time constant whose decay per step equals forward Euler's ``1 - dt/tau``."""
    tau = np.asarray(tau, dtype=np.float64)
    return -dt / np.log1p(-dt / tau)


def cuba_to_software(w, r, w_in, tau_mem, tau_syn, v_span, k: float, area: float, p_s: float) -> np.ndarray:
    """Software weights W_sw (n_in, n_out) of a NIR Linear ``w`` (n_out, n_in) into a CubaLIF.

    ``r, w_in, tau_mem, tau_syn, v_span`` (= v_threshold - v_leak) are per target neuron
    (graph units); ``k`` chip seconds per graph time unit; ``area`` of one spike; ``p_s`` = P.
    """
    gain = np.asarray(r) * np.asarray(w_in) * area / (np.asarray(tau_mem) * np.asarray(tau_syn) * v_span)
    return (np.asarray(w, dtype=np.float64) * gain[:, None]).T * (p_s / k)


def li_to_software(w, r, tau, v_span, area: float, p_s: float, tau_syn_chip_s: float) -> np.ndarray:
    """Software weights of a Linear into a LIF/LI node (no synaptic current of its own).

    Such a spike moves u at once by ``r W A / (tau v_span)``; on the chip the synaptic current
    spreads it over tau_syn, so the drive is chosen to inject the same total,
    ``G = du / tau_syn`` with the chip's tau_syn (an approximation: the PSP peaks later and
    lower than in the source model).
    """
    du = np.asarray(r) * area / (np.asarray(tau) * v_span)
    return (np.asarray(w, dtype=np.float64) * du[:, None]).T * (p_s / tau_syn_chip_s)


def export_r(nominal, dt_s: float) -> float:
    """The ``r`` (graph units) with which the exported W equals the run's W_sw (w_in = 1)."""
    tau_m = float(np.mean(nominal.tau_m_s)) / EXPORT_K
    tau_s = float(np.mean(nominal.tau_syn_s)) / EXPORT_K
    span = (float(np.mean(nominal.v_th_v)) - float(np.mean(nominal.v_leak_v))) / EXPORT_V_UNIT_V
    return tau_m * tau_s * span * EXPORT_K / step_drive_s(nominal, dt_s)
