"""The ideal software network: LIF hidden layer(s) and a leaky-integrator readout.

Discrete time, dimensionless membrane (leak 0, threshold 1), as in Cramer et al. 2022:

    S[t]   = H(V[t] - 1)                              (spike; reset below)
    V[t+1] = (1 - C[t+1]) (V[t] * exp(-dt/tau_m) * (1 - S[t]) + I[t])
    I[t+1] = I[t] * exp(-dt/tau_s) + S_in[t] @ W

``C[t] = 1`` for the ``refractory_steps`` steps after a spike (the chip clamps the membrane
at reset for t_ref; its synaptic current keeps integrating). The last layer does not spike
(``S = 0``): its membrane ``V_out`` is the readout, seen through the chip's ADC, whose range
``readout_range`` clips it. For the gradient check :func:`spike_fn` can be a smooth sigmoid
instead of the Heaviside step; the backward pass (:mod:`anamorph.training.backprop`) then is
the exact gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class NetParams:
    """Time constants and spike function of the software model.

    Attributes
    ----------
    dt_s, tau_m_s, tau_syn_s : float
        Time step and nominal time constants (6 µs in Cramer et al. 2022).
    surrogate_beta : float
        Steepness of the SuperSpike surrogate 1 / (beta |V - 1| + 1)^2 (beta = 50).
    smooth_k : float or None
        If set, the spike is the sigmoid 1/(1+exp(-k (V-1))) in the forward pass too and its
        exact derivative in the backward pass (only for the finite-difference check).
    detach_reset : bool
        Treat the reset factor (1 - S) as a constant in the backward pass (Zenke & Vogels 2021).
    refractory_steps : int
        Steps the membrane stays clamped at reset after a spike (``round(t_ref / dt)``).
    readout_range : (float, float) or None
        The readout membranes the chip's ADC can report, dimensionless (None: unbounded).
    """

    dt_s: float = 1.7e-6
    tau_m_s: float = 6e-6
    tau_syn_s: float = 6e-6
    surrogate_beta: float = 50.0
    smooth_k: float | None = None
    detach_reset: bool = True
    refractory_steps: int = 0
    readout_range: tuple[float, float] | None = None

    @property
    def decay_m(self) -> float:
        return float(np.exp(-self.dt_s / self.tau_m_s))

    @property
    def decay_s(self) -> float:
        return float(np.exp(-self.dt_s / self.tau_syn_s))


def spike_fn(v: np.ndarray, p: NetParams) -> np.ndarray:
    """Forward spike: Heaviside H(v - 1), or the sigmoid if ``p.smooth_k`` is set."""
    if p.smooth_k is None:
        return (v >= 1.0).astype(v.dtype)
    return 1.0 / (1.0 + np.exp(-p.smooth_k * (v - 1.0)))


def spike_grad(v: np.ndarray, p: NetParams) -> np.ndarray:
    """dS/dV used in the backward pass: SuperSpike 1/(beta|v-1|+1)^2, or the sigmoid's derivative."""
    if p.smooth_k is None:
        from anamorph.training.kernels import superspike_loop

        return superspike_loop(np.ascontiguousarray(v, dtype=np.float64), float(p.surrogate_beta))
    s = 1.0 / (1.0 + np.exp(-p.smooth_k * (v - 1.0)))
    return p.smooth_k * s * (1.0 - s)


def init_state(batch: int, sizes: list[int]) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Zero (V, I, R) for every layer (R: refractory steps left); ``sizes`` after the input."""
    return [(np.zeros((batch, n)), np.zeros((batch, n)), np.zeros((batch, n))) for n in sizes]


def refractory_next(r: np.ndarray, s: np.ndarray, p: NetParams) -> np.ndarray:
    """Refractory steps left after step t: a spike starts ``refractory_steps``, else one fewer."""
    return np.where(s > 0.5, float(p.refractory_steps), np.maximum(r - 1.0, 0.0))


def free_mask(spikes: np.ndarray, p: NetParams) -> np.ndarray:
    """1 - C[t+1] of spike rasters (batch, T, n): 0 where the next step is clamped, 1 at T-1."""
    from anamorph.training.kernels import free_loop

    return free_loop(np.ascontiguousarray(spikes, dtype=np.float64), int(p.refractory_steps))


def clamp_mask(spikes: np.ndarray, p: NetParams) -> np.ndarray:
    """C[t] of spike rasters (batch, T, n): 1 within ``refractory_steps`` steps after a spike."""
    c = np.zeros_like(spikes, dtype=np.float64)
    c[:, 1:] = 1.0 - free_mask(spikes, p)[:, :-1]
    return c


def membrane_next(v: np.ndarray, i: np.ndarray, s: np.ndarray, free: np.ndarray, p: NetParams) -> np.ndarray:
    """V[t+1] = free (V[t] exp(-dt/tau_m) (1 - S[t]) + I[t]); ``free`` = 1 - C[t+1]."""
    return (p.decay_m * v * (1.0 - s) + i) * free


def step(state, inputs: np.ndarray, weights: list[np.ndarray], p: NetParams):
    """One time step of the whole network (pure function).

    Parameters
    ----------
    state : list of (V, I, R) per layer, arrays (batch, n_l)
    inputs : (batch, n_in) input spikes S_in[t]
    weights : list of (n_{l-1}, n_l) float arrays

    Returns
    -------
    new_state, spikes
        ``spikes[l]`` is S[t] of layer l (zeros for the readout layer).
    """
    new_state, spikes = [], []
    s_in = inputs
    last = len(weights) - 1
    for l, ((v, i, r), w) in enumerate(zip(state, weights)):
        s = np.zeros_like(v) if l == last else spike_fn(v, p)
        r_new = refractory_next(r, s, p)
        new_state.append((membrane_next(v, i, s, r_new == 0, p), p.decay_s * i + s_in @ w, r_new))
        spikes.append(s)
        s_in = s
    return new_state, spikes


def observe_readout(v: np.ndarray, p: NetParams) -> np.ndarray:
    """The readout membranes as the chip's ADC reports them (clipped to ``readout_range``)."""
    return v if p.readout_range is None else np.clip(v, *p.readout_range)


@dataclass
class Traces:
    """What the backward pass needs: V[t] and S[t] of every layer, shape (batch, T, n_l).

    In the loop these come from the chip (spikes and ADC traces) instead of :func:`forward`;
    an evaluation on the chip leaves the hidden layers' V as None (only the readout's is read).
    """

    v: list[np.ndarray | None]
    s: list[np.ndarray]


def forward(x: np.ndarray, weights: list[np.ndarray], p: NetParams) -> Traces:
    """Run the network on input spikes ``x`` (batch, T, n_in); returns V[t], S[t] for t < T."""
    batch, n_steps, _ = x.shape
    sizes = [w.shape[1] for w in weights]
    state = init_state(batch, sizes)
    v = [np.zeros((batch, n_steps, n)) for n in sizes]
    s = [np.zeros((batch, n_steps, n)) for n in sizes]
    for t in range(n_steps):
        for l, (vl, _, _) in enumerate(state):
            v[l][:, t] = vl
        state, spikes = step(state, x[:, t], weights, p)
        for l, sl in enumerate(spikes):
            s[l][:, t] = sl
    v[-1] = observe_readout(v[-1], p)
    return Traces(v, s)
