"""Losses on the output layer's first spike times and their gradients dL/dt.

* Time-to-first-spike cross-entropy with the early-spike regulariser (Wunderlich & Pehle
  2021, Sci. Rep. 11:12829, Methods, Yin-Yang/MNIST): with first spike times ``t_k``,

      L = -log( exp(-t_y/tau_0) / sum_k exp(-t_k/tau_0) ) + alpha (exp(t_y/tau_1) - 1),
      dL/dt_k = (1[k = y] - softmax(-t/tau_0)_k) / tau_0 + 1[k = y] (alpha/tau_1) exp(t_y/tau_1).

* Spike-time mean squared error of jaxsnn's BrainScaleS-2 Yin-Yang example (Pehle et al.
  2023, arXiv:2302.07141): the label neuron should fire at ``t_correct``, the others at
  ``t_wrong``; ``L = 1/2 sum_k ((t_k - target_k)/tau)^2``, ``dL/dt_k = (t_k - target_k)/tau^2``.

Both are averaged over the batch. A neuron that does not fire counts as firing at the end
of the run ``T`` and gets no gradient (its spike time cannot move). The prediction is the
neuron that fires first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

LOSSES = ("ttfs", "mse")


@dataclass(frozen=True)
class LossParams:
    """Loss settings (times in s): TTFS tau_0, tau_1, alpha; MSE targets and scale tau."""

    kind: str = "ttfs"
    tau0_s: float = 3e-6
    tau1_s: float = 10e-6
    alpha: float = 1e-2
    t_correct_s: float = 8e-6
    t_wrong_s: float = 16e-6
    tau_s: float = 6e-6


def first_spikes(spikes: np.ndarray, duration_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(first spike time with silence as ``duration_s``, mask of neurons that fired), (B, C)."""
    t = spikes[:, :, 0]
    fired = np.isfinite(t)
    return np.where(fired, t, duration_s), fired


def loss_and_grad(spikes: np.ndarray, y: np.ndarray, lp: LossParams, duration_s: float):
    """(mean loss, dL/dt of every output spike (B, C, S), predictions (B,))."""
    t, fired = first_spikes(spikes, duration_s)
    B, C = t.shape
    onehot = np.eye(C)[y]
    if lp.kind == "ttfs":
        z = -t / lp.tau0_s
        z = z - z.max(axis=1, keepdims=True)
        sm = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        ty = t[np.arange(B), y]
        reg = lp.alpha * np.expm1(ty / lp.tau1_s)
        loss = -np.log(sm[np.arange(B), y]) + reg
        g = (onehot - sm) / lp.tau0_s + onehot * (lp.alpha / lp.tau1_s) * np.exp(ty / lp.tau1_s)[:, None]
    elif lp.kind == "mse":
        target = np.where(onehot > 0, lp.t_correct_s, lp.t_wrong_s)
        loss = 0.5 * np.sum(((t - target) / lp.tau_s) ** 2, axis=1)
        g = (t - target) / lp.tau_s**2
    else:
        raise ValueError(f"unknown loss {lp.kind!r}")
    g_all = np.zeros(spikes.shape)
    g_all[:, :, 0] = np.where(fired, g, 0.0) / B
    return float(loss.mean()), g_all, np.argmin(t, axis=1)
