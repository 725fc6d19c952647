"""Fits of membrane traces, vectorised over neurons (pure numpy; no chip in here).

The central tool is a separable least-squares fit of sums of exponentials,

    v_n(t) = B_n + A_n exp(-t / tau_n) + sum_j C_nj exp(-t / tau_fixed_nj),

where ``tau_n`` is searched on a coarse logarithmic grid and refined by parabolas through
the residual (for a given ``tau`` the model is linear in ``B, A, C``: variable projection,
Golub & Pereyra 1973, SIAM J. Numer. Anal. 10(2)). The decay of a membrane after a current
step (tau_m) and the tail of a post-synaptic potential (tau_syn, with tau_m known) are of
this form; the whole response to a step, rise and decay (:func:`fit_step_response`), is
fitted by the same separable search with another nonlinear basis function.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def fit_separable(
    v: np.ndarray,
    basis: Sequence[np.ndarray],
    phi: Callable[[np.ndarray | float], np.ndarray],
    tau_grid_s: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Least squares ``v = B + sum_j C_j basis_j + A phi(tau)`` per neuron, ``tau`` nonlinear.

    For a given ``tau`` the model is linear in ``B, C, A`` (variable projection, Golub &
    Pereyra 1973, SIAM J. Numer. Anal. 10(2)): the residual is
    ``|y|^2 - r^T G^{-1} r`` with the Gram matrix ``G`` and ``r = X^T y`` of the basis,
    sums that cost a few products per candidate. ``tau`` is searched on the coarse grid,
    then refined by parabolas through ever closer points.

    Parameters
    ----------
    v : (n_t, n) array
        Samples; NaN entries are ignored (weight 0).
    basis : list of (n_t, 1) or (n_t, n) arrays
        Further fixed basis functions (the constant ``B`` is always included).
    phi : callable
        ``phi(tau)`` with ``tau`` a scalar or an ``(n,)`` array returns the nonlinear basis
        function, ``(n_t, 1)`` or ``(n_t, n)``.
    tau_grid_s : (n_grid,) array
        Increasing, logarithmically spaced candidate values of ``tau``.
    weights : (n_t, n) array, optional
        Per-sample weights (0 excludes a sample).

    Returns
    -------
    tau_s, amplitude, offset : (n,) arrays
        ``tau``, ``A`` and ``B``; NaN where the fit is undetermined (``tau`` at the grid's
        end or fewer than ``3 + len(basis)`` samples).
    coef : (len(basis), n) array
        The amplitudes ``C_j``.
    """
    v = np.asarray(v, dtype=np.float64)
    n_t, n = v.shape
    finite = np.isfinite(v)
    w = np.ones((n_t, n)) if weights is None else np.asarray(weights, dtype=np.float64).copy()
    w[~finite] = 0.0
    # Centred data (the constant is a basis function, so B only shifts by the mean); the
    # sums below then cancel far less.
    mean = (w * np.where(finite, v, 0.0)).sum(axis=0) / np.maximum(w.sum(axis=0), 1e-300)
    y = np.where(finite, v - mean, 0.0)
    wy = w * y
    yy = (wy * y).sum(axis=0)
    basis = [np.ones((n_t, 1))] + [np.asarray(b, dtype=np.float64).reshape(n_t, -1) for b in basis]
    p = len(basis) + 1
    wb = [w * b for b in basis]  # (n_t, n) each
    gram = np.empty((n, p, p))
    rhs = np.empty((n, p))
    for i in range(p - 1):
        rhs[:, i] = (basis[i] * wy).sum(axis=0)
        for j in range(i, p - 1):
            gram[:, i, j] = gram[:, j, i] = (wb[i] * basis[j]).sum(axis=0)

    def solve(tau):
        """Coefficients and residual for candidate ``tau`` (scalar or (n,))."""
        f = np.asarray(phi(tau), dtype=np.float64).reshape(n_t, -1)
        if f.shape[1] == 1:  # one function for all neurons: matrix-vector products
            f = f[:, 0]
            cross = [f @ b for b in wb]
            g_ff, r_f = (f * f) @ w, f @ wy
        else:
            cross = [(b * f).sum(axis=0) for b in wb]
            g_ff, r_f = (w * f * f).sum(axis=0), (wy * f).sum(axis=0)
        g = gram.copy()
        for i, c in enumerate(cross):
            g[:, i, -1] = g[:, -1, i] = c
        g[:, -1, -1] = g_ff
        r = rhs.copy()
        r[:, -1] = r_f
        # A tiny ridge keeps (near-)collinear bases solvable; it is far below any signal.
        scale = np.maximum(np.einsum("npp->np", g).max(axis=1), 1e-300)
        g += 1e-12 * scale[:, None, None] * np.eye(p)[None]
        x = np.linalg.solve(g, r[..., None])[..., 0]
        return x, yy - np.sum(r * x, axis=1)

    def vertex(log_tau, h, k):
        """Vertex of the least-squares parabola through the residuals at ``log_tau + h m``."""
        m = np.arange(-k, k + 1)
        sse = np.stack([solve(np.exp(log_tau + h * j))[1] for j in m])
        coef = np.linalg.lstsq(np.stack([np.ones(m.size), m, m * m], axis=1), sse, rcond=None)[0]
        with np.errstate(invalid="ignore", divide="ignore"):
            shift = np.where(coef[2] > 0, -0.5 * coef[1] / coef[2], 0.0)
        return log_tau + h * np.clip(shift, -k, k)

    coarse = np.asarray(tau_grid_s, dtype=np.float64)
    sse = np.stack([solve(tau)[1] for tau in coarse])
    kc = np.argmin(sse, axis=0)
    at_edge = (kc == 0) | (kc == len(coarse) - 1)
    # The vertex of a residual that is not exactly quadratic moves with the spacing of the
    # points (by ~1e-3 at the coarse spacing h, ~1e-7 at h/500).
    h = np.log(coarse[1] / coarse[0])
    log_tau = np.log(coarse[np.clip(kc, 1, len(coarse) - 2)])
    for spacing, k in ((h / 5, 5), (h / 50, 5), (h / 500, 3)):
        log_tau = vertex(log_tau, spacing, k)
    tau = np.exp(log_tau)
    x, _ = solve(tau)
    enough = np.sum(w > 0, axis=0) >= 3 + len(basis) - 1
    tau = np.where(at_edge | ~enough, np.nan, tau)
    return tau, x[:, -1], x[:, 0] + mean, x[:, 1:-1].T


def fit_exponentials(
    t_s: np.ndarray,
    v: np.ndarray,
    tau_grid_s: np.ndarray,
    fixed_tau_s: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``v = B + A exp(-t/tau) + sum_j C_j exp(-t/tau_fixed_j)`` per neuron.

    Parameters
    ----------
    t_s : (n_t,) or (n_t, n) array
        Sample times (seconds, from the onset of the exponential), shared or per neuron.
    v : (n_t, n) array
        Samples; NaN entries are ignored (weight 0).
    tau_grid_s : (n_grid,) array
        Increasing, logarithmically spaced candidate values of ``tau``.
    fixed_tau_s : (n_fixed, n) array, optional
        Known time constants of further exponentials (amplitudes are fitted).
    weights : (n_t, n) array, optional
        Per-sample weights (0 excludes a sample).

    Returns
    -------
    tau_s, amplitude, offset, coef_fixed
        As :func:`fit_separable`.
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(np.shape(v)[0], -1)
    fixed = np.zeros((0, 1)) if fixed_tau_s is None else np.atleast_2d(np.asarray(fixed_tau_s, float))
    basis = [np.exp(-t / ft[None, :]) for ft in fixed]
    return fit_separable(v, basis, lambda tau: np.exp(-t / np.reshape(tau, (1, -1))), tau_grid_s, weights)


def step_shape(
    t_s: np.ndarray | float,
    t_on_s: np.ndarray | float,
    t_off_s: np.ndarray | float,
    tau_s: np.ndarray | float,
) -> np.ndarray:
    """Membrane response to a current step, in units of its steady-state amplitude.

    ``c dV/dt = -c (V - B)/tau + I`` for ``t_on <= t < t_off`` gives ``V = B + D g(t)``,
    ``D = I tau / c`` and

        g = 0                                         for t < t_on
        g = 1 - exp(-(t - t_on)/tau)                  for t_on <= t < t_off
        g = (1 - exp(-(t_off - t_on)/tau)) exp(-(t - t_off)/tau)   for t >= t_off
    """
    t = np.asarray(t_s, dtype=np.float64)
    rise = 1.0 - np.exp(-np.clip(t - t_on_s, 0.0, t_off_s - t_on_s) / tau_s)
    return rise * np.exp(-np.maximum(t - t_off_s, 0.0) / tau_s)


def fit_step_response(
    t_s: np.ndarray,
    v: np.ndarray,
    t_on_s: float,
    t_off_s: float,
    tau_grid_s: np.ndarray,
    weights: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit ``v = B + D g(t; tau)`` (:func:`step_shape`) to the whole response per neuron.

    Both the rise and the decay carry ``tau``; with the baseline before the step the fit
    resolves ``tau`` about 1.7x as finely (three times in variance) as a 3-tau decay alone.

    Returns
    -------
    tau_s, amplitude ``D``, offset ``B`` : (n,) arrays
    """
    t = np.asarray(t_s, dtype=np.float64).reshape(-1, 1)
    shape = lambda tau: step_shape(t, t_on_s, t_off_s, np.reshape(tau, (1, -1)))  # noqa: E731
    tau, amp, base, _ = fit_separable(v, [], shape, tau_grid_s, weights)
    return tau, amp, base


def log_grid(lo: float, hi: float, ratio: float = 1.1) -> np.ndarray:
    """Logarithmic grid from ``lo`` to ``hi`` with neighbouring ratio ``ratio``."""
    n = int(np.ceil(np.log(hi / lo) / np.log(ratio))) + 1
    return np.geomspace(lo, hi, n)


def window_mean(t_s: np.ndarray, v: np.ndarray, t0_s: float, t1_s: float) -> np.ndarray:
    """Mean of the samples with ``t0 <= t < t1`` over time (axis 0) and any batch axis.

    ``v`` has shape ``(n_t, n)`` or ``(n_samples, n_t, n)``; the result has shape ``(n,)``.
    """
    t_s = np.asarray(t_s)
    sel = (t_s >= t0_s) & (t_s < t1_s)
    v = np.asarray(v)
    return np.nanmean(v[..., sel, :].reshape(-1, v.shape[-1]), axis=0)
