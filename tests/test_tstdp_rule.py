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
        assert abs(np.mean(sims) - analytic) < 4 * np.std(sims, ddof=1) / np.sqrt(n)
        assert np.sign(np.mean(sims)) == np.sign(analytic)  # depression below, potentiation above threshold


@pytest.mark.parametrize("name", ["visual-nearest", "visual-nearest-minimal"])
def test_visual_cortex_sets_reproduce_the_pairing_frequency_data(name):
    """Sjöström et al. 2001 (Pfister & Gerstner 2006, Table 1): 10 points, +-10 ms, 0.1-50 Hz.

    Measured: chi^2 per point 0.23 (full) and 0.35 (minimal), every point within 1 s.e.m.
    """
    s = generalisation(PARAMETER_SETS[name])["sjostrom"]
    assert s["chi2_per_point"] < 0.5, s
    assert s["within_1_sem"] == len(SJOSTROM), s
    dw = {
        (d.dt_s, d.frequency_hz): v
        for d, v in zip(SJOSTROM, rule_predictions(PARAMETER_SETS[name], SJOSTROM))
    }
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


@pytest.mark.xfail(
    strict=True,
    reason="measured chi^2/point on the quadruplets: refit 12.5, published set 5.7; "
    "the ten fitted data want a larger A2+/A2- than the quadruplets allow",
)
def test_refit_predicts_quadruplets_about_as_well_as_the_published_set(refit):
    _, score = refit
    published = generalisation(PARAMETER_SETS["hippocampal-nearest-minimal"])["quadruplets"]
    assert score["quadruplets"]["chi2_per_point"] <= 1.25 * published["chi2_per_point"]
