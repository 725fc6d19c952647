"""The transistor-level TSTDP circuit in ngspice against the published data and the ideal rule."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from anamorph.circuits.tstdp import protocols as sp
from anamorph.circuits.tstdp.data import HIPPOCAMPAL, PARAMETER_SETS
from anamorph.circuits.tstdp.fit import circuit_predictions, fit_circuit, rule_predictions
from anamorph.circuits.tstdp.rule import weight_change
from anamorph.circuits.tstdp.circuit import TstdpBiases, load_fitted, protocol_weight_change
from anamorph.circuits.tstdp.bias import biases_for, params_for
from anamorph.errors import InputError


@pytest.fixture(scope="module")
def fitted():
    biases = load_fitted()
    return biases, circuit_predictions(biases)


def test_fitted_circuit_matches_the_hippocampal_data(fitted):
    _, circuit = fitted
    dw = np.array([d.dw for d in HIPPOCAMPAL])
    sem = np.array([d.sem for d in HIPPOCAMPAL])
    assert np.all(np.sign(circuit) == np.sign(dw)), list(zip(circuit.round(3), dw))
    assert np.sum(np.abs(circuit - dw) <= 2 * sem) >= 8


def test_circuit_matches_the_ideal_rule_with_its_mapped_parameters(fitted):
    """Within 15 % for every protocol with a clear weight change (|dw| >= 0.1)."""
    biases, circuit = fitted
    rule = rule_predictions(params_for(biases))
    clear = np.abs(rule) >= 0.1
    assert clear.sum() >= 6
    assert np.all(np.abs(circuit[clear] - rule[clear]) <= 0.15 * np.abs(rule[clear])), list(zip(circuit, rule))


def test_pairing_frequency_depression_turns_into_potentiation():
    """Visual-cortex nearest-spike set mapped to biases; Sjöström et al. 2001 pattern."""
    biases = biases_for(PARAMETER_SETS["visual-nearest"])
    low, high = {}, {}
    for dt in (10e-3, -10e-3):
        low[dt] = protocol_weight_change(sp.pairing_frequency(dt, 1.0), biases)
        high[dt] = protocol_weight_change(sp.pairing_frequency(dt, 50.0), biases)
    assert low[-10e-3] < 0 < high[-10e-3]
    assert high[10e-3] > 0.1 and high[10e-3] > low[10e-3] + 0.1


def test_bias_map_reproduces_a_reference_parameter_set():
    target = PARAMETER_SETS["hippocampal-nearest"]
    mapped = params_for(biases_for(target))
    for name in ("a2p", "a3p", "a2m", "tau_x_s", "tau_y_s", "tau_plus_s", "tau_minus_s"):
        assert getattr(mapped, name) == pytest.approx(getattr(target, name), rel=0.02), name
    assert mapped.a3m < 1e-5  # the reference's A3m = 7.5e-9: that term is switched off


def test_circuit_fit_converges_on_a_reduced_problem(fitted):
    """One bias (v_a2p) against one datum (pair +10 ms) from a start 20 mV away."""
    biases, _ = fitted
    datum = [HIPPOCAMPAL[0]]
    start = replace(biases, v_a2p_v=biases.v_a2p_v - 0.02)
    result = fit_circuit(start, free=("v_a2p_v",), data=datum, max_nfev=6)
    final = circuit_predictions(result, datum)[0]
    assert abs(final - datum[0].dw) < 0.1 * datum[0].sem


@pytest.mark.parametrize("field,value", [("v_a2p_v", 2.5), ("i_tau_x_a", -1e-9), ("v_a3m_v", float("nan"))])
def test_bias_out_of_range_is_an_input_error(field, value):
    with pytest.raises(InputError, match=field):
        protocol_weight_change(sp.pair(10e-3), replace(TstdpBiases(), **{field: value}))


def test_monte_carlo_spread_is_reported(tmp_path):
    from anamorph.circuits.sweep import run_sweep
    from anamorph.circuits.tstdp.sweep import SWEEPABLE

    table = run_sweep(SWEEPABLE, 2, 11, tmp_path, workers=1, settings={"protocols": "pairs"})
    ok = table[table["status"] == "ok"]
    assert len(ok) == 2
    for col in ("dw_pair_p10ms", "dw_pair_m10ms"):
        assert ok[col].std() > 0
        assert np.all(np.sign(ok[col]) == np.sign(HIPPOCAMPAL[0 if "p10" in col else 1].dw))
    assert (tmp_path / "sweep.parquet").is_file() and (tmp_path / "tstdp-protocols.png").is_file()
    rule = weight_change(*sp.pair(10e-3).trains(), params_for(load_fitted()))
    assert abs(ok["dw_pair_p10ms"].median() - rule) < 0.5 * abs(rule)  # mismatch spreads, does not break
