r"""Fit the triplet rule and the TSTDP circuit's biases to the hippocampal data.

Weighted least squares (Pfister & Gerstner 2006): minimise
:math:`\chi^2 = \sum_i ((\Delta w_i^{model} - \Delta w_i^{data}) / \sigma_i)^2` over the ten
hippocampal pair and triplet protocols (:data:`~anamorph.circuits.tstdp.data.HIPPOCAMPAL`),
:math:`\sigma_i` the data's s.e.m. There is no sign constraint: the three near-zero
pre-post-pre data lie within one s.e.m. of zero, and forcing their signs needs
tau_x near 10 ms (a previous fit did so, at 7.3 ms, and mispredicted the quadruplets).

1. :func:`fit_rule`: the minimal nearest-spike rule (A3- = 0, as in the paper's
   nearest-spike hippocampal fits, where A3- = 7.5e-9; the circuit is nearest-spike), free
   A2+, A3+, A2- and tau_y, tau_plus and tau_minus fixed at 16.8 and 33.7 ms (the pair
   window), started from the paper's four hippocampal sets. Bounds: amplitudes in
   [0, 0.1] per spike; tau_y in [10, 300] ms, from below the pair window to where, at
   the protocols' 1 Hz, o2 would carry over from one repetition to the next. The ten data
   leave tau_y free (chi^2 changes by under 3 between 40 and 300 ms, against a minimum of
   25 on 6 degrees of freedom), and a plain fit runs to the upper bound; tau_y therefore has a
   log-normal prior, median 48 ms (the paper's nearest-spike minimal value) and width
   ln 2 (the paper's eight fits span 27-125 ms). The optimum is inside the bounds.
2. :func:`~anamorph.circuits.tstdp.bias.biases_for` turns the rule into biases and
   :func:`fit_circuit` refines the amplitude bias voltages of the terms that are on, with
   the transistor-level circuit in the loop (nominal corner, finite-difference Jacobian),
   until the circuit reproduces the fitted rule's weight changes on the ten protocols.

:func:`generalisation` scores a rule on data it was not fitted to: the quadruplets of
Wang et al. 2005 and the pairing-frequency data of Sjöström et al. 2001. Measured: the
fit has chi^2/point 2.6 on the ten data (the paper's hippocampal sets 3.1-3.4) and 12.5 on
the quadruplet bins (the paper's nearest-spike sets 5.7, the previous fit 42). The
quadruplets at |T| >= 50 ms are sums of a +5 and a -5 ms pair and put LTP(+5 ms) close to
LTD(-5 ms), while the ten data ask for a larger A2+/A2-; with tau_plus and tau_minus
fixed no nearest-spike parameter set meets both (the paper's set gives up the +10 ms pair).

``python -m anamorph.circuits.tstdp.fit --out circuits/tstdp/fitted.json --max-nfev 4``
runs both (about a minute) and writes the biases with the per-protocol fit; the file
ships in the package.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict, replace

import numpy as np
from scipy.optimize import least_squares

from anamorph.circuits.tstdp import protocols as stdp_protocols
from anamorph.circuits.tstdp.circuit import FITTED_PATH, TstdpBiases, load_fitted  # noqa: F401 (re-exported)
from anamorph.circuits.tstdp.data import (
    CITATION,
    HIPPOCAMPAL,
    PARAMETER_SETS,
    QUADRUPLETS,
    SJOSTROM,
    UNUSED_TAU_X_S,
    Datum,
    PairingDatum,
    QuadrupletBin,
)
from anamorph.circuits.tstdp.rule import TripletParams, weight_change
from anamorph.errors import InputError

AMPLITUDE_BIASES = ("v_a2p_v", "v_a3p_v", "v_a2m_v", "v_a3m_v")
RULE_BOUNDS = {"a2p": (0.0, 0.1), "a3p": (0.0, 0.1), "a2m": (0.0, 0.1), "tau_y_s": (10e-3, 300e-3)}
TAU_Y_PRIOR = (48e-3, float(np.log(2.0)))  # (median s, s.d. of ln tau_y)
STARTS = (
    "hippocampal-nearest-minimal",
    "hippocampal-nearest",
    "hippocampal-all-to-all-minimal",
    "hippocampal-all-to-all",
)


def protocols_for(datum) -> list:
    """The protocols whose mean weight change a datum measured (a quadruplet bin: one per cell)."""
    if isinstance(datum, Datum):
        return [stdp_protocols.for_datum(datum)]
    if isinstance(datum, PairingDatum):
        return [stdp_protocols.pairing_frequency(datum.dt_s, datum.frequency_hz)]
    if isinstance(datum, QuadrupletBin):
        return [stdp_protocols.quadruplet(t) for t in datum.t_cells_s]
    raise InputError(f"no protocol for datum {datum!r}", field="datum")


def residuals(model_dw, data=HIPPOCAMPAL) -> np.ndarray:
    """Error-weighted residuals ``(model - data) / sem``."""
    return (np.asarray(model_dw, dtype=float) - np.array([d.dw for d in data])) / np.array(
        [d.sem for d in data]
    )


def rule_predictions(params: TripletParams, data=HIPPOCAMPAL) -> np.ndarray:
    """The ideal rule's weight change for each datum's full protocol(s)."""
    return np.array([np.mean([weight_change(*p.trains(), params) for p in protocols_for(d)]) for d in data])


def _minimal(x) -> TripletParams:
    a2p, a3p, a2m, log_tau_y = x
    return TripletParams(a2p, a3p, a2m, 0.0, UNUSED_TAU_X_S, float(np.exp(log_tau_y)), interaction="nearest")


def fit_rule(starts=None, data=HIPPOCAMPAL, tau_y_prior=TAU_Y_PRIOR) -> TripletParams:
    """Stage 1: (maximum a posteriori) weighted least squares of the minimal nearest-spike rule.

    ``tau_y_prior = (median_s, sigma_ln)`` adds the residual ``ln(tau_y / median) / sigma_ln``;
    ``None`` fits the data alone. Best of the ``starts`` (default: the paper's hippocampal sets).
    """
    starts = starts or [PARAMETER_SETS[name] for name in STARTS]
    names = ("a2p", "a3p", "a2m", "tau_y_s")
    lower = np.array([RULE_BOUNDS[n][0] for n in names[:3]] + [np.log(RULE_BOUNDS["tau_y_s"][0])])
    upper = np.array([RULE_BOUNDS[n][1] for n in names[:3]] + [np.log(RULE_BOUNDS["tau_y_s"][1])])

    def fun(x):
        r = residuals(rule_predictions(_minimal(x), data), data)
        if tau_y_prior is None:
            return r
        return np.append(r, (x[3] - np.log(tau_y_prior[0])) / tau_y_prior[1])

    best = None
    for s in starts:
        x0 = np.clip([s.a2p, s.a3p, s.a2m, np.log(s.tau_y_s)], lower + 1e-9, upper - 1e-9)
        r = least_squares(
            fun, x0, bounds=(lower, upper), x_scale=[1e-3, 1e-3, 1e-3, 0.3], xtol=1e-12, ftol=1e-12
        )
        if best is None or r.cost < best.cost:
            best = r
    return _minimal(best.x)


def at_bounds(params: TripletParams, rel: float = 1e-3) -> list[str]:
    """Names of the fitted parameters that sit on (within ``rel`` of) a bound of :data:`RULE_BOUNDS`."""
    out = []
    for name, (lo, hi) in RULE_BOUNDS.items():
        v = getattr(params, name)
        if abs(v - lo) <= rel * max(abs(hi), 1e-12) or abs(v - hi) <= rel * abs(hi):
            out.append(name)
    return out


def score(model_dw, data) -> dict:
    """chi^2 per point, the z-scores and how many predictions lie within one and two s.e.m."""
    z = residuals(model_dw, data)
    return {
        "chi2_per_point": float(np.mean(z**2)),
        "z": [float(v) for v in z],
        "within_1_sem": int(np.sum(np.abs(z) <= 1)),
        "within_2_sem": int(np.sum(np.abs(z) <= 2)),
        "n": len(z),
    }


def generalisation(params: TripletParams) -> dict:
    """Scores on the fitted data and on two unseen data sets (quadruplets, pairing frequency)."""
    return {
        name: score(rule_predictions(params, data), data)
        for name, data in (("hippocampal", HIPPOCAMPAL), ("quadruplets", QUADRUPLETS), ("sjostrom", SJOSTROM))
    }


def circuit_predictions(biases: TstdpBiases, data=HIPPOCAMPAL, **kw) -> np.ndarray:
    """The nominal circuit's weight change for each datum's protocol(s)."""
    from anamorph.circuits.tstdp.circuit import protocol_weight_change

    return np.array(
        [np.mean([protocol_weight_change(p, biases, **kw) for p in protocols_for(d)]) for d in data]
    )


def fit_circuit(
    start: TstdpBiases,
    free=AMPLITUDE_BIASES,
    data=HIPPOCAMPAL,
    max_nfev: int = 4,
    diff_step_v: float = 3e-3,
    target=None,
) -> TstdpBiases:
    """Stage 2: least squares over the bias voltages ``free`` with the circuit in the loop.

    The circuit's weight changes are fitted to ``target`` (default: the data's), in units
    of the data's s.e.m.; :func:`main` passes the fitted rule's predictions, so that the
    circuit implements that rule rather than refitting it.
    """
    x0 = np.array([getattr(start, f) for f in free])
    goal = [replace(d, dw=float(t)) for d, t in zip(data, target)] if target is not None else data

    def fun(x):
        return residuals(circuit_predictions(replace(start, **dict(zip(free, map(float, x)))), goal), goal)

    r = least_squares(
        fun,
        x0,
        bounds=(np.zeros_like(x0), np.full_like(x0, 1.8)),
        max_nfev=max_nfev,
        diff_step=diff_step_v / np.maximum(np.abs(x0), 1e-3),
        method="trf",
    )
    return replace(start, **dict(zip(free, map(float, r.x))))


def fit_report(biases: TstdpBiases, data=HIPPOCAMPAL) -> dict:
    """Per-protocol circuit and ideal-rule weight changes, with the mapped rule parameters."""
    from anamorph.circuits.tstdp.bias import params_for

    mapped = params_for(biases)
    circ, rule = circuit_predictions(biases, data), rule_predictions(mapped, data)
    return {
        "mapped_params": {k: v for k, v in asdict(mapped).items()},
        "protocols": [
            {
                "label": d.label,
                "data_dw": d.dw,
                "data_sem": d.sem,
                "circuit_dw": float(c),
                "rule_dw": float(r),
            }
            for d, c, r in zip(data, circ, rule)
        ],
    }


def main(argv=None) -> int:
    from anamorph import io
    from anamorph.circuits.tstdp.bias import OFF_AMPLITUDE, biases_for

    parser = argparse.ArgumentParser(
        description="Fit the TSTDP rule and circuit biases to the hippocampal data."
    )
    parser.add_argument("--out", default=str(FITTED_PATH))
    parser.add_argument("--max-nfev", type=int, default=4)
    parser.add_argument(
        "--rule",
        default="fit",
        help="'fit' (default) or a nearest-spike name of PARAMETER_SETS "
        "for the circuit to implement instead of the fit",
    )
    args = parser.parse_args(argv)
    if args.max_nfev < 1:
        raise InputError("--max-nfev must be at least 1", field="--max-nfev")
    if args.rule != "fit" and getattr(PARAMETER_SETS.get(args.rule), "interaction", None) != "nearest":
        raise InputError(
            f"--rule must be 'fit' or a nearest-spike parameter set, not {args.rule!r}", field="--rule"
        )
    rule = fit_rule() if args.rule == "fit" else PARAMETER_SETS[args.rule]
    start = biases_for(rule)
    free = tuple(
        b
        for b, term in zip(AMPLITUDE_BIASES, ("a2p", "a3p", "a2m", "a3m"))
        if getattr(rule, term) >= OFF_AMPLITUDE
    )
    biases = fit_circuit(start, free=free, max_nfev=args.max_nfev, target=rule_predictions(rule))
    method = {
        "model": "minimal nearest-spike (A3- = 0)" if args.rule == "fit" else f"published set {args.rule}",
        "bounds": RULE_BOUNDS,
        "tau_y_prior": {"median_s": TAU_Y_PRIOR[0], "sigma_ln": TAU_Y_PRIOR[1]},
        "starts": list(STARTS),
        "at_bounds": at_bounds(rule),
        "free_biases": list(free),
    }
    published = "hippocampal-nearest-minimal"
    rule_arg = "" if args.rule == "fit" else f" --rule {args.rule}"
    io.write_json(
        args.out,
        {
            "command": "python -m anamorph.circuits.tstdp.fit --out circuits/tstdp/fitted.json "
            f"--max-nfev {args.max_nfev}{rule_arg}",
            "citation": CITATION,
            "rule_fit": asdict(rule),
            "rule_fit_method": method,
            "start_biases": asdict(start),
            "biases": asdict(biases),
            **fit_report(biases),
            "generalisation": {
                "rule_fit": generalisation(rule),
                published: generalisation(PARAMETER_SETS[published]),
                "circuit_quadruplets": score(circuit_predictions(biases, QUADRUPLETS), QUADRUPLETS),
            },
        },
    )
    return 0


if __name__ == "__main__":
    import sys

    try:
        raise SystemExit(main())
    except InputError as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
