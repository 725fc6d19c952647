"""Monte Carlo sweep of the TSTDP circuit: ``anamorph sweep tstdp``.

Each instance draws its transistor and capacitor mismatch (Pelgrom, through
:mod:`anamorph.circuits.process`) from ``(seed, instance)`` and runs the hippocampal
protocols (Pfister & Gerstner 2006; 60 repetitions at 1 Hz, 1000x faster in the circuit)
with the shipped fitted biases. Columns: ``dw_<protocol>`` (normalised weight change,
dimensionless), e.g. ``dw_pair_p10ms``, ``dw_prepostpre_5_15ms``.
Setting ``protocols="pairs"`` runs only the two pairs (a quick sweep).
"""

from __future__ import annotations

from dataclasses import asdict, fields

from anamorph.circuits.tstdp.data import HIPPOCAMPAL
from anamorph.errors import InputError


PROTOCOL_SETS = ("hippocampal", "pairs")


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

    return {column(d): protocol_weight_change(stdp_protocols.for_datum(d), biases, CircuitRun(), None, mismatch,
                                              settings.get("corner", "tt")) for d in data}


def _figures(table, out_dir):
    from anamorph.circuits.tstdp.figures import sweep_figures

    return sweep_figures(table, out_dir)


def _sweepable():
    from anamorph.circuits.sweep import SweepableCircuit

    defaults = {**asdict(default_biases()), "corner": "tt", "mismatch_scale": 1.0, "protocols": "hippocampal"}
    return SweepableCircuit("tstdp", measure, defaults, timeout_s=900.0, figures=_figures)


SWEEPABLE = _sweepable()  # ``anamorph sweep tstdp``
