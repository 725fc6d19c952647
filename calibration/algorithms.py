"""Search algorithms over 10-bit DAC codes, all neurons in parallel.

An algorithm knows nothing about the chip: it receives a *measurement*, a callable
``measure(codes) -> values`` that configures one parameter's codes on every neuron, runs
the chip once and returns one measured value per neuron (NaN where nothing could be
measured), and searches the codes whose measured value is closest to the per-neuron
target. The only assumption is that each neuron's transfer ``code -> value`` is monotonic
(increasing or decreasing, the same direction for all neurons), as for the capacitive-memory
DACs of BrainScaleS-2, whose calibration library (calix) searches codes the same way.

Three algorithms:

* :func:`binary_search` -- bisection of the code interval, one chip run per halving,
  ``ceil(log2(1024)) = 10`` runs plus at most one to measure an unmeasured bracket end;
* :func:`noisy_binary_search` -- the same, but each neuron starts from its own random
  code (seeded), so that neurons do not all probe the same codes and a systematic effect
  at one code does not hit every neuron at once;
* :func:`predictive_search` -- a first guess from the process model's nominal transfer
  ``c0 = f_nom^{-1}(target)``, secant steps on the measured values, then a short
  bisection in a small window around the estimate, with a full binary search for the
  neurons whose window turned out not to bracket the target.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from anamorph.models.dac import CODE_MAX

CODE_MIN = 0

Measure = Callable[[np.ndarray], np.ndarray]


@dataclass
class SearchResult:
    """Outcome of a code search.

    Attributes
    ----------
    codes : (n,) int64
        The selected code per neuron.
    measured : (n,) float64
        The value measured at the selected code (NaN if never measured).
    bracketed : (n,) bool
        True where the target lies between the measured values at two adjacent codes
        (or at a measured code exactly); False where it lies beyond the reachable end.
    n_runs : int
        Chip runs (calls of ``measure``) the search used.
    lo, hi : (n,) int64
        The final bracket: adjacent codes whose measured values lie on either side of
        the target (the DAC's end twice over where the target is out of reach).
    """

    codes: np.ndarray
    measured: np.ndarray
    bracketed: np.ndarray
    n_runs: int
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None
    history: list = None


class _Counter:
    def __init__(self, measure: Measure) -> None:
        self.measure = measure
        self.n = 0
        self.history: list[tuple[np.ndarray, np.ndarray]] = []

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        self.n += 1
        codes = np.asarray(codes, dtype=np.int64).copy()
        values = np.asarray(self.measure(codes), dtype=np.float64)
        self.history.append((codes, values))
        return values


def _bisect(
    measure: _Counter,
    target: np.ndarray | float,
    lo: np.ndarray,
    hi: np.ndarray,
    m_lo: np.ndarray,
    m_hi: np.ndarray,
    increasing: bool,
    first: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Bisect ``[lo, hi]`` per neuron until ``hi - lo <= 1``; return the closest end.

    ``m_lo``/``m_hi`` are measured values at the ends (NaN = not measured; an unmeasured
    end is treated as bracketing). ``first`` optionally gives each neuron's first probe.
    """
    lo, hi = lo.astype(np.int64).copy(), hi.astype(np.int64).copy()
    m_lo, m_hi = m_lo.astype(np.float64).copy(), m_hi.astype(np.float64).copy()
    sign = 1.0 if increasing else -1.0
    probe = None if first is None else np.clip(first, lo, hi).astype(np.int64)
    while np.any(hi - lo > 1):
        active = hi - lo > 1
        mid = (lo + hi) // 2 if probe is None else probe
        probe = None
        mid = np.where(active, np.clip(mid, lo + 1, hi - 1), lo)
        # Neurons that are done keep their code at lo: the measurement is ignored for them.
        m = measure(mid)
        below = sign * (m - target) < 0  # the value at mid is on the low side of the target
        below &= ~np.isnan(m)  # NaN (e.g. no spikes) counts as "past the target"
        go_up = active & below
        go_down = active & ~below
        lo = np.where(go_up, mid, lo)
        m_lo = np.where(go_up, m, m_lo)
        hi = np.where(go_down, mid, hi)
        m_hi = np.where(go_down, m, m_hi)
    return lo, hi, m_lo, m_hi


def _finish(
    measure: _Counter,
    target: np.ndarray | float,
    lo: np.ndarray,
    hi: np.ndarray,
    m_lo: np.ndarray,
    m_hi: np.ndarray,
    increasing: bool,
) -> SearchResult:
    """Measure unmeasured bracket ends (one run), then keep the end closer to the target."""
    need_lo, need_hi = np.isnan(m_lo), np.isnan(m_hi)
    if np.any(need_lo | need_hi):
        # One run: a neuron measures its unmeasured end (lo first; both are never unmeasured
        # together because every bisection step measures one of them).
        probe = np.where(need_lo, lo, hi)
        m = measure(probe)
        m_lo = np.where(need_lo, m, m_lo)
        m_hi = np.where(need_hi & ~need_lo, m, m_hi)
    d_lo, d_hi = np.abs(m_lo - target), np.abs(m_hi - target)
    take_hi = np.where(np.isnan(d_lo), True, np.where(np.isnan(d_hi), False, d_hi < d_lo))
    codes = np.where(take_hi, hi, lo)
    measured = np.where(take_hi, m_hi, m_lo)
    sign = 1.0 if increasing else -1.0
    eps = 1e-12 * np.maximum(np.abs(target), 1e-30)
    bracketed = (sign * (m_lo - target) <= eps) & (sign * (m_hi - target) >= -eps)
    return SearchResult(
        codes.astype(np.int64),
        measured,
        bracketed,
        measure.n,
        lo.astype(np.int64),
        hi.astype(np.int64),
        list(measure.history),
    )


def binary_search(
    measure: Measure,
    target: np.ndarray | float,
    n: int,
    *,
    increasing: bool = True,
    lo: int = CODE_MIN,
    hi: int = CODE_MAX,
) -> SearchResult:
    """Bisection over codes ``lo..hi`` for ``n`` neurons in parallel.

    Each step measures every neuron at the middle of its interval and keeps the half
    whose ends bracket the target, ``[lo, hi] -> [mid, hi]`` if ``f(mid) < target``
    (increasing transfer) and ``[lo, mid]`` otherwise. After ``ceil(log2(hi - lo))`` steps
    the interval is two adjacent codes; the one whose measured value is closer wins.

    Parameters
    ----------
    measure : callable
        ``measure(codes) -> values``, shapes ``(n,)``.
    target : float or (n,) array
        Target value per neuron.
    n : int
        Number of neurons.
    increasing : bool
        Direction of the transfer.
    lo, hi : int
        Code interval.
    """
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,)).copy()
    counter = _Counter(measure)
    nan = np.full(n, np.nan)
    args = _bisect(counter, target, np.full(n, lo), np.full(n, hi), nan, nan, increasing)
    return _finish(counter, target, *args, increasing)


def noisy_binary_search(
    measure: Measure,
    target: np.ndarray | float,
    n: int,
    *,
    increasing: bool = True,
    seed: int = 0,
    lo: int = CODE_MIN,
    hi: int = CODE_MAX,
) -> SearchResult:
    """Bisection whose first probe is a random code per neuron (seeded).

    The first step probes ``c_k ~ U{lo+1, hi-1}`` independently for each neuron ``k``
    (``numpy.random.default_rng(seed)``), the rest bisects as :func:`binary_search`. The
    worst case is a few steps longer (an unlucky first probe halves less), the neurons'
    probe sequences are decorrelated.
    """
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,)).copy()
    rng = np.random.default_rng(seed)
    first = rng.integers(lo + 1, hi, size=n)
    counter = _Counter(measure)
    nan = np.full(n, np.nan)
    args = _bisect(counter, target, np.full(n, lo), np.full(n, hi), nan, nan, increasing, first=first)
    return _finish(counter, target, *args, increasing)


def predictive_search(
    measure: Measure,
    target: np.ndarray | float,
    n: int,
    predict: Callable[[np.ndarray], np.ndarray],
    slope: Callable[[np.ndarray], np.ndarray],
    *,
    increasing: bool = True,
    secant_steps: int = 1,
    window: int = 4,
    lo: int = CODE_MIN,
    hi: int = CODE_MAX,
) -> SearchResult:
    """Prediction from the nominal transfer, secant refinement, then a local bisection.

    1. ``c0 = round(f_nom^{-1}(target))`` from ``predict`` (the process model's inverse
       transfer) is measured: ``m0``.
    2. Newton step with the nominal slope ``s0 = f_nom'(c0)``:
       ``c1 = c0 + (target - m0) / s0``; then ``secant_steps - 1`` further secant steps
       ``c_{k+1} = c_k + (target - m_k) (c_k - c_{k-1}) / (m_k - m_{k-1})``.
    3. Bisection in ``[c - w, c + w]`` around the last estimate with
       ``w = window + |c_k - c_{k-1}|``, whose ends are assumed to bracket the target.
    4. Neurons whose result sits at a window end that does not bracket the target (the
       mismatch was larger than the estimate assumed) run a full :func:`binary_search`.

    Parameters
    ----------
    predict : callable
        ``predict(target) -> float codes``: inverse nominal transfer.
    slope : callable
        ``slope(codes) -> d value / d code`` of the nominal transfer.
    """
    target = np.broadcast_to(np.asarray(target, dtype=np.float64), (n,)).copy()
    counter = _Counter(measure)
    c_prev = np.clip(np.rint(predict(target)), lo, hi).astype(np.int64)
    m_prev = counter(c_prev)
    s = np.asarray(slope(c_prev), dtype=np.float64)
    c = c_prev.copy()
    m = m_prev.copy()
    # Points measured so far: used to tighten the bisection window below.
    history = [(c_prev.copy(), m_prev.copy())]
    for k in range(secant_steps):
        if k > 0:
            dc = (c - c_prev).astype(np.float64)
            dm = m - m_prev
            ok = (dc != 0) & (np.abs(dm) > 0) & np.isfinite(dm)
            s = np.where(ok, dm / np.where(dc == 0, 1.0, dc), s)
        with np.errstate(invalid="ignore", divide="ignore"):
            step = np.where(np.isfinite(m) & (s != 0), (target - m) / s, 0.0)
        c_new = np.clip(np.rint(c + step), lo, hi).astype(np.int64)
        c_prev, m_prev = c, m
        c = c_new
        m = counter(c)
        history.append((c.copy(), m.copy()))
    w = window + np.abs(c - c_prev)
    w_lo = np.clip(c - w, lo, hi)
    w_hi = np.clip(c + w, lo, hi)
    m_lo = np.full(n, np.nan)
    m_hi = np.full(n, np.nan)
    sign = 1.0 if increasing else -1.0
    # Tighten the window with the points already measured inside it.
    for hc, hm in history:
        inside = (hc >= w_lo) & (hc <= w_hi) & np.isfinite(hm)
        low_side = inside & (sign * (hm - target) < 0)
        high_side = inside & (sign * (hm - target) >= 0)
        w_lo = np.where(low_side & (hc >= w_lo), hc, w_lo)
        m_lo = np.where(low_side & (hc == w_lo), hm, m_lo)
        w_hi = np.where(high_side & (hc <= w_hi), hc, w_hi)
        m_hi = np.where(high_side & (hc == w_hi), hm, m_hi)
    crossed = w_lo >= w_hi  # noise made the measured points non-monotonic: forget them
    w_lo = np.where(crossed, np.clip(c - w, lo, hi), w_lo)
    w_hi = np.where(crossed, np.clip(c + w, lo, hi), w_hi)
    m_lo = np.where(crossed, np.nan, m_lo)
    m_hi = np.where(crossed, np.nan, m_hi)
    args = _bisect(counter, target, w_lo, w_hi, m_lo, m_hi, increasing)
    local = _finish(counter, target, *args, increasing)
    # Neurons whose window did not bracket the target and that are not at the DAC's end:
    # their final bracket touches an end of the window (whichever end's code was kept).
    at_edge = ((local.lo <= np.clip(c - w, lo, hi)) & (local.lo > lo)) | (
        (local.hi >= np.clip(c + w, lo, hi)) & (local.hi < hi)
    )
    redo = ~local.bracketed & at_edge
    if np.any(redo):
        full = binary_search(measure, target, n, increasing=increasing, lo=lo, hi=hi)
        counter.n += full.n_runs
        counter.history += full.history
        local.codes = np.where(redo, full.codes, local.codes)
        local.measured = np.where(redo, full.measured, local.measured)
        local.bracketed = np.where(redo, full.bracketed, local.bracketed)
        local.lo = np.where(redo, full.lo, local.lo)
        local.hi = np.where(redo, full.hi, local.hi)
    local.n_runs = counter.n
    local.history = list(counter.history)
    return local


def affine_fit(x: np.ndarray, y: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares line ``y[:, k] = a_k + b_k x`` per column over the ``valid`` points.

    Parameters
    ----------
    x : (m,) float
        The common abscissa (e.g. the reference voltages).
    y, valid : (m, n) float, bool
        Each column's values and which of them enter its fit.

    Returns
    -------
    a, b : (n,) float64
        Intercept and slope, ``b = S_xy / S_xx`` and ``a = y_bar - b x_bar`` (NaN where a
        column has fewer than two valid points at distinct ``x``).
    """
    x = np.asarray(x, dtype=np.float64)[:, None]
    w = np.asarray(valid, dtype=np.float64)
    y = np.where(w > 0, np.asarray(y, dtype=np.float64), 0.0)
    cnt = w.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        xm, ym = (w * x).sum(0) / cnt, (w * y).sum(0) / cnt
        dx = np.where(w > 0, x - xm, 0.0)
        b = (dx * (y - ym)).sum(0) / (dx * dx).sum(0)
    b = np.where(cnt >= 2, b, np.nan)
    return ym - b * xm, b


def aligning_offsets(values: np.ndarray, quantum: float, lo: int, hi: int) -> np.ndarray:
    """Integer offsets (in ``quantum``) that bring every value nearest to the values' median.

    ``d_k = clip(rint((median - v_k) / quantum), lo, hi)``: the digital offsets that make
    all ADC channels read a common voltage alike to within half an LSB, as calix's
    ``ChannelOffsetCalib`` aims every CADC channel at the median reading.
    """
    v = np.asarray(values, dtype=np.float64)
    target = np.nanmedian(v)
    d = np.where(np.isfinite(v), np.rint((target - v) / quantum), 0.0)
    return np.clip(d, lo, hi).astype(np.int64)
