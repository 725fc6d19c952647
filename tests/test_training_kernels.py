"""The compiled time loops against the per-step numpy statements they replace: same bits.

The reference is each recurrence written the plain way, one numpy statement per time step
over the whole batch (``training/kernels_numpy.py``, the form the equations of
``training/snn.py`` and ``training/backprop.py`` are stated in); the kernels must
reproduce it exactly, spikes, refractory clamps and all. Also the refractory clamp and the
block-drawn Yin-Yang sampler against their direct definitions.
"""

import numpy as np
import pytest

from anamorph.training.kernels import backward_layer_loop, driven_membrane_loop, lerp_rows
from anamorph.training.kernels_numpy import backward_layer_steps, driven_membrane_steps
from anamorph.training.snn import NetParams, clamp_mask, spike_grad


def _spiky(rng, shape, p=0.03):
    return (rng.random(shape) < p).astype(np.float64)


def test_driven_membrane_kernel_equals_the_per_step_loop():
    rng = np.random.default_rng(0)
    B, T, n = 7, 50, 13
    drive = rng.normal(0.0, 0.3, (B, T, n))
    s_own = _spiky(rng, (B, T, n), 0.05)
    keep = 1.0 - _spiky(rng, (B, T, n), 0.1)
    a, b = np.exp(-0.5 / 6), np.exp(-0.5 / 4)
    assert np.array_equal(
        driven_membrane_loop(drive, s_own, keep, a, b), driven_membrane_steps(drive, s_own, keep, a, b)
    )


@pytest.mark.parametrize(("hidden", "detach"), [(True, True), (True, False), (False, True)])
def test_backward_kernel_equals_the_per_step_loop(hidden, detach):
    rng = np.random.default_rng(1)
    B, T, n = 6, 40, 11
    keep = 1.0 - _spiky(rng, (B, T, n), 0.1)
    v = rng.normal(0.5, 0.4, (B, T, n))
    s = _spiky(rng, (B, T, n))
    sg = spike_grad(v, NetParams())
    g_s_direct = rng.normal(0.0, 1.0, (B, T, n))
    counts = rng.normal(0.0, 0.1, (B, n))
    g_v = rng.normal(0.0, 1.0, (B, T, n))
    a, b = np.exp(-0.5 / 6), np.exp(-0.5 / 4)
    got = backward_layer_loop(keep, v, s, sg, g_s_direct, counts, g_v, a, b, hidden, detach)
    want = backward_layer_steps(keep, v, s, sg, g_s_direct + counts[:, None, :], g_v, a, b, hidden, detach)
    assert np.array_equal(got, want)


def test_superspike_kernel_equals_the_formula():
    v = np.random.default_rng(4).normal(0.8, 0.5, (6, 30, 11))
    p = NetParams(surrogate_beta=50.0)
    assert np.array_equal(spike_grad(v, p), 1.0 / (p.surrogate_beta * np.abs(v - 1.0) + 1.0) ** 2)
    assert np.array_equal(
        spike_grad(v[:, ::3], p), 1.0 / (p.surrogate_beta * np.abs(v[:, ::3] - 1.0) + 1.0) ** 2
    )


def test_lerp_rows_equals_numpy_fancy_indexing():
    rng = np.random.default_rng(3)
    values = rng.normal(size=(4, 9, 5))
    j = rng.integers(0, 8, size=30)
    frac = rng.random(30)
    want = values[:, j] * (1.0 - frac)[None, :, None] + values[:, j + 1] * frac[None, :, None]
    assert np.array_equal(lerp_rows(values, j, frac), want)


@pytest.mark.parametrize("steps", [0, 1, 4])
def test_clamp_mask_marks_the_steps_after_each_spike(steps):
    rng = np.random.default_rng(2)
    spikes = _spiky(rng, (5, 30, 9), 0.08)
    want = np.zeros_like(spikes)
    for b, t, j in zip(*np.nonzero(spikes)):
        want[b, t + 1 : t + 1 + steps, j] = 1.0
    assert np.array_equal(clamp_mask(spikes, NetParams(refractory_steps=steps)), want)


def test_yinyang_sampler_takes_the_pairs_in_order():
    """Block-drawn sampling = drawing one uniform pair at a time until the class matches."""
    from anamorph.training.datasets import yinyang_class, yinyang_split

    def one_at_a_time(n, rng):
        goals = rng.integers(0, 3, size=n)
        xy = np.empty((n, 2))
        for k, goal in enumerate(goals):
            while True:
                q = rng.uniform(0.0, 1.0, size=2)
                if np.hypot(q[0] - 0.5, q[1] - 0.5) <= 0.5 and yinyang_class(q[0], q[1]) == goal:
                    xy[k] = q
                    break
        return xy, goals

    for seed in (0, 7):
        X, y = yinyang_split(600, np.random.default_rng(seed))
        xy, goals = one_at_a_time(600, np.random.default_rng(seed))
        assert np.array_equal(X[:, :2], xy) and np.array_equal(y, goals)
