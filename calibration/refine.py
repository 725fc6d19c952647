"""Refinements of a search's result: regression over its probes, and level-edge interpolation.

Both use what the search measured on its way, plus the one assumption the algorithms make
about the DAC: each neuron's transfer is the nominal transfer up to the offset and gain
mismatch of its DAC, so that after the map that linearises the nominal transfer (``1/x``
for a time-constant DAC whose conductance is linear in the code) it is a straight line in
the code (Pelgrom et al. 1989, IEEE JSSC 24:1433).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .algorithms import CODE_MAX, CODE_MIN, SearchResult


def refine(result: SearchResult, target, linearise: Callable[[np.ndarray], np.ndarray],
           *, window: int = 64, min_points: int = 3) -> np.ndarray:
    """Codes re-estimated from every probe near the search's result (noise averaging).

    Each neuron's transfer is assumed linear in the code after the monotonic map
    ``linearise`` (e.g. ``1/value`` for a DAC whose conductance is linear in the code):
    ``u(c) = a + b c``. A least-squares line through the probes within ``window`` codes of
    the search's result, whose measurement noise is independent from probe to probe,
    places the target's code ``(u(target) - a) / b`` with a noise ``~sqrt(k)`` times
    smaller than one measurement for ``k`` probes. Neurons with fewer than ``min_points``
    usable probes, a non-monotonic line or an estimate outside the window keep the
    search's code.
    """
    n = result.codes.size
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,))
    c = np.stack([h[0] for h in result.history]).astype(np.float64)       # (k, n)
    with np.errstate(invalid="ignore", divide="ignore"):
        u = np.stack([linearise(h[1]) for h in result.history])
        ut = linearise(target)
    use = np.isfinite(u) & (np.abs(c - result.codes) <= window)
    # Each distinct code once per probe: repeated codes are fine (independent noise).
    w = use.astype(np.float64)
    cnt = w.sum(0)
    sc, su = (w * c).sum(0), (w * np.where(use, u, 0)).sum(0)
    scc = (w * c * c).sum(0)
    scu = (w * c * np.where(use, u, 0)).sum(0)
    det = cnt * scc - sc * sc
    with np.errstate(invalid="ignore", divide="ignore"):
        b = (cnt * scu - sc * su) / det
        a = (su - b * sc) / cnt
        est = (ut - a) / b
    direction = np.sign(np.nanmedian(b))
    ok = (cnt >= min_points) & (det > 0) & np.isfinite(est) & (np.sign(b) == direction) & \
        (np.abs(est - result.codes) <= window)
    return np.where(ok, np.clip(np.rint(est), CODE_MIN, CODE_MAX), result.codes).astype(np.int64)


def plateau_search(search, measure, target, n, process, param, quantum, origin):
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
    quantum, origin : float
        The measurement's levels are ``origin + m * quantum``.
    """
    dt_s = quantum
    m = int(round((target - origin) / quantum))
    edges = (origin + (m - 0.5) * quantum, origin + (m + 0.5) * quantum)
    found = [search(e) for e in edges]
    # The edge lies between the bracket's codes: take their midpoint (half-code precision).
    c_edge = [0.5 * (r.lo + r.hi) for r in found]
    k1, k2, ks = (float(process.dac_inverse(param, v)) for v in (*edges, target))
    with np.errstate(invalid="ignore", divide="ignore"):
        c = c_edge[0] + (c_edge[1] - c_edge[0]) * (ks - k1) / (k2 - k1)
    both = found[0].bracketed & found[1].bracketed
    codes = np.clip(np.rint(np.where(both, c, found[0].codes)), 0, 1023).astype(np.int64)
    measured = measure(codes)
    n_runs = found[0].n_runs + found[1].n_runs + 1
    ok = both & (np.abs(measured - (origin + m * dt_s)) < 0.75 * dt_s)
    return SearchResult(codes, measured, ok, n_runs, codes, codes, [])
