"""Reference gradient of the loss at the free fixed point: recurrent backpropagation.

The free fixed point ``s*`` of :func:`~anamorph.training.eqprop.rate.relax` satisfies
``s = rho(h(s, theta))`` with the local fields ``h`` (:func:`~anamorph.training.eqprop.rate.field`).
With ``D = diag(rho'(h))`` (1 for units in the linear range 0 < h < 1, 0 for saturated
units) and ``J = dh/ds`` the symmetric coupling matrix of the hidden and output units,
implicit differentiation gives ``ds*/dtheta = (I - D J)^-1 D dh/dtheta``, hence for
``L = mean_b C(s*_b)``

    (I - J D) lambda = g,     g = dC/ds = (s_L - y) on the output, 0 elsewhere
    delta = D lambda          <=>   delta = D (g + J delta)
    dL/dW_l = [rho(s_{l-1})^T delta_l + delta_{l-1}^T rho(s_l)] / B,   dL/db_l = mean delta_l

(the second term of dL/dW_l is absent for l = 1: the input is clamped). This is the
adjoint ("error") network of Almeida 1987 and Pineda 1987: a linear network with the same
symmetric weights, gated by rho'. ``method="solve"`` solves the (hidden + output)-sized
linear system per sample exactly; ``method="relax"`` relaxes ``delta = D (g + J delta)`` with
the same alternating odd/even layer sweeps as the forward relaxation (for a fixed point that
is a strict minimum of E on its linear units, the system matrix restricted to them is
symmetric positive definite and the block iteration converges).

The gradient is the true gradient of the loss of the free fixed point wherever no unit sits
exactly at a kink of rho (h = 0 or 1); :func:`loss_at_fixed_point` is the loss it belongs to.
"""

from __future__ import annotations

import numpy as np

from anamorph.errors import InputError
from anamorph.training.eqprop.rate import RateNet, cost, field, relax, rho


def loss_at_fixed_point(
    x: np.ndarray, target: np.ndarray, net: RateNet, state0=None, max_iter: int = 10000, tol: float = 1e-13
) -> float:
    """L = mean_b 1/2 |y_b - s*_L,b|^2 at the free fixed point (relaxed from ``state0``)."""
    return float(cost(relax(x, net, state0, max_iter=max_iter, tol=tol).state, target).mean())


def _gates(x, state, net: RateNet) -> list[np.ndarray]:
    """rho'(h_l): 1 where the field is inside the linear range of the hard sigmoid."""
    out = []
    for l in range(len(state)):
        h = field(l, x, state, net)
        out.append(((h > 0.0) & (h < 1.0)).astype(np.float64))
    return out


def _deltas_solve(x, state, target, net: RateNet) -> list[np.ndarray]:
    sizes = [s.shape[1] for s in state]
    off = np.concatenate([[0], np.cumsum(sizes)])
    n = int(off[-1])
    J = np.zeros((n, n))
    for l in range(1, len(state)):  # W_l couples layers l-1 and l of the free units (0-based)
        J[off[l - 1] : off[l], off[l] : off[l + 1]] = net.weights[l]
        J[off[l] : off[l + 1], off[l - 1] : off[l]] = net.weights[l].T
    d = np.concatenate(_gates(x, state, net), axis=1)  # (B, n)
    g = np.zeros((len(x), n))
    g[:, off[-2] :] = state[-1] - target
    M = np.eye(n)[None] - J[None] * d[:, None, :]
    lam = np.linalg.solve(M, g[..., None])[..., 0]
    delta = d * lam
    return [delta[:, off[l] : off[l + 1]] for l in range(len(state))]


def _deltas_relax(x, state, target, net: RateNet, max_iter: int, tol: float) -> list[np.ndarray]:
    gates = _gates(x, state, net)
    n = len(state)
    delta = [np.zeros_like(s) for s in state]
    for _ in range(max_iter):
        change = 0.0
        for block in (range(0, n, 2), range(1, n, 2)):
            for l in block:
                a = delta[l - 1] @ net.weights[l] if l > 0 else 0.0
                if l + 1 < n:
                    a = a + delta[l + 1] @ net.weights[l + 1].T
                if l == n - 1:
                    a = a + state[-1] - target
                new = gates[l] * a
                change = max(change, float(np.max(np.abs(new - delta[l]), initial=0.0)))
                delta[l] = new
        if change < tol:
            return delta
    raise InputError(
        f"adjoint relaxation did not converge in {max_iter} sweeps (change {change:.3g})", field="max_iter"
    )


def rbp_gradient(
    x: np.ndarray,
    target: np.ndarray,
    net: RateNet,
    state: list[np.ndarray],
    method: str = "solve",
    max_iter: int = 10000,
    tol: float = 1e-13,
) -> list[np.ndarray]:
    """dL/dtheta at the free fixed point ``state`` (weights then biases, as ``net.params()``).

    Parameters
    ----------
    x, target : (B, n_0) input and (B, n_L) target
    state : the relaxed free fixed point (list of (B, n_l) arrays)
    method : "solve" (exact per-sample linear solve) or "relax" (Almeida-Pineda iteration)
    """
    if method == "solve":
        delta = _deltas_solve(x, state, target, net)
    elif method == "relax":
        delta = _deltas_relax(x, state, target, net, max_iter, tol)
    else:
        raise InputError("unknown method (expected solve | relax)", method, "method")
    B = len(x)
    pre = [x, *state[:-1]]
    gw = []
    for l, (a, s) in enumerate(zip(pre, state)):
        g = rho(a).T @ delta[l]
        if l > 0:
            g = g + delta[l - 1].T @ rho(s)
        gw.append(g / B)
    return gw + [d.mean(axis=0) for d in delta]
