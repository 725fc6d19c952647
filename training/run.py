"""A training run on disk: ``train_run`` writes RUN_DIR, ``evaluate_run`` deploys it elsewhere.

RUN_DIR holds ``config.json`` (the :class:`TrainConfig`), ``checkpoint.npz`` (every
epoch), ``weights.npz`` (float weights ``w0, w1``, their chip codes ``codes0, codes1`` and
``scale`` in codes per unit), ``metrics.json``, ``learning_curve.png``, ``raster.png`` and
``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, read_json, write_json, write_manifest, write_with
from anamorph.training import plots
from anamorph.training.chip_loop import ChipForward
from anamorph.training.config import TrainConfig, validate
from anamorph.training.mapping import codes_per_unit, readout_range, to_codes, w_max
from anamorph.training.optim import Adam
from anamorph.training.prepare import load_chip, make_emulator, prepare_data
from anamorph.training.trainer import (
    CHECKPOINT,
    Runner,
    init_weights,
    load_checkpoint,
    net_params,
    print_progress,
    train_epochs,
)

FINAL_EVAL = 1 << 30


@dataclass
class RunResult:
    """What :func:`train_run` returns: the run directory, its metrics and float weights."""

    run_dir: Path
    metrics: dict
    weights: list[np.ndarray]
    history: list[dict]


def _runner(c: TrainConfig, prep, chip, nominal):
    n_classes = prep.data.n_classes
    emu = make_emulator(chip, nominal, c.n_hidden, n_classes, c.seed, c.noise)
    scale = codes_per_unit(nominal, c.dt_s)
    n_steps = int(round(c.duration_s / c.dt_s))
    p = net_params(c, nominal, readout_range(chip.process.data["adc"], nominal))
    tables = (chip.process.weight_table_exc, chip.process.weight_table_inh)
    assimilate_with = p if c.membrane == "assimilated" else None
    runner = Runner(c, prep, p, ChipForward(emu, nominal, scale, c.dt_s, n_steps, tables, assimilate_with))
    return runner, scale


def energy_metrics(runner, weights: list[np.ndarray], ev: dict) -> dict:
    """Energy per sample on the chip (:mod:`anamorph.models.energy`) from the spikes counted in
    ``ev`` (a chip evaluation); the ADC converts the readout's membranes for the prediction."""
    from anamorph.models.backend import adc_steps
    from anamorph.models.energy import EnergyParams, in_microjoules, network_energy

    fwd = runner.chip_fwd
    emu = fwd.backend
    codes = [to_codes(w, fwd.scale, fwd.tables) for w in weights]
    duration_s = fwd.n_steps * fwd.dt_s
    n_adc = len(adc_steps(int(round(duration_s / emu.dt_s)), emu.dt_s, emu.adc_period_s))
    params = EnergyParams.from_process(emu.chip.process)
    e = network_energy(
        params, ev["presyn_spikes_per_sample"], codes, duration_s, n_adc * weights[-1].shape[1]
    )
    return in_microjoules(e)


def _one_blas_thread(fn):
    """Run ``fn`` with BLAS on one thread: the backward pass's many small products are
    several hundred times slower with OpenBLAS threads on a busy 2-core machine."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1, user_api="blas"):
            return fn(*args, **kwargs)

    return wrapper


@_one_blas_thread
def train_run(
    c: TrainConfig, *, resume: bool = False, chip=None, nominal=None, progress=print_progress, init=None
) -> RunResult:
    """Train per ``c`` into ``c.out`` and evaluate on the chip; see the module docstring.

    ``chip``/``nominal`` (a configured Chip and its nominal NeuronParams) override
    ``c.chip``/``c.calibration`` (used by the mismatch experiment). With ``resume`` an
    existing checkpoint in ``c.out`` is continued up to ``c.epochs``. ``init`` (a run folder)
    replaces the random initial weights by that run's (their shapes must match).
    """
    c = validate(c)
    if c.out is None:
        raise InputError("a run needs an output directory", None, "out")
    prep = prepare_data(c)
    init_w = None if init is None else _init_from(init, [prep.n_inputs, c.n_hidden, prep.data.n_classes])
    if chip is None:
        chip, nominal, chip_info = load_chip(c.chip, c.calibration, c.seed)
    else:
        chip_info = {"chip": "given"}
    chip_info["fingerprint"] = chip.fingerprint()
    run_dir = ensure_writable_dir(c.out)
    runner, scale = _runner(c, prep, chip, nominal)
    sizes = [prep.n_inputs, c.n_hidden, prep.data.n_classes]
    if resume and (run_dir / CHECKPOINT).is_file():
        start, weights, opt, rng, history, best = load_checkpoint(run_dir, c, len(sizes) - 1)
    else:
        start, history, best = 0, [], None
        weights = init_weights(c, sizes, w_max(scale, runner.chip_fwd.tables))
        if init_w is not None:
            weights = init_w
        opt, rng = Adam(lr=c.lr), np.random.default_rng([c.seed, 2])
    write_json(run_dir / "config.json", {**c.identity(), "epochs": c.epochs, "out": str(run_dir)})
    history, best = train_epochs(
        c,
        runner,
        weights,
        opt,
        rng,
        history,
        start,
        w_max(scale, runner.chip_fwd.tables),
        run_dir,
        progress,
        best,
    )
    if best is not None:  # the epoch with the best validation accuracy
        weights = best
    data = prep.data
    chip_eval = runner.evaluate(weights, data.X_test, data.y_test, True, FINAL_EVAL)
    sw_eval = runner.evaluate(weights, data.X_test, data.y_test, False)
    last = history[-1] if history else {}
    val = [h["val_accuracy"] for h in history if "val_accuracy" in h]
    metrics = {
        "dataset": c.dataset,
        "mode": c.mode,
        "epochs": len(history),
        "test_accuracy": chip_eval["accuracy"],
        "train_accuracy": last.get("train_accuracy"),
        "selected_epoch": 1 + int(np.argmax(val)) if best is not None else len(history),
        "val_accuracy": max(val) if best is not None else None,
        "spikes_per_sample": chip_eval["spikes_per_sample"],
        "spikes_per_hidden_neuron": chip_eval["spikes_per_hidden_neuron"],
        "energy_per_sample": energy_metrics(runner, weights, chip_eval),
        "confusion_matrix": plots.confusion_counts(
            data.y_test, chip_eval["predictions"], data.n_classes
        ).tolist(),
        "software_test_accuracy": sw_eval["accuracy"],
        "software_spikes_per_hidden_neuron": sw_eval["spikes_per_hidden_neuron"],
        "n_train": int(len(data.y_train)),
        "n_test": int(len(data.y_test)),
        "layer_sizes": sizes,
        "codes_per_unit": scale,
        "wall_s": float(sum(h["wall_s"] for h in history)),
        "chip_s": float(sum(h["chip_s"] for h in history)),
        "software_s": float(sum(h["software_s"] for h in history)),
        "chip": chip_info,
    }
    _write_outputs(run_dir, c, runner, weights, scale, history, metrics)
    return RunResult(run_dir, metrics, weights, history)


def _write_outputs(run_dir: Path, c: TrainConfig, runner, weights, scale, history, metrics) -> None:
    arrays = {f"w{k}": w for k, w in enumerate(weights)}
    arrays.update({f"codes{k}": to_codes(w, scale, runner.chip_fwd.tables) for k, w in enumerate(weights)})
    arrays["scale"] = np.array(scale)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(run_dir / "weights.npz", write)
    write_json(run_dir / "metrics.json", metrics)
    if history:
        plots.learning_curve(history, run_dir / "learning_curve.png", f"{c.dataset}, {c.mode}")
    plots.confusion(
        np.array(metrics["confusion_matrix"]), run_dir / "confusion.png", f"{c.dataset}, test set on the chip"
    )
    data = runner.prep.data
    n = min(c.batch_size, len(data.y_test))
    idx = np.minimum(np.arange(c.batch_size), len(data.y_test) - 1)
    _, traces = runner.forward(data.X_test[idx], weights, True, FINAL_EVAL - 1)
    plots.raster(traces, c.dt_s, data.y_test[idx][:n], run_dir / "raster.png")
    write_manifest(
        run_dir,
        seeds={"seed": c.seed},
        inputs={"chip": c.chip, "calibration": c.calibration},
        extra={"config": c.identity()},
    )


def init_hidden(run_dir) -> int:
    """The hidden-layer size of the run folder ``run_dir`` (for ``--init``)."""
    return int(load_run(run_dir)[1][0].shape[1])


def _init_from(run_dir, sizes: list[int]) -> list[np.ndarray]:
    """The weights of the run folder ``run_dir``, checked against the layer ``sizes``."""
    _, weights = load_run(run_dir)
    have = [weights[0].shape[0]] + [w.shape[1] for w in weights]
    if have != sizes:
        raise InputError(f"its layers are {have}, this run's are {sizes}", run_dir, "init")
    return [np.array(w, dtype=np.float64) for w in weights]


def load_run(run_dir) -> tuple[TrainConfig, list[np.ndarray]]:
    """The config and float weights of a finished run."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError("run directory not found", run_dir)
    if not (run_dir / "weights.npz").is_file():
        raise InputError("no weights.npz (is the run finished?)", run_dir, "weights.npz")
    d = read_json(run_dir / "config.json")
    if not isinstance(d, dict):
        raise InputError("not a run's config (expected a JSON object)", run_dir / "config.json")
    try:
        c = validate(TrainConfig.from_dict(d))
    except InputError as e:
        raise InputError(e.message, run_dir / "config.json", e.field) from None
    except (TypeError, ValueError) as e:
        raise InputError(f"malformed config ({e})", run_dir / "config.json") from None
    path = run_dir / "weights.npz"
    try:
        with np.load(path, allow_pickle=False) as f:
            weights = [np.array(f[f"w{k}"]) for k in range(sum(1 for k in f.files if k.startswith("w")))]
    except Exception as e:  # not a zip/npy file, a missing or pickled array
        raise InputError(f"unreadable weights ({e})", path) from None
    for k, w in enumerate(weights):
        if (
            w.ndim != 2
            or w.dtype.kind != "f"
            or not np.all(np.isfinite(w))
            or (k and w.shape[0] != weights[k - 1].shape[1])
        ):
            raise InputError("must be a finite float matrix chained to the layer before", path, f"w{k}")
    if not weights:
        raise InputError("no weight matrices", path, "w0")
    return c, weights


@_one_blas_thread
def evaluate_run(
    run_dir,
    chip=None,
    *,
    nominal=None,
    chip_path: str | None = None,
    calibration_path: str | None = None,
    calibrate_chip: bool = True,
    seed: int | None = None,
) -> dict:
    """Deploy a run's weights on another chip; test accuracy and hidden spikes per sample.

    ``chip`` (a configured Chip, with ``nominal``) or ``chip_path`` (+ ``calibration_path``;
    without it the chip is calibrated unless ``calibrate_chip`` is False).
    """
    c, weights = load_run(run_dir)
    c = replace(c, out=None, chip=chip_path, calibration=calibration_path)
    prep = prepare_data(c)
    if chip is None:
        chip, nominal, _ = load_chip(
            chip_path, calibration_path, c.seed if seed is None else seed, calibrate_chip
        )
    runner, _ = _runner(c, prep, chip, nominal)
    ev = runner.evaluate(weights, prep.data.X_test, prep.data.y_test, True, FINAL_EVAL)
    return {
        "test_accuracy": ev["accuracy"],
        "spikes_per_sample": ev["spikes_per_sample"],
        "spikes_per_hidden_neuron": ev["spikes_per_hidden_neuron"],
        "energy_per_sample": energy_metrics(runner, weights, ev),
        "run_dir": str(run_dir),
        "chip_fingerprint": chip.fingerprint(),
    }
