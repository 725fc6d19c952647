r"""Monte Carlo sweep of the TSTDP circuit: ``anamorph sweep tstdp``.

Each instance draws its transistor and capacitor mismatch (Pelgrom, through
:mod:`anamorph.circuits.process`) from ``(seed, instance)`` and runs the hippocampal
protocols (Pfister & Gerstner 2006; 60 repetitions at 1 Hz, 1000x faster in the circuit)
with the shipped fitted biases. Columns: ``dw_<protocol>`` (normalised weight change,
dimensionless), e.g. ``dw_pair_p10ms``, ``dw_prepostpre_5_15ms``.
Setting ``protocols="pairs"`` runs only the two pairs (a quick sweep).

Each instance also reports the triplet rule it implements (:func:`instance_params`),
columns ``a2p, a3p, a2m, a3m`` (per spike) and ``tau_x_s, tau_y_s, tau_plus_s,
tau_minus_s`` (biological seconds), in two steps:

1. ``eq_<name>``: the design-equation map of :mod:`anamorph.circuits.tstdp.bias` with the
   instance's own mismatched devices (probe transistors and capacitors carry the mismatch
   of the circuit devices they stand for, reset levels from the instance's transient).
   It follows the instance-to-instance variation without using any weight change, but
   its amplitudes are about 5-15 % high for every instance alike (median ratio to step 2:
   a2p 1.07, a3p 1.15, a2m 1.05 in the shipped sweep; unmodelled charge sharing);
2. ``<name>``: that map refined by weighted least squares of the exact rule
   (:mod:`anamorph.circuits.tstdp.rule`) to the instance's own ``dw_<protocol>`` columns,
   in log parameters with a Gaussian prior centred on step 1 (maximum a posteriori):
   :math:`\sum_i ((\Delta w_i^{rule} - \Delta w_i^{circuit}) / (\epsilon + \rho |\Delta w_i^{circuit}|))^2
   + \sum_k ((\ln p_k - \ln p_k^{eq}) / s_k)^2`. The ten protocols pin the amplitudes
   (and tau_x, tau_y through the triplets); the prior keeps the parameters the protocols
   barely constrain (tau_plus, tau_minus: only +-10 ms pairs) at the instance's design
   values. An amplitude switched off by its bias (below ``OFF_AMPLITUDE``) stays 0.

The ``dw_<protocol>`` columns extrapolate a few simulated periods to the 60 repetitions
with the update's weight dependence taken into account
(:func:`~anamorph.circuits.tstdp.circuit.protocol_weight_change`, within 0.1 % of a
simulation of all 60 periods at 1 Hz); the netlist's GMIN is 1e-15 S, so the weight's
decay on ``C_w`` (128 s on the chip) does not enter them.
"""

from __future__ import annotations

from dataclasses import asdict, fields, replace

import numpy as np

from anamorph.circuits.tstdp.data import HIPPOCAMPAL
from anamorph.errors import InputError

PROTOCOL_SETS = ("hippocampal", "pairs")
RULE_NAMES = ("a2p", "a3p", "a2m", "a3m", "tau_x_s", "tau_y_s", "tau_plus_s", "tau_minus_s")
FIT_FLOOR = 0.005  # epsilon: absolute accuracy asked of a small weight change
FIT_RELATIVE = 0.02  # rho: relative accuracy asked of a large one
PRIOR_LOG_SD = {
    "a2p": 0.3,
    "a3p": 0.3,
    "a2m": 0.3,
    "a3m": 0.3,  # s_k: width of the design-equation prior
    "tau_x_s": 0.2,
    "tau_y_s": 0.2,
    "tau_plus_s": 0.1,
    "tau_minus_s": 0.1,
}


def column(datum) -> str:
    """Table column of a datum's weight change."""
    if datum.kind == "pair":
        sign = "p" if datum.dt1_s > 0 else "m"
        return f"dw_pair_{sign}{abs(datum.dt1_s) * 1e3:.0f}ms"
    kind = datum.kind.replace("-", "")
    return f"dw_{kind}_{datum.dt1_s * 1e3:.0f}_{datum.dt2_s * 1e3:.0f}ms"


def default_biases():
    """The shipped fitted biases (``circuits/tstdp/fitted.json``), or the design defaults."""
    from anamorph.circuits.tstdp.circuit import FITTED_PATH, TstdpBiases, load_fitted

    return load_fitted() if FITTED_PATH.is_file() else TstdpBiases()


def measure(seed: int, instance: int, settings: dict) -> dict[str, float]:
    """Weight change of Monte Carlo instance ``instance`` for each protocol."""
    from anamorph.circuits.process import Mismatch
    from anamorph.circuits.tstdp.circuit import CircuitRun, TstdpBiases, protocol_weight_change

    biases = TstdpBiases(**{f.name: float(settings[f.name]) for f in fields(TstdpBiases)})
    which = settings.get("protocols", "hippocampal")
    if which not in PROTOCOL_SETS:
        raise InputError(f"protocols must be one of {PROTOCOL_SETS}", field="protocols")
    data = [d for d in HIPPOCAMPAL if which == "hippocampal" or d.kind == "pair"]
    mismatch = Mismatch(int(seed), int(instance), float(settings.get("mismatch_scale", 1.0)))
    from anamorph.circuits.tstdp import protocols as stdp_protocols

    corner = settings.get("corner", "tt")
    dw = {
        column(d): protocol_weight_change(
            stdp_protocols.for_datum(d), biases, CircuitRun(), None, mismatch, corner
        )
        for d in data
    }
    eq, fitted = instance_params(biases, data, [dw[column(d)] for d in data], mismatch, corner)
    return {
        **dw,
        **{f"eq_{k}": float(getattr(eq, k)) for k in RULE_NAMES},
        **{k: float(getattr(fitted, k)) for k in RULE_NAMES},
    }


def rule_dw(params, data) -> np.ndarray:
    """The exact rule's weight change for each datum's protocol (60 repetitions at 1 Hz)."""
    from anamorph.circuits.tstdp import protocols as stdp_protocols
    from anamorph.circuits.tstdp.rule import weight_change

    return np.array([weight_change(*stdp_protocols.for_datum(d).trains(), params) for d in data])


def refine_params(start, data, circuit_dw):
    """Maximum a posteriori rule parameters for measured ``circuit_dw`` (module docstring, step 2).

    ``start``: the design-equation parameters (the prior's centre); returns a TripletParams.
    """
    from scipy.optimize import least_squares

    from anamorph.circuits.tstdp.bias import OFF_AMPLITUDE

    target = np.asarray(circuit_dw, dtype=float)
    sigma = FIT_FLOOR + FIT_RELATIVE * np.abs(target)
    free = [k for k in RULE_NAMES if getattr(start, k) >= OFF_AMPLITUDE]
    x0 = np.log([getattr(start, k) for k in free])
    prior_sd = np.array([PRIOR_LOG_SD[k] for k in free])

    def params(x):
        return replace(start, **dict(zip(free, map(float, np.exp(x)))))

    def residuals(x):
        return np.concatenate([(rule_dw(params(x), data) - target) / sigma, (x - x0) / prior_sd])

    return params(least_squares(residuals, x0, x_scale=prior_sd, diff_step=1e-4).x)


def instance_params(biases, data, circuit_dw, mismatch=None, corner="tt"):
    """``(design-equation, refined)`` rule parameters of one circuit instance (module docstring)."""
    from anamorph.circuits.tstdp.bias import OFF_AMPLITUDE, params_for

    eq = params_for(biases, mismatch=mismatch, corner=corner)
    eq = replace(eq, **{k: 0.0 for k in RULE_NAMES[:4] if getattr(eq, k) < OFF_AMPLITUDE})
    return eq, refine_params(eq, data, circuit_dw)


def _figures(table, out_dir):
    from anamorph.circuits.tstdp.figures import sweep_figures

    return sweep_figures(table, out_dir)


def _sweepable():
    from anamorph.circuits.sweep import SweepableCircuit

    defaults = {**asdict(default_biases()), "corner": "tt", "mismatch_scale": 1.0, "protocols": "hippocampal"}
    return SweepableCircuit("tstdp", measure, defaults, timeout_s=900.0, figures=_figures)


SWEEPABLE = _sweepable()  # ``anamorph sweep tstdp``
