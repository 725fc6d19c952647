"""Energy per inference from circuit-level power: static power plus events counted on the chip.

One sample (one inference) of duration ``T`` on ``N`` neurons costs

    E = P_static N T  +  E_spike n_spikes  +  sum_events E_syn(code)  +  n_adc E_adc

``P_static`` is the supply power of one biased neuron with its synaptic input circuit,
``E_spike`` the supply energy of one spike, ``E_syn(code)`` that of one synaptic event of a
6-bit weight code (excitatory or inhibitory row), all measured in ngspice per Monte Carlo
instance (``p_static_w``, ``e_spike_j``, ``"e_exc_j@<code>"``, ``"e_inh_j@<code>"`` of
:mod:`anamorph.circuits.lif.circuit` and :mod:`anamorph.circuits.synapse.circuit`); the
population means are the process model's ``"energy"`` section. ``E_adc`` is a *model*, not
a measurement (no ADC circuit is simulated): Walden's figure of merit
``FoM = P / (2^ENOB f_s)`` (Walden, IEEE JSAC 17(4):539, 1999) gives ``E_adc = FoM 2^bits``;
we take ten times the best SAR converter's 4.4 fJ per conversion step (van Elzakker et al.,
IEEE JSSC 45(5):1007, 2010), 44 fJ/step, since a column-parallel ADC is no record design:
11.3 pJ per 8-bit conversion. For scale: BrainScaleS-2 spends 2.4 uJ per image
classified (Cramer et al., PNAS 119(4), 2022; the whole chip).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from anamorph.errors import InputError

SCHEMA = "anamorph.energy"
SCHEMA_VERSION = 1
N_CODES = 64
ADC_FOM_J_PER_STEP = 44e-15
ADC_MODEL = "E_adc = FoM 2^bits, FoM = 44 fJ/step (10x van Elzakker et al. 2010); a model, not a measurement"
BSS2_J_PER_IMAGE = 2.4e-6
BSS2_SOURCE = "Cramer et al., PNAS 119(4), 2022"
_SCALARS = ("p_static_neuron_w", "p_static_synapse_w", "e_spike_j")
_ROWS = ("e_syn_exc_j", "e_syn_inh_j")


@dataclass(frozen=True)
class EnergyParams:
    """Population-mean energies (J) and powers (W) of the chip's circuits.

    Attributes
    ----------
    p_static_w : static supply power of one neuron with its synaptic input (W).
    e_spike_j : supply energy of one spike (J).
    e_syn_exc_j, e_syn_inh_j : energy of one synaptic event per 6-bit code 0..63 (J).
    e_adc_j : energy of one ADC conversion (J; a model).
    """

    p_static_w: float
    e_spike_j: float
    e_syn_exc_j: np.ndarray
    e_syn_inh_j: np.ndarray
    e_adc_j: float

    @classmethod
    def from_section(cls, section: dict, adc_bits: int = 8) -> EnergyParams:
        return cls(
            p_static_w=float(section["p_static_neuron_w"]["mean"] + section["p_static_synapse_w"]["mean"]),
            e_spike_j=float(section["e_spike_j"]["mean"]),
            e_syn_exc_j=np.asarray(section["e_syn_exc_j"]["mean"], dtype=np.float64),
            e_syn_inh_j=np.asarray(section["e_syn_inh_j"]["mean"], dtype=np.float64),
            e_adc_j=float(section["adc"]["fom_j_per_step"]) * 2.0 ** int(adc_bits),
        )

    @classmethod
    def from_process(cls, process) -> EnergyParams:
        """From a ProcessModel's ``"energy"`` section (the shipped one if it has none)."""
        return cls.from_section(process.energy, int(process.data["adc"]["bits"]))


def synaptic_events(presyn_spikes: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Events per weight code ``(exc[64], inh[64])``: each presynaptic spike drives its whole row.

    ``presyn_spikes`` (n_pre,) counts the spikes of each presynaptic neuron, ``codes``
    (n_pre, n_post) the signed 6-bit codes; code 0 counts as excitatory.
    """
    codes = np.asarray(codes, dtype=np.int64)
    w = np.broadcast_to(np.asarray(presyn_spikes, dtype=np.float64)[:, None], codes.shape)
    exc = np.bincount(np.where(codes >= 0, codes, 0).ravel(), (w * (codes >= 0)).ravel(), N_CODES)
    inh = np.bincount(np.where(codes < 0, -codes, 0).ravel(), (w * (codes < 0)).ravel(), N_CODES)
    return exc, inh


def energy_per_sample(
    params: EnergyParams,
    *,
    n_neurons: int,
    duration_s: float,
    spikes: float,
    syn_exc: np.ndarray,
    syn_inh: np.ndarray,
    adc_conversions: float,
) -> dict[str, float]:
    """The breakdown (J) of one sample's energy (module docstring) and its ratio to BrainScaleS-2."""
    parts = {
        "static_j": params.p_static_w * n_neurons * duration_s,
        "spikes_j": params.e_spike_j * spikes,
        "synapses_j": float(params.e_syn_exc_j @ syn_exc + params.e_syn_inh_j @ syn_inh),
        "adc_j": params.e_adc_j * adc_conversions,
    }
    total = sum(parts.values())
    return {
        "total_j": total,
        **parts,
        "spikes": float(spikes),
        "synaptic_events": float(np.sum(syn_exc) + np.sum(syn_inh)),
        "adc_conversions": float(adc_conversions),
        "bss2_per_image_j": BSS2_J_PER_IMAGE,
        "ratio_to_bss2": total / BSS2_J_PER_IMAGE,
        "bss2_source": BSS2_SOURCE,
    }


def network_energy(
    params: EnergyParams,
    presyn_spikes: list[np.ndarray],
    codes: list[np.ndarray],
    duration_s: float,
    adc_conversions: float,
    output_spikes: float = 0.0,
) -> dict[str, float]:
    """Energy per sample of a feed-forward network from its spikes counted on the chip.

    ``presyn_spikes[l]`` are the mean spikes per sample of layer ``l``'s presynaptic neurons
    (the inputs, then each hidden layer); ``codes[l]`` that layer's weight codes. The
    spikes of the chip's neurons are those of the hidden layers plus ``output_spikes``
    (a readout of leaky integrators does not spike).
    """
    exc, inh = np.zeros(N_CODES), np.zeros(N_CODES)
    for s, c in zip(presyn_spikes, codes):
        e, i = synaptic_events(s, c)
        exc, inh = exc + e, inh + i
    return energy_per_sample(
        params,
        n_neurons=int(sum(np.shape(c)[1] for c in codes)),
        duration_s=duration_s,
        spikes=float(sum(np.sum(s) for s in presyn_spikes[1:])) + float(output_spikes),
        syn_exc=exc,
        syn_inh=inh,
        adc_conversions=adc_conversions,
    )


def in_microjoules(breakdown: dict) -> dict:
    """A breakdown with every ``*_j`` entry as ``*_uj`` (for metrics files)."""
    return {
        (k[:-2] + "_uj" if k.endswith("_j") else k): (v * 1e6 if k.endswith("_j") else v)
        for k, v in breakdown.items()
    }


def energy_phrase(breakdown_uj: dict | None) -> str:
    """``", X uJ per sample"`` for a summary line (empty without an energy breakdown)."""
    if not breakdown_uj or breakdown_uj.get("total_uj") is None:
        return ""
    return f", {breakdown_uj['total_uj']:.3g} uJ per sample"


# --------------------------------------------------------------------- the process model's section
def section_from_instances(lif: list[dict], synapse: list[dict], source: dict) -> dict:
    """The ``"energy"`` section: mean and sd over instances of each measured quantity.

    ``lif`` rows carry ``p_static_w, e_spike_j``; ``synapse`` rows ``p_static_w`` and the
    64 ``"e_exc_j@<code>"``/``"e_inh_j@<code>"`` values.
    """

    def stat(x):
        x = np.asarray(x, dtype=np.float64)
        sd = x.std(axis=0, ddof=1) if len(x) > 1 else np.zeros_like(x[0])
        return {"mean": x.mean(axis=0).tolist(), "sd": np.asarray(sd).tolist()}

    rows = {s: [[r[f"e_{s}_j@{c}"] for c in range(N_CODES)] for r in synapse] for s in ("exc", "inh")}
    return {
        "p_static_neuron_w": stat([r["p_static_w"] for r in lif]),
        "p_static_synapse_w": stat([r["p_static_w"] for r in synapse]),
        "e_spike_j": stat([r["e_spike_j"] for r in lif]),
        "e_syn_exc_j": stat(rows["exc"]),
        "e_syn_inh_j": stat(rows["inh"]),
        "adc": {"fom_j_per_step": ADC_FOM_J_PER_STEP, "model": ADC_MODEL},
        "source": {**source, "instances_lif": len(lif), "instances_synapse": len(synapse)},
    }


def validate_section(d: object, path: str | Path | None) -> None:
    """InputError naming the field if ``d`` is not a well-formed ``"energy"`` section."""

    def bad(field, msg):
        raise InputError(msg, path, f"energy.{field}")

    if not isinstance(d, dict):
        bad("", "must be an object")
    for k in (*_SCALARS, *_ROWS):
        m = d.get(k, {}).get("mean") if isinstance(d.get(k), dict) else None
        shape = () if k in _SCALARS else (N_CODES,)
        try:
            a = np.asarray(m, dtype=np.float64)
        except (TypeError, ValueError):
            bad(f"{k}.mean", "must be numbers")
        if m is None or a.shape != shape or not np.all(np.isfinite(a)):
            bad(f"{k}.mean", f"must be {'a finite number' if not shape else f'{N_CODES} finite numbers'}")
    fom = d.get("adc", {}).get("fom_j_per_step") if isinstance(d.get("adc"), dict) else None
    if isinstance(fom, bool) or not isinstance(fom, (int, float)) or not fom >= 0:
        bad("adc.fom_j_per_step", "must be a number >= 0")


def shipped_section() -> dict:
    """The ``"energy"`` section of the shipped Monte Carlo energy sweep (models/data/energy.json)."""
    ref = resources.files("anamorph.models").joinpath("data/energy.json")
    return json.loads(ref.read_text())["section"]


def measure_population(
    seed_lif: int, seed_synapse: int, instances: int, settings: dict | None = None
) -> dict:
    """Run the circuits' energy testbenches for instances ``0..instances-1`` (ngspice, serial).

    Returns the content of an energy file: per-instance rows, seeds and the section.
    ``settings`` maps ``"lif"``/``"synapse"`` to circuit settings (defaults otherwise).
    """
    from anamorph.circuits.lif.circuit import DEFAULT_SETTINGS as LIF_DEFAULTS
    from anamorph.circuits.lif.circuit import measure_energy as lif_energy
    from anamorph.circuits.synapse.circuit import DEFAULT_SETTINGS as SYN_DEFAULTS
    from anamorph.circuits.synapse.circuit import measure_energy as syn_energy

    given = settings or {}
    settings = {
        "lif": {**LIF_DEFAULTS, **given.get("lif", {})},
        "synapse": {**SYN_DEFAULTS, **given.get("synapse", {})},
    }
    lif, syn = [], []
    for k in range(instances):
        lif.append(
            {"instance": k, **{n: float(v) for n, v in lif_energy(seed_lif, k, settings["lif"]).items()}}
        )
        syn.append(
            {
                "instance": k,
                **{n: float(v) for n, v in syn_energy(seed_synapse, k, settings["synapse"]).items()},
            }
        )
    source = {"seeds": {"lif": int(seed_lif), "synapse": int(seed_synapse)}, "settings": settings}
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "seeds": source["seeds"],
        "lif": lif,
        "synapse": syn,
        "section": section_from_instances(lif, syn, source),
    }


def write_from_sweeps(out: str | Path, lif_dir: str | Path, synapse_dir: str | Path, instances: int) -> Path:
    """Measure the energies of instances ``0..instances-1`` of two sweeps (their seeds and
    settings, from each ``manifest.json``) and write the energy file ``out``.

    The shipped ``models/data/energy.json``: ``write_from_sweeps("models/data/energy.json",
    "models/data/sweeps/lif", "models/data/sweeps/synapse", 16)`` (about 2 min on one core).
    """
    from anamorph.io import read_json, write_json

    m = {k: read_json(Path(d) / "manifest.json") for k, d in (("lif", lif_dir), ("synapse", synapse_dir))}
    d = measure_population(
        int(m["lif"]["seeds"]["sweep"]),
        int(m["synapse"]["seeds"]["sweep"]),
        int(instances),
        {k: m[k]["settings"] for k in m},
    )
    d["note"] = (
        f"instances 0..{instances - 1} of the sweeps {lif_dir} and {synapse_dir} (same seeds, settings)"
    )
    return write_json(out, d)
