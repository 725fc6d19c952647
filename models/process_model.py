"""ProcessModel: the population statistics of the chip's circuits, as a versioned JSON file.

A ProcessModel holds, for every 10-bit DAC parameter, the nominal (population-mean)
transfer ``code -> value`` (:mod:`anamorph.models.dac`) and the spread of its per-neuron
offset and gain mismatch; the spread of the membrane capacitance; the correlation matrix
of one neuron's mismatch variables; the 6-bit synapse transfer (excitatory and
inhibitory rows) and the spread of its per-synapse gain; the temporal membrane noise; and
the ADC (bits, range, per-channel offset and gain spread). Mismatch variables are jointly
Gaussian, ``z = D L xi`` with ``L L^T = R`` (the correlation matrix) and ``D`` the spreads.

The shipped default (``models/data/process_default.json``) is produced by ``anamorph fit``
(see :mod:`anamorph.models.fit`); :func:`provisional` documents the hand-set values used
before circuit sweeps exist.
"""

from __future__ import annotations

import copy
import hashlib
import json
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from anamorph.errors import InputError
from anamorph.io import check_schema, read_json, write_json
from anamorph.models.dac import CODE_MAX, KINDS, Transfer

SCHEMA = "anamorph.process_model"
SCHEMA_VERSION = 1
DAC_PARAMS = ("v_leak", "v_th", "v_reset", "tau_m", "tau_syn", "t_ref", "syn_gain")
#: DAC parameter -> NeuronParams field it sets
PARAM_FIELD = {
    "v_leak": "v_leak_v",
    "v_th": "v_th_v",
    "v_reset": "v_reset_v",
    "tau_m": "tau_m_s",
    "tau_syn": "tau_syn_s",
    "t_ref": "t_ref_s",
    "syn_gain": "w_unit_a",
}
FIELD_PARAM = {v: k for k, v in PARAM_FIELD.items()}
MISMATCH_NAMES = tuple(f"{p}.{m}" for p in DAC_PARAMS for m in ("offset", "gain")) + ("c_mem",)
WEIGHT_CODES = 64


def param_name(param: str) -> str:
    """Normalise ``"tau_m"`` / ``"tau_m_s"`` to the DAC parameter name ``"tau_m"``."""
    if param in PARAM_FIELD:
        return param
    if param in FIELD_PARAM:
        return FIELD_PARAM[param]
    raise KeyError(f"unknown DAC parameter {param!r}; expected one of {', '.join(DAC_PARAMS)}")


def provisional() -> dict:
    """The hand-set process model used before circuit sweeps exist (documented values).

    Shaped after the transistor-level circuits (circuits/lif/, circuits/synapse/):
    voltage DACs linear 0 .. 1.8 V, 10 mV offset and 2 % gain spread; time constants
    reciprocal (a bias current sets a conductance), 1/tau_m = 1e3 + 2.86e5 x (7 µs at
    code 512), 1/tau_syn = 1e3 + 5.1e5 x (5 µs at code 400), offset spread 5e3 1/s and
    15 % gain spread (about 15 % spread of tau at 6 µs, the order of an uncalibrated
    BrainScaleS-2 neuron); refractory time 1/t_ref = 1e3 + 1e6 x (2 µs at code 512).
    Synaptic gain DAC (not a circuit of its own): linear 0 .. 2 nA per code unit, 5 %
    gain spread; per-synapse gain spread 5 %; linear 6-bit weight transfer. c_mem
    2.0 pF +- 2 %. Membrane noise 2 mV rms. ADC 8 bit over 0.1 .. 0.9 V, 5 mV offset and
    1 % gain spread. No correlations.
    """

    def dac(kind, a, b, offset_sd, gain_sd, q=0.0):
        return {"kind": kind, "coef": [a, b, q], "offset_sd": offset_sd, "gain_sd": gain_sd}

    n = len(MISMATCH_NAMES)
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "source": {"provisional": True, "note": "hand-set values, see models.process_model.provisional"},
        "dac": {
            "v_leak": dac("linear", 0.0, 1.8, 0.010, 0.02),
            "v_th": dac("linear", 0.0, 1.8, 0.010, 0.02),
            "v_reset": dac("linear", 0.0, 1.8, 0.010, 0.02),
            "tau_m": dac("reciprocal", 1e3, 2.86e5, 5e3, 0.15),
            "tau_syn": dac("reciprocal", 1e3, 5.1e5, 5e3, 0.15),
            "t_ref": dac("reciprocal", 1e3, 1e6, 5e3, 0.10),
            "syn_gain": dac("linear", 0.0, 2e-9, 0.0, 0.05),
        },
        "c_mem_f": {"mean": 2.0e-12, "sd": 0.04e-12},
        "mismatch": {"names": list(MISMATCH_NAMES), "corr": np.eye(n).tolist()},
        "synapse": {
            "gain_sd_exc": 0.05,
            "gain_sd_inh": 0.05,
            "table_exc": list(map(float, range(WEIGHT_CODES))),
            "table_inh": list(map(float, range(WEIGHT_CODES))),
        },
        "noise": {"v_rms": 2e-3, "sd_rel": 0.0},
        "adc": {"bits": 8, "v_lo": 0.1, "v_hi": 0.9, "offset_sd_v": 5e-3, "gain_sd": 0.01},
        "instances": {},
    }


_FLOAT_MAX = float(np.finfo(np.float64).max)


def _need(d: object, key: str, path: str | Path | None, where: str, kind: str | None = None) -> Any:
    if not isinstance(d, dict) or key not in d:
        raise InputError("missing field", path, f"{where}{key}")
    value = d[key]
    if kind == "number":
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not abs(value) <= _FLOAT_MAX  # NaN, inf and integers beyond any float
        ):
            raise InputError("must be a finite number", path, f"{where}{key}")
    return value


class ProcessModel:
    """Population statistics and DAC transfers of the chip's circuits (see module docstring)."""

    def __init__(self, data: dict, path: str | Path | None = None) -> None:
        try:
            self._build(data, path)
        except InputError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError, IndexError) as e:
            # what the checks of _validate do not name: still one line, naming the file
            raise InputError(f"malformed process model ({' '.join(str(e).split())[:200]})", path) from None

    def _build(self, data: dict, path: str | Path | None) -> None:
        self.data = self._validate(copy.deepcopy(data), path)
        self.transfers = {
            p: Transfer(self.data["dac"][p]["kind"], *map(float, self.data["dac"][p]["coef"]))
            for p in DAC_PARAMS
        }
        self.offset_sd = {p: float(self.data["dac"][p]["offset_sd"]) for p in DAC_PARAMS}
        self.gain_sd = {p: float(self.data["dac"][p]["gain_sd"]) for p in DAC_PARAMS}
        self.corr = np.asarray(self.data["mismatch"]["corr"], dtype=np.float64)
        syn = self.data["synapse"]
        self.weight_table_exc = np.asarray(syn["table_exc"], dtype=np.float64)
        self.weight_table_inh = np.asarray(syn["table_inh"], dtype=np.float64)

    # ----------------------------------------------------------------- validation
    @staticmethod
    def _validate(d: dict, path: str | Path | None) -> dict:
        check_schema(d, SCHEMA, SCHEMA_VERSION, path, what="process model")
        dac = _need(d, "dac", path, "")
        for p in DAC_PARAMS:
            entry = _need(dac, p, path, "dac.")
            kind = _need(entry, "kind", path, f"dac.{p}.")
            if kind not in KINDS:
                raise InputError(f"kind must be one of {KINDS}", path, f"dac.{p}.kind")
            coef = _need(entry, "coef", path, f"dac.{p}.")
            if (
                not isinstance(coef, list)
                or len(coef) != 3
                or not all(isinstance(c, (int, float)) and np.isfinite(c) for c in coef)
            ):
                raise InputError("must be three finite numbers [a, b, q]", path, f"dac.{p}.coef")
            for k in ("offset_sd", "gain_sd"):
                if _need(entry, k, path, f"dac.{p}.", "number") < 0:
                    raise InputError("must be >= 0", path, f"dac.{p}.{k}")
            if not Transfer(kind, *map(float, coef)).is_monotonic():
                raise InputError(f"transfer is not monotonic over codes 0..{CODE_MAX}", path, f"dac.{p}.coef")
        cm = _need(d, "c_mem_f", path, "")
        if (
            _need(cm, "mean", path, "c_mem_f.", "number") <= 0
            or _need(cm, "sd", path, "c_mem_f.", "number") < 0
        ):
            raise InputError("mean must be > 0 and sd >= 0", path, "c_mem_f")
        mm = _need(d, "mismatch", path, "")
        if list(_need(mm, "names", path, "mismatch.")) != list(MISMATCH_NAMES):
            raise InputError(f"must list {list(MISMATCH_NAMES)}", path, "mismatch.names")
        try:
            corr = np.asarray(_need(mm, "corr", path, "mismatch."), dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("must be a square matrix of numbers", path, "mismatch.corr") from None
        n = len(MISMATCH_NAMES)
        if (
            corr.shape != (n, n)
            or not np.all(np.isfinite(corr))
            or not np.allclose(corr, corr.T)
            or not np.allclose(np.diag(corr), 1.0)
            or np.min(np.linalg.eigvalsh(corr)) < -1e-9
        ):
            raise InputError(
                f"must be a symmetric positive semi-definite {n}x{n} correlation matrix",
                path,
                "mismatch.corr",
            )
        syn = _need(d, "synapse", path, "")
        for k in ("gain_sd_exc", "gain_sd_inh"):
            if _need(syn, k, path, "synapse.", "number") < 0:
                raise InputError("must be >= 0", path, f"synapse.{k}")
        for k in ("table_exc", "table_inh"):
            t = np.asarray(_need(syn, k, path, "synapse."), dtype=np.float64)
            if (
                t.shape != (WEIGHT_CODES,)
                or not np.all(np.isfinite(t))
                or t[0] != 0
                or np.any(np.diff(t) < 0)
            ):
                raise InputError(
                    f"must be {WEIGHT_CODES} non-decreasing numbers starting at 0", path, f"synapse.{k}"
                )
        noise = _need(d, "noise", path, "")
        if (
            _need(noise, "v_rms", path, "noise.", "number") < 0
            or _need(noise, "sd_rel", path, "noise.", "number") < 0
        ):
            raise InputError("must be >= 0", path, "noise")
        adc = _need(d, "adc", path, "")
        bits = _need(adc, "bits", path, "adc.", "number")
        if int(bits) != bits or not 1 <= bits <= 16:
            raise InputError("must be an integer 1..16", path, "adc.bits")
        if _need(adc, "v_hi", path, "adc.", "number") <= _need(adc, "v_lo", path, "adc.", "number"):
            raise InputError("v_hi must exceed v_lo", path, "adc.v_hi")
        for k in ("offset_sd_v", "gain_sd"):
            if _need(adc, k, path, "adc.", "number") < 0:
                raise InputError("must be >= 0", path, f"adc.{k}")
        if "gated_synapse" in d:  # optional device population, anamorph.models.plasticity.gated_fit
            from anamorph.models.plasticity.gated_fit import validate_section

            validate_section(d["gated_synapse"], path)
        if "tstdp" in d:  # optional synapse population, anamorph.models.plasticity.tstdp_fit
            from anamorph.models.plasticity.tstdp_fit import validate_section as validate_tstdp

            validate_tstdp(d["tstdp"], path)
        if "energy" in d:  # optional circuit energies, anamorph.models.energy
            from anamorph.models.energy import validate_section as validate_energy

            validate_energy(d["energy"], path)
        d.setdefault("source", {})
        d.setdefault("instances", {})
        return d

    # ----------------------------------------------------------------- files
    @classmethod
    def default(cls) -> ProcessModel:
        """The shipped, fitted default (``anamorph/models/data/process_default.json``)."""
        ref = resources.files("anamorph.models").joinpath("data/process_default.json")
        return cls(json.loads(ref.read_text()), path=str(ref))

    @classmethod
    def provisional(cls) -> ProcessModel:
        return cls(provisional())

    @classmethod
    def load(cls, path: str | Path) -> ProcessModel:
        return cls(read_json(path), path=path)

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.data)

    def to_dict(self) -> dict:
        return copy.deepcopy(self.data)

    def fingerprint(self) -> str:
        return hashlib.sha256(json.dumps(self.data, sort_keys=True).encode()).hexdigest()

    def without_mismatch(self, noise: bool = False) -> ProcessModel:
        """The same nominal transfers with every spread set to zero (and no noise unless asked)."""
        d = self.to_dict()
        for p in DAC_PARAMS:
            d["dac"][p]["offset_sd"] = 0.0
            d["dac"][p]["gain_sd"] = 0.0
        d["c_mem_f"]["sd"] = 0.0
        d["synapse"]["gain_sd_exc"] = d["synapse"]["gain_sd_inh"] = 0.0
        d["adc"]["offset_sd_v"] = d["adc"]["gain_sd"] = 0.0
        d["noise"]["sd_rel"] = 0.0
        if "gated_synapse" in d:
            d["gated_synapse"]["log_sd"] = [0.0] * len(d["gated_synapse"]["log_sd"])
        if "tstdp" in d:
            d["tstdp"]["log_sd"] = [0.0] * len(d["tstdp"]["log_sd"])
        if not noise:
            d["noise"]["v_rms"] = 0.0
        return ProcessModel(d)

    @property
    def gated_synapse(self) -> dict | None:
        """The gated-synapse device population (optional section ``"gated_synapse"``), or None."""
        return self.data.get("gated_synapse")

    @property
    def energy(self) -> dict:
        """Circuit energies (optional section ``"energy"``, :mod:`anamorph.models.energy`);
        without one, the shipped Monte Carlo energy sweep's (``models/data/energy.json``)."""
        if "energy" in self.data:
            return self.data["energy"]
        from anamorph.models.energy import shipped_section

        return shipped_section()

    @property
    def tstdp(self) -> dict | None:
        """The triplet-STDP synapse population (optional section ``"tstdp"``), or None."""
        return self.data.get("tstdp")

    # ----------------------------------------------------------------- transfers
    def dac_nominal(self, param: str, code: np.ndarray | float) -> np.ndarray:
        """Nominal (population-mean) analog value at 10-bit ``code`` (vectorised)."""
        return self.transfers[param_name(param)].value(code)

    def dac_inverse(self, param: str, value: np.ndarray | float) -> np.ndarray:
        """Float code whose nominal value is ``value`` (unclipped; inverse of dac_nominal)."""
        return self.transfers[param_name(param)].inverse(value)

    def dac_range(self, param: str) -> tuple[float, float]:
        """(lo, hi) of the analog values the nominal DAC reaches over codes 0..CODE_MAX."""
        return self.transfers[param_name(param)].range()

    def code_for(self, param: str, value: np.ndarray | float) -> np.ndarray:
        """The nominal code of ``value``: ``rint(dac_inverse)``, NaN -> 0, clipped to 0..CODE_MAX.

        Vectorised; returns int64 (a 0-d array for a scalar ``value``; ``int(...)`` it).
        """
        code = np.rint(self.dac_inverse(param, value))
        return np.clip(np.nan_to_num(code, nan=0.0), 0, CODE_MAX).astype(np.int64)

    def code_at_extreme(self, param: str, high: bool) -> int:
        """The end code (0 or CODE_MAX) whose nominal value is highest (``high``) or lowest."""
        v0, v1 = (float(v) for v in self.dac_nominal(param, np.array([0, CODE_MAX])))
        return CODE_MAX if (v1 > v0) == high else 0

    @property
    def c_mem_f(self) -> float:
        return float(self.data["c_mem_f"]["mean"])

    @property
    def spreads(self) -> np.ndarray:
        """Standard deviations of the mismatch variables, in the order of MISMATCH_NAMES."""
        sd = [v for p in DAC_PARAMS for v in (self.offset_sd[p], self.gain_sd[p])]
        return np.asarray(sd + [float(self.data["c_mem_f"]["sd"])])
