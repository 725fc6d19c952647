"""The behavioural neuron: a current-based LIF with an exponential synaptic current.

Equations (SI units; BrainScaleS-2 style, Cramer et al. 2022, PNAS 119(4), Methods):

    c_mem dV/dt = -(c_mem / tau_m) (V - v_leak) + I_syn + I_stim
    tau_syn dI_syn/dt = -I_syn
    at an input spike of weight code w:  I_syn += w * w_unit_a * gain
    at V >= v_th: spike; V = v_reset and held there for t_ref.

One time step ``dt`` is integrated *exactly* for an input current that is constant over
the step (``I_stim``) and an exponentially decaying ``I_syn`` (the propagator of the
linear system, Rotter & Diesmann 1999, Biol. Cybern. 81:381):

    V' = v_leak + (V - v_leak) e_m + I_syn p_syn + I_stim p_stim
    I_syn' = I_syn e_s
    e_m = exp(-dt/tau_m),  e_s = exp(-dt/tau_syn),
    p_stim = (tau_m / c_mem) (1 - e_m),
    p_syn = (dt / c_mem) e_m exprel(dt/tau_m - dt/tau_syn),   exprel(x) = (e^x - 1)/x,

which stays finite for tau_m == tau_syn (the operating point of the chip). The numpy
reference (:mod:`anamorph.models.reference`) uses :func:`step`; the Brian2 emulator
(:mod:`anamorph.models.emulator`) runs the same update as generated code, so the two agree
to rounding. Order inside one step (Brian2's default schedule): integrate, threshold,
synaptic delivery (``I_syn`` increments), reset.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np
from scipy.special import exprel

PARAM_FIELDS = ("v_leak_v", "v_th_v", "v_reset_v", "tau_m_s", "tau_syn_s", "t_ref_s", "c_mem_f", "w_unit_a")


@dataclass(frozen=True)
class NeuronParams:
    """Parameters of the behavioural LIF; each field a float or a per-neuron float array.

    Attributes
    ----------
    v_leak_v, v_th_v, v_reset_v : leak (resting), threshold and reset potential (V).
    tau_m_s, tau_syn_s : membrane and synaptic time constant (s).
    t_ref_s : refractory time (s); the membrane is held at ``v_reset_v``.
    c_mem_f : membrane capacitance (F).
    w_unit_a : peak synaptic current per weight-code unit (A), the nominal synaptic gain.
    """

    v_leak_v: float | np.ndarray
    v_th_v: float | np.ndarray
    v_reset_v: float | np.ndarray
    tau_m_s: float | np.ndarray
    tau_syn_s: float | np.ndarray
    t_ref_s: float | np.ndarray
    c_mem_f: float | np.ndarray
    w_unit_a: float | np.ndarray

    def as_arrays(self, n: int) -> NeuronParams:
        """Every field as a float64 array of shape ``(n,)`` (scalars are broadcast)."""
        return NeuronParams(
            **{
                f.name: np.broadcast_to(np.asarray(getattr(self, f.name), dtype=np.float64), (n,)).copy()
                for f in fields(self)
            }
        )

    def take(self, index: int | slice | np.ndarray) -> NeuronParams:
        """The parameters of the neurons ``index`` (fields must be arrays or scalars)."""
        return NeuronParams(
            **{
                f.name: (
                    np.asarray(getattr(self, f.name))[index]
                    if np.ndim(getattr(self, f.name))
                    else getattr(self, f.name)
                )
                for f in fields(self)
            }
        )

    def replace(self, **changes: float | np.ndarray) -> NeuronParams:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return {f.name: np.asarray(getattr(self, f.name)).tolist() for f in fields(self)}


#: The operating point an uncalibrated chip is configured for and calibration aims at.
#: tau_m = tau_syn = 6 µs as in Cramer et al. 2022; reset equals leak (their software model
#: resets to the resting potential); leak and threshold at the transistor-level neuron's
#: operating point (circuits/lif/: leak 0.40 V, threshold 0.55 V); c_mem is the mean of
#: the fitted process (not configurable); a code-63 synapse gives a PSP peak of about a
#: third of the leak-to-threshold distance (63 w_unit tau / (c_mem e) = 0.056 V for
#: tau_m = tau_syn).
DEFAULT_TARGETS = NeuronParams(
    v_leak_v=0.40,
    v_th_v=0.55,
    v_reset_v=0.40,
    tau_m_s=6e-6,
    tau_syn_s=6e-6,
    t_ref_s=2e-6,
    c_mem_f=2.0e-12,
    w_unit_a=0.8e-9,
)


@dataclass(frozen=True)
class Propagator:
    """Per-neuron coefficients of one exact integration step of length ``dt_s``."""

    e_m: np.ndarray
    e_s: np.ndarray
    p_syn_ohm: np.ndarray  # V per A of I_syn at the start of the step
    p_stim_ohm: np.ndarray  # V per A of a constant stimulus current
    n_ref: np.ndarray  # refractory steps, int64
    v_leak_v: np.ndarray
    v_th_v: np.ndarray
    v_reset_v: np.ndarray
    dt_s: float


def propagator(params: NeuronParams, dt_s: float, n: int | None = None) -> Propagator:
    """The exact one-step propagator of the LIF for step ``dt_s`` (see module docstring)."""
    if n is None:
        n = max([np.size(getattr(params, f)) for f in PARAM_FIELDS])
    p = params.as_arrays(n)
    a = dt_s / p.tau_m_s
    b = dt_s / p.tau_syn_s
    e_m = np.exp(-a)
    return Propagator(
        e_m=e_m,
        e_s=np.exp(-b),
        p_syn_ohm=dt_s / p.c_mem_f * e_m * exprel(a - b),
        p_stim_ohm=-p.tau_m_s / p.c_mem_f * np.expm1(-a),
        n_ref=np.rint(p.t_ref_s / dt_s).astype(np.int64),
        v_leak_v=p.v_leak_v,
        v_th_v=p.v_th_v,
        v_reset_v=p.v_reset_v,
        dt_s=float(dt_s),
    )


@dataclass(frozen=True)
class NeuronState:
    """Membrane potential (V), synaptic current (A), refractory steps left."""

    v_v: np.ndarray
    i_syn_a: np.ndarray
    refr: np.ndarray

    @classmethod
    def rest(cls, prop: Propagator, shape: int | tuple[int, ...]) -> NeuronState:
        v = np.broadcast_to(prop.v_leak_v, shape).astype(np.float64)
        return cls(v, np.zeros(shape), np.zeros(shape, dtype=np.int64))


def step(
    state: NeuronState, i_stim_a: np.ndarray | float, prop: Propagator, noise_v: np.ndarray | float = 0.0
) -> tuple[NeuronState, np.ndarray]:
    """Advance all neurons by one step; return the new state and the spike mask.

    Order: integrate (refractory neurons are held and count down), threshold
    ``V >= v_th`` on non-refractory neurons, reset spiking neurons to ``v_reset`` for
    ``n_ref`` steps. Synaptic input arriving in this step is added by the caller to
    ``i_syn_a`` of the returned state (it acts from the next step on). ``noise_v`` is
    added to the membrane of integrating neurons (already scaled per step).
    """
    active = state.refr == 0
    v_new = (
        prop.v_leak_v
        + (state.v_v - prop.v_leak_v) * prop.e_m
        + state.i_syn_a * prop.p_syn_ohm
        + i_stim_a * prop.p_stim_ohm
        + noise_v
    )
    v = np.where(active, v_new, state.v_v)
    refr = state.refr - (~active)
    spiked = (v >= prop.v_th_v) & (refr == 0)
    v = np.where(spiked, prop.v_reset_v, v)
    refr = np.where(spiked, prop.n_ref, refr)
    return NeuronState(v, state.i_syn_a * prop.e_s, refr), spiked


def noise_step_scale(noise_v_rms: np.ndarray | float, prop: Propagator) -> np.ndarray:
    """Per-step noise amplitude giving stationary membrane fluctuations of ``noise_v_rms``.

    A discrete Ornstein-Uhlenbeck process V' = e_m V + s xi has variance s^2 / (1 - e_m^2).
    """
    return np.asarray(noise_v_rms) * np.sqrt(1.0 - prop.e_m**2)
