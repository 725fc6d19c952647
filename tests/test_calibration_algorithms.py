"""Search algorithms and trace fits against synthetic references with known answers."""

import numpy as np
import pytest

from anamorph.calibration import algorithms, fits, spiketrace
from anamorph.calibration.refine import refine
from anamorph.models.backend import SpikeEvents

N = 300


def _transfer(seed, increasing=True):
    """Mismatched monotone 10-bit transfers f_n(c) = off_n + gain_n * g(c), g nonlinear."""
    rng = np.random.default_rng(seed)
    gain = 1 + 0.15 * rng.standard_normal(N)
    off = 0.04 * rng.standard_normal(N)

    def f(c):
        x = np.asarray(c, dtype=float) / 1023
        g = 0.2 + 0.6 * x + 0.2 * x**2
        return off + gain * (g if increasing else 1.2 - g)

    return f, gain, off


def _check_best(f, codes, target):
    """Residual of each neuron within one DAC step of its own transfer at that code."""
    err = np.abs(f(codes) - target)
    step = np.maximum(
        np.abs(f(np.minimum(codes + 1, 1023)) - f(codes)), np.abs(f(codes) - f(np.maximum(codes - 1, 0)))
    )
    return err <= step * (1 + 1e-9)


@pytest.mark.parametrize("increasing", [True, False])
@pytest.mark.parametrize("which", ["binary", "noisy", "predictive"])
def test_search_finds_best_code(which, increasing):
    f, gain, off = _transfer(1, increasing)
    rng = np.random.default_rng(2)
    target = 0.6
    calls = []

    def measure(c):
        calls.append(np.array(c))
        return f(c) + 1e-5 * rng.standard_normal(N)

    if which == "binary":
        res = algorithms.binary_search(measure, target, N, increasing=increasing)
    elif which == "noisy":
        res = algorithms.noisy_binary_search(measure, target, N, increasing=increasing, seed=4)
    else:
        # The nominal transfer (gain 1, offset 0) as the process model's prediction.
        xs = np.arange(1024)
        nominal = 0.2 + 0.6 * xs / 1023 + 0.2 * (xs / 1023) ** 2
        if not increasing:
            nominal = 1.2 - nominal
        order = np.argsort(nominal)
        res = algorithms.predictive_search(
            measure,
            target,
            N,
            lambda v: np.interp(v, nominal[order], xs[order]),
            lambda c: np.gradient(nominal)[np.clip(np.asarray(c, int), 0, 1023)],
            increasing=increasing,
        )
    assert res.n_runs == len(calls)
    assert res.n_runs <= 12
    reachable = (np.minimum(f(0), f(1023)) <= target) & (np.maximum(f(0), f(1023)) >= target)
    assert np.array_equal(res.bracketed, reachable)
    assert np.all(_check_best(f, res.codes, target)[reachable])
    # Unreachable neurons end at the DAC end nearest their target.
    end = np.where(np.abs(f(0) - target) < np.abs(f(1023) - target), 0, 1023)
    assert np.array_equal(res.codes[~reachable], end[~reachable])


def test_predictive_search_leaves_a_window_that_does_not_bracket():
    """A quantised reading (plateaus, like the refractory clamp in whole time steps) far
    from its prediction: the Newton step, made with the nominal slope on a flat plateau,
    lands short, and the bisection window's unmeasured end does not bracket the target.
    The search must notice it from the final bracket and search the whole range, whichever
    end of the bracket it would have kept."""
    xs = np.arange(1024)
    nominal = 0.2 + 0.6 * xs / 1023
    gain = np.linspace(0.8, 1.25, N)  # some neurons' edges lie far from the prediction

    def measure(c):
        return np.floor((0.2 + 0.6 * gain * np.asarray(c) / 1023) / 0.1) * 0.1

    target = 0.45  # an edge between the levels 0.4 and 0.5
    res = algorithms.predictive_search(
        measure, target, N, lambda v: np.interp(v, nominal, xs), lambda c: np.full(np.shape(c), 0.6 / 1023)
    )
    truth = np.ceil((0.5 - 0.2) * 1023 / (0.6 * gain))  # first code reading 0.5 (exact edge)
    assert res.bracketed.all()
    assert np.all((res.lo == truth - 1) & (res.hi == truth))


def test_noisy_search_starts_from_different_codes():
    f, _, _ = _transfer(3)
    first = []

    def measure(c):
        if not first:
            first.append(np.array(c))
        return f(c)

    algorithms.noisy_binary_search(measure, 0.6, N, seed=7)
    assert len(np.unique(first[0])) > N // 2


def test_unreachable_target_marks_only_those_neurons():
    f, _, _ = _transfer(5)
    target = np.where(np.arange(N) < 10, 5.0, 0.6)
    res = algorithms.binary_search(f, target, N)
    assert not res.bracketed[:10].any()
    assert np.all(res.codes[:10] == 1023)
    reachable = (f(0) <= 0.6) & (f(1023) >= 0.6)
    assert np.array_equal(res.bracketed[10:], reachable[10:])


def _lines(n, seed):
    """Mismatched straight transfers ``u_n(c) = off_n + slope_n c`` (1 % gain spread)."""
    rng = np.random.default_rng([seed, 0])
    slope = 1e-3 * (1 + 0.01 * rng.standard_normal(n))
    off = 0.05 * rng.standard_normal(n)
    return off, slope


def _probed(codes, values, centre):
    """A SearchResult whose history is the given probes (rows: runs, columns: neurons)."""
    hist = [(np.asarray(c, dtype=np.int64), np.asarray(v, dtype=float)) for c, v in zip(codes, values)]
    return algorithms.SearchResult(
        np.asarray(centre, dtype=np.int64),
        np.full(len(centre), np.nan),
        np.ones(len(centre), bool),
        len(hist),
        history=hist,
    )


def test_refine_takes_the_common_slope_where_its_own_probes_are_flat():
    """Noisy probes over a narrow span can fit a line far flatter than the neuron's: the
    old regression extrapolated it 30 codes beyond every probe. The common slope of the
    other neurons places the code from the probes' mean (truth: the exact line)."""
    n = 64
    off, slope = _lines(n, 1)
    target = 0.5
    truth = (target - off) / slope
    centre = np.rint(truth).astype(np.int64)
    offsets = np.array([-6, -2, 0, 0, 0, 2, 6])
    rng = np.random.default_rng([1, 1])
    codes = centre + offsets[:, None]
    noise = 0.2e-3 * rng.standard_normal(codes.shape)
    # Neuron 0: the noise cancels 95 % of its slope across the probes (a flat reading).
    noise[:, 0] -= 0.95 * slope[0] * offsets
    values = off + slope * codes + noise
    est = refine(_probed(codes, values, centre), target, lambda v: v)
    assert np.all(np.abs(est - truth) <= 1.0)


def test_refine_clips_an_untrusted_extrapolation_to_its_probes():
    """A lone neuron (no common slope to lean on) whose noisy probes fit a line that
    reaches the target only 30 codes beyond them: the estimate's standard error is large
    there, so it is clipped to the probes' span widened by half its width, toward the
    target (here 2 codes from the probes), instead of being trusted."""
    offsets = np.array([-6, -2, 0, 0, 2, 6])
    centre = np.array([500])
    codes = centre + offsets[:, None]
    slope, truth = 1e-3, 502.0
    # Measured: the true line plus noise that flattens it to a tenth (residuals kept).
    values = (
        0.5
        + slope * (codes - truth)
        - 0.9 * slope * (codes - 500)
        + 1e-4 * np.array([1, -1, 1, -1, 1, -1])[:, None]
    )
    est = refine(_probed(codes, values, centre), 0.5, lambda v: v)
    assert 494 - 6 <= est[0] <= 506 + 6  # within the widened span, not 30 codes away
    assert est[0] > 500  # toward the target


def test_fine_stage_recovers_from_an_estimate_far_off():
    """A fine stage started 30 codes from a neuron's code (beyond its 16-code window) walks
    back to within one code of it (truth: the exact line), re-centring its probes."""
    from anamorph.calibration.steps import FineStage, fine_stage

    n = 32
    off, slope = _lines(n, 2)
    target = 0.5
    truth = (target - off) / slope
    start = np.rint(truth).astype(np.int64)
    start[0] -= 30
    rng = np.random.default_rng([2, 1])

    def method(codes):
        return off + slope * codes["p"] + 0.2e-3 * rng.standard_normal(n)

    res = algorithms.SearchResult(start, np.full(n, target), np.ones(n, bool), 0)
    est = fine_stage(FineStage("m", (-2, -1, 1, 2), 16), res, {}, "p", method, target, lambda v: v)
    assert np.all(np.abs(est - truth) <= 1.0)
    assert res.n_runs <= 16 * 4 + 2 * 4 * 4  # the planned rounds plus at most two re-centrings


def test_fit_exponential_decay_recovers_tau():
    rng = np.random.default_rng(0)
    n = 200
    t = np.arange(0, 60e-6, 1.7e-6)
    tau = 6e-6 * np.exp(0.3 * rng.standard_normal(n))
    base = 0.5 + 0.02 * rng.standard_normal(n)
    v = base + 0.25 * np.exp(-t[:, None] / tau)
    est, amp, off, _ = fits.fit_exponentials(t, v, fits.log_grid(0.5e-6, 100e-6))
    np.testing.assert_allclose(est, tau, rtol=1e-4)
    np.testing.assert_allclose(off, base, atol=1e-6)
    np.testing.assert_allclose(amp, 0.25, rtol=1e-4)


def test_fit_psp_with_known_tau_m():
    # Analytic PSP of c dV/dt = -c V / tau_m + I0 exp(-t / tau_s):
    # V = I0/c * tau_m tau_s / (tau_s - tau_m) * (exp(-t/tau_s) - exp(-t/tau_m)).
    rng = np.random.default_rng(1)
    n = 100
    t = np.arange(0.5e-6, 50e-6, 0.3e-6)
    tau_s = 6e-6 * np.exp(0.2 * rng.standard_normal(n))
    tau_m = 1e-6 * np.exp(0.1 * rng.standard_normal(n))
    i0, c = 100e-9, 2.4e-12
    k = i0 / c * tau_m * tau_s / (tau_s - tau_m)
    v = 0.4 + k * (np.exp(-t[:, None] / tau_s) - np.exp(-t[:, None] / tau_m))
    est, amp, off, cf = fits.fit_exponentials(t, v, fits.log_grid(0.5e-6, 100e-6), fixed_tau_s=tau_m[None])
    np.testing.assert_allclose(est, tau_s, rtol=1e-4)
    area = amp * est + cf[0] * tau_m  # = I0 tau_m tau_s / c
    np.testing.assert_allclose(area, i0 * tau_m * tau_s / c, rtol=1e-3)


def test_fit_step_response_recovers_tau():
    """Rise, plateau and decay of ``c dV/dt = -c (V - B)/tau + I`` (the analytic solution,
    sampled at the ADC's uneven times) give back tau, the amplitude I tau / c and B."""
    rng = np.random.default_rng(3)
    n = 200
    t = np.floor(np.arange(0, 60e-6, 1.7e-6) / 0.5e-6) * 0.5e-6
    tau = 6e-6 * np.exp(0.1 * rng.standard_normal(n))
    base, amp = 0.4 + 0.01 * rng.standard_normal(n), 0.45
    t_on, t_off = 15e-6, 33e-6
    rise = 1 - np.exp(-np.clip(t[:, None] - t_on, 0, t_off - t_on) / tau)
    v = base + amp * rise * np.exp(-np.maximum(t[:, None] - t_off, 0) / tau)
    v[t < 9e-6] = np.nan  # samples left out, as the measurement does
    est, a, b = fits.fit_step_response(t, v, t_on, t_off, fits.log_grid(2e-6, 18e-6))
    np.testing.assert_allclose(est, tau, rtol=1e-6)
    np.testing.assert_allclose(a, amp, rtol=1e-6)
    np.testing.assert_allclose(b, base, atol=1e-9)


def test_psp_train_fit_gives_tau_syn_and_area():
    """A train of analytic PSPs, each starting a delay after its volley, on a settling
    baseline: the separable fit with the train basis returns tau_syn, and the amplitudes
    the area of one PSP, ``I_0 r tau_s`` (Rotter & Diesmann 1999 kernel, integrated)."""
    from anamorph.calibration.synapse import psp_area, train_basis

    rng = np.random.default_rng(4)
    n = 100
    dt, period, n_rep, t0 = 0.5e-6, 38e-6, 5, 32e-6
    t = (np.floor(np.arange(0, t0 + n_rep * period, 1.7e-6) / dt) * dt)[:, None]
    tau_s = 6e-6 * np.exp(0.1 * rng.standard_normal(n))
    tau_m = 12.7e-6 * np.exp(0.02 * rng.standard_normal(n))
    i0_r = 0.05 * (1 + 0.1 * rng.standard_normal(n))  # I_0 r (V)
    k = i0_r * tau_s / (tau_s - tau_m)
    delay = 0.5 * dt
    v = 0.2 + 0.2 * np.exp(-t / tau_m)
    for j in range(n_rep):
        s = t - t0 - j * period - delay
        v = v + np.where(s > 0, k * (np.exp(-s / tau_s) - np.exp(-s / tau_m)), 0.0)
    basis = [np.exp(-t / tau_m), train_basis(t, t0, period, n_rep, tau_m)]
    est, amp, off, (_, c_m) = fits.fit_separable(
        v,
        basis,
        lambda tau: train_basis(t, t0, period, n_rep, np.reshape(tau, (1, -1))),
        fits.log_grid(1e-6, 30e-6),
    )
    np.testing.assert_allclose(est, tau_s, rtol=1e-6)
    np.testing.assert_allclose(off, 0.2, atol=1e-9)
    np.testing.assert_allclose(psp_area(amp, c_m, est, tau_m, 2 * dt), i0_r * tau_s, rtol=1e-6)


def test_spike_aligned_reset_threshold_refractory():
    """Equivalent-time sampling of a regularly firing LIF with known parameters.

    The trajectory between spikes is analytic: clamp at v_r for t_ref, then
    v(s) = v_inf + (v_r - v_inf) exp(-(s - t_ref)/tau); spikes at the first grid step with
    v >= v_th. Samples are taken every 1.7 us on a 0.1 us grid.
    """
    rng = np.random.default_rng(3)
    n, b, dt, dur = 40, 4, 0.1e-6, 300e-6
    v_th = 0.7 + 0.02 * rng.standard_normal(n)
    v_r = 0.3 + 0.02 * rng.standard_normal(n)
    t_ref = 2e-6 * (1 + 0.2 * rng.random(n))
    tau, v_inf = 6e-6, 1.0
    grid = np.arange(0, dur, dt)
    adc_t = np.arange(0, dur, 1.7e-6)
    adc_idx = np.searchsorted(grid, adc_t - 1e-12)
    v_adc = np.zeros((b, len(adc_t), n))
    ev = ([], [], [])
    for s in range(b):
        phase = rng.random(n) * 5e-6  # first spike at a different time per neuron and sample
        for j in range(n):
            trace = np.empty(len(grid))
            last = -phase[j]
            for k, tk in enumerate(grid):
                since = tk - last
                if since < t_ref[j]:
                    trace[k] = v_r[j]
                    continue
                vk = v_inf + (v_r[j] - v_inf) * np.exp(-(since - t_ref[j]) / tau)
                if vk >= v_th[j]:
                    ev[0].append(tk), ev[1].append(j), ev[2].append(s)
                    last = tk
                    vk = v_r[j]
                trace[k] = vk
            v_adc[s, :, j] = trace[adc_idx]
    spikes = SpikeEvents(np.array(ev[0]), np.array(ev[1]), np.array(ev[2]), b)
    since, until = spiketrace.align(adc_t, np.arange(n), spikes, b)
    np.testing.assert_allclose(spiketrace.clamp_level(v_adc, since, dt, 1.8e-6), v_r, atol=1e-12)
    th = spiketrace.threshold_level(v_adc, until, dt, 2.5e-6)
    slope = (v_inf - v_th) / tau
    assert np.all(np.abs(th - v_th) <= slope * dt)  # within the crossing's step
    tr = spiketrace.refractory_time(
        v_adc, since, until, np.full(n, tau), 8e-6, np.arange(0.5e-6, 4e-6, 0.01e-6), dt
    )
    # The clamp ends at the first grid step at or after t_ref.
    assert np.all(np.abs(tr - t_ref) <= dt)
