"""A small trainer for rate-based Equilibrium Propagation (the software reference).

Per batch: free phase, nudged phase(s) and the EP update of
:func:`~anamorph.training.eqprop.rate.ep_update`; the negated update (an estimate of
dL/dtheta) goes to Adam (:class:`~anamorph.training.optim.Adam`, Kingma & Ba 2015) or to
plain SGD (``theta += lr * update``, Scellier & Bengio 2017). The class is the arg-max of the
output layer at the free fixed point. Targets are one-hot vectors; the cost is the mean
squared error 1/2 |y - s_L|^2 (no softmax).

Persistent free phases (``persistent=True``) keep the free fixed point of every training
sample and start its next free phase there, so fewer sweeps are needed once the weights
change slowly. Shuffling uses ``np.random.default_rng([seed, 2])``, the random sign of beta
``rng([seed, 3])``, the initial weights ``rng([seed, 1])``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.errors import InputError
from anamorph.training.eqprop.rate import ESTIMATORS, RateNet, cost, ep_update, init_net, one_hot, relax
from anamorph.training.optim import Adam


@dataclass(frozen=True)
class EPConfig:
    """Hyper-parameters of :func:`train_rate_ep`.

    Attributes
    ----------
    epochs, batch_size : passes over the training set, samples per update
    lr : Adam's step size (or SGD's learning rate), one value or one per layer
    optimizer : "adam" or "sgd"
    beta : nudging strength, 0 < beta < 1
    estimator : "one-sided" | "random-sign" | "symmetric" (Laborieux et al. 2021)
    persistent : start each sample's free phase from its previous free fixed point
    max_iter, nudge_iter, tol : sweeps of the free / nudged phases and their stop criterion
    gain : initial weights uniform in +-gain/sqrt(fan-in)
    seed : recorded seed of every random draw
    """

    epochs: int = 10
    batch_size: int = 32
    lr: float | tuple[float, ...] = 2e-3
    optimizer: str = "adam"
    beta: float = 0.2
    estimator: str = "symmetric"
    persistent: bool = False
    max_iter: int = 100
    nudge_iter: int = 30
    tol: float = 1e-5
    gain: float = 1.0
    seed: int = 0


def _check(X, y, n_in: int, n_out: int, name: str):
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[1] != n_in or len(X) == 0:
        raise InputError(f"must have shape (n, {n_in}), got {X.shape}", field=f"X_{name}")
    if X.min() < 0.0 or X.max() > 1.0 or not np.all(np.isfinite(X)):
        raise InputError("features must be finite and in [0, 1]", field=f"X_{name}")
    if y.shape != (len(X),) or not np.issubdtype(y.dtype, np.integer) or y.min() < 0 or y.max() >= n_out:
        raise InputError(f"must be {len(X)} integer labels in 0..{n_out - 1}", field=f"y_{name}")
    return X, y.astype(np.int64)


def predict(
    X: np.ndarray, net: RateNet, max_iter: int = 100, tol: float = 1e-5, batch_size: int = 512
) -> np.ndarray:
    """Class = arg-max of the output layer at the free fixed point."""
    out = [
        np.argmax(relax(X[i : i + batch_size], net, max_iter=max_iter, tol=tol).state[-1], axis=1)
        for i in range(0, len(X), batch_size)
    ]
    return np.concatenate(out)


def train_rate_ep(
    X_train,
    y_train,
    X_test,
    y_test,
    sizes: list[int],
    config: EPConfig = EPConfig(),
    net: RateNet | None = None,
) -> tuple[RateNet, list[dict]]:
    """Train a layered rate network with Equilibrium Propagation.

    Parameters
    ----------
    X_train, X_test : (n, sizes[0]) features in [0, 1]
    y_train, y_test : (n,) integer labels in 0..sizes[-1]-1
    sizes : layer widths, input first, output (one unit per class) last
    config : :class:`EPConfig`
    net : start from these parameters (copied); else :func:`init_net` with the config's seed

    Returns
    -------
    net, history
        ``history[e]``: epoch, train_loss (mean cost at the free fixed points met during the
        epoch), train_accuracy (of those free phases), test_accuracy, mean_sweeps (free
        phase), free_residual and max_residual (largest fixed-point residual of the free
        phases, of any phase).
    """
    c = config
    if c.estimator not in ESTIMATORS:
        raise InputError(f"unknown estimator (expected {' | '.join(ESTIMATORS)})", c.estimator, "estimator")
    if c.optimizer not in ("adam", "sgd"):
        raise InputError("unknown optimizer (expected adam | sgd)", c.optimizer, "optimizer")
    if c.epochs < 1 or c.batch_size < 1:
        raise InputError("epochs and batch_size must be >= 1", field="epochs")
    X_train, y_train = _check(X_train, y_train, sizes[0], sizes[-1], "train")
    X_test, y_test = _check(X_test, y_test, sizes[0], sizes[-1], "test")
    if net is None:
        net = init_net(sizes, c.seed, c.gain)
    else:
        net = RateNet(tuple(w.copy() for w in net.weights), tuple(b.copy() for b in net.biases))
    n_layers = len(sizes) - 1
    lrs = np.broadcast_to(np.asarray(c.lr, dtype=np.float64), (n_layers,))
    params = net.params()
    opts = [Adam(lr=float(lr)) for lr in lrs]
    shuffle, signs = np.random.default_rng([c.seed, 2]), np.random.default_rng([c.seed, 3])
    keep = [np.zeros((len(X_train), n)) for n in sizes[1:]] if c.persistent else None
    history = []
    for epoch in range(c.epochs):
        order = shuffle.permutation(len(X_train))
        loss = correct = sweeps = n_batches = 0
        max_res = free_res = 0.0
        for start in range(0, len(order), c.batch_size):
            idx = order[start : start + c.batch_size]
            x, target = X_train[idx], one_hot(y_train[idx], sizes[-1])
            state0 = None if keep is None else [k[idx] for k in keep]
            step = ep_update(
                x,
                target,
                net,
                c.beta,
                c.estimator,
                signs,
                state0,
                max_iter=c.max_iter,
                tol=c.tol,
                nudge_iter=c.nudge_iter,
            )
            if keep is not None:
                for k, s in zip(keep, step.free.state):
                    k[idx] = s
            for l in range(n_layers):  # layer l: its weights and its bias
                pair, upd = [params[l], params[n_layers + l]], [step.update[l], step.update[n_layers + l]]
                if c.optimizer == "adam":
                    opts[l].step(pair, [-u for u in upd])
                else:
                    for p, u in zip(pair, upd):
                        p += lrs[l] * u
            out = step.free.state[-1]
            loss += float(cost(step.free.state, target).sum())
            correct += int(np.sum(np.argmax(out, axis=1) == y_train[idx]))
            sweeps += step.free.n_iter
            n_batches += 1
            max_res = max(max_res, step.max_residual)
            free_res = max(free_res, step.free.residual)
        test_acc = float(np.mean(predict(X_test, net, c.max_iter, c.tol) == y_test))
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": loss / len(X_train),
                "train_accuracy": correct / len(X_train),
                "test_accuracy": test_acc,
                "mean_sweeps": sweeps / n_batches,
                "free_residual": free_res,
                "max_residual": max_res,
            }
        )
    return net, history
