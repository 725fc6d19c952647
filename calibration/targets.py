"""Calibration targets: one analog value per DAC parameter, checked against the DACs.

The targets are the operating point every neuron is brought to: leak, threshold and reset
potentials (volts), membrane and synaptic time constants and refractory time (seconds),
and the synaptic current per weight-code unit (amperes). The default is the chip's nominal
operating point, :data:`anamorph.models.neuron.DEFAULT_TARGETS` (tau_m = tau_syn = 6 us as
in Cramer et al. 2022, PNAS 119(4) e2109194119).

A targets file is JSON with any subset of the fields below (the rest keep their defaults)::

    {"schema": "anamorph.calibration.targets", "schema_version": 1, "tau_m_s": 8e-6}
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING

from anamorph.errors import InputError
from anamorph.io import VERSION_KEYS, check_schema, read_json

if TYPE_CHECKING:
    from anamorph.models.process_model import ProcessModel

SCHEMA = "anamorph.calibration.targets"
VERSION = 1

#: DAC parameter of the chip -> the field of :class:`Targets` (and of NeuronParams) it sets.
FIELD_OF = {
    "v_leak": "v_leak_v",
    "v_th": "v_th_v",
    "v_reset": "v_reset_v",
    "tau_m": "tau_m_s",
    "tau_syn": "tau_syn_s",
    "t_ref": "t_ref_s",
    "syn_gain": "w_unit_a",
}


@dataclass(frozen=True)
class Targets:
    """Per-parameter calibration targets (SI units; the same for every neuron).

    Attributes
    ----------
    v_leak_v, v_th_v, v_reset_v : float
        Leak (resting), threshold and reset potentials in volts.
    tau_m_s, tau_syn_s, t_ref_s : float
        Membrane and synaptic time constants and refractory time in seconds.
    w_unit_a : float
        Peak synaptic current per weight-code unit in amperes (the synaptic gain).
    """

    v_leak_v: float
    v_th_v: float
    v_reset_v: float
    tau_m_s: float
    tau_syn_s: float
    t_ref_s: float
    w_unit_a: float

    @classmethod
    def default(cls) -> Targets:
        """The chip's nominal operating point (``DEFAULT_TARGETS`` of the models layer)."""
        from anamorph.models.neuron import DEFAULT_TARGETS

        return cls(**{f.name: float(getattr(DEFAULT_TARGETS, f.name)) for f in fields(cls)})

    def value(self, param: str) -> float:
        """The target of DAC parameter ``param`` (a name of ``anamorph.models.chip.DAC_PARAMS``)."""
        return getattr(self, FIELD_OF[param])

    def to_dict(self) -> dict:
        return {"schema": SCHEMA, "schema_version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, object], path: str | Path | None = None) -> Targets:
        """Targets from a dict (a parsed targets file); missing fields keep the defaults."""
        check_schema(data, SCHEMA, VERSION, path, what="targets file", optional=True)
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - names - {"schema", *VERSION_KEYS})
        if unknown:
            raise InputError(
                f"unknown target(s) {', '.join(unknown)}; known: {', '.join(sorted(names))}", path, unknown[0]
            )
        values = {}
        for name in names & set(data):
            v = data[name]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise InputError(f"must be a finite number, got {v!r}", path, name)
            values[name] = float(v)
        return replace(cls.default(), **values)

    @classmethod
    def load(cls, path: str | Path) -> Targets:
        return cls.from_dict(read_json(path), Path(path))


def check_targets(targets: Targets, process: ProcessModel, path: str | Path | None = None) -> None:
    """Refuse targets the chip cannot be set to, before anything runs.

    Every target must be positive where it is a time constant, a time or a gain, lie
    inside the nominal range of its DAC (``process.dac_range(param)``, the analog values
    the population-mean transfer reaches between codes 0 and 1023), potentials inside the
    ADC's range (they are measured through it), and the reset must lie below the
    threshold (otherwise a neuron would fire again at once after each spike).

    Raises
    ------
    InputError
        naming the offending target field.
    """
    for param, name in FIELD_OF.items():
        v = getattr(targets, name)
        if not math.isfinite(v):
            raise InputError(f"must be finite, got {v}", path, name)
        if not name.endswith("_v") and v <= 0:
            raise InputError(f"must be positive, got {v:g}", path, name)
        lo, hi = sorted(float(x) for x in process.dac_range(param))
        if not lo <= v <= hi:
            raise InputError(f"{v:g} is outside what the {param} DAC reaches ({lo:g} .. {hi:g})", path, name)
    adc = getattr(process, "data", {}).get("adc")
    if adc is not None:  # potentials are measured through the ADC: they must lie in its range
        lo, hi = float(adc["v_lo"]), float(adc["v_hi"])
        for name in ("v_leak_v", "v_th_v", "v_reset_v"):
            v = getattr(targets, name)
            if not lo < v < hi:
                raise InputError(
                    f"{v:g} V is outside the ADC's range ({lo:g} .. {hi:g} V), so it cannot be measured",
                    path,
                    name,
                )
    if targets.v_reset_v >= targets.v_th_v:
        raise InputError(
            f"reset {targets.v_reset_v:g} V must lie below the threshold {targets.v_th_v:g} V",
            path,
            "v_reset_v",
        )
