r"""Fit the TSTDP circuit's biases to the hippocampal pair and triplet data.

Weighted least squares (Pfister & Gerstner 2006, Eq. 9): minimise
:math:`\sum_i ((\Delta w_i^{model} - \Delta w_i^{data}) / \sigma_i)^2` over the ten
hippocampal protocols, :math:`\sigma_i` the data's s.e.m. A hinge term
:math:`\sum_i (\max(0, m - \mathrm{sign}(d_i)\,\Delta w_i^{model}) / m)^2` (margin
:math:`m = 0.005`) asks the model to match the sign of each datum, which the near-zero
pre-post-pre data make a real constraint.

Two stages:

1. :func:`fit_rule` fits the ideal nearest-spike rule (A2p, A3p, A2m, A3m, tau_x, tau_y;
   tau_plus, tau_minus fixed at 16.8 and 33.7 ms); :func:`anamorph.circuits.tstdp.bias.biases_for`
   turns it into biases;
2. :func:`fit_circuit` refines the four amplitude bias voltages with the transistor-level
   circuit in the loop (nominal corner, finite-difference Jacobian).

``python -m anamorph.circuits.tstdp.fit --out circuits/tstdp/fitted.json --max-nfev 3``
runs both (about eight minutes on a busy 2-core machine) and writes the fitted biases with
the per-protocol fit; the file ships in the package.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace

import numpy as np
from scipy.optimize import least_squares

from anamorph.circuits.tstdp import protocols as stdp_protocols
from anamorph.circuits.tstdp.data import CITATION, HIPPOCAMPAL
from anamorph.circuits.tstdp.rule import TripletParams, weight_change
from anamorph.circuits.tstdp.circuit import FITTED_PATH, TstdpBiases, load_fitted  # noqa: F401 (re-exported)
SIGN_MARGIN = 0.005
AMPLITUDE_BIASES = ("v_a2p_v", "v_a3p_v", "v_a2m_v", "v_a3m_v")
_RULE_LOWER = np.log([1e-6, 1e-6, 1e-6, 1e-9, 1e-3, 5e-3])
_RULE_UPPER = np.log([0.1, 0.1, 0.1, 0.1, 1.0, 0.2])


def residuals(model_dw, data=HIPPOCAMPAL) -> np.ndarray:
    """Error-weighted residuals followed by the sign hinge terms."""
    model_dw = np.asarray(model_dw, dtype=float)
    dw = np.array([d.dw for d in data])
    sem = np.array([d.sem for d in data])
    hinge = np.maximum(0.0, SIGN_MARGIN - np.sign(dw) * model_dw) / SIGN_MARGIN
    return np.concatenate([(model_dw - dw) / sem, hinge])


def rule_predictions(params: TripletParams, data=HIPPOCAMPAL) -> np.ndarray:
    """The ideal rule's weight change for each datum's full protocol (60 repetitions at 1 Hz)."""
    return np.array([weight_change(*stdp_protocols.for_datum(d).trains(), params) for d in data])


def _rule(x) -> TripletParams:
    a2p, a3p, a2m, a3m, tx, ty = np.exp(x)
    return TripletParams(a2p, a3p, a2m, a3m, tx, ty, interaction="nearest")


def fit_rule(starts=None, data=HIPPOCAMPAL) -> TripletParams:
    """Stage 1: weighted least squares of the ideal nearest-spike rule, best of several starts."""
    starts = starts or [TripletParams(5e-3, 5e-3, 3e-3, 3e-3, 0.02, 0.05),
                        TripletParams(7e-3, 7e-3, 3e-3, 1e-2, 0.01, 0.03)]
    best = None
    for s in starts:
        x0 = np.clip(np.log([s.a2p, s.a3p, s.a2m, s.a3m, s.tau_x_s, s.tau_y_s]), _RULE_LOWER + 1e-9, _RULE_UPPER - 1e-9)
        r = least_squares(lambda x: residuals(rule_predictions(_rule(x), data), data), x0,
                          bounds=(_RULE_LOWER, _RULE_UPPER), x_scale=1.0)
        if best is None or r.cost < best.cost:
            best = r
    return _rule(best.x)


def circuit_predictions(biases: TstdpBiases, data=HIPPOCAMPAL, **kw) -> np.ndarray:
    """The nominal circuit's weight change for each datum's protocol."""
    from anamorph.circuits.tstdp.circuit import protocol_weight_change

    return np.array([protocol_weight_change(stdp_protocols.for_datum(d), biases, **kw) for d in data])


def fit_circuit(start: TstdpBiases, free=AMPLITUDE_BIASES, data=HIPPOCAMPAL, max_nfev: int = 4,
                diff_step_v: float = 3e-3) -> TstdpBiases:
    """Stage 2: least squares over the bias voltages ``free`` with the circuit in the loop."""
    x0 = np.array([getattr(start, f) for f in free])

    def fun(x):
        return residuals(circuit_predictions(replace(start, **dict(zip(free, map(float, x)))), data), data)

    r = least_squares(fun, x0, bounds=(np.zeros_like(x0), np.full_like(x0, 1.8)), max_nfev=max_nfev,
                      diff_step=diff_step_v / np.maximum(np.abs(x0), 1e-3), method="trf")
    return replace(start, **dict(zip(free, map(float, r.x))))


def fit_report(biases: TstdpBiases, data=HIPPOCAMPAL) -> dict:
    """Per-protocol circuit and ideal-rule weight changes, with the mapped rule parameters."""
    from anamorph.circuits.tstdp.bias import params_for

    mapped = params_for(biases)
    circ, rule = circuit_predictions(biases, data), rule_predictions(mapped, data)
    return {"mapped_params": {k: v for k, v in asdict(mapped).items()},
            "protocols": [{"label": d.label, "data_dw": d.dw, "data_sem": d.sem, "circuit_dw": float(c),
                           "rule_dw": float(r)} for d, c, r in zip(data, circ, rule)]}


def main(argv=None) -> int:
    from anamorph import io
    from anamorph.circuits.tstdp.bias import biases_for

    parser = argparse.ArgumentParser(description="Fit the TSTDP circuit's biases to the hippocampal data.")
    parser.add_argument("--out", default=str(FITTED_PATH))
    parser.add_argument("--max-nfev", type=int, default=3)
    args = parser.parse_args(argv)
    rule = fit_rule()
    start = biases_for(replace(rule, tau_plus_s=16.8e-3, tau_minus_s=33.7e-3))
    biases = fit_circuit(start, max_nfev=args.max_nfev)
    io.write_json(args.out, {"command": "python -m anamorph.circuits.tstdp.fit --out circuits/tstdp/fitted.json --max-nfev 3",
                             "citation": CITATION, "rule_fit": asdict(rule), "start_biases": asdict(start),
                             "biases": asdict(biases), **fit_report(biases)})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
