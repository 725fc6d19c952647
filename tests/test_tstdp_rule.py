"""The ideal triplet rule, the protocols and the rule fit, against closed forms and published data."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from anamorph.circuits.tstdp import protocols as sp
from anamorph.circuits.tstdp.data import HIPPOCAMPAL, PARAMETER_SETS, QUADRUPLET_CELLS, QUADRUPLETS, SJOSTROM
from anamorph.circuits.tstdp.fit import RULE_BOUNDS, at_bounds, fit_rule, generalisation, rule_predictions
from anamorph.circuits.tstdp.rule import TripletParams, weight_change
from anamorph.errors import InputError

P = TripletParams(a2p=5e-3, a3p=6e-3, a2m=3e-3, a3m=2e-3, tau_x_s=0.1, tau_y_s=0.12)
HIPPOCAMPAL_SETS = [name for name in PARAMETER_SETS if name.startswith("hippocampal")]


@pytest.mark.parametrize("interaction", ["nearest", "all-to-all"])
def test_single_pattern_matches_closed_forms(interaction):
    p = replace(P, interaction=interaction)
    e = np.exp
    dt = 0.01  # pair: pre then post, no history
    assert weight_change([0.0], [dt], p) == pytest.approx(p.a2p * e(-dt / p.tau_plus_s), rel=1e-12)
    assert weight_change([dt], [0.0], p) == pytest.approx(-p.a2m * e(-dt / p.tau_minus_s), rel=1e-12)
    d1, d2 = 0.005, 0.015  # post-pre-post: depression at the pre, pair + triplet at the second post
    expected = -p.a2m * e(-d1 / p.tau_minus_s) + e(-d2 / p.tau_plus_s) * (
        p.a2p + p.a3p * e(-(d1 + d2) / p.tau_y_s)
    )
    assert weight_change([d1], [0.0, d1 + d2], p) == pytest.approx(expected, rel=1e-12)
    # pre-post-pre: potentiation at the post, depression with the r2 triplet term at the 2nd pre
    expected = p.a2p * e(-d1 / p.tau_plus_s) - e(-d2 / p.tau_minus_s) * (
        p.a2m + p.a3m * e(-(d1 + d2) / p.tau_x_s)
    )
    assert weight_change([0.0, d1 + d2], [d1], p) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("t_s", [30e-3, -30e-3])
def test_quadruplet_matches_its_closed_form(t_s):
    """One nearest-spike quadruplet: post-pre-pre-post (T > 0) or pre-post-post-pre (T < 0)."""
    e, dt, t = np.exp, 5e-3, abs(t_s)
    pre, post = sp.quadruplet(t_s, dt, repetitions=1).trains()
    if t_s > 0:  # post 0, pre dt, pre dt+T, post 2dt+T
        expected = (
            -P.a2m * e(-dt / P.tau_minus_s)
            - e(-(dt + t) / P.tau_minus_s) * (P.a2m + P.a3m * e(-t / P.tau_x_s))
            + e(-dt / P.tau_plus_s) * (P.a2p + P.a3p * e(-(2 * dt + t) / P.tau_y_s))
        )
    else:  # pre 0, post dt, post dt+T, pre 2dt+T
        expected = (
            P.a2p * e(-dt / P.tau_plus_s)
            + e(-(dt + t) / P.tau_plus_s) * (P.a2p + P.a3p * e(-t / P.tau_y_s))
            - e(-dt / P.tau_minus_s) * (P.a2m + P.a3m * e(-(2 * dt + t) / P.tau_x_s))
        )
    assert weight_change(pre, post, P) == pytest.approx(expected, rel=1e-12)


def test_nearest_and_all_to_all_differ_by_trace_accumulation():
    # two pre spikes then a post: all-to-all r1 sums both, nearest keeps only the last
    pre, post = [0.0, 0.004], [0.01]
    e = np.exp
    near = weight_change(pre, post, replace(P, interaction="nearest"))
    a2a = weight_change(pre, post, replace(P, interaction="all-to-all"))
    assert near == pytest.approx(P.a2p * e(-0.006 / P.tau_plus_s), rel=1e-12)
    assert a2a == pytest.approx(P.a2p * (e(-0.006 / P.tau_plus_s) + e(-0.01 / P.tau_plus_s)), rel=1e-12)


def test_poisson_rates_follow_the_mean_field_bcm_curve():
    """All-to-all rule, independent Poisson trains: Pfister & Gerstner 2006, Eq. for <dw/dt>."""
    p = PARAMETER_SETS["visual-all-to-all"]
    rx, duration, n = 10.0, 200.0, 5
    for ry in (5.0, 40.0):
        analytic = (
            rx * ry * (p.a2p * p.tau_plus_s - p.a2m * p.tau_minus_s)
            + p.a3p * p.tau_plus_s * p.tau_y_s * rx * ry**2
            - p.a3m * p.tau_minus_s * p.tau_x_s * rx**2 * ry
        )
        sims = [
            weight_change(*sp.poisson_trains(rx, ry, duration, np.random.default_rng([7, k])), p) / duration
            for k in range(n)
        ]
        sem = np.std(sims, ddof=1) / np.sqrt(n)
        assert abs(np.mean(sims) - analytic) < 4 * sem
        # depression below, potentiation above the threshold rate: a sign is only claimed where
        # the simulated mean is statistically non-zero (measured: 50 and 40 s.e.m. from zero)
        assert abs(np.mean(sims)) > 2 * sem
        assert np.sign(np.mean(sims)) == np.sign(analytic)


@pytest.mark.parametrize("name", ["visual-nearest", "visual-nearest-minimal"])
def test_visual_cortex_sets_reproduce_the_pairing_frequency_data(name):
    """Sjöström et al. 2001 (Pfister & Gerstner 2006, Table 1): 10 points, +-10 ms, 0.1-50 Hz.

    Measured: chi^2 per point 0.23 (full) and 0.35 (minimal), every point within 1 s.e.m.
    Signs are asserted only where the data establish one (|dw| > 2 s.e.m., 7 of 10 points;
    +10 ms at 0.1 Hz, -0.04 +- 0.05, is statistically zero and the rule predicts 0 there).
    """
    s = generalisation(PARAMETER_SETS[name])["sjostrom"]
    assert s["chi2_per_point"] < 0.5, s
    assert s["within_1_sem"] == len(SJOSTROM), s
    predicted = rule_predictions(PARAMETER_SETS[name], SJOSTROM)
    signed = [(d, v) for d, v in zip(SJOSTROM, predicted) if abs(d.dw) > 2 * d.sem]
    assert len(signed) == 7
    assert all(np.sign(v) == np.sign(d.dw) for d, v in signed), signed
    dw = {(d.dt_s, d.frequency_hz): v for d, v in zip(SJOSTROM, predicted)}
    assert dw[(-10e-3, 0.1)] < 0 < dw[(-10e-3, 50.0)]  # depression turns into potentiation with frequency


@pytest.mark.parametrize(
    "make",
    [
        lambda: sp.pre_post_pre(-5e-3, 5e-3),
        lambda: sp.post_pre_post(5e-3, -1e-3),
        lambda: sp.pre_post_pre(5e-3, float("nan")),
        lambda: sp.pair(0.0),
        lambda: sp.pair(10e-3, frequency_hz=-1.0),
        lambda: sp.pair(30e-3, frequency_hz=50.0),
        lambda: sp.pair(10e-3, repetitions=0),
        lambda: sp.quadruplet(0.0),
        lambda: sp.quadruplet(20e-3, dt_s=-5e-3),
    ],
)
def test_bad_protocols_are_input_errors(make):
    with pytest.raises(InputError):
        make()


def test_quadruplet_bins_hold_every_cell_once():
    assert sum(len(b.t_cells_s) for b in QUADRUPLETS) == len(QUADRUPLET_CELLS)
    assert all(b.t_lo_s <= t <= b.t_hi_s for b in QUADRUPLETS for t in b.t_cells_s)


def test_rule_fit_recovers_known_parameters_from_a_nearby_start():
    truth = TripletParams(6e-3, 7e-3, 3e-3, 0.0, 0.1, 0.06)
    synthetic = [replace(d, dw=float(v)) for d, v in zip(HIPPOCAMPAL, rule_predictions(truth))]
    fitted = fit_rule([TripletParams(5e-3, 8e-3, 3.5e-3, 0.0, 0.1, 0.08)], synthetic, tau_y_prior=None)
    for name in ("a2p", "a3p", "a2m", "tau_y_s"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.02), name


@pytest.fixture(scope="module")
def refit():
    params = fit_rule()
    return params, generalisation(params)


def test_refit_reproduces_the_hippocampal_data_inside_its_bounds(refit):
    """At least as close to the ten points as the paper's four hippocampal sets (chi^2/point 3.08-3.44)."""
    params, score = refit
    published = min(
        generalisation(PARAMETER_SETS[n])["hippocampal"]["chi2_per_point"] for n in HIPPOCAMPAL_SETS
    )
    assert score["hippocampal"]["chi2_per_point"] <= published
    assert score["hippocampal"]["within_2_sem"] >= 8
    assert at_bounds(params) == []
    lo, hi = RULE_BOUNDS["tau_y_s"]
    assert lo < params.tau_y_s < hi and params.a3p > params.a2p  # triplet, not pair, potentiation dominates


def test_refit_predicts_quadruplets_where_the_published_set_does(refit):
    """Unseen quadruplets (Wang et al. 2005): where the paper's set is within 1 s.e.m., the refit is within 2."""
    _, score = refit
    published = generalisation(PARAMETER_SETS["hippocampal-nearest-minimal"])["quadruplets"]
    good = np.abs(published["z"]) <= 1
    assert good.sum() >= 4
    assert np.all(np.abs(np.array(score["quadruplets"]["z"])[good]) <= 2), score["quadruplets"]["z"]


def test_refit_has_the_sign_of_every_quadruplet_bin_whose_sign_is_established(refit):
    """Unseen quadruplets (Wang et al. 2005): wherever a bin's mean is more than 2 s.e.m.
    from zero (the four bins at T = +5..+80 ms, all potentiating), the refit has its sign
    and lies within 2 s.e.m. (measured z: 0.3, 0.7, 0.8, 1.7). The bins at T < 0 are
    statistically zero; there only the chi^2 (strict xfail below) judges the refit."""
    _, score = refit
    z = np.array(score["quadruplets"]["z"])
    predicted = rule_predictions(refit[0], QUADRUPLETS)
    signed = np.array([abs(b.dw) > 2 * b.sem for b in QUADRUPLETS])
    assert signed.sum() == 4
    dw = np.array([b.dw for b in QUADRUPLETS])
    assert np.all(np.sign(predicted[signed]) == np.sign(dw[signed]))
    assert np.all(np.abs(z[signed]) <= 2), z


@pytest.mark.slow
def test_rule_fit_predicts_held_out_hippocampal_protocols():
    """Five-fold cross-validation of :func:`fit_rule` on the ten hippocampal data: each fold
    leaves out two protocols (datum k and k + 5: a pair or pre-post-pre triplet and a
    post-pre-post triplet), fits the other eight and predicts the two it did not see.

    Judged on the held-out predictions only: the sign right at every datum whose sign is
    established (|dw| > 2 s.e.m., 7 of 10), and a chi^2 below that of the informationless
    predictor (each held-out datum predicted by the error-weighted mean of the eight fitted
    data): the rule carries information about protocols it was not fitted to. Measured:
    held-out chi^2/point 7.1 (in-sample 2.6), the mean predictor 15.2. One start (the paper's
    nearest-spike minimal set) instead of four: on all ten data it reaches the same optimum.
    """
    dw = np.array([d.dw for d in HIPPOCAMPAL])
    sem = np.array([d.sem for d in HIPPOCAMPAL])
    held_out, mean_predictor = np.zeros(10), np.zeros(10)
    for k in range(5):
        test = [k, k + 5]
        train = [j for j in range(10) if j not in test]
        params = fit_rule([PARAMETER_SETS["hippocampal-nearest-minimal"]], [HIPPOCAMPAL[j] for j in train])
        held_out[test] = rule_predictions(params, [HIPPOCAMPAL[j] for j in test])
        w = 1.0 / sem[train] ** 2
        mean_predictor[test] = np.sum(w * dw[train]) / np.sum(w)
    chi2 = np.mean(((held_out - dw) / sem) ** 2)
    chi2_mean = np.mean(((mean_predictor - dw) / sem) ** 2)
    print(f"held-out chi^2/point: rule {chi2:.2f}, mean predictor {chi2_mean:.2f}")
    signed = np.abs(dw) > 2 * sem
    assert signed.sum() == 7
    assert np.all(np.sign(held_out[signed]) == np.sign(dw[signed])), list(zip(held_out.round(3), dw))
    assert chi2 < chi2_mean


@pytest.mark.xfail(
    strict=True,
    reason="measured chi^2/point on the quadruplets: refit 12.5, published set 5.7; "
    "the ten fitted data want a larger A2+/A2- than the quadruplets allow",
)
def test_refit_predicts_quadruplets_about_as_well_as_the_published_set(refit):
    _, score = refit
    published = generalisation(PARAMETER_SETS["hippocampal-nearest-minimal"])["quadruplets"]
    assert score["quadruplets"]["chi2_per_point"] <= 1.25 * published["chi2_per_point"]
