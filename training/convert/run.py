"""``anamorph train --algo convert``: train the rate network, map it, fine-tune on the chip.

RUN_DIR gets ``config.json``, ``metrics.json`` (software test accuracy, the chip's test
accuracy right after mapping and after every in-the-loop iteration), ``weights.npz``
(float weights ``w0, w1`` in code units and their codes ``codes0, codes1``, after
fine-tuning) and ``manifest.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, write_json, write_manifest, write_with
from anamorph.training.config import check_fits_chip
from anamorph.training.convert.ann import RateNet, accuracy, forward, train_software
from anamorph.training.convert.chipmap import quantise
from anamorph.training.convert.finetune import chip_accuracy, finetune
from anamorph.training.convert.softlif import from_nominal, j_per_code
from anamorph.training.optim import Adam


@dataclass(frozen=True)
class ConvertConfig:
    """Settings of a conversion run. Rates ``a`` are in units of 1/tau_m; times in seconds."""

    dataset: str = "digits"
    out: str | None = None
    chip: str | None = None
    calibration: str | None = None
    seed: int = 0
    n_hidden: int = 100
    epochs: int = 60  # software epochs
    batch_size: int = 50
    lr: float = 1.0  # Adam, code units per step
    noise: float = 1.0  # activation noise, in units of the Poisson counting noise
    gamma: float = 0.05  # soft-LIF smoothing
    a_in_max: float = 0.6  # input rate of a pixel of value 1 (100 kHz at tau_m = 6 µs)
    a_bias: float = 0.6  # rate of the bias channel
    window_s: float = 100e-6
    warmup_s: float = 10e-6
    iterations: int = 30  # in-the-loop iterations
    ft_batch_size: int = 300
    ft_lr: float = 0.2
    n_train: int | None = None
    n_test: int | None = None
    noise_chip: bool = True


def validate(c: ConvertConfig) -> ConvertConfig:
    """Reject settings that cannot run (before anything is written)."""
    for name in ("n_hidden", "batch_size", "ft_batch_size"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise InputError("must be a positive integer", v, name)
    for name in ("epochs", "iterations", "seed"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise InputError("must be a non-negative integer", v, name)
    for name in ("lr", "ft_lr", "gamma", "a_in_max", "window_s"):
        if not (np.isfinite(getattr(c, name)) and getattr(c, name) > 0):
            raise InputError("must be > 0", getattr(c, name), name)
    for name in ("noise", "a_bias", "warmup_s"):
        if not (np.isfinite(getattr(c, name)) and getattr(c, name) >= 0):
            raise InputError("must be >= 0", getattr(c, name), name)
    for name in ("n_train", "n_test"):
        v = getattr(c, name)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
            raise InputError("must be a positive integer", v, name)
    if c.warmup_s >= c.window_s:
        raise InputError("must be shorter than the window", c.warmup_s, "warmup_s")
    return c


def _inputs(X: np.ndarray, c: ConvertConfig) -> np.ndarray:
    """Pixel rates plus the bias channel (last column)."""
    return np.hstack([np.clip(X, 0.0, None) * c.a_in_max, np.full((len(X), 1), c.a_bias)])


def _data(c: ConvertConfig):
    from anamorph.training.datasets import load_dataset

    data = load_dataset(c.dataset, seed=c.seed)
    ntr, nte = c.n_train or len(data.y_train), c.n_test or len(data.y_test)
    Xtr, ytr, Xte, yte = data.X_train[:ntr], data.y_train[:ntr], data.X_test[:nte], data.y_test[:nte]
    if data.n_classes < 2:
        raise InputError("a data set needs at least two classes", c.dataset, "dataset")
    check_fits_chip(data.n_features + 1, c.n_hidden, data.n_classes)
    return _inputs(Xtr, c), ytr, _inputs(Xte, c), yte, data.n_classes


def _report(progress):
    if progress is None:
        return None
    return lambda h: progress(f"iteration {h['iteration']}: chip test accuracy {100 * h['accuracy']:.2f} %")


def train_convert(c: ConvertConfig, *, chip=None, nominal=None, progress=None) -> dict:
    """Train in software, map onto the chip, fine-tune in the loop; write ``c.out``; the metrics."""
    from threadpoolctl import threadpool_limits

    from anamorph.models.emulator import ChipEmulator
    from anamorph.training.prepare import load_chip

    c = validate(c)
    if c.out is None:
        raise InputError("a run needs an output directory", None, "out")
    a_tr, y_tr, a_te, y_te, n_classes = _data(c)
    if chip is None:
        chip, nominal, chip_info = load_chip(c.chip, c.calibration, c.seed)
    else:
        chip_info = {"chip": "given", "fingerprint": chip.fingerprint()}
    run_dir = ensure_writable_dir(c.out)
    backend = ChipEmulator(chip, seed=c.seed, noise=c.noise_chip, nominal=nominal)
    tables = (chip.process.weight_table_exc, chip.process.weight_table_inh)
    w_max = float(min(tables[0][-1], tables[1][-1]))
    net = RateNet(from_nominal(nominal, backend.dt_s, c.gamma), j_per_code(nominal), w_max=w_max)
    sizes = [a_tr.shape[1], c.n_hidden, n_classes]
    with threadpool_limits(limits=1, user_api="blas"):
        t0 = time.perf_counter()
        weights = train_software(
            net,
            a_tr,
            y_tr,
            sizes,
            epochs=c.epochs,
            batch_size=c.batch_size,
            lr=c.lr,
            noise=c.noise,
            window_s=c.window_s - c.warmup_s,
            seed=c.seed,
            optimizer=Adam(lr=c.lr),
        )
        sw_wall_s = time.perf_counter() - t0
        sw_acc = accuracy(forward(net, a_te, weights)[1][-1], y_te)
        eval_rng = np.random.default_rng([c.seed, 30])
        kw = dict(tau_m_s=net.f.tau_m_s, window_s=c.window_s, warmup_s=c.warmup_s)

        def evaluate(codes):
            return chip_accuracy(backend, a_te, y_te, codes, rng=eval_rng, **kw)

        mapped = evaluate(quantise(weights, tables))
        if progress:
            progress(f"software {100 * sw_acc:.2f} %, mapped onto the chip {100 * mapped['accuracy']:.2f} %")
        history = finetune(
            net,
            backend,
            a_tr,
            y_tr,
            weights,
            tables,
            Adam(lr=c.ft_lr),
            iterations=c.iterations,
            batch_size=c.ft_batch_size,
            seed=c.seed,
            evaluate=evaluate,
            progress=_report(progress),
            **{k: kw[k] for k in ("window_s", "warmup_s")},
        )
    final = history[-1] if history else mapped
    metrics = {
        "algo": "convert",
        "dataset": c.dataset,
        "layer_sizes": sizes,
        "software_test_accuracy": sw_acc,
        "mapped_test_accuracy": mapped["accuracy"],
        "test_accuracy": final["accuracy"],
        "spikes_per_sample": final["spikes_per_sample"],
        "finetune": history,
        "n_train": int(len(y_tr)),
        "n_test": int(len(y_te)),
        "software_train_wall_s": sw_wall_s,
        "softlif": asdict(net.f),
        "j_per_code": net.k,
        "chip": chip_info,
    }
    codes = quantise(weights, tables)
    arrays = {**{f"w{k}": w for k, w in enumerate(weights)}, **{f"codes{k}": q for k, q in enumerate(codes)}}

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_json(run_dir / "config.json", json.loads(json.dumps(asdict(c))))
    write_with(run_dir / "weights.npz", write)
    write_json(run_dir / "metrics.json", metrics)
    write_manifest(
        run_dir,
        seeds={"seed": c.seed},
        inputs={"chip": c.chip, "calibration": c.calibration},
        extra={"config": asdict(c)},
    )
    metrics["run_dir"] = str(run_dir)
    return metrics


_OPTION = {"n_hidden": "--hidden"}


def train_command(args) -> int:
    """``anamorph train --algo convert``: options of the train command -> a run."""
    if args.mode != "chip":
        raise InputError("conversion fine-tunes in the loop only (--mode chip)", args.mode, "--mode")
    if args.resume:
        raise InputError("a conversion run cannot be resumed", None, "--resume")
    from anamorph.training.commands import shared_options

    given = {k: v for k, v in shared_options(args).items() if v is not None}
    try:
        c = validate(
            ConvertConfig(
                dataset=args.dataset, out=args.out, chip=args.chip, calibration=args.calibration, **given
            )
        )
    except InputError as e:
        option = _OPTION.get(e.field, "--" + str(e.field).replace("_", "-"))
        raise InputError(e.message, e.path, option) from None
    m = train_convert(c, progress=print)
    print(
        f"test accuracy {100 * m['test_accuracy']:.2f} % on the chip after {c.iterations} in-the-loop "
        f"iterations (software {100 * m['software_test_accuracy']:.2f} %, mapped "
        f"{100 * m['mapped_test_accuracy']:.2f} %) -> {m['run_dir']}"
    )
    return 0
