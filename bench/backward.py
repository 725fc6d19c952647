"""Benchmark of the software side of one in-the-loop training batch (surrogate gradients).

The backward pass and the assimilation of the chip's traces are recurrences over
``T = duration / dt`` steps on (batch B, neurons n) arrays; their cost is
``c * B * T * n`` per layer (plus the dense products S_in^T gI, O(B T n_in n), done by
BLAS). Prints, as ``name: value unit`` lines, measured side by side in one run on the
Yin-Yang (5x5 inputs + bias, 120 hidden, 3 outputs, 120 steps) and mnist5k (256-246-10,
200 steps) networks, batch 100, with hidden activity near the trained networks' (about one
spike per neuron and sample):

* each time loop as the compiled kernel (``training/kernels.py``) and as one numpy
  statement per step (``training/kernels_numpy.py``), per batch, with their ratio and the
  kernel's nanoseconds per (sample, step, neuron);
* the whole ``loss_and_grads`` and ``driven_membrane`` + ``assimilate`` per batch.

Usage: .venv/bin/python bench/backward.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

from anamorph.training.backprop import LossParams, loss_and_grads
from anamorph.training.chip_loop import assimilate, driven_membrane
from anamorph.training.kernels import backward_layer_loop, driven_membrane_loop
from anamorph.training.kernels_numpy import backward_layer_steps, driven_membrane_steps
from anamorph.training.snn import NetParams, forward, free_mask, spike_grad

NETWORKS = {"yinyang": (26, 120, 3, 120), "mnist5k": (256, 246, 10, 200)}


def best_of(f, repeat: int) -> float:
    f()  # compile / warm up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return min(times)


def batch(name: str, rng):
    n_in, n_h, n_out, T = NETWORKS[name]
    p = NetParams(dt_s=0.5e-6, tau_m_s=10e-6, tau_syn_s=5e-6, refractory_steps=4, readout_range=(-1.0, 2.5))
    x = (rng.random((100, T, n_in)) < 1.5 / T).astype(np.float64)  # ~1.5 spikes per input
    w1 = rng.normal(0.0, 1.0, (n_in, n_h))
    hidden_rate = forward(x, [w1, np.zeros((n_h, n_out))], p).s[0].mean()
    w1 *= np.sqrt(1.0 / T / max(hidden_rate, 1e-3))  # towards ~1 spike per neuron and sample
    weights = [w1, rng.normal(0.0, 0.3, (n_h, n_out))]
    return x, weights, forward(x, weights, p), p, rng.integers(0, n_out, 100)


def measure(name: str, rng, repeat: int) -> None:
    """Print the lines of one network (see the module docstring)."""
    x, weights, tr, p, y = batch(name, rng)
    v, s = tr.v[0], tr.s[0]
    B, T, n = v.shape
    print(f"{name}_hidden_spikes_per_neuron: {s.sum(axis=1).mean():.2f} spikes")
    keep = free_mask(s, p)
    sg = spike_grad(v, p)
    g_s = rng.normal(0.0, 1e-3, v.shape)
    zeros_bn = np.zeros((B, n))
    drive = rng.normal(0.0, 0.1, v.shape)
    a, b = p.decay_m, p.decay_s
    pairs = {
        "backward_layer": (
            lambda: backward_layer_loop(keep, v, s, sg, g_s, zeros_bn, v[:, :0], a, b, True, True),
            lambda: backward_layer_steps(keep, v, s, sg, g_s, v[:, :0], a, b, True, True),
        ),
        "driven_membrane": (
            lambda: driven_membrane_loop(drive, s, keep, a, b),
            lambda: driven_membrane_steps(drive, s, keep, a, b),
        ),
    }
    for part, (kernel, steps) in pairs.items():
        tk, ts = best_of(kernel, repeat), best_of(steps, repeat)
        per = 1e9 * tk / (B * T * n)
        print(f"{name}_{part}_kernel: {1e3 * tk:.2f} ms per batch ({per:.2f} ns per sample-step-neuron)")
        print(f"{name}_{part}_numpy_steps: {1e3 * ts:.2f} ms per batch")
        print(f"{name}_{part}_speedup: {ts / tk:.1f} x")
    lp = LossParams(rho_a=1e-3, rho_b=5e-4, logit_scale=3.0)
    t_loss = best_of(lambda: loss_and_grads(x, tr, weights, y, p, lp), repeat)
    adc_t = np.arange(0.0, T * p.dt_s, 1.7e-6)
    adc = tr.v[0][:, np.minimum((adc_t / p.dt_s).astype(int), T - 1)]
    t_assim = best_of(lambda: assimilate(driven_membrane(x, s, weights[0], p), adc_t, adc, p.dt_s), repeat)
    print(f"{name}_loss_and_grads: {1e3 * t_loss:.1f} ms per batch")
    print(f"{name}_assimilation: {1e3 * t_assim:.1f} ms per batch")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    with threadpool_limits(limits=1, user_api="blas"):
        for name in NETWORKS:
            measure(name, rng, args.repeat)


if __name__ == "__main__":
    main()
