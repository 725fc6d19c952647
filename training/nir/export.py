"""``anamorph export RUN_DIR --nir FILE``: a trained surrogate-gradient run as a NIR graph.

The graph is the chain

    input (Input) -> hidden_weights (Linear) -> hidden (CubaLIF)
                  -> readout_weights (Linear) -> readout (CubaLI) -> output (Output)

with the chip's nominal parameters (the calibration targets the run was deployed with:
tau_mem = tau_syn = 6 µs, leak = reset = 400 mV, threshold 550 mV) in NIR's documented units,
ms and mV; times are biological-equivalent (the chip's 6 µs is written as 6 ms, it runs
1000x faster). The weights are the run's own (``weights.npz`` ``w0, w1``, transposed to
NIR's (out, in)): dimensionless "model units" -- one unit adds one threshold distance
(v_th - v_leak) to the membrane's per-step increment -- with ``w_in = 1`` and ``r`` chosen
so that NIR's continuous equations with Dirac spikes reproduce them exactly
(:mod:`anamorph.training.nir.units` derives ``r``). ``codes_per_unit`` in the metadata turns
them into the chip's signed 6-bit codes (``rint(W * codes_per_unit)``, |code| <= 63).

The readout is a CubaLI: on the chip its threshold sits at the top of the DAC range, and the
class is the neuron whose membrane reaches the highest value during the sample. The graph's
metadata (never needed to run it, as NIR asks) carries the time and voltage units, dt, the
6-bit scale, the refractory time NIR has no field for, the chip's fingerprint and the run's
settings (so that ``anamorph import`` can rebuild the same run folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import read_json, write_with
from anamorph.training.mapping import WEIGHT_MAX, codes_per_unit
from anamorph.training.nir.units import ACCELERATION, EXPORT_K, EXPORT_V_UNIT_V, export_r
from anamorph.training.run import load_run


def run_nominal(c):
    """The nominal NeuronParams a run was deployed with (its calibration's targets)."""
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.training.prepare import nominal_from_targets

    if c.calibration is None:
        return DEFAULT_TARGETS
    from anamorph.calibration import Calibration

    if not Path(c.calibration).is_file():
        raise InputError("the run's calibration file is gone", c.calibration, "calibration")
    return nominal_from_targets(Calibration.load(c.calibration).targets)


def run_fingerprint(run_dir: Path, c) -> tuple[str, str]:
    """(fingerprint, what it is of): the deployed chip's if the run recorded it, else its source's."""
    metrics = run_dir / "metrics.json"
    chip = read_json(metrics).get("chip", {}) if metrics.is_file() else {}
    if "fingerprint" in chip:
        return str(chip["fingerprint"]), "the chip the run was trained and tested on"
    from anamorph.models.chip import Chip, sample_chip
    from anamorph.models.process_model import ProcessModel

    if c.chip is not None and Path(c.chip).is_file():
        return Chip.load(c.chip).fingerprint(), f"{c.chip} before calibration"
    return sample_chip(
        ProcessModel.default(), c.seed
    ).fingerprint(), f"chip of seed {c.seed} before calibration"


def _full(n: int, value: float) -> np.ndarray:
    return np.full(n, float(value))


def build_graph(c, weights: list[np.ndarray], nominal, fingerprint: tuple[str, str]):
    """The NIR graph of a run's config ``c`` and float weights (see the module docstring)."""
    import nir

    if len(weights) != 2:
        raise InputError("only runs with one hidden layer can be exported", None, "weights.npz")
    w0, w1 = weights
    n_in, n_hidden, n_out = w0.shape[0], w0.shape[1], w1.shape[1]
    mean = {f: float(np.mean(getattr(nominal, f))) for f in ("tau_m_s", "tau_syn_s", "t_ref_s")}
    mv = {
        f: float(np.mean(getattr(nominal, f))) / EXPORT_V_UNIT_V for f in ("v_leak_v", "v_th_v", "v_reset_v")
    }
    r = export_r(nominal, c.dt_s)

    def cuba(n, spiking: bool):
        common = dict(
            tau_syn=_full(n, mean["tau_syn_s"] / EXPORT_K),
            tau_mem=_full(n, mean["tau_m_s"] / EXPORT_K),
            r=_full(n, r),
            v_leak=_full(n, mv["v_leak_v"]),
            w_in=_full(n, 1.0),
        )
        if not spiking:
            return nir.CubaLI(**common)
        return nir.CubaLIF(**common, v_threshold=_full(n, mv["v_th_v"]), v_reset=_full(n, mv["v_reset_v"]))

    scale = codes_per_unit(nominal, c.dt_s)
    metadata = {
        "source": "anamorph",
        "time_unit": "ms",
        "time_domain": f"biological-equivalent: chip time x {ACCELERATION:g}",
        "voltage_unit": "mV",
        "dt": c.dt_s / EXPORT_K,
        "spike": "Dirac pulse of unit area (NIR's continuous form)",
        "weight_unit": "model units: one unit adds (v_threshold - v_leak) to the per-step membrane increment",
        "codes_per_unit": float(scale),
        "weight_bits": 6,
        "weight_code_max": WEIGHT_MAX,
        "refractory_time": mean["t_ref_s"] / EXPORT_K,
        "reset": "to v_reset, then held there for refractory_time",
        "readout": "class = readout neuron with the highest membrane during the sample",
        "chip_fingerprint": fingerprint[0],
        "chip_fingerprint_of": fingerprint[1],
        "c_mem_f": float(np.mean(nominal.c_mem_f)),
        "w_unit_a": float(np.mean(nominal.w_unit_a)),
        "anamorph_config": json.dumps(c.identity(), sort_keys=True),
    }
    nodes = {
        "input": nir.Input(input_type={"input": np.array([n_in])}),
        "hidden_weights": nir.Linear(weight=np.ascontiguousarray(w0.T, dtype=np.float64)),
        "hidden": cuba(n_hidden, True),
        "readout_weights": nir.Linear(weight=np.ascontiguousarray(w1.T, dtype=np.float64)),
        "readout": cuba(n_out, False),
        "output": nir.Output(output_type={"output": np.array([n_out])}),
    }
    names = list(nodes)
    return nir.NIRGraph(nodes=nodes, edges=list(zip(names[:-1], names[1:])), metadata=metadata)


def export_run(run_dir, out_path) -> Path:
    """Write the NIR graph of the finished run ``run_dir`` to ``out_path`` (atomically)."""
    import nir

    run_dir = Path(run_dir)
    c, weights = load_run(run_dir)
    if c.algo != "surrogate":
        raise InputError("only surrogate-gradient runs can be exported", run_dir, "algo")
    graph = build_graph(c, weights, run_nominal(c), run_fingerprint(run_dir, c))
    return write_with(out_path, lambda tmp: nir.write(tmp, graph), suffix=".nir")
