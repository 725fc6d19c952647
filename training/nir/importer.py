"""``anamorph import FILE --out RUN_DIR``: a feed-forward NIR graph as a chip run folder.

The graph (read and taken apart by :mod:`anamorph.training.nir.graph`) must be one hidden
layer of CubaLIF or LIF neurons and a readout (CubaLI, LI, or a spiking node whose membrane
is read out). Its time axis is mapped onto the chip's accelerated one by one factor,
``k = tau_m(chip) / tau_mem(hidden)`` chip seconds per time unit of the graph (printed and
stored in ``RUN_DIR/nir_import.json``); every neuron's time constants must then land within
:data:`TAU_TOLERANCE` of the chip's nominal tau_m and tau_syn (6 µs both), since calibration
sets every neuron to those. Weights become the run's dimensionless weights by
:mod:`anamorph.training.nir.units` (Dirac spikes by default; ``dt`` for a graph in a
per-step convention such as snnTorch's). A graph that does not fit -- node types, recurrent
or branching edges, more than 256 inputs or hidden neurons (the synapse rows of one neuron),
more than 512 neurons, resets away from the leak, time constants the chip cannot take -- is
refused naming the node, before anything is written. Weights beyond the chip's 6-bit range
are clipped to it (and counted), as training clips them.

The run folder holds ``config.json``, ``weights.npz``, ``manifest.json`` like a trained run,
so ``anamorph evaluate`` deploys it and ``anamorph train --init`` fine-tunes it in the loop.
Its data set and input code come from ``dataset`` or, for a file anamorph exported, from the
graph's metadata; the graph's Input must have as many channels as that code makes.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, file_sha256, write_json, write_manifest, write_with
from anamorph.training.config import MAX_FAN_IN, N_NEURONS, TrainConfig, make_config, validate
from anamorph.training.mapping import codes_per_unit, to_codes, w_max
from anamorph.training.nir.graph import layers, neuron_params, read_graph
from anamorph.training.nir.units import cuba_to_software, euler_equivalent_tau, li_to_software, step_drive_s

TAU_TOLERANCE = 0.05  # relative: the chip's time constants are calibrated, not free
RESET_TOLERANCE = 0.02  # of v_threshold - v_leak


def _meta(graph) -> dict:
    return {k: (v.decode() if isinstance(v, bytes) else v) for k, v in (graph.metadata or {}).items()}


def _taus(p: dict, dt: float | None, path, name) -> tuple[np.ndarray, np.ndarray | None]:
    """The node's (tau_mem, tau_syn) as decay time constants (Euler ones converted, see units)."""
    tau_m = p.get("tau_mem", p.get("tau"))
    tau_s = p.get("tau_syn")
    for tau in (tau_m, tau_s):
        if tau is not None and not np.all(tau > (dt or 0.0)):
            raise InputError(f"time constants must be > 0{' and > dt' if dt else ''}", path, name)
    if dt is not None:
        tau_m = euler_equivalent_tau(tau_m, dt)
        tau_s = None if tau_s is None else euler_equivalent_tau(tau_s, dt)
    return tau_m, tau_s


def _check_tau(tau: np.ndarray, k: float, chip_s: float, label: str, path, name) -> None:
    worst = float(np.max(np.abs(tau * k / chip_s - 1.0)))
    if worst > TAU_TOLERANCE:
        raise InputError(
            f"{label} maps to {np.min(tau) * k * 1e6:.3g}..{np.max(tau) * k * 1e6:.3g} µs on the chip, "
            f"which is calibrated to {chip_s * 1e6:.3g} µs (tolerance {TAU_TOLERANCE:.0%})",
            path,
            name,
        )


def convert(graph, path, nominal, dt_s: float, dt_graph: float | None = None):
    """(software weights [w0, w1], report) of ``graph`` for a chip with ``nominal`` parameters."""
    input_name, output_name, chain = layers(graph, path)
    if len(chain) != 2:
        raise InputError(
            f"has {len(chain)} weight/neuron layers; a chip run holds two (hidden, readout)", path, "nodes"
        )
    hidden, readout = chain
    if hidden.kind not in ("CubaLIF", "LIF"):
        raise InputError(
            f"is a {hidden.kind}; the hidden layer must spike (CubaLIF or LIF)", path, hidden.neuron_name
        )
    n_in, n_hidden, n_out = hidden.weight.shape[1], hidden.weight.shape[0], readout.weight.shape[0]
    if n_in > MAX_FAN_IN:
        raise InputError(
            f"{n_in} inputs exceed a neuron's {MAX_FAN_IN} synapse rows", path, hidden.weight_name
        )
    if n_hidden > MAX_FAN_IN:
        raise InputError(
            f"{n_hidden} neurons exceed the readout's fan-in of {MAX_FAN_IN}", path, hidden.neuron_name
        )
    if n_hidden + n_out > N_NEURONS:
        raise InputError(
            f"{n_hidden + n_out} neurons in all; the chip has {N_NEURONS}", path, readout.neuron_name
        )

    tau_m_c, tau_s_c = float(np.mean(nominal.tau_m_s)), float(np.mean(nominal.tau_syn_s))
    p_s = step_drive_s(nominal, dt_s)
    area = 1.0 if dt_graph is None else float(dt_graph)
    hp = neuron_params(hidden, path)
    tau_decay = float(np.mean(_taus(hp, dt_graph, path, hidden.neuron_name)[0]))
    k = tau_m_c / tau_decay
    span = hp["v_threshold"] - hp["v_leak"]
    if not np.all(span > 0):
        raise InputError("v_threshold must lie above v_leak", path, hidden.neuron_name)
    if np.any(np.abs(hp["v_reset"] - hp["v_leak"]) > RESET_TOLERANCE * span):
        raise InputError(
            "resets away from v_leak; the chip resets to its leak potential", path, hidden.neuron_name
        )
    weights = []
    for layer, p in ((hidden, hp), (readout, neuron_params(readout, path))):
        tau_m, tau_s = _taus(p, dt_graph, path, layer.neuron_name)
        _check_tau(tau_m, k, tau_m_c, "tau_mem", path, layer.neuron_name)
        v_span = p["v_threshold"] - p["v_leak"] if "v_threshold" in p else float(np.mean(span))
        # the input gains r/tau and w_in/tau are the node's as written (Euler's per-step gains
        # dt r/tau for a per-step graph); only the decays use the converted time constants
        raw_m = p.get("tau_mem", p.get("tau"))
        if layer.kind.startswith("Cuba"):
            _check_tau(tau_s, k, tau_s_c, "tau_syn", path, layer.neuron_name)
            w = cuba_to_software(layer.weight, p["r"], p["w_in"], raw_m, p["tau_syn"], v_span, k, area, p_s)
        else:
            w = li_to_software(layer.weight, p["r"], raw_m, v_span, area, p_s, tau_s_c)
        weights.append(w)
    report = {
        "time_scale_chip_s_per_graph_unit": k,
        "hidden_tau_mem_graph": float(np.mean(hp.get("tau_mem", hp.get("tau")))),
        "hidden_tau_mem_decay_graph": tau_decay,
        "chip_tau_m_s": tau_m_c,
        "spike_convention": "Dirac (NIR continuous)" if dt_graph is None else f"per-step, dt = {dt_graph:g}",
        "nodes": {"input": input_name, "hidden": hidden.neuron_name, "readout": readout.neuron_name},
        "node_types": [hidden.kind, readout.kind],
        "output": output_name,
    }
    if hidden.kind == "LIF" or readout.kind in ("LIF", "LI"):
        report["note"] = "LIF/LI nodes have no synaptic current; the chip's spreads each input over tau_syn"
    if readout.kind in ("CubaLIF", "LIF"):
        report["readout_note"] = "the readout's spikes are dropped: the chip reads its membrane"
    return weights, report


def _config(graph, path, dataset, n_hidden: int, seed: int | None, chip: str | None) -> TrainConfig:
    meta = _meta(graph)
    base = {}
    if "anamorph_config" in meta:
        base = json.loads(meta["anamorph_config"])
    if dataset is None and "dataset" not in base:
        raise InputError("the graph does not say what it was trained on; give the data set", path, "dataset")
    if dataset is not None and base.get("dataset") != dataset:
        base = {}
    if base:
        c = TrainConfig.from_dict({**base, "n_hidden": n_hidden})
        c = replace(c, seed=c.seed if seed is None else seed)
    else:
        c = make_config(dataset, n_hidden=n_hidden, seed=seed)
    return validate(replace(c, chip=chip, calibration=None))


def import_graph(path, out, *, dataset=None, chip=None, seed=None, dt_graph=None) -> tuple[Path, dict]:
    """Convert the NIR file ``path`` into the run folder ``out``; returns (out, report)."""
    from anamorph.models.chip import Chip
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.prepare import prepare_data

    if dt_graph is not None and not dt_graph > 0:
        raise InputError("must be > 0", dt_graph, "dt")
    graph = read_graph(path)
    nominal = DEFAULT_TARGETS  # what a chip run calibrates to (training.prepare.load_chip)
    weights, report = convert(graph, path, nominal, TrainConfig.dt_s, dt_graph)
    c = _config(graph, path, dataset, weights[0].shape[1], seed, chip)
    prep = prepare_data(c)
    if prep.n_inputs != weights[0].shape[0]:
        raise InputError(
            f"has {weights[0].shape[0]} channels; data set {c.dataset} with this input code makes {prep.n_inputs}",
            path,
            report["nodes"]["input"],
        )
    if prep.data.n_classes != weights[1].shape[1]:
        raise InputError(
            f"has {weights[1].shape[1]} outputs for the {prep.data.n_classes} classes of {c.dataset}",
            path,
            report["output"],
        )
    if chip is not None and not Path(chip).is_file():
        raise InputError("chip file not found", chip, "chip")
    process = Chip.load(chip).process if chip is not None else ProcessModel.default()
    tables = (process.weight_table_exc, process.weight_table_inh)
    scale = codes_per_unit(nominal, c.dt_s)
    top = w_max(scale, tables)
    report["weights_clipped"] = int(sum(np.sum(np.abs(w) > top) for w in weights))
    report["codes_per_unit"] = float(scale)
    weights = [np.clip(w, -top, top) for w in weights]
    report["source_sha256"] = file_sha256(path)

    run_dir = ensure_writable_dir(out)
    arrays = {f"w{k}": w for k, w in enumerate(weights)}
    arrays.update({f"codes{k}": to_codes(w, scale, tables) for k, w in enumerate(weights)})
    arrays["scale"] = np.array(scale)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_json(run_dir / "config.json", {**c.identity(), "epochs": 0, "out": str(run_dir)})
    write_with(run_dir / "weights.npz", write)
    write_json(run_dir / "nir_import.json", report)
    write_manifest(run_dir, seeds={"seed": c.seed}, inputs={"nir": str(path)}, extra={"config": c.identity()})
    return run_dir, report
