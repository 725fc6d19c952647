"""The explicit backward pass is the exact gradient of the software model.

With the spike replaced by a smooth sigmoid in the forward pass, the loss is a smooth
function of the weights, and the backward pass must agree with central finite differences.
The refractory clamp is a step function of the spikes, constant almost everywhere, so the
gradient that holds it fixed is exact there too.
"""

import numpy as np
import pytest

from anamorph.training.backprop import LossParams, loss_and_grads
from anamorph.training.snn import NetParams, Traces, clamp_mask, forward


def _loss(x, weights, labels, p, lp):
    traces = forward(x, weights, p)
    return loss_and_grads(x, traces, weights, labels, p, lp)


def _central_differences(loss, weights, eps):
    """d loss / d w for every weight of every layer, by central differences of step ``eps``."""
    grads = []
    for l, w in enumerate(weights):
        numeric = np.zeros_like(w)
        for k in np.ndindex(w.shape):
            plus = [q.copy() for q in weights]
            minus = [q.copy() for q in weights]
            plus[l][k] += eps
            minus[l][k] -= eps
            numeric[k] = (loss(plus) - loss(minus)) / (2 * eps)
        grads.append(numeric)
    return grads


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
    for l, numeric in enumerate(
        _central_differences(lambda ws: _loss(x, ws, labels, p, lp)[0], weights, eps)
    ):
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


def _fast_sigmoid(x: np.ndarray, beta: float) -> np.ndarray:
    """phi(x) = x / (beta |x| + 1), whose derivative is the SuperSpike surrogate 1/(beta|x|+1)^2."""
    return x / (beta * np.abs(x) + 1.0)


def _pinned_forward(x, weights, p, ref):
    """The forward pass with the spike pattern ``ref.s`` held fixed (see the test below)."""
    batch, n_steps, _ = x.shape
    a, b = np.exp(-p.dt_s / p.tau_m_s), np.exp(-p.dt_s / p.tau_syn_s)
    last = len(weights) - 1
    vs, ss = [], []
    s_in = x
    for l, w in enumerate(weights):
        n = w.shape[1]
        s_ref, v_ref = ref.s[l], ref.v[l]
        clamp = np.zeros_like(s_ref)  # C[t] = 1 within refractory_steps steps after a spike
        for t in range(n_steps):
            for k in range(1, p.refractory_steps + 1):
                if t - k >= 0:
                    clamp[:, t] = np.maximum(clamp[:, t], s_ref[:, t - k])
        v_out, s_out = np.zeros((batch, n_steps, n)), np.zeros((batch, n_steps, n))
        v, i = np.zeros((batch, n)), np.zeros((batch, n))
        for t in range(n_steps):
            v_out[:, t] = v
            if l < last:
                beta = p.surrogate_beta
                s_out[:, t] = (
                    s_ref[:, t] + _fast_sigmoid(v - 1.0, beta) - _fast_sigmoid(v_ref[:, t] - 1.0, beta)
                )
            if t + 1 < n_steps:
                v = (1.0 - clamp[:, t + 1]) * (a * v * (1.0 - s_ref[:, t]) + i)
            i = b * i + s_in[:, t] @ w
        vs.append(v_out)
        ss.append(s_out)
        s_in = s_out
    return Traces(vs, ss)


@pytest.mark.parametrize("refractory", [0, 2])
@pytest.mark.parametrize("sizes", [(5, 7, 3), (4, 6, 5, 3)])
def test_surrogate_detached_gradient_is_exact_for_pinned_spikes(sizes, refractory):
    """The path training uses (Heaviside spikes, SuperSpike surrogate, detached reset) is the
    exact gradient of a smooth *pinned* forward pass, checked by central differences.

    Let ``S*``, ``V*``, ``C*`` be the spikes, membranes and refractory clamp of the real
    forward pass at the weights ``W*``. The pinned forward runs the same recursion with

        S[t]   = S*[t] + phi(V[t] - 1) - phi(V*[t] - 1),   phi(x) = x / (beta |x| + 1)
        V[t+1] = (1 - C*[t+1]) (V[t] exp(-dt/tau_m) (1 - S*[t]) + I[t])

    (``S`` feeds the layer above and the sparsity term). At ``W*`` it reproduces the real
    forward pass exactly (``V = V*``, ``S = S*``), and it is a smooth function of the
    weights near ``W*`` where the readout's arg-max step is unique (asserted: a tie, e.g. a
    readout that never rises above its start at 0, is a kink of ``max``). Its exact
    derivative is the backward pass of :mod:`anamorph.training.backprop` with
    ``detach_reset``: ``dS/dV = phi'(V - 1) = 1/(beta|V - 1| + 1)^2`` is the surrogate, the
    reset factor ``(1 - S*)`` and the clamp ``C*`` are constants (no ``-a V gV`` term, no
    gradient through the clamp). So the surrogate gradient equals, to finite-difference
    error, the gradient of the loss along the fixed spike pattern whose spikes respond to
    the membrane with the surrogate's slope; a wrong sign, time index, decay or a missing
    term of the detached path would show here, which the smooth, non-detached check cannot
    see.
    """
    rng = np.random.default_rng(5)
    B, T = 4, 16
    p = NetParams(dt_s=1e-6, tau_m_s=6e-6, tau_syn_s=4e-6, detach_reset=True, refractory_steps=refractory)
    lp = LossParams(rho_a=0.05, rho_b=0.02, logit_scale=3.0)
    x = (rng.random((B, T, sizes[0])) < 0.15).astype(np.float64)
    weights = [rng.normal(0.2, 0.4, (a, b)) for a, b in zip(sizes[:-1], sizes[1:])]
    weights[-1] = np.abs(weights[-1])  # every readout rises: its maximum is not a tie at V = 0
    labels = rng.integers(0, sizes[-1], B)
    ref = forward(x, weights, p)
    top2 = np.sort(ref.v[-1], axis=1)[:, -2:]
    assert np.min(top2[:, 1] - top2[:, 0]) > 1e-4  # unique arg-max step: the loss is smooth at W*
    for l in range(len(weights) - 1):  # every hidden layer spikes, and not everywhere
        assert 0.05 < ref.s[l].mean() < 0.5, (l, ref.s[l].mean())
    pinned = _pinned_forward(x, weights, p, ref)
    for a_, b_ in zip(pinned.v + pinned.s, ref.v + ref.s):
        np.testing.assert_allclose(a_, b_, rtol=1e-12, atol=1e-14)  # the real pass at W* (to rounding)
    _, grads, _ = loss_and_grads(x, ref, weights, labels, p, lp)
    _, grads_attached, _ = loss_and_grads(
        x, ref, weights, labels, NetParams(**{**p.__dict__, "detach_reset": False}), lp
    )
    eps = 1e-6

    def pinned_loss(ws):
        return loss_and_grads(x, _pinned_forward(x, ws, p, ref), ws, labels, p, lp)[0]

    for l, numeric in enumerate(_central_differences(pinned_loss, weights, eps)):
        assert np.linalg.norm(numeric) > 1e-3  # the check is not vacuous
        rel = np.linalg.norm(grads[l] - numeric) / np.linalg.norm(numeric)
        assert rel < 1e-5, (l, rel)
    # the attached reset's first-layer gradient differs by far more than the tolerance
    assert np.linalg.norm(grads[0] - grads_attached[0]) / np.linalg.norm(grads[0]) > 1e-3
