"""Fits of membrane traces, vectorised over neurons (pure numpy; no chip in here).

The central tool is a separable least-squares fit of sums of exponentials,

    v_n(t) = B_n + A_n exp(-t / tau_n) + sum_j C_nj exp(-t / tau_fixed_nj),

where ``tau_n`` is searched on a coarse logarithmic grid, then on a fine grid between the
coarse neighbours of the best point (for a given ``tau`` the model is linear in ``B, A, C``:
variable projection, Golub & Pereyra 1973, SIAM J. Numer. Anal. 10(2)), and the minimum of
the residual is refined by a parabola through the three fine points around it. The exponential decay of a membrane after a current step (tau_m) and the tail of a
post-synaptic potential (tau_syn, with tau_m known) are both of this form.
"""

from __future__ import annotations

import numpy as np


def _solve_batched(a, b):
    """Least-squares solutions of ``a[n] x = b[n]`` for a stack of small systems."""
    ata = np.einsum("ntp,ntq->npq", a, a)
    atb = np.einsum("ntp,nt->np", a, b)
    # A tiny ridge keeps (near-)collinear bases solvable; it is far below any signal.
    scale = np.maximum(np.einsum("npp->np", ata).max(axis=1), 1e-300)
    ata = ata + 1e-12 * scale[:, None, None] * np.eye(ata.shape[1])[None]
    x = np.linalg.solve(ata, atb[..., None])[..., 0]
    resid = b - np.einsum("ntp,np->nt", a, x)
    return x, resid


def fit_exponentials(t_s, v, tau_grid_s, fixed_tau_s=None, weights=None):
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
    tau_s, amplitude, offset : (n,) arrays
        ``tau``, ``A`` and ``B``; NaN where the fit is undetermined.
    coef_fixed : (n_fixed, n) array
        The amplitudes ``C_j``.
    """
    v = np.asarray(v, dtype=np.float64)
    n_t, n = v.shape
    t = np.broadcast_to(np.asarray(t_s, dtype=np.float64).reshape(n_t, -1), (n_t, n)).T  # (n, n_t)
    w = np.ones((n_t, n)) if weights is None else np.asarray(weights, dtype=np.float64)
    w = np.where(np.isfinite(v), w, 0.0).T
    y = np.where(np.isfinite(v), v, 0.0).T * np.sqrt(w)
    fixed = np.zeros((0, n)) if fixed_tau_s is None else np.atleast_2d(np.asarray(fixed_tau_s, float))
    base = [np.ones((n, n_t))] + [np.exp(-t / ft[:, None]) for ft in fixed]
    sw = np.sqrt(w)[..., None]
    shared = weights is None and len(fixed) == 0 and np.all(np.isfinite(v)) and \
        np.ndim(t_s) == 1
    t1 = np.asarray(t_s, dtype=np.float64)

    def scan(grid):  # grid: (n_grid, n) candidate taus per neuron -> (n_grid, n) residuals
        sse = np.empty(grid.shape)
        if shared and np.all(grid == grid[:, :1]):
            # Same basis [1, exp(-t/tau)] for every neuron: residual through 2x2 normal
            # equations shared by all neurons, SSE = |y|^2 - r^T G^-1 r.
            yy = np.sum(v * v, axis=0)
            for k in range(grid.shape[0]):
                phi = np.exp(-t1 / grid[k, 0])
                g = np.array([[n_t, phi.sum()], [phi.sum(), phi @ phi]])
                r = np.stack([v.sum(axis=0), phi @ v])
                sse[k] = yy - np.sum(r * np.linalg.solve(g, r), axis=0)
            return sse
        for k in range(grid.shape[0]):
            a = np.stack(base + [np.exp(-t / grid[k][:, None])], axis=-1) * sw
            _, r = _solve_batched(a, y)
            sse[k] = np.sum(r * r, axis=1)
        return sse

    coarse = np.asarray(tau_grid_s, dtype=np.float64)
    sse = scan(np.repeat(coarse[:, None], n, axis=1))
    kc = np.argmin(sse, axis=0)
    at_edge = (kc == 0) | (kc == len(coarse) - 1)
    # Fine grid (21 points) between the coarse neighbours of each neuron's minimum.
    kc = np.clip(kc, 1, len(coarse) - 2)
    lo, hi = np.log(coarse[kc - 1]), np.log(coarse[kc + 1])
    frac = np.linspace(0.0, 1.0, 21)[:, None]
    log_fine = lo + frac * (hi - lo)
    sse = scan(np.exp(log_fine))
    k = np.clip(np.argmin(sse, axis=0), 1, len(frac) - 2)
    cols = np.arange(n)
    s0, s1, s2 = sse[k - 1, cols], sse[k, cols], sse[k + 1, cols]
    denom = s0 - 2 * s1 + s2
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.where(denom > 0, 0.5 * (s0 - s2) / denom, 0.0)
    shift = np.clip(shift, -1.0, 1.0)
    step = (hi - lo) / (len(frac) - 1)
    tau = np.exp(log_fine[k, cols] + shift * step)
    a = np.stack(base + [np.exp(-t / tau[:, None])], axis=-1) * sw
    x, _ = _solve_batched(a, y)
    enough = np.sum(w > 0, axis=1) >= 3 + len(fixed)
    bad = at_edge | ~enough
    tau = np.where(bad, np.nan, tau)
    return tau, x[:, -1], x[:, 0], x[:, 1:-1].T


def log_grid(lo, hi, ratio=1.1):
    """Logarithmic grid from ``lo`` to ``hi`` with neighbouring ratio ``ratio``."""
    n = int(np.ceil(np.log(hi / lo) / np.log(ratio))) + 1
    return np.geomspace(lo, hi, n)


def window_mean(t_s, v, t0_s, t1_s):
    """Mean of the samples with ``t0 <= t < t1`` over time (axis 0) and any batch axis.

    ``v`` has shape ``(n_t, n)`` or ``(n_samples, n_t, n)``; the result has shape ``(n,)``.
    """
    t_s = np.asarray(t_s)
    sel = (t_s >= t0_s) & (t_s < t1_s)
    v = np.asarray(v)
    return np.nanmean(v[..., sel, :].reshape(-1, v.shape[-1]), axis=0)
