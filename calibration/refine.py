"""Refinements of a search's result: regression over its probes, and level-edge interpolation.

Both use what the search measured on its way, plus the one assumption the algorithms make
about the DAC: each neuron's transfer is the nominal transfer up to the offset and gain
mismatch of its DAC, so that after the map that linearises the nominal transfer (``1/x``
for a time-constant DAC whose conductance is linear in the code) it is a straight line in
the code (Pelgrom et al. 1989, IEEE JSSC 24:1433).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from .algorithms import CODE_MAX, CODE_MIN, SearchResult

if TYPE_CHECKING:
    from anamorph.models.process_model import ProcessModel

    from .algorithms import Measure


def _moments(
    w: np.ndarray, x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Weighted centred sums per neuron: (count, mean x, mean y, Sxx, Sxy, Syy)."""
    cnt = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm, ym = (w * x).sum(0) / cnt, (w * y).sum(0) / cnt
    dx, dy = np.where(w > 0, x - xm, 0.0), np.where(w > 0, y - ym, 0.0)
    return cnt, xm, ym, (dx * dx).sum(0), (dx * dy).sum(0), (dy * dy).sum(0)


def _pooled_slope(b: np.ndarray, se2: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each neuron's slope shrunk towards the neurons' common slope (empirical Bayes).

    The slopes scatter around their median ``b0`` by the DAC's gain mismatch, variance
    ``tau^2 = max(MAD^2 - median(se^2), 0)`` (``MAD`` the robust spread of the fitted
    slopes, 1.4826 x median absolute deviation, minus what their own noise contributes).
    A neuron's slope and its variance are then the precision-weighted mean of its fit
    ``b`` (variance ``se^2``) and ``b0``: ``(b tau^2 + b0 se^2) / (tau^2 + se^2)`` and
    ``tau^2 se^2 / (tau^2 + se^2)`` plus the pulled share of ``b0``'s own variance,
    ``(pi/2) median(se^2) / n`` (Efron & Morris 1975, JASA 70:311). A neuron whose
    probes span a few noisy codes has an undetermined slope of its own, so it takes the
    common one; a neuron with precise probes keeps its own.
    """
    if not np.any(valid):
        return b, se2
    b0 = np.median(b[valid])
    mad = 1.4826 * np.median(np.abs(b[valid] - b0))
    typical = float(np.median(se2[valid]))
    tau2 = max(mad * mad - typical, 0.0)
    var_b0 = np.pi / 2 * typical / np.count_nonzero(valid)  # variance of a median
    den = tau2 + se2
    with np.errstate(invalid="ignore", divide="ignore"):
        shrunk = np.where(den > 0, (b * tau2 + b0 * se2) / den, b)
        pull = np.where(den > 0, se2 / den, 0.0)
        var = np.where(den > 0, tau2 * se2 / den, 0.0) + pull * pull * var_b0
    inf = np.isinf(se2)  # fewer than three probes: no noise estimate, the common slope
    return np.where(inf, b0, shrunk), np.where(inf, tau2 + var_b0, var)


def refine(
    result: SearchResult,
    target: np.ndarray | float,
    linearise: Callable[[np.ndarray], np.ndarray],
    *,
    window: int = 64,
    min_points: int = 3,
    max_se: float = 1.0,
    reach: float = 0.5,
) -> np.ndarray:
    """Codes re-estimated from every probe near the search's result (noise averaging).

    Each neuron's transfer is assumed linear in the code after the monotonic map
    ``linearise`` (e.g. ``1/value`` for a DAC whose conductance is linear in the code):
    ``u(c) = a + b c``. A least-squares line through the ``k`` probes within ``window``
    codes of the search's result, whose measurement noise is independent from probe to
    probe, places the target's code ``c* = c_bar + (u(target) - u_bar) / b`` with a noise
    ``~sqrt(k)`` times smaller than one measurement. The slope ``b`` is shrunk towards the
    neurons' common slope (:func:`_pooled_slope`): a few noisy probes over a narrow span
    determine the mean ``u_bar`` well but their own slope poorly.

    Extrapolation guard: the estimate's standard error (inverse regression, Draper & Smith
    1998, Applied Regression Analysis, sec. 3.2),
    ``se(c*)^2 = (s^2 / k + (c* - c_bar)^2 var(b)) / b^2`` with ``s^2`` the residual
    variance, grows with the distance from the probes. An estimate beyond the probes' span
    ``[c_min, c_max]`` whose standard error exceeds ``max_se`` codes is clipped to that
    span widened by ``reach`` times its width on either side: a caller that probes again
    around the clipped code (the fine stages) then walks towards the target on measured
    ground. No estimate moves more than ``window`` codes from the search's result. Neurons
    with fewer than ``min_points`` usable probes or a slope against the common direction
    keep the search's code.
    """
    n = result.codes.size
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    c = np.stack([h[0] for h in result.history]).astype(np.float64)  # (k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.stack([linearise(h[1]) for h in result.history])
        ut = linearise(target)
    use = np.isfinite(u) & (np.abs(c - result.codes) <= window)
    # Each probe counts once: repeated codes are fine (independent noise).
    w = use.astype(np.float64)
    cnt, cm, um, sxx, sxu, suu = _moments(w, c, np.where(use, u, 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        b_ls = sxu / sxx
        s2 = np.maximum(suu - b_ls * sxu, 0.0) / (cnt - 2)
        se2 = np.where(cnt > 2, s2 / sxx, np.inf)
    fitted = (cnt >= min_points) & (sxx > 0) & np.isfinite(b_ls)
    direction = np.sign(np.median(b_ls[fitted])) if np.any(fitted) else 0.0
    b, var_b = _pooled_slope(b_ls, se2, fitted & (np.sign(b_ls) == direction))
    with np.errstate(invalid="ignore", divide="ignore"):
        est = cm + (ut - um) / b
        se_est = np.sqrt((s2 / cnt + (est - cm) ** 2 * var_b) / (b * b))
    c_min = np.where(use, c, np.inf).min(0)
    c_max = np.where(use, c, -np.inf).max(0)
    with np.errstate(invalid="ignore"):  # neurons without probes: NaN, rejected below
        margin = reach * (c_max - c_min)
        guarded = np.clip(est, c_min - margin, c_max + margin)
        est = np.where((est < c_min) | (est > c_max), np.where(se_est > max_se, guarded, est), est)
    est = np.clip(est, result.codes - window, result.codes + window)
    ok = fitted & np.isfinite(est) & (np.sign(b) == direction)
    return np.where(ok, np.clip(np.rint(est), CODE_MIN, CODE_MAX), result.codes).astype(np.int64)


def plateau_search(
    search: Callable[[np.ndarray | float], SearchResult],
    measure: Measure,
    target: np.ndarray | float,
    n: int,
    process: ProcessModel,
    param: str,
    quantum: float,
    origin: float,
) -> SearchResult:
    """Search for a parameter whose measurement is quantised to levels ``origin + m q``.

    Two such parameters: the refractory time, which the emulator rounds to whole time
    steps (``q = dt``), and the reset potential, which is read while the membrane is
    clamped and so carries no noise to dither the ADC (``q`` = one ADC step). Every code
    whose value lies within ``[(m - 1/2) q, (m + 1/2) q)`` of level ``m`` reads the same.
    Two searches find the codes where the reading jumps across the edges of the target's
    level; the edges are exact sub-resolution references. Assuming the neuron's transfer is
    the nominal one up to an affine map of the code (offset and gain mismatch of the DAC),
    the target's code is interpolated between them:
    ``c = c_1 + (c_2 - c_1) (k* - k_1) / (k_2 - k_1)`` with ``k = f_nom^{-1}(value)``.

    Parameters
    ----------
    search : callable
        ``search(level) -> SearchResult``: a search of :mod:`.algorithms` for ``level``.
    measure : callable
        The measurement (one more run verifies the interpolated codes).
    target : float or (n,) array
        The target value, per neuron where each reads it on its own scale (the reset
        potential in what each ADC channel reports for it, :mod:`.adc`).
    quantum, origin : float
        The measurement's levels are ``origin + m * quantum``.
    """
    dt_s = quantum
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    m = np.rint((target - origin) / quantum)
    edges = (origin + (m - 0.5) * quantum, origin + (m + 0.5) * quantum)
    found = [search(e) for e in edges]
    # The edge lies between the bracket's codes: take their midpoint (half-code precision).
    c_edge = [0.5 * (r.lo + r.hi) for r in found]
    k1, k2, ks = (np.asarray(process.dac_inverse(param, v), dtype=np.float64) for v in (*edges, target))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = c_edge[0] + (c_edge[1] - c_edge[0]) * (ks - k1) / (k2 - k1)
    both = found[0].bracketed & found[1].bracketed
    codes = np.clip(np.rint(np.where(both, c, found[0].codes)), CODE_MIN, CODE_MAX).astype(np.int64)
    measured = measure(codes)
    n_runs = found[0].n_runs + found[1].n_runs + 1
    ok = both & (np.abs(measured - (origin + m * dt_s)) < 0.75 * dt_s)
    return SearchResult(codes, measured, ok, n_runs, codes, codes, [])
