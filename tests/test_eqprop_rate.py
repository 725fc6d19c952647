"""Rate-based Equilibrium Propagation against independent references.

* The relaxation: the returned state satisfies the optimality (KKT) conditions of F on the
  box [0, 1]^n, with dF/ds taken by central differences of the energy function.
* Recurrent backpropagation: against central finite differences of the loss at the relaxed
  free fixed point.
* EP: for small beta its update equals minus that gradient (Scellier & Bengio 2017); the
  one-sided estimate's bias is O(beta), the symmetric one's O(beta^2) (Laborieux et al. 2021).
* Training: the scikit-learn digits, compared with scikit-learn's own MLPClassifier of the
  same size on the same split.
"""

import warnings

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from anamorph.errors import InputError
from anamorph.training.datasets import load_digits
from anamorph.training.eqprop import (
    EPConfig,
    RateNet,
    ep_update,
    field,
    init_net,
    one_hot,
    rbp_gradient,
    relax,
    total_energy,
    train_rate_ep,
)
from anamorph.training.eqprop.rbp import loss_at_fixed_point

TIGHT = dict(max_iter=10000, tol=1e-14)
SIZES = [(4, 6, 3), (4, 6, 5, 3)]


def _problem(sizes, seed=2, batch=8):
    """A small net with biases that keep many units in the linear range of rho, and one-hot targets."""
    rng = np.random.default_rng([seed, 0])
    net = init_net(list(sizes), seed=seed, gain=0.8)
    for b in net.biases:
        b[:] = rng.uniform(0.1, 0.4, b.shape)
    x = rng.uniform(0.0, 1.0, (batch, sizes[0]))
    y = one_hot(rng.integers(0, sizes[-1], batch), sizes[-1])
    return net, x, y


def _flat(arrays):
    return np.concatenate([np.ravel(a) for a in arrays])


def _cos(a, b):
    a, b = np.ravel(a), np.ravel(b)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize("beta", [0.0, 0.3, -0.3])
def test_relaxation_satisfies_box_optimality(beta):
    """dF/ds (finite differences of F) is 0 inside the box, >= 0 at s = 0, <= 0 at s = 1."""
    net, x, y = _problem((4, 6, 5, 3))
    free = relax(x, net, **TIGHT)
    r = relax(x, net, free.state, beta, y, **TIGHT) if beta else free
    assert r.residual < 1e-12
    eps = 1e-7
    for l, s in enumerate(r.state):
        for j in range(s.shape[1]):
            plus = [q.copy() for q in r.state]
            minus = [q.copy() for q in r.state]
            plus[l][:, j] += eps
            minus[l][:, j] -= eps
            grad = (total_energy(x, plus, net, beta, y) - total_energy(x, minus, net, beta, y)) / (2 * eps)
            inside = (s[:, j] > 1e-6) & (s[:, j] < 1 - 1e-6)
            np.testing.assert_allclose(grad[inside], 0.0, atol=1e-6)
            # at a bound the one-sided difference into the box must not decrease F
            lo, hi = s[:, j] <= 1e-6, s[:, j] >= 1 - 1e-6
            e0 = total_energy(x, r.state, net, beta, y)
            into = [q.copy() for q in r.state]
            into[l][:, j] = np.where(lo, s[:, j] + 1e-4, np.where(hi, s[:, j] - 1e-4, s[:, j]))
            assert np.all(total_energy(x, into, net, beta, y)[lo | hi] >= e0[lo | hi] - 1e-12)


def test_energy_never_increases_during_relaxation():
    net, x, y = _problem((4, 6, 5, 3))
    f = [total_energy(x, relax(x, net, max_iter=k, tol=0.0).state, net).sum() for k in range(1, 15)]
    assert np.all(np.diff(f) <= 1e-12)


@pytest.mark.parametrize("sizes", SIZES)
def test_rbp_gradient_matches_central_differences(sizes):
    net, x, y = _problem(sizes)
    free = relax(x, net, **TIGHT)
    fields = [field(l, x, free.state, net) for l in range(len(free.state))]
    linear = [(h > 0) & (h < 1) for h in fields]
    assert min(np.min(np.minimum(np.abs(h), np.abs(h - 1.0))) for h in fields) > 1e-4  # none at a kink
    assert min(np.mean(a) for a in linear) > 0.25  # every layer has units in the linear range of rho
    assert not all(np.all(a) for a in linear)  # and the saturated (gated-off) case occurs too
    grads = rbp_gradient(x, y, net, free.state)
    relaxed = rbp_gradient(x, y, net, free.state, method="relax")
    for g, h in zip(grads, relaxed):
        np.testing.assert_allclose(h, g, rtol=0, atol=1e-10)
    eps = 1e-6
    for k, p in enumerate(net.params()):
        numeric = np.zeros_like(p)
        for idx in np.ndindex(p.shape):
            old = p[idx]
            p[idx] = old + eps
            up = loss_at_fixed_point(x, y, net)
            p[idx] = old - eps
            down = loss_at_fixed_point(x, y, net)
            p[idx] = old
            numeric[idx] = (up - down) / (2 * eps)
        assert np.linalg.norm(numeric) > 1e-3  # not vacuous
        rel = np.linalg.norm(grads[k] - numeric) / np.linalg.norm(numeric)
        assert rel < 1e-4, (k, rel)


@pytest.mark.parametrize("estimator", ["symmetric", "one-sided"])
@pytest.mark.parametrize("sizes", SIZES)
def test_ep_update_is_minus_the_gradient_for_small_beta(sizes, estimator):
    net, x, y = _problem(sizes)
    free = relax(x, net, **TIGHT)
    grads = rbp_gradient(x, y, net, free.state)
    step = ep_update(x, y, net, 1e-3, estimator, free=free, **TIGHT)
    for k, (u, g) in enumerate(zip(step.update, grads)):
        assert _cos(-u, g) > 0.99, (k, _cos(-u, g))
    assert np.linalg.norm(_flat(step.update) + _flat(grads)) < 1e-2 * np.linalg.norm(_flat(grads))


def test_symmetric_estimate_removes_the_first_order_bias():
    """Units in the linear range of rho in every phase: the EP estimate is a smooth function
    of beta, its one-sided error shrinks like beta and its symmetric error like beta^2."""
    sizes = (4, 6, 3)
    rng = np.random.default_rng([5, 0])
    net = init_net(list(sizes), seed=5, gain=0.6)
    x = rng.uniform(0.0, 1.0, (16, sizes[0]))
    for l in range(len(sizes) - 1):  # centre the mean field of every layer at 0.5
        net.biases[l][:] += 0.5 - field(l, x, relax(x, net, **TIGHT).state, net).mean(axis=0)
    free = relax(x, net, **TIGHT)
    y = np.clip(free.state[-1] + rng.uniform(-0.2, 0.2, free.state[-1].shape), 0.0, 1.0)
    grads = _flat(rbp_gradient(x, y, net, free.state))
    err, cos = {}, {}
    for beta in (0.25, 0.125):
        for b in (beta, -beta):
            nudged = relax(x, net, free.state, b, y, **TIGHT).state
            assert all(np.all((s > 0) & (s < 1)) for s in nudged)  # the precondition holds
        for est in ("one-sided", "symmetric"):
            u = -_flat(ep_update(x, y, net, beta, est, free=free, **TIGHT).update)
            err[est, beta] = np.linalg.norm(u - grads) / np.linalg.norm(grads)
            cos[est, beta] = _cos(u, grads)
    assert err["one-sided", 0.25] > 0.1  # the bias is visible
    for beta in (0.25, 0.125):
        assert err["symmetric", beta] < 0.5 * err["one-sided", beta]
        assert cos["symmetric", beta] > cos["one-sided", beta]
    assert 1.5 < err["one-sided", 0.25] / err["one-sided", 0.125] < 2.5  # O(beta)
    assert 3.0 < err["symmetric", 0.25] / err["symmetric", 0.125] < 5.5  # O(beta^2)


def test_random_sign_draws_both_signs_from_the_seed():
    net, x, y = _problem((4, 6, 3))
    rng = np.random.default_rng([0, 3])
    betas = [ep_update(x, y, net, 0.1, "random-sign", rng).beta for _ in range(20)]
    assert set(np.sign(betas)) == {-1.0, 1.0}
    rng = np.random.default_rng([0, 3])
    assert betas == [ep_update(x, y, net, 0.1, "random-sign", rng).beta for _ in range(20)]


def test_bad_input_raises():
    net, x, y = _problem((4, 6, 3))
    with pytest.raises(InputError):
        ep_update(x, y, net, 0.1, "two-sided")
    with pytest.raises(InputError):
        relax(x, net, beta=1.0, target=y)
    with pytest.raises(InputError):
        train_rate_ep(x, np.zeros(len(x), dtype=int), x, np.full(len(x), 3), [4, 6, 3])
    with pytest.raises(InputError):
        train_rate_ep(x * 2.0, np.zeros(len(x), dtype=int), x, np.zeros(len(x), dtype=int), [4, 6, 3])


@pytest.mark.parametrize(
    "config",
    [
        EPConfig(epochs=4, persistent=True, estimator="random-sign", lr=(3e-3, 1e-3)),
        EPConfig(epochs=4, optimizer="sgd", lr=(0.1, 0.05), estimator="one-sided"),
    ],
)
def test_every_trainer_variant_lowers_the_loss(config):
    ds = load_digits(seed=0)
    X, y = ds.X_train[:300], ds.y_train[:300]
    _, history = train_rate_ep(X, y, ds.X_test[:100], ds.y_test[:100], [64, 32, 10], config)
    losses = [h["train_loss"] for h in history]
    assert np.all(np.diff(losses) < 0), losses
    assert history[-1]["test_accuracy"] > 0.3  # chance is 0.1


def test_rate_ep_learns_digits_like_an_mlp_of_the_same_size():
    from sklearn.neural_network import MLPClassifier

    ds = load_digits(seed=0)
    hidden = 64
    with threadpool_limits(1), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the MLP's convergence warning
        mlp = MLPClassifier(hidden_layer_sizes=(hidden,), max_iter=200, random_state=0)
        reference = mlp.fit(ds.X_train, ds.y_train).score(ds.X_test, ds.y_test)
        net, history = train_rate_ep(
            ds.X_train,
            ds.y_train,
            ds.X_test,
            ds.y_test,
            [ds.n_features, hidden, ds.n_classes],
            EPConfig(epochs=6, lr=(3e-3, 1e-3), beta=0.2, estimator="symmetric"),
        )
    assert isinstance(net, RateNet)
    accuracy = history[-1]["test_accuracy"]
    assert history[0]["train_loss"] > history[-1]["train_loss"]
    assert max(h["free_residual"] for h in history) < 1e-3  # the free phases converged
    assert accuracy >= max(0.90, reference - 0.03), (accuracy, reference)
