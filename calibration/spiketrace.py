"""Membrane samples aligned to a neuron's own spikes: reset, refractory time, threshold.

Under a constant drive a LIF neuron repeats the same trajectory after every spike:
clamped at ``v_reset`` for ``t_ref``, then the exponential approach
``v(s) = v_inf + (v_reset - v_inf) exp(-(s - t_ref)/tau_m)`` (``s`` = time since the
spike) until it crosses ``v_th``. The ADC samples every ~1.7 us, but the phase of the
samples relative to the spikes varies from spike to spike, so the samples of many spikes,
put on the common axis ``s`` (or ``u`` = time until the next spike), trace the trajectory
finely (equivalent-time sampling, as in sampling oscilloscopes).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from anamorph.models.backend import SpikeEvents


def align(
    adc_t_s: np.ndarray, neurons: np.ndarray, spikes: SpikeEvents, n_samples: int
) -> tuple[np.ndarray, np.ndarray]:
    """Time since the previous and until the next own spike of every ADC sample.

    Parameters
    ----------
    adc_t_s : (n_t,) array
        ADC sample times.
    neurons : (n_rec,) int array
        Chip neuron of each recorded column.
    spikes : SpikeEvents
        Output spikes (``units`` = chip neuron).
    n_samples : int
        Batch size.

    Returns
    -------
    since_s, until_s : (n_samples, n_t, n_rec) arrays
        NaN where there is no spike before (after) the sample.
    """
    t = np.asarray(adc_t_s, dtype=np.float64)
    neurons = np.asarray(neurons, dtype=np.int64)
    n_rec = len(neurons)
    col_of = np.full(max(int(neurons.max()) + 1, int(spikes.units.max(initial=0)) + 1), -1)
    col_of[neurons] = np.arange(n_rec)
    col = col_of[spikes.units] if len(spikes.units) else np.zeros(0, dtype=np.int64)
    keep = col >= 0
    span = float(max(t.max(initial=0.0), spikes.times_s.max(initial=0.0))) + 1.0
    group = spikes.samples[keep] * n_rec + col[keep]
    key = np.sort(group * span + spikes.times_s[keep])
    g_adc = np.arange(n_samples)[:, None, None] * n_rec + np.arange(n_rec)[None, None, :]
    q = g_adc * span + t[None, :, None]  # (n_samples, n_t, n_rec)
    idx = np.searchsorted(key, q, side="right")  # first spike strictly after the sample
    prev = np.where(idx > 0, key[np.maximum(idx - 1, 0)], np.nan)
    nxt = np.where(idx < len(key), key[np.minimum(idx, len(key) - 1)], np.nan)
    lo, hi = g_adc * span, (g_adc + 1) * span
    since = np.where((prev >= lo) & (prev < hi), q - prev, np.nan)
    until = np.where((nxt >= lo) & (nxt < hi), nxt - q, np.nan)
    return since, until


def reset_lag(v: np.ndarray, since_s: np.ndarray, until_s: np.ndarray, dt_s: float) -> float:
    """Time from a spike's reported time to the first ADC sample that shows the reset.

    A discrete-time emulator reports a spike at the step whose update crossed the
    threshold; whether the membrane sample carrying that same time stamp shows the value
    before the crossing or the reset value depends on when in the step the membrane is
    recorded. The samples taken exactly at spike times tell: returns ``0`` if they sit at
    the clamp level, ``dt`` if they sit at the pre-spike level (or if there are none).
    """
    at = np.abs(since_s) < 0.25 * dt_s
    if not np.any(at):
        return float(dt_s)
    clamp = (since_s > 0.75 * dt_s) & (since_s < 1.25 * dt_s)
    pre = (until_s > 0.75 * dt_s) & (until_s < 1.25 * dt_s)
    if not (np.any(clamp) and np.any(pre)):
        return float(dt_s)
    v_at, v_clamp, v_pre = np.nanmedian(v[at]), np.nanmedian(v[clamp]), np.nanmedian(v[pre])
    return 0.0 if abs(v_at - v_clamp) < abs(v_at - v_pre) else float(dt_s)


def _per_neuron_mean(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m = mask & np.isfinite(values)
    cnt = m.reshape(-1, m.shape[-1]).sum(axis=0)
    tot = np.where(m, values, 0.0).reshape(-1, m.shape[-1]).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cnt > 0, tot / cnt, np.nan), cnt


def clamp_level(
    v: np.ndarray, since_s: np.ndarray, s_lo_s: float, s_hi_s: float, min_count: int = 5
) -> np.ndarray:
    """Mean membrane sample with ``s_lo <= since < s_hi`` (inside the refractory clamp).

    Returns (n_rec,) volts, NaN where fewer than ``min_count`` samples qualify.
    """
    mean, cnt = _per_neuron_mean(v, (since_s >= s_lo_s) & (since_s < s_hi_s))
    return np.where(cnt >= min_count, mean, np.nan)


def threshold_level(
    v: np.ndarray, until_s: np.ndarray, dt_s: float, u_max_s: float, lag_s: float = 0.0, min_count: int = 8
) -> np.ndarray:
    """Membrane potential at the threshold crossing, from the samples before each spike.

    The emulator reports a spike at the time step ``t_k`` whose update took the membrane
    to or above ``v_th``; with ``lag`` = :func:`reset_lag` the sampled trajectory crossed
    in ``(t_k + lag - dt, t_k + lag]``. A quadratic ``v(u) = a + b u + c u^2`` in ``u`` =
    time until the spike is fitted to the pre-spike samples (``dt - lag <= u < u_max``)
    and evaluated at ``u = dt/2 - lag``, the mean crossing time when the crossing phase
    within a step varies from spike to spike (membrane noise jitters it).

    Returns (n_rec,) volts, NaN where fewer than ``min_count`` samples qualify.
    """
    m = (until_s >= (dt_s - lag_s) - 1e-3 * dt_s) & (until_s < u_max_s) & np.isfinite(v)
    n = v.shape[-1]
    u = np.where(m, until_s, 0.0).reshape(-1, n) * 1e6  # microseconds for conditioning
    y = np.where(m, v, 0.0).reshape(-1, n)
    w = m.reshape(-1, n).astype(np.float64)
    basis = np.stack([w, w * u, w * u * u], axis=-1)  # (n_obs, n, 3)
    ata = np.einsum("onp,onq->npq", basis, basis) + 1e-12 * np.eye(3)
    aty = np.einsum("onp,on->np", basis, y)
    coef = np.linalg.solve(ata, aty[..., None])[..., 0]
    u0 = (0.5 * dt_s - lag_s) * 1e6
    est = coef[:, 0] + coef[:, 1] * u0 + coef[:, 2] * u0 * u0
    return np.where(w.sum(axis=0) >= min_count, est, np.nan)


def refractory_time(
    v: np.ndarray,
    since_s: np.ndarray,
    until_s: np.ndarray,
    tau_m_s: np.ndarray | float,
    s_max_s: float,
    grid_s: np.ndarray,
    dt_s: float,
    lag_s: float = 0.0,
    min_count: int = 12,
) -> np.ndarray:
    """Clamp duration ``t_ref`` from the samples after each spike.

    Model of the trajectory after a spike (``s`` = time since it), with ``tau_m`` known::

        v(s) = v_r                                        for s < T
        v(s) = v_inf + (v_r - v_inf) exp(-(s - T)/tau_m)  for s >= T

    For each candidate ``T`` on ``grid_s`` the model is linear in ``(v_r, v_inf)``; the
    ``T`` with the least squared residual wins, refined by a parabola through its
    neighbours. Samples within one step of the next spike are left out. The clamp lasts
    ``T - lag`` (:func:`reset_lag`: the reset shows ``lag`` after the spike's time stamp).

    Returns (n_rec,) seconds, NaN where fewer than ``min_count`` samples qualify.
    """
    m = (since_s >= lag_s + 0.5 * dt_s) & (since_s < s_max_s) & ~(until_s < dt_s * 0.999) & np.isfinite(v)
    n = v.shape[-1]
    m2 = m.reshape(-1, n)
    # Sufficient statistics per distinct time since the spike: the model is the same for
    # every sample at one ``s``, so counts, sums and sums of squares there give the exact
    # residual. Sample and spike times share the emulator's step grid, so ``s`` takes few
    # values (a few dozen, against thousands of samples).
    rows, col = np.nonzero(m2)
    s_all, y_all = since_s.reshape(-1, n)[rows, col], v.reshape(-1, n)[rows, col]
    k = np.rint(s_all / dt_s).astype(np.int64)
    if k.size and np.all(np.abs(s_all - k * dt_s) <= 1e-6 * dt_s):  # on the step grid: no sort
        inv = k - k.min()
        s = ((np.arange(inv.max() + 1) + k.min()) * dt_s)[:, None]
    else:
        key = np.rint(s_all / (1e-6 * dt_s)).astype(np.int64)
        uniq, inv = np.unique(key, return_inverse=True)
        s = (uniq * (1e-6 * dt_s))[:, None]
    flat = inv.ravel() * n + col
    size = s.size * n
    cnt = np.bincount(flat, minlength=size).reshape(-1, n).astype(np.float64)
    sum_y = np.bincount(flat, weights=y_all, minlength=size).reshape(-1, n)
    yy = np.bincount(col, weights=y_all * y_all, minlength=n)
    tau = np.asarray(tau_m_s, dtype=np.float64)[None, :]

    def sse_at(T):  # T: (n,) candidate clamp ends -> (n,) residuals
        after = s >= T
        decay = np.exp(-np.maximum(s - T, 0.0) / tau)
        b1 = np.where(after, decay, 1.0)
        b2 = np.where(after, 1.0 - decay, 0.0)
        a11, a12, a22 = (cnt * b1 * b1).sum(0), (cnt * b1 * b2).sum(0), (cnt * b2 * b2).sum(0)
        r1, r2 = (b1 * sum_y).sum(0), (b2 * sum_y).sum(0)
        det = a11 * a22 - a12 * a12
        det = np.where(np.abs(det) > 0, det, np.inf)
        x1 = (a22 * r1 - a12 * r2) / det
        x2 = (a11 * r2 - a12 * r1) / det
        return yy - x1 * r1 - x2 * r2

    # Coarse grid, then a fine one (10x denser) around each neuron's best coarse point.
    coarse = np.asarray(grid_s, dtype=np.float64)[::10]
    sse = np.stack([sse_at(np.full(n, T)) for T in coarse])
    kc = np.clip(np.argmin(sse, axis=0), 1, len(coarse) - 2)
    fine_step = (coarse[1] - coarse[0]) / 10
    grid = coarse[kc - 1][None, :] + fine_step * np.arange(21)[:, None]  # (21, n)
    sse = np.stack([sse_at(T) for T in grid])
    k = np.clip(np.argmin(sse, axis=0), 1, len(grid) - 2)
    cols = np.arange(n)
    s0, s1, s2 = sse[k - 1, cols], sse[k, cols], sse[k + 1, cols]
    denom = s0 - 2 * s1 + s2
    with np.errstate(invalid="ignore", divide="ignore"):
        shift = np.clip(np.where(denom > 0, 0.5 * (s0 - s2) / denom, 0.0), -1, 1)
    step = fine_step
    est = grid[k, cols] + shift * step - lag_s
    return np.where(cnt.sum(axis=0) >= min_count, est, np.nan)
