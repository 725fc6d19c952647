"""The software rate network: soft-LIF layers, weights in chip codes, noisy activations.

Layer ``l`` receives the dimensionless rates ``a_{l-1}`` (``a = r tau_m``) of the layer
before through weights ``W_l`` counted in 6-bit *code units* (floats in -63..63, the
nominal synaptic transfer of a code: :func:`.chipmap.code_values`), so that

    j_l = k a_{l-1} W_l,        a_l = f(j_l),

with ``k`` = :func:`.softlif.j_per_code` and ``f`` the soft-LIF (Hunsberger & Eliasmith
2015). The input layer is the pixels as rates plus one bias channel of constant rate.
The loss is the softmax cross-entropy of ``beta a_L`` plus ``rho`` times the mean of
``relu(j - j_hi)^2`` (keeps the currents where the chip's rates follow the soft-LIF).
During training Gaussian noise of standard deviation ``noise sqrt(a tau_m / T)`` -- the
counting noise of a Poisson train over the window ``T`` -- is added to the hidden rates
(Hunsberger & Eliasmith 2015, Sec. 2.2: training with noise makes the network robust to
the variability of spike-based rates).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_softmax, softmax

from anamorph.training.convert.softlif import SoftLIF


@dataclass(frozen=True)
class RateNet:
    """Constants of the rate network (weights are passed separately, in code units)."""

    f: SoftLIF
    k: float  # j per code per unit rate
    beta: float = 4.0  # logit scale of the output rates
    j_hi: float = 3.0  # currents above are penalised
    rho: float = 5.0
    w_max: float = 63.0


def forward(net: RateNet, a0: np.ndarray, weights: list[np.ndarray], noise_sd=None, rng=None):
    """Currents ``j_l`` and rates ``a_l`` of every layer (lists; ``a[0]`` is ``a0``).

    ``noise_sd(a)`` gives the standard deviation of the noise on hidden rates (training).
    """
    a, j = [np.asarray(a0, dtype=np.float64)], []
    for l, w in enumerate(weights):
        jl = net.k * a[-1] @ w
        al = net.f.activation(jl)
        if noise_sd is not None and l < len(weights) - 1:
            al = np.maximum(al + noise_sd(al) * rng.standard_normal(al.shape), 0.0)
        j.append(jl)
        a.append(al)
    return j, a


def loss_and_grads(
    net: RateNet,
    a: list[np.ndarray],
    j: list[np.ndarray],
    weights: list[np.ndarray],
    y: np.ndarray,
    neurons: list[tuple[np.ndarray, np.ndarray]] | None = None,
) -> tuple[float, list[np.ndarray]]:
    """Loss and ``dL/dW`` given the rates ``a`` and currents ``j`` of every layer.

    ``a`` and ``j`` may come from the software model or from the chip (measured rates, and
    the currents the measured presynaptic rates drive): the backward pass is the same,
    with the soft-LIF derivative at ``j``. ``neurons[l] = (g, b)`` describes each neuron of
    layer ``l`` by its own rate curve ``f(g j + b)`` (:mod:`.gain`): the slope is then
    ``g f'(g j + b)`` and the current penalty acts on the neuron's effective current
    ``g j + b`` (default: every neuron is the nominal one, ``g = 1``, ``b = 0``).
    """
    B = len(y)
    logits = net.beta * a[-1]
    loss = -np.mean(log_softmax(logits, axis=1)[np.arange(B), y])
    g = softmax(logits, axis=1)
    g[np.arange(B), y] -= 1.0
    g_a = net.beta * g / B
    grads = [None] * len(weights)
    for l in range(len(weights) - 1, -1, -1):
        gain, offset = (1.0, 0.0) if neurons is None else neurons[l]
        u = gain * j[l] + offset
        over = np.maximum(u - net.j_hi, 0.0)
        loss += net.rho * np.mean(over**2)
        g_j = gain * (g_a * net.f.derivative(u) + net.rho * 2.0 * over / over.size)
        grads[l] = net.k * a[l].T @ g_j
        g_a = net.k * g_j @ weights[l].T
    return float(loss), grads


def accuracy(a_out: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(a_out, axis=1) == y))


def init_weights(sizes, k: float, a_in_mean: float, rng: np.random.Generator) -> list[np.ndarray]:
    """Gaussian weights (code units) giving currents of about unit spread per layer."""
    out = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        sd = 1.0 / (k * max(a_in_mean, 1e-3) * np.sqrt(n_in))
        out.append(np.clip(rng.normal(0.0, sd, (n_in, n_out)), -63.0, 63.0))
    return out


def train_software(
    net: RateNet,
    a0: np.ndarray,
    y: np.ndarray,
    sizes,
    *,
    epochs: int,
    batch_size: int,
    noise: float,
    window_s: float,
    seed: int,
    optimizer,
    start=None,
    on_epoch=None,
) -> list[np.ndarray]:
    """Train the rate network with Adam (``optimizer``) on inputs ``a0``; weights in code units.

    ``start = (epoch, weights, rng)`` continues a run from a checkpoint (the optimizer then
    carries its saved state); ``on_epoch(epoch, weights, rng)`` is called after every epoch
    (``epoch`` counts the epochs done), e.g. to write a checkpoint.
    """
    if start is None:
        rng = np.random.default_rng([seed, 10])
        first, weights = 0, init_weights(sizes, net.k, float(np.mean(a0)), rng)
    else:
        first, weights, rng = start
    scale = net.f.tau_m_s / window_s

    def noise_sd(a):
        return noise * np.sqrt(np.maximum(a, 0.0) * scale)

    for epoch in range(first, epochs):
        order = rng.permutation(len(y))
        for s in range(0, len(y), batch_size):
            idx = order[s : s + batch_size]
            j, a = forward(net, a0[idx], weights, noise_sd if noise > 0 else None, rng)
            _, grads = loss_and_grads(net, a, j, weights, y[idx])
            optimizer.step(weights, grads)
            for w in weights:
                np.clip(w, -net.w_max, net.w_max, out=w)
        if on_epoch is not None:
            on_epoch(epoch + 1, weights, rng)
    return weights
