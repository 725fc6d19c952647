"""Rate-based Equilibrium Propagation: energy, relaxation, and the two-phase update.

A layered Hopfield-like network (Scellier & Bengio 2017, Front. Comput. Neurosci. 11:24):
the input ``x = s_0`` is clamped, layers ``s_1 .. s_L`` (hidden layers, then the output
``s_L``) are free. Adjacent layers are coupled by one weight matrix ``W_l`` (shape
``(n_{l-1}, n_l)``) used in both directions, so the couplings are symmetric by construction.
With the hard sigmoid ``rho(s) = clip(s, 0, 1)`` the energy and cost are

    E(s) = 1/2 sum_l |s_l|^2 - sum_l rho(s_{l-1}) W_l rho(s_l) - sum_l b_l . rho(s_l)
    C(s) = 1/2 |y - s_L|^2                 (y: a target vector, e.g. a one-hot label)
    F(s) = E(s) + beta C(s)

Relaxation. The states live in the box [0, 1]^n (where ``rho(s) = s``). There the
layer-local field is ``h_l = rho(s_{l-1}) W_l + rho(s_{l+1}) W_{l+1}^T + b_l`` and F restricted
to one layer (its neighbours fixed) is ``1/2 |s_l|^2 - s_l . h_l`` (plus, for the output,
``beta/2 |y - s_L|^2``), whose minimiser over the box is

    s_l <- rho(h_l)                                   (hidden layers)
    s_L <- rho((h_L + beta y) / (1 + beta))           (output, |beta| < 1)

This is the "prototypical" update ``s <- rho(dPhi/ds)`` of Ernoult et al. 2019 (NeurIPS) with
the primitive function Phi = 1/2|s|^2 - E, applied to the odd layers and then to the even
layers (layers of one parity do not interact). Each half-step minimises F exactly over
its block, so F never increases and the iteration converges to a fixed point
``s = rho(h(s))`` (a stationary point of F on the box) without a step size. Convergence is
checked by the fixed-point residual ``max |s - update(s)|``.

Learning (Scellier & Bengio 2017). With ``s^0`` the free fixed point (beta = 0) and
``s^beta`` the nudged one (relaxed from ``s^0``), the update of every parameter is

    Delta W_l = 1/beta [rho(s_{l-1}^beta)^T rho(s_l^beta) - rho(s_{l-1}^0)^T rho(s_l^0)] / B
    Delta b_l = 1/beta [rho(s_l^beta) - rho(s_l^0)]   (batch mean)

i.e. ``(dPhi/dtheta(s^beta) - dPhi/dtheta(s^0)) / beta``, which tends to ``-dL/dtheta`` (L: the
cost at the free fixed point) as beta -> 0. Its O(beta) bias is cured, after Laborieux et al.
2021 (Front. Neurosci. 15:633674), by drawing the sign of beta at random per batch, or by the
symmetric estimate ``(dPhi/dtheta(s^beta) - dPhi/dtheta(s^-beta)) / (2 beta)`` whose bias is
O(beta^2).

Both orders hold for beta small against the nearest beta at which a unit crosses a kink of
rho or the nudged fixed point degenerates. With a negative beta the output's curvature
1 + beta shrinks, so the -beta phase is the more nonlinear one: in small test networks at
beta = 0.5 the symmetric estimate was at times further from the true gradient than the
one-sided one, while at beta <= 0.25 it was closer (see the tests).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.errors import InputError

ESTIMATORS = ("one-sided", "random-sign", "symmetric")


@dataclass(frozen=True)
class RateNet:
    """Weights ``W_l`` (n_{l-1}, n_l) and biases ``b_l`` (n_l,) of layers 1..L (L = output).

    The arrays are mutable (optimisers update them in place); the tuples are not.
    """

    weights: tuple[np.ndarray, ...]
    biases: tuple[np.ndarray, ...]

    @property
    def sizes(self) -> list[int]:
        """Layer widths, input first."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    def params(self) -> list[np.ndarray]:
        """Weights then biases (the order of :func:`phi_grads`' output)."""
        return [*self.weights, *self.biases]


@dataclass(frozen=True)
class Relaxation:
    """A relaxed state: one (B, n_l) array per layer 1..L, sweeps used, final residual."""

    state: list[np.ndarray]
    n_iter: int
    residual: float


def init_net(sizes: list[int], seed: int = 0, gain: float = 1.0) -> RateNet:
    """Uniform weights in +-gain/sqrt(n_{l-1}) (Glorot-like, as PyTorch's default), zero biases.

    Drawn from ``np.random.default_rng([seed, 1])``.
    """
    if len(sizes) < 2 or min(sizes) < 1:
        raise InputError(
            f"need at least an input and an output layer of >= 1 unit, got {sizes}", field="sizes"
        )
    rng = np.random.default_rng([seed, 1])
    ws = tuple(rng.uniform(-1.0, 1.0, (a, b)) * gain / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:]))
    return RateNet(ws, tuple(np.zeros(b) for b in sizes[1:]))


def rho(s: np.ndarray) -> np.ndarray:
    """Hard sigmoid clip(s, 0, 1)."""
    return np.clip(s, 0.0, 1.0)


def zero_state(batch: int, net: RateNet) -> list[np.ndarray]:
    return [np.zeros((batch, n)) for n in net.sizes[1:]]


def field(l: int, x: np.ndarray, state: list[np.ndarray], net: RateNet) -> np.ndarray:
    """h_l = rho(s_{l-1}) W_l + rho(s_{l+1}) W_{l+1}^T + b_l for layer index l (0 = first hidden)."""
    below = x if l == 0 else state[l - 1]
    h = rho(below) @ net.weights[l] + net.biases[l]
    if l + 1 < len(state):
        h = h + rho(state[l + 1]) @ net.weights[l + 1].T
    return h


def layer_update(l: int, x, state, net: RateNet, beta: float = 0.0, target=None) -> np.ndarray:
    """The exact minimiser of F over layer l (box [0, 1]), its neighbours fixed."""
    h = field(l, x, state, net)
    if beta != 0.0 and l == len(state) - 1:
        h = (h + beta * target) / (1.0 + beta)
    return rho(h)


def residual(x, state, net: RateNet, beta: float = 0.0, target=None) -> float:
    """Fixed-point residual max_l max |s_l - update_l(s)| (all layers from the same state)."""
    return max(
        float(np.max(np.abs(s - layer_update(l, x, state, net, beta, target)), initial=0.0))
        for l, s in enumerate(state)
    )


def relax(
    x: np.ndarray,
    net: RateNet,
    state0=None,
    beta: float = 0.0,
    target=None,
    max_iter: int = 200,
    tol: float = 1e-6,
) -> Relaxation:
    """Relax to the fixed point of F = E + beta C by alternating odd/even layer updates.

    Parameters
    ----------
    x : (B, n_0) clamped input in [0, 1]
    state0 : list of (B, n_l) arrays or None
        Starting state (zeros if None); not modified.
    beta, target : nudging strength (|beta| < 1) and (B, n_L) target (needed if beta != 0)
    max_iter, tol : at most ``max_iter`` sweeps; stop when a sweep changes no unit by >= tol.

    Returns
    -------
    Relaxation
        ``residual`` is the fixed-point residual of the returned state (:func:`residual`).
    """
    if not -1.0 < beta < 1.0:
        raise InputError(f"nudging strength must satisfy |beta| < 1, got {beta}", field="beta")
    if beta != 0.0 and target is None:
        raise InputError("a nudged phase needs a target", field="target")
    state = zero_state(len(x), net) if state0 is None else [s.copy() for s in state0]
    n = len(state)
    blocks = (range(0, n, 2), range(1, n, 2))  # layers 1, 3, ... then 2, 4, ... (1-based)
    k = 0
    for k in range(1, max_iter + 1):  # noqa: B007 (k is the sweep count after the loop)
        change = 0.0
        for block in blocks:
            for l in block:
                new = layer_update(l, x, state, net, beta, target)
                change = max(change, float(np.max(np.abs(new - state[l]), initial=0.0)))
                state[l] = new
        if change < tol:
            break
    return Relaxation(state, k, residual(x, state, net, beta, target))


def energy(x: np.ndarray, state: list[np.ndarray], net: RateNet) -> np.ndarray:
    """E(s) per sample, shape (B,)."""
    e = sum(0.5 * np.sum(s * s, axis=1) for s in state)
    below = x
    for s, w, b in zip(state, net.weights, net.biases):
        e = e - np.einsum("bi,ij,bj->b", rho(below), w, rho(s)) - rho(s) @ b
        below = s
    return e


def cost(state: list[np.ndarray], target: np.ndarray) -> np.ndarray:
    """C(s) = 1/2 |y - s_L|^2 per sample, shape (B,)."""
    return 0.5 * np.sum((target - state[-1]) ** 2, axis=1)


def total_energy(x, state, net: RateNet, beta: float = 0.0, target=None) -> np.ndarray:
    """F = E + beta C per sample."""
    f = energy(x, state, net)
    return f if beta == 0.0 else f + beta * cost(state, target)


def phi_grads(x: np.ndarray, state: list[np.ndarray]) -> list[np.ndarray]:
    """Batch means of dPhi/dtheta = -dE/dtheta: rho(s_{l-1})^T rho(s_l) / B, then rho(s_l)."""
    B = len(x)
    pre = [x, *state[:-1]]
    gw = [rho(a).T @ rho(s) / B for a, s in zip(pre, state)]
    return gw + [rho(s).mean(axis=0) for s in state]


def one_hot(labels: np.ndarray, n_classes: int) -> np.ndarray:
    out = np.zeros((len(labels), n_classes))
    out[np.arange(len(labels)), labels] = 1.0
    return out


@dataclass(frozen=True)
class EPStep:
    """One EP estimate: ``update`` (weights then biases, ~ -dL/dtheta), the free phase, info."""

    update: list[np.ndarray]
    free: Relaxation
    beta: float
    max_residual: float


def ep_update(
    x: np.ndarray,
    target: np.ndarray,
    net: RateNet,
    beta: float = 0.5,
    estimator: str = "symmetric",
    rng: np.random.Generator | None = None,
    state0=None,
    free: Relaxation | None = None,
    max_iter: int = 200,
    tol: float = 1e-6,
    nudge_iter: int | None = None,
) -> EPStep:
    """Free phase, nudged phase(s) and the EP parameter update for one batch.

    Parameters
    ----------
    estimator : "one-sided" (+beta), "random-sign" (sign of beta drawn from ``rng`` per
        call), or "symmetric" (+beta and -beta phases, Laborieux et al. 2021)
    state0 : start of the free phase (e.g. persistent per-sample states); zeros if None
    free : an already relaxed free phase to reuse (skips the free phase)
    nudge_iter : sweeps allowed in each nudged phase (default ``max_iter``)
    """
    if estimator not in ESTIMATORS:
        raise InputError(f"unknown estimator (expected {' | '.join(ESTIMATORS)})", estimator, "estimator")
    if not 0.0 < beta < 1.0:
        raise InputError(f"beta must be in (0, 1), got {beta}", field="beta")
    if free is None:
        free = relax(x, net, state0, max_iter=max_iter, tol=tol)
    n_nudge = max_iter if nudge_iter is None else nudge_iter
    if estimator == "random-sign":
        if rng is None:
            raise InputError("the random-sign estimator needs a generator", field="rng")
        beta = beta if rng.random() < 0.5 else -beta
    plus = relax(x, net, free.state, beta, target, n_nudge, tol)
    if estimator == "symmetric":
        minus = relax(x, net, free.state, -beta, target, n_nudge, tol)
        g_p, g_m = phi_grads(x, plus.state), phi_grads(x, minus.state)
        update = [(a - b) / (2.0 * beta) for a, b in zip(g_p, g_m)]
        res = max(free.residual, plus.residual, minus.residual)
    else:
        g_p, g_0 = phi_grads(x, plus.state), phi_grads(x, free.state)
        update = [(a - b) / beta for a, b in zip(g_p, g_0)]
        res = max(free.residual, plus.residual)
    return EPStep(update, free, beta, res)
