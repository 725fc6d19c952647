"""The explicit backward pass is the exact gradient of the software model.

With the spike replaced by a smooth sigmoid in the forward pass, the loss is a smooth
function of the weights, and the backward pass must agree with central finite differences.
The refractory clamp is a step function of the spikes, constant almost everywhere, so the
gradient that holds it fixed is exact there too.
"""

import numpy as np
import pytest

from anamorph.training.backprop import LossParams, loss_and_grads
from anamorph.training.snn import NetParams, clamp_mask, forward


def _loss(x, weights, labels, p, lp):
    traces = forward(x, weights, p)
    return loss_and_grads(x, traces, weights, labels, p, lp)


@pytest.mark.parametrize("refractory", [0, 2])
@pytest.mark.parametrize("sizes", [(5, 7, 3), (4, 6, 5, 3)])
def test_backward_matches_central_differences(sizes, refractory):
    rng = np.random.default_rng(3)
    B, T = 4, 14
    p = NetParams(
        dt_s=1e-6, tau_m_s=6e-6, tau_syn_s=4e-6, smooth_k=4.0, detach_reset=False, refractory_steps=refractory
    )
    lp = LossParams(rho_a=0.05, rho_b=0.02, logit_scale=3.0)
    x = (rng.random((B, T, sizes[0])) < 0.3).astype(np.float64)
    weights = [rng.normal(0.3, 0.4, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    labels = rng.integers(0, sizes[-1], B)
    _, grads, _ = _loss(x, weights, labels, p, lp)
    if refractory:  # the clamp is active somewhere: the check covers it
        assert clamp_mask(forward(x, weights, p).s[0], p).any()
    eps = 1e-6
    for l, w in enumerate(weights):
        numeric = np.zeros_like(w)
        for k in np.ndindex(w.shape):
            plus = [q.copy() for q in weights]
            minus = [q.copy() for q in weights]
            plus[l][k] += eps
            minus[l][k] -= eps
            numeric[k] = (_loss(x, plus, labels, p, lp)[0] - _loss(x, minus, labels, p, lp)[0]) / (2 * eps)
        rel = np.linalg.norm(grads[l] - numeric) / np.linalg.norm(numeric)
        assert rel < 1e-4, (l, rel)
        assert np.linalg.norm(numeric) > 1e-3  # the check is not vacuous


def test_forward_is_the_stated_recursion():
    """A single input spike: V follows the closed form of the two-decay recursion."""
    p = NetParams(dt_s=1e-6, tau_m_s=6e-6, tau_syn_s=3e-6)
    T = 12
    x = np.zeros((1, T, 1))
    x[0, 0, 0] = 1.0
    w = [np.array([[0.25]])]
    v = forward(x, w, p).v[0][0, :, 0]
    a, b = np.exp(-1 / 6), np.exp(-1 / 3)
    # I[t] = w b^(t-1) for t >= 1; V[t] = sum_{k=1}^{t-1} a^(t-1-k) I[k]
    expect = [sum(a ** (t - 1 - k) * 0.25 * b ** (k - 1) for k in range(1, t)) for t in range(T)]
    np.testing.assert_allclose(v, expect, rtol=1e-12, atol=1e-15)


def test_refractory_clamp_holds_the_membrane():
    """Under a drive that would fire every step, a neuron with a clamp of n steps spikes
    every n + 1 steps and sits at 0 in between (the chip's t_ref, in steps)."""
    for n_ref in (0, 1, 3):
        p = NetParams(dt_s=1e-6, tau_m_s=6e-6, tau_syn_s=3e-6, refractory_steps=n_ref)
        T = 30
        x = np.ones((1, T, 1))
        tr = forward(x, [np.array([[5.0]]), np.zeros((1, 1))], p)
        s, v = tr.s[0][0, :, 0], tr.v[0][0, :, 0]
        times = np.flatnonzero(s)
        assert len(times) > 3 and np.all(np.diff(times) == n_ref + 1)
        for t in times:
            assert np.all(v[t + 1 : t + 1 + n_ref] == 0.0)
