"""Chip: one seeded sample of a ProcessModel, BrainScaleS-2-like.

512 neurons, 256 synapse rows per neuron (excitatory and inhibitory rows give a signed
6-bit weight -63..63), 10-bit DAC codes per neuron for leak, threshold, reset, tau_m,
tau_syn, refractory time and synaptic gain. Each neuron's true parameters follow from its
codes through its own mismatched DAC transfers (:mod:`anamorph.models.dac`); each synapse
has its own gain; each neuron has a temporal membrane-noise level and an ADC channel with
offset and gain error. ``detune`` adds the extra spread of Cramer et al. 2022 (Fig. 4B):
tau_m, tau_syn and (v_th - v_leak) of each neuron are multiplied by ``1 + sigma_d N(0, 1)``.

The synaptic current of a spike through a synapse in row ``r`` of neuron ``n`` with code
``w`` is ``T(|w|) * g[r, n] * w_unit[n]`` (sign of ``w``), where ``T`` is the 6-bit
transfer table of the row type (about ``|w|``), ``g`` the per-synapse gain and ``w_unit``
the neuron's synaptic-gain DAC output (A per code unit).

Plasticity: every synapse also has its own triplet-STDP correlation sensor parameters
(``hidden["tstdp.<name>"]``, shape (256, 512), time constants in chip seconds) and each
column (neuron) a sensor-ADC offset per sensor type (:mod:`anamorph.models.plasticity`).
They are drawn from the process model's ``"tstdp"`` section with ``default_rng([seed, 2])``
(so the other draws of a seed are unchanged) and, being a function of seed and process
model, are drawn again when a chip file is read instead of being stored in it.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import check_schema, read_json, write_json
from anamorph.models.dac import CODE_MAX, neuron_values
from anamorph.models.neuron import DEFAULT_TARGETS, NeuronParams
from anamorph.models.plasticity.adc import SENSOR_ADC
from anamorph.models.plasticity.sensors import NAMES as TSTDP_NAMES
from anamorph.models.plasticity.synapse_params import sample_params, section_of
from anamorph.models.process_model import DAC_PARAMS, MISMATCH_NAMES, PARAM_FIELD, ProcessModel

N_NEURONS = 512
MAX_FAN_IN = 256
WEIGHT_MAX = 63
SCHEMA = "anamorph.chip"
SCHEMA_VERSION = 1
_MIN_FACTOR = 0.05  # detune and gain factors are clipped here (they stay positive)

HIDDEN_SHAPES = {
    **{name: (N_NEURONS,) for name in MISMATCH_NAMES if name != "c_mem"},
    "c_mem_f": (N_NEURONS,),
    "noise_v_rms": (N_NEURONS,),
    "adc_offset_v": (N_NEURONS,),
    "adc_gain": (N_NEURONS,),
    "detune_tau_m": (N_NEURONS,),
    "detune_tau_syn": (N_NEURONS,),
    "detune_v_th": (N_NEURONS,),
    "syn_gain_exc": (MAX_FAN_IN, N_NEURONS),
    "syn_gain_inh": (MAX_FAN_IN, N_NEURONS),
}
#: hidden arrays of the plasticity sensors: drawn from (seed, process), not stored in chip files
PLASTICITY_SHAPES = {
    **{f"tstdp.{name}": (MAX_FAN_IN, N_NEURONS) for name in TSTDP_NAMES},
    "tstdp.adc_offset_causal_lsb": (N_NEURONS,),
    "tstdp.adc_offset_acausal_lsb": (N_NEURONS,),
}


def plasticity_hidden(process: ProcessModel, seed: int) -> dict[str, np.ndarray]:
    """Per-synapse TSTDP sensor parameters and sensor-ADC column offsets (see module docstring)."""
    rng = np.random.default_rng([int(seed), 2])
    out = {
        f"tstdp.{k}": v for k, v in sample_params(section_of(process), rng, (MAX_FAN_IN, N_NEURONS)).items()
    }
    for kind in ("causal", "acausal"):
        out[f"tstdp.adc_offset_{kind}_lsb"] = SENSOR_ADC.offset_sd_lsb * rng.standard_normal(N_NEURONS)
    return out


def validate_codes(codes: dict, path: str | None = None) -> dict[str, np.ndarray]:
    """Check a full set of DAC codes (each an integer array of shape (512,) in 0..CODE_MAX)."""
    if not isinstance(codes, dict):
        raise InputError("codes must be a mapping of DAC parameter -> 512 codes", path, "codes")
    out = {}
    for p in DAC_PARAMS:
        if p not in codes:
            raise InputError("missing field", path, f"codes.{p}")
        try:
            c = np.asarray(codes[p], dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("must be numbers", path, f"codes.{p}") from None
        if c.shape != (N_NEURONS,):
            raise InputError(f"must have {N_NEURONS} entries, got shape {c.shape}", path, f"codes.{p}")
        if not np.all(np.isfinite(c)) or np.any(c != np.round(c)):
            raise InputError("must be integers (no NaN)", path, f"codes.{p}")
        if c.min() < 0 or c.max() > CODE_MAX:
            raise InputError(f"DAC code outside 0..{CODE_MAX}", path, f"codes.{p}")
        out[p] = c.astype(np.int64)
    unknown = set(codes) - set(DAC_PARAMS)
    if unknown:
        raise InputError(f"unknown DAC parameter(s) {sorted(unknown)}", path, "codes")
    return out


def _encode(a: np.ndarray) -> dict:
    a = np.ascontiguousarray(a, dtype="<f8")
    return {"dtype": "<f8", "shape": list(a.shape), "b64": base64.b64encode(a.tobytes()).decode()}


def _decode(d: dict, path: str | Path | None, name: str) -> np.ndarray:
    try:
        a = np.frombuffer(base64.b64decode(d["b64"], validate=True), dtype="<f8").reshape(d["shape"])
    except (KeyError, TypeError, ValueError):
        raise InputError("malformed array", path, f"hidden.{name}") from None
    if tuple(a.shape) != HIDDEN_SHAPES[name] or not np.all(np.isfinite(a)):
        raise InputError(f"must be finite with shape {HIDDEN_SHAPES[name]}", path, f"hidden.{name}")
    return a.astype(np.float64)


_ADC_BLOCK_VALUES = 16_384  # values converted per block (128 kB, within L2)


@dataclass(frozen=True, eq=False)
class Chip:
    """One sampled chip: its configured DAC codes and its hidden (true) properties."""

    seed: int
    codes: dict[str, np.ndarray]
    process: ProcessModel
    hidden: dict[str, np.ndarray] = field(repr=False)
    detune: float = 0.0

    def with_codes(self, codes: dict[str, np.ndarray]) -> Chip:
        """A copy with new DAC codes (all of DAC_PARAMS, or a subset replacing those given)."""
        merged = {**self.codes, **dict(codes)}
        return Chip(self.seed, validate_codes(merged), self.process, self.hidden, self.detune)

    def dac_values(self, param: str, codes: np.ndarray | None = None) -> np.ndarray:
        """Each neuron's TRUE analog value of ``param`` at ``codes`` (default: configured)."""
        t = self.process.transfers[param]
        codes = self.codes[param] if codes is None else codes
        return neuron_values(
            t.kind, t.a, t.b, t.q, self.hidden[f"{param}.offset"], self.hidden[f"{param}.gain"], codes
        )

    def true_params(self) -> NeuronParams:
        """Per-neuron TRUE parameters (only tests and benchmarks may use this)."""
        v = {PARAM_FIELD[p]: self.dac_values(p) for p in DAC_PARAMS}
        h = self.hidden
        v["tau_m_s"] = v["tau_m_s"] * h["detune_tau_m"]
        v["tau_syn_s"] = v["tau_syn_s"] * h["detune_tau_syn"]
        v["v_th_v"] = v["v_leak_v"] + (v["v_th_v"] - v["v_leak_v"]) * h["detune_v_th"]
        v["w_unit_a"] = np.maximum(v["w_unit_a"], 0.0)
        return NeuronParams(c_mem_f=h["c_mem_f"].copy(), **v)

    def synapse_current_a(
        self, codes: np.ndarray, first_post: int, params: NeuronParams | None = None
    ) -> np.ndarray:
        """TRUE current jump (A) of each synapse for a layer of weight codes (tests only).

        ``codes`` has shape (n_pre, n_post): row ``r`` feeds synapse row ``r`` of chip
        neurons ``first_post .. first_post + n_post - 1``.
        """
        codes = np.asarray(codes, dtype=np.int64)
        n_pre, n_post = codes.shape
        post = slice(first_post, first_post + n_post)
        w_unit = (params or self.true_params()).w_unit_a[post]
        mag = np.abs(codes)
        exc = self.process.weight_table_exc[mag] * self.hidden["syn_gain_exc"][:n_pre, post]
        inh = self.process.weight_table_inh[mag] * self.hidden["syn_gain_inh"][:n_pre, post]
        return np.where(codes > 0, exc, -inh) * w_unit[None, :]

    def adc(
        self,
        v_v: np.ndarray,
        neurons: np.ndarray,
        offset_lsb: np.ndarray | None = None,
        out: np.ndarray | None = None,
    ) -> np.ndarray:
        """ADC reading in nominal volts of membrane voltages ``v_v[..., k]`` of ``neurons[k]``.

        Channel ``n`` converts ``code = clip(rint((g_n V + o_n - v_lo) / lsb) + d_n, 0,
        2^bits - 1)`` and reports ``v_lo + code lsb``: ``g_n``, ``o_n`` its hidden gain and
        offset, ``d_n`` = ``offset_lsb[n]`` its digital offset (integer LSBs, default 0),
        added to the converted value as BrainScaleS-2's per-channel CADC offset is
        (``CADCChannelConfig.offset``, calix ``ChannelOffsetCalib``). ``out``: a float64 array
        of ``v_v``'s shape for the result (``v_v`` itself converts in place).
        """
        a = self.process.data["adc"]
        levels = 2 ** int(a["bits"]) - 1
        lsb = (a["v_hi"] - a["v_lo"]) / levels
        gain = self.hidden["adc_gain"][neurons] / lsb
        shift = (self.hidden["adc_offset_v"][neurons] - a["v_lo"]) / lsb
        digital = None if offset_lsb is None else np.asarray(offset_lsb, dtype=np.float64)[neurons]
        v_v = np.asarray(v_v, dtype=np.float64)
        out = np.empty(v_v.shape) if out is None else out
        if out.shape != v_v.shape or out.dtype != np.float64 or not out.flags.c_contiguous:
            raise ValueError("out must be a C-contiguous float64 array of v_v's shape")
        if v_v.size == 0:
            return out
        rows_in, rows_out = v_v.reshape(-1, gain.size), out.reshape(-1, gain.size)
        block = max(1, _ADC_BLOCK_VALUES // max(gain.size, 1))
        for lo in range(0, rows_in.shape[0], block):  # blocks that stay in cache for all passes
            code = rows_out[lo : lo + block]
            np.multiply(rows_in[lo : lo + block], gain, out=code)  # (v gain + offset - v_lo) / lsb
            code += shift
            np.rint(code, out=code)
            if digital is not None:
                code += digital
            np.clip(code, 0, levels, out=code)
            code *= lsb
            code += a["v_lo"]
        return out

    # ----------------------------------------------------------------- files
    def to_dict(self) -> dict:
        return {
            "schema": SCHEMA,
            "schema_version": SCHEMA_VERSION,
            "seed": int(self.seed),
            "detune": float(self.detune),
            "codes": {p: self.codes[p].tolist() for p in DAC_PARAMS},
            "process": self.process.to_dict(),
            "hidden": {k: _encode(self.hidden[k]) for k in sorted(HIDDEN_SHAPES)},
        }

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, path: str | Path | None = None) -> Chip:
        try:
            return cls._from_dict(d, path)
        except InputError:
            raise
        except (TypeError, ValueError, KeyError, AttributeError, OverflowError, IndexError) as e:
            # what the checks below do not name: still one line, naming the file
            raise InputError(f"malformed chip file ({' '.join(str(e).split())[:200]})", path) from None

    @classmethod
    def _from_dict(cls, d: dict, path: str | Path | None = None) -> Chip:
        check_schema(d, SCHEMA, SCHEMA_VERSION, path, what="chip file")
        for k in ("seed", "detune", "codes", "process", "hidden"):
            if k not in d:
                raise InputError("missing field", path, k)
        if not isinstance(d["seed"], int) or isinstance(d["seed"], bool):
            raise InputError("must be an integer", path, "seed")
        if isinstance(d["detune"], bool) or not isinstance(d["detune"], (int, float)) or not d["detune"] >= 0:
            raise InputError("must be a number >= 0", path, "detune")
        process = ProcessModel(d["process"], path=f"{path}:process" if path else "process")
        hidden_in = d["hidden"]
        if not isinstance(hidden_in, dict):
            raise InputError("must be an object", path, "hidden")
        hidden = {}
        for name in HIDDEN_SHAPES:
            if name not in hidden_in:
                raise InputError("missing field", path, f"hidden.{name}")
            hidden[name] = _decode(hidden_in[name], path, name)
        hidden.update(plasticity_hidden(process, d["seed"]))
        return cls(d["seed"], validate_codes(d["codes"], path), process, hidden, float(d["detune"]))

    @classmethod
    def load(cls, path: str | Path) -> Chip:
        return cls.from_dict(read_json(path), path)

    def fingerprint(self) -> str:
        """sha256 of the chip's content (seed, detune, codes, process model, hidden arrays)."""
        h = hashlib.sha256()
        h.update(
            json.dumps(
                {
                    "seed": int(self.seed),
                    "detune": float(self.detune),
                    "codes": {p: self.codes[p].tolist() for p in DAC_PARAMS},
                    "process": self.process.fingerprint(),
                },
                sort_keys=True,
            ).encode()
        )
        for k in sorted(HIDDEN_SHAPES):
            h.update(k.encode())
            h.update(np.ascontiguousarray(self.hidden[k], dtype="<f8").tobytes())
        return h.hexdigest()


def default_codes(process: ProcessModel, targets: NeuronParams = DEFAULT_TARGETS) -> dict[str, np.ndarray]:
    """The codes that set a nominal neuron to ``targets`` (:meth:`ProcessModel.code_for`)."""
    out = {}
    for p in DAC_PARAMS:
        target = np.broadcast_to(np.asarray(getattr(targets, PARAM_FIELD[p]), dtype=np.float64), (N_NEURONS,))
        out[p] = process.code_for(p, target)
    return out


def _correlated_normal(rng: np.random.Generator, corr: np.ndarray, n: int) -> np.ndarray:
    """``n`` draws of a standard normal vector with correlation ``corr`` (PSD allowed)."""
    w, v = np.linalg.eigh(corr)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    return rng.standard_normal((n, corr.shape[0])) @ root.T


def sample_chip(process: ProcessModel, seed: int, *, detune: float = 0.0) -> Chip:
    """Draw one chip from ``process`` with ``seed`` (see module docstring).

    Process mismatch comes from ``default_rng([seed, 0])`` and the detune factors from
    ``default_rng([seed, 1])``, so chips of one seed with different ``detune`` share their
    process mismatch. Codes start at the nominal inverse of DEFAULT_TARGETS.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InputError("must be a non-negative integer", field="seed")
    if not np.isfinite(detune) or detune < 0:
        raise InputError("must be a finite number >= 0", field="detune")
    rng = np.random.default_rng([int(seed), 0])
    z = _correlated_normal(rng, process.corr, N_NEURONS) * process.spreads[None, :]
    hidden = {name: z[:, k].copy() for k, name in enumerate(MISMATCH_NAMES) if name != "c_mem"}
    hidden["c_mem_f"] = np.maximum(process.c_mem_f + z[:, -1], _MIN_FACTOR * process.c_mem_f)
    d = process.data
    hidden["noise_v_rms"] = d["noise"]["v_rms"] * np.maximum(
        1.0 + d["noise"]["sd_rel"] * rng.standard_normal(N_NEURONS), 0.0
    )
    hidden["adc_offset_v"] = d["adc"]["offset_sd_v"] * rng.standard_normal(N_NEURONS)
    hidden["adc_gain"] = 1.0 + d["adc"]["gain_sd"] * rng.standard_normal(N_NEURONS)
    for kind in ("exc", "inh"):
        g = 1.0 + d["synapse"][f"gain_sd_{kind}"] * rng.standard_normal((MAX_FAN_IN, N_NEURONS))
        hidden[f"syn_gain_{kind}"] = np.maximum(g, _MIN_FACTOR)
    rng_d = np.random.default_rng([int(seed), 1])
    for name in ("detune_tau_m", "detune_tau_syn", "detune_v_th"):
        hidden[name] = np.maximum(1.0 + detune * rng_d.standard_normal(N_NEURONS), _MIN_FACTOR)
    hidden.update(plasticity_hidden(process, seed))
    return Chip(int(seed), default_codes(process), process, hidden, float(detune))
