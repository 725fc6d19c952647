"""The ideal triplet rule, the protocols and the rule fit, against closed forms and known answers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from anamorph.circuits.tstdp import protocols as sp
from anamorph.circuits.tstdp.data import HIPPOCAMPAL, PARAMETER_SETS
from anamorph.circuits.tstdp.fit import fit_rule, rule_predictions
from anamorph.circuits.tstdp.rule import TripletParams, weight_change
from anamorph.errors import InputError

P = TripletParams(a2p=5e-3, a3p=6e-3, a2m=3e-3, a3m=2e-3, tau_x_s=0.1, tau_y_s=0.12)


@pytest.mark.parametrize("interaction", ["nearest", "all-to-all"])
def test_single_pattern_matches_closed_forms(interaction):
    p = replace(P, interaction=interaction)
    e = np.exp
    dt = 0.01  # pair: pre then post, no history
    assert weight_change([0.0], [dt], p) == pytest.approx(p.a2p * e(-dt / p.tau_plus_s), rel=1e-12)
    assert weight_change([dt], [0.0], p) == pytest.approx(-p.a2m * e(-dt / p.tau_minus_s), rel=1e-12)
    d1, d2 = 0.005, 0.015  # post-pre-post: depression at the pre, pair + triplet at the second post
    expected = (-p.a2m * e(-d1 / p.tau_minus_s)
                + e(-d2 / p.tau_plus_s) * (p.a2p + p.a3p * e(-(d1 + d2) / p.tau_y_s)))
    assert weight_change([d1], [0.0, d1 + d2], p) == pytest.approx(expected, rel=1e-12)
    # pre-post-pre: potentiation at the post, depression with the r2 triplet term at the 2nd pre
    expected = (p.a2p * e(-d1 / p.tau_plus_s)
                - e(-d2 / p.tau_minus_s) * (p.a2m + p.a3m * e(-(d1 + d2) / p.tau_x_s)))
    assert weight_change([0.0, d1 + d2], [d1], p) == pytest.approx(expected, rel=1e-12)


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
        analytic = (rx * ry * (p.a2p * p.tau_plus_s - p.a2m * p.tau_minus_s)
                    + p.a3p * p.tau_plus_s * p.tau_y_s * rx * ry ** 2
                    - p.a3m * p.tau_minus_s * p.tau_x_s * rx ** 2 * ry)
        sims = [weight_change(*sp.poisson_trains(rx, ry, duration, np.random.default_rng([7, k])), p) / duration
                for k in range(n)]
        assert abs(np.mean(sims) - analytic) < 4 * np.std(sims, ddof=1) / np.sqrt(n)
        assert np.sign(np.mean(sims)) == np.sign(analytic)  # depression below, potentiation above threshold


def test_pairing_frequency_pattern_of_the_visual_cortex_set():
    """Sjöström 2001 (qualitative): -10 ms depresses at low and potentiates at high frequency."""
    p = PARAMETER_SETS["visual-nearest"]
    dw = {(dt, f): weight_change(*sp.pairing_frequency(dt, f).trains(), p) for dt in (10e-3, -10e-3) for f in (0.1, 50.0)}
    assert dw[(-10e-3, 0.1)] < 0 < dw[(-10e-3, 50.0)]
    assert abs(dw[(10e-3, 0.1)]) < 0.01 < dw[(10e-3, 50.0)]


@pytest.mark.parametrize("make", [lambda: sp.pre_post_pre(-5e-3, 5e-3), lambda: sp.post_pre_post(5e-3, -1e-3),
                                  lambda: sp.pre_post_pre(5e-3, float("nan")), lambda: sp.pair(0.0),
                                  lambda: sp.pair(10e-3, frequency_hz=-1.0), lambda: sp.pair(30e-3, frequency_hz=50.0),
                                  lambda: sp.pair(10e-3, repetitions=0)])
def test_bad_protocols_are_input_errors(make):
    with pytest.raises(InputError):
        make()


def test_rule_fit_recovers_known_parameters_from_a_nearby_start():
    truth = TripletParams(6e-3, 4e-3, 2.5e-3, 1.2e-2, 0.008, 0.12)
    synthetic = [replace(d, dw=float(v)) for d, v in zip(HIPPOCAMPAL, rule_predictions(truth))]
    start = TripletParams(5e-3, 5e-3, 3e-3, 1e-2, 0.01, 0.1)
    fitted = fit_rule([start], synthetic)
    for name in ("a2p", "a3p", "a2m", "a3m", "tau_x_s", "tau_y_s"):
        assert getattr(fitted, name) == pytest.approx(getattr(truth, name), rel=0.02), name
