"""``anamorph train --algo convert``: train the rate network, map it, fine-tune on the chip.

RUN_DIR gets ``config.json``, ``metrics.json`` (software test accuracy, the chip's test
accuracy right after mapping and after every in-the-loop iteration), ``weights.npz``
(float weights ``w0, w1`` in code units and their codes ``codes0, codes1``, after
fine-tuning), ``accuracy.png`` (accuracy against iteration, :mod:`.figure`),
``checkpoint.npz`` (:mod:`.checkpoint`; ``--resume`` continues it) and ``manifest.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict

import numpy as np

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, write_json, write_manifest, write_with
from anamorph.training.config import check_fits_chip
from anamorph.training.convert import checkpoint
from anamorph.training.convert.ann import RateNet, accuracy, forward, train_software
from anamorph.training.convert.chipmap import quantise
from anamorph.training.convert.config import ConvertConfig, encode, make_convert_config, validate
from anamorph.training.convert.figure import accuracy_curves
from anamorph.training.convert.finetune import EVAL_BASE, chip_accuracy, finetune
from anamorph.training.convert.softlif import from_nominal, j_per_code
from anamorph.training.optim import Adam

__all__ = ["ConvertConfig", "make_convert_config", "train_command", "train_convert", "validate"]


def _data(c: ConvertConfig):
    from anamorph.training.datasets import load_dataset

    data = load_dataset(c.dataset, seed=c.seed)
    ntr, nte = c.n_train or len(data.y_train), c.n_test or len(data.y_test)
    Xtr, ytr, Xte, yte = data.X_train[:ntr], data.y_train[:ntr], data.X_test[:nte], data.y_test[:nte]
    if data.n_classes < 2:
        raise InputError("a data set needs at least two classes", c.dataset, "dataset")
    check_fits_chip((data.n_features + 1) * c.input_repeat, c.n_hidden, data.n_classes)
    return encode(Xtr, c), ytr, encode(Xte, c), yte, data.n_classes


def _software(c, net, a_tr, y_tr, sizes, run_dir, ck, hook):
    """The software phase, from the checkpoint ``ck`` if it is one of this phase."""
    identity = c.identity()
    opt, start, wall0 = Adam(lr=c.lr), None, 0.0
    if ck is not None and ck["phase"] == "software":
        opt, wall0 = ck["opt"], ck["state"]["software_train_wall_s"]
        start = (ck["state"]["epoch"], ck["weights"], ck["rng"])
    t0 = time.perf_counter()

    def on_epoch(epoch, weights, rng):
        wall = wall0 + time.perf_counter() - t0
        state = {"epoch": epoch, "software_train_wall_s": wall}
        checkpoint.save(run_dir, identity, "software", weights, opt, rng=rng, state=state)
        if hook is not None:
            hook("software", epoch)

    weights = train_software(
        net,
        a_tr,
        y_tr,
        sizes,
        epochs=c.epochs,
        batch_size=c.batch_size,
        noise=c.noise,
        window_s=c.window_s - c.warmup_s,
        seed=c.seed,
        optimizer=opt,
        start=start,
        on_epoch=on_epoch,
    )
    return weights, wall0 + time.perf_counter() - t0


def train_convert(
    c: ConvertConfig, *, chip=None, nominal=None, backend=None, resume=False, progress=None, hook=None
) -> dict:
    """Train in software, map onto the chip, fine-tune in the loop; write ``c.out``; the metrics.

    ``resume`` continues from ``c.out``'s checkpoint; ``hook(phase, step)`` is called after
    every checkpoint (``software``: epochs done, ``finetune``: iterations done).
    """
    from threadpoolctl import threadpool_limits

    from anamorph.models.emulator import ChipEmulator
    from anamorph.models.energy import EnergyParams
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
    if backend is None:
        backend = ChipEmulator(chip, seed=c.seed, noise=c.noise_chip, nominal=nominal)
    tables = (chip.process.weight_table_exc, chip.process.weight_table_inh)
    w_max = float(min(tables[0][-1], tables[1][-1]))
    net = RateNet(from_nominal(nominal, backend.dt_s, c.gamma), j_per_code(nominal), w_max=w_max)
    sizes = [a_tr.shape[1], c.n_hidden, n_classes]
    identity = c.identity()
    ck = checkpoint.load(run_dir, identity, 2) if resume else None
    write_json(run_dir / "config.json", json.loads(json.dumps(asdict(c))))
    kw = dict(tau_m_s=net.f.tau_m_s, window_s=c.window_s, warmup_s=c.warmup_s)
    kw["energy"] = EnergyParams.from_process(chip.process)

    def evaluate(codes, it):
        rng = np.random.default_rng([c.seed, 30, it])
        return chip_accuracy(backend, a_te, y_te, codes, rng=rng, run_base=EVAL_BASE + (it << 20), **kw)

    with threadpool_limits(limits=1, user_api="blas"):
        if ck is not None and ck["phase"] == "finetune":
            weights, opt, st = ck["weights"], ck["opt"], ck["state"]
        else:
            weights, sw_wall_s = _software(c, net, a_tr, y_tr, sizes, run_dir, ck, hook)
            mapped = evaluate(quantise(weights, tables), 0)
            st = {
                "software_test_accuracy": accuracy(forward(net, a_te, weights)[1][-1], y_te),
                "software_train_wall_s": sw_wall_s,
                "mapped": mapped,
                "history": [],
            }
            opt = Adam(lr=c.ft_lr)
            checkpoint.save(run_dir, identity, "finetune", weights, opt, state=st)
        if progress:
            progress(
                f"software {100 * st['software_test_accuracy']:.2f} %, "
                f"mapped onto the chip {100 * st['mapped']['accuracy']:.2f} %"
            )

        def on_iteration(row, history):
            checkpoint.save(run_dir, identity, "finetune", weights, opt, state={**st, "history": history})
            if progress:
                progress(f"iteration {row['iteration']}: chip test accuracy {100 * row['accuracy']:.2f} %")
            if hook is not None:
                hook("finetune", row["iteration"])

        history = finetune(
            net,
            backend,
            a_tr,
            y_tr,
            weights,
            tables,
            opt,
            iterations=c.iterations,
            batch_size=c.ft_batch_size,
            seed=c.seed,
            evaluate=evaluate,
            on_iteration=on_iteration,
            history=st["history"],
            lr=c.ft_lr,
            lr_decay=c.ft_decay,
            window_s=c.window_s,
            warmup_s=c.warmup_s,
            neuron_gain=c.ft_neuron_gain,
            remap_bias=(c.a_bias, c.input_repeat) if c.ft_remap else None,
        )
    final = history[-1] if history else st["mapped"]
    metrics = {
        "algo": "convert",
        "dataset": c.dataset,
        "layer_sizes": sizes,
        "software_test_accuracy": st["software_test_accuracy"],
        "mapped_test_accuracy": st["mapped"]["accuracy"],
        "test_accuracy": final["accuracy"],
        "spikes_per_sample": final["spikes_per_sample"],
        "energy_per_sample": final.get("energy_per_sample"),
        "finetune": history,
        "n_train": int(len(y_tr)),
        "n_test": int(len(y_te)),
        "software_train_wall_s": st["software_train_wall_s"],
        # rate-coded forward on the chip: test samples per second of wall time (median over
        # the evaluations; the first chip run of a batch size also compiles the network)
        "chip_samples_per_s": len(y_te)
        / float(np.median([h["eval_wall_s"] for h in history or [st["mapped"]]])),
        "softlif": asdict(net.f),
        "j_per_code": net.k,
        "chip": chip_info,
    }
    codes = quantise(weights, tables)
    arrays = {**{f"w{k}": w for k, w in enumerate(weights)}, **{f"codes{k}": q for k, q in enumerate(codes)}}

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(run_dir / "weights.npz", write)
    write_json(run_dir / "metrics.json", metrics)
    accuracy_curves([(c.dataset, metrics)], run_dir / "accuracy.png", f"conversion, {c.dataset}")
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
    from anamorph.models.energy import energy_phrase
    from anamorph.training.commands import shared_options

    given = {**shared_options(args), "iterations": getattr(args, "iterations", None)}
    try:
        c = make_convert_config(
            args.dataset, out=args.out, chip=args.chip, calibration=args.calibration, **given
        )
    except InputError as e:
        option = _OPTION.get(e.field, "--" + str(e.field).replace("_", "-"))
        raise InputError(e.message, e.path, option) from None
    m = train_convert(c, resume=args.resume, progress=print)
    print(
        f"test accuracy {100 * m['test_accuracy']:.2f} % on the chip after {c.iterations} in-the-loop "
        f"iterations (software {100 * m['software_test_accuracy']:.2f} %, mapped "
        f"{100 * m['mapped_test_accuracy']:.2f} %){energy_phrase(m.get('energy_per_sample'))} -> {m['run_dir']}"
    )
    return 0
