"""EqSpike in the loop: ``anamorph train --algo eqspike`` (run folder, checkpoints, resume).

Every batch runs twice on the chip (:mod:`.spiking`): a free phase and a phase nudged by a
teaching current on the output neurons. ``update="software"`` turns the recorded spike
counts into the EP update and keeps float shadow weights (Adam or SGD), written as 6-bit
codes before the next batch. ``update="on-chip"`` uses the plastic projections'
correlation sensors instead and changes the chip's codes directly (:mod:`.onchip`); there
are no float weights. The class is the output neuron with the most spikes in the free
phase's window.

Seeds: initial weights ``rng([seed, 1])``, shuffling ``rng([seed, 2])``, the sign of beta
``rng([seed, 3])``, input phases of training batch ``k`` ``rng([seed, 4, k])``, on-chip
stochastic rounding ``rng([seed, 5, k])``; the chip's noise of batch ``k`` is the emulator's run ``2k``
(free) and ``2k + 1`` (nudged), with the symmetric estimator ``3k`` (free), ``3k + 1`` (+beta)
and ``3k + 2`` (-beta); of evaluation batches runs from ``EVAL_RUN_BASE``. A
checkpoint after every epoch holds weights (or codes), the optimiser and generator states
and the history, so a resumed run ends bit-identical to an uninterrupted one.

Settings and their defaults: :mod:`.settings`.

RUN_DIR: ``config.json``, ``checkpoint.npz``, ``weights.npz`` (``w0, w1, b0, b1`` and the
codes of the four projections), ``metrics.json``, ``learning_curve.png``, ``stdp.png``
(measured weight change against pre/post spike-time difference, :mod:`.stdp_figure`) and
``manifest.json``.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, write_json, write_manifest, write_with
from anamorph.models.network import INPUT
from anamorph.training.eqprop.rate import RateNet, one_hot
from anamorph.training.eqprop.settings import (  # noqa: F401
    EqSpikeConfig,
    make_eqspike_config,
    repeat_inputs,
    train_command,
    validate,
)
from anamorph.training.eqprop.spiking import (
    HIDDEN,
    OUTPUT,
    Phases,
    SpikingEP,
    Units,
    chip_energy,
    chip_network,
)
from anamorph.training.mapping import to_codes
from anamorph.training.mapping import w_max as mapping_w_max
from anamorph.training.optim import Adam
from anamorph.training.trainer import CHECKPOINT, read_checkpoint

EVAL_RUN_BASE = 1 << 40


def init_net(c: EqSpikeConfig, sizes: list[int]) -> RateNet:
    """Uniform weights +-init_gain/sqrt(fan-in), biases init_bias (rheobases), rng([seed, 1])."""
    rng = np.random.default_rng([c.seed, 1])
    ws = tuple(rng.uniform(-1, 1, (a, b)) * c.init_gain / np.sqrt(a) for a, b in zip(sizes[:-1], sizes[1:]))
    return RateNet(ws, tuple(np.full(b, c.init_bias) for b in sizes[1:]))


@dataclass
class State:
    """What a checkpoint holds (``net`` float weights; on-chip: their codes / codes_per_unit)."""

    epoch: int
    net: RateNet
    opt: Adam
    shuffle: np.random.Generator
    signs: np.random.Generator
    history: list


def _gen_state(g):
    return json.dumps(g.bit_generator.state)


def _gen(s):
    g = np.random.default_rng()
    g.bit_generator.state = json.loads(s)
    return g


def save_checkpoint(run_dir: Path, c: EqSpikeConfig, st: State) -> None:
    arrays = {f"w{k}": w for k, w in enumerate(st.net.weights)}
    arrays.update({f"b{k}": b for k, b in enumerate(st.net.biases)})
    arrays.update(st.opt.state_arrays())
    arrays.update(
        epoch=np.array(st.epoch),
        lr=np.array(st.opt.lr),
        shuffle=np.array(_gen_state(st.shuffle)),
        signs=np.array(_gen_state(st.signs)),
        history=np.array(json.dumps(st.history)),
        config=np.array(json.dumps(c.identity(), sort_keys=True)),
    )

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(run_dir / CHECKPOINT, write)


def load_checkpoint(run_dir: Path, c: EqSpikeConfig) -> State:
    a = read_checkpoint(run_dir, c.identity())
    opt = Adam(lr=float(a["lr"]))
    opt.load_arrays(a, 4)
    net = RateNet((np.array(a["w0"]), np.array(a["w1"])), (np.array(a["b0"]), np.array(a["b1"])))
    return State(
        int(a["epoch"]),
        net,
        opt,
        _gen(str(a["shuffle"])),
        _gen(str(a["signs"])),
        json.loads(str(a["history"])),
    )


def targets(c: EqSpikeConfig, y: np.ndarray, n_classes: int) -> np.ndarray:
    return c.target_lo + (c.target_hi - c.target_lo) * one_hot(y, n_classes)


def evaluate(
    sp: SpikingEP,
    net: RateNet,
    X,
    y,
    batch_size: int,
    seed: int,
    run_base: int = 0,
    network=None,
    energy=None,
) -> dict:
    """Free phases over (X, y): accuracy and spikes per neuron per sample (whole run); with
    ``energy`` (:class:`~anamorph.models.energy.EnergyParams`) also the energy per sample."""
    correct, spikes_h, spikes_o, preds = 0, 0.0, 0.0, []
    network = chip_network(net, sp.units, sp.tables) if network is None else network
    n_h, n_o = network.sizes["hidden"], network.sizes["output"]
    per_unit = {INPUT: 0.0, HIDDEN: 0.0, OUTPUT: 0.0}
    for j, start in enumerate(range(0, len(y), batch_size)):
        xb = X[start : start + batch_size]
        rates, obs, inputs, _ = sp.run(
            xb, net, np.random.default_rng([seed, 6, j]), EVAL_RUN_BASE + run_base + j, network=network
        )
        p = np.argmax(rates[1], axis=1)
        preds.append(p)
        correct += int(np.sum(p == y[start : start + batch_size]))
        counts = obs.spikes.counts(network.n_used)
        spikes_h += float(counts[:, :n_h].sum())
        spikes_o += float(counts[:, n_h:].sum())
        per_unit[INPUT] = per_unit[INPUT] + inputs.counts(network.n_inputs).sum(axis=0)
        per_unit[HIDDEN] = per_unit[HIDDEN] + counts[:, network.slice(HIDDEN)].sum(axis=0)
        per_unit[OUTPUT] = per_unit[OUTPUT] + counts[:, network.slice(OUTPUT)].sum(axis=0)
    n = len(y)
    out = {
        "accuracy": correct / n,
        "spikes_per_hidden_neuron": spikes_h / n / n_h,
        "spikes_per_output_neuron": spikes_o / n / n_o,
        "predictions": np.concatenate(preds),
    }
    if energy is not None:
        per_unit = {k: np.asarray(v, dtype=np.float64) / n for k, v in per_unit.items()}
        out["energy_per_sample"] = chip_energy(energy, network, per_unit, sp.phases.duration_s)
    return out


def print_progress(h: dict) -> None:
    print(
        f"epoch {h['epoch']}: train {h['train_accuracy']:.3f} test {h['test_accuracy']:.3f} "
        f"hidden spikes/neuron/sample {h['test_spikes_per_hidden_neuron']:.1f} ({h['wall_s']:.0f} s)",
        file=sys.stderr,
        flush=True,
    )


def spiking_ep(c: EqSpikeConfig, chip, nominal, backend=None) -> SpikingEP:
    """The two-phase runner of ``c`` on ``chip`` (calibrated to ``nominal``; ``backend``: the
    emulator by default). ``software``: float weights in rheobases, written as codes through
    the nominal synaptic transfer; ``on-chip``: the weights are the codes themselves (one
    code per unit, no transfer table)."""
    if backend is None:
        from anamorph.models.emulator import ChipEmulator

        every = c.sensor_reads == "sample"
        backend = ChipEmulator(
            chip, seed=c.seed, noise=c.noise, nominal=nominal, read_sensors_every_sample=every
        )
    units = Units.from_nominal(nominal)
    phases = Phases(c.t_settle_s, c.t_window_s).check()
    if c.update == "software":
        return SpikingEP(
            backend, units, phases, (chip.process.weight_table_exc, chip.process.weight_table_inh)
        )
    return SpikingEP(backend, replace(units, codes_per_unit=1.0), phases, None)


def train_eqspike(
    c: EqSpikeConfig, *, resume: bool = False, chip=None, nominal=None, backend=None, progress=print_progress
) -> dict:
    """Train per ``c`` into ``c.out``; returns the metrics (also in ``metrics.json``)."""
    from threadpoolctl import threadpool_limits

    from anamorph.models.energy import EnergyParams
    from anamorph.training.config import MAX_FAN_IN, check_fits_chip
    from anamorph.training.datasets import Dataset, load_dataset
    from anamorph.training.prepare import load_chip

    c = validate(c)
    if c.out is None:
        raise InputError("a run needs an output directory", None, "--out")
    data = load_dataset(c.dataset, seed=c.seed)
    if c.n_train is not None or c.n_test is not None:
        data = Dataset(
            data.name,
            data.X_train[: c.n_train],
            data.y_train[: c.n_train],
            data.X_test[: c.n_test],
            data.y_test[: c.n_test],
            data.n_classes,
        )
    if c.input_repeat > 1:
        data = replace(
            data,
            X_train=repeat_inputs(c, data.X_train),
            X_test=repeat_inputs(c, data.X_test),
            X_val=None if data.X_val is None else repeat_inputs(c, data.X_val),
        )
    check_fits_chip(data.n_features + 1 + data.n_classes, c.n_hidden, data.n_classes)
    rows = c.n_hidden + data.n_features + 1  # an output's synapse rows: hidden, inputs, bias
    if rows > MAX_FAN_IN:
        raise InputError(
            f"an output neuron would need {rows} synapse rows ({c.n_hidden} hidden, "
            f"{data.n_features} input channels and the bias), the chip has {MAX_FAN_IN}",
            c.n_hidden,
            "--hidden",
        )
    n_batches = len(data.y_train) // c.batch_size
    if n_batches == 0:
        raise InputError(
            f"fewer training samples ({len(data.y_train)}) than one batch ({c.batch_size})",
            c.dataset,
            "--batch-size",
        )
    if chip is None:
        chip, nominal, chip_info = load_chip(c.chip, c.calibration, c.seed)
    else:
        chip_info = {"chip": "given", "fingerprint": chip.fingerprint()}
    run_dir = ensure_writable_dir(c.out)
    sp = spiking_ep(c, chip, nominal, backend)
    units = Units.from_nominal(nominal)
    tables = (chip.process.weight_table_exc, chip.process.weight_table_inh)
    sizes = [data.n_features, c.n_hidden, data.n_classes]
    net0 = init_net(c, sizes)
    if c.update == "on-chip":  # the codes are the weights
        net0 = RateNet(
            *(
                tuple(to_codes(w, units.codes_per_unit, tables).astype(np.float64) for w in ws)
                for ws in (net0.weights, net0.biases)
            )
        )
    wmax = mapping_w_max(units.codes_per_unit, tables)
    if resume and (run_dir / CHECKPOINT).is_file():
        st = load_checkpoint(run_dir, c)
    else:
        st = State(
            0, net0, Adam(lr=c.lr), np.random.default_rng([c.seed, 2]), np.random.default_rng([c.seed, 3]), []
        )
    write_json(
        run_dir / "config.json", {**c.identity(), "epochs": c.epochs, "out": str(run_dir), "algo": "eqspike"}
    )
    with threadpool_limits(limits=1, user_api="blas"):
        while st.epoch < c.epochs:
            _epoch(c, sp, st, data, n_batches, wmax)
            if progress is not None:
                progress(st.history[-1])
            save_checkpoint(run_dir, c, st)
        ev = evaluate(
            sp,
            st.net,
            data.X_test,
            data.y_test,
            c.batch_size,
            c.seed,
            run_base=1 << 30,
            energy=EnergyParams.from_process(chip.process),
        )
    return _finish(run_dir, c, st, ev, sp, data, chip_info)


def _epoch(c: EqSpikeConfig, sp: SpikingEP, st: State, data, n_batches: int, wmax: float) -> None:
    from anamorph.training.eqprop import onchip

    t0, chip0 = time.perf_counter(), sp.chip_s
    perm = st.shuffle.permutation(len(data.y_train))
    correct, spikes, saturated, loss = 0, 0.0, 0, 0.0
    for k in range(n_batches):
        step = st.epoch * n_batches + k
        idx = perm[k * c.batch_size : (k + 1) * c.batch_size]
        X, y = data.X_train[idx], data.y_train[idx]
        beta = c.beta if (c.estimator != "random-sign" or st.signs.random() < 0.5) else -c.beta
        rng = np.random.default_rng([c.seed, 4, step])
        tgt = targets(c, y, data.n_classes)
        if c.update == "software":
            ep_step = sp.step_symmetric if c.estimator == "symmetric" else sp.step
            update, free, _, _, _ = ep_step(X, tgt, st.net, beta, rng, step)
            params = st.net.params()
            if c.optimizer == "adam":
                st.opt.step(params, [-u for u in update])
            else:
                for p, u in zip(params, update):
                    p += st.opt.lr * u
            for p in params:
                np.clip(p, -wmax, wmax, out=p)
        else:
            free, sat = onchip.step(sp, st, X, tgt, beta, rng, step, c)
            saturated += sat
        correct += int(np.sum(np.argmax(free[1], axis=1) == y))
        loss += 0.5 * float(np.sum((tgt - free[1]) ** 2))
        spikes += float(free[0].sum()) * c.t_window_s / sp.units.t_ref_s
    ev = evaluate(sp, st.net, data.X_test, data.y_test, c.batch_size, c.seed, run_base=st.epoch * 10_000)
    n = n_batches * c.batch_size
    st.history.append(
        {
            "epoch": st.epoch + 1,
            "train_accuracy": correct / n,
            "train_loss": loss / n,
            "test_accuracy": ev["accuracy"],
            "test_spikes_per_hidden_neuron": ev["spikes_per_hidden_neuron"],
            "test_spikes_per_output_neuron": ev["spikes_per_output_neuron"],
            "train_hidden_window_spikes_per_sample": spikes / n,
            "lr": st.opt.lr,
            "sensor_readings_saturated": saturated,
            "wall_s": time.perf_counter() - t0,
            "chip_s": sp.chip_s - chip0,
            "software_s": time.perf_counter() - t0 - (sp.chip_s - chip0),
        }
    )
    st.opt.lr *= c.lr_decay
    st.epoch += 1


def _finish(run_dir: Path, c: EqSpikeConfig, st: State, ev: dict, sp: SpikingEP, data, chip_info) -> dict:
    from anamorph.training import plots

    network = chip_network(st.net, sp.units, sp.tables)
    arrays = {f"w{k}": w for k, w in enumerate(st.net.weights)}
    arrays.update({f"b{k}": b for k, b in enumerate(st.net.biases)})
    arrays.update({f"codes{k}": p.codes for k, p in enumerate(network.projections)})
    arrays["codes_per_unit"] = np.array(sp.units.codes_per_unit)

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(run_dir / "weights.npz", write)
    metrics = {
        "algo": "eqspike",
        "update": c.update,
        "dataset": c.dataset,
        "epochs": len(st.history),
        "test_accuracy": ev["accuracy"],
        "train_accuracy": st.history[-1]["train_accuracy"] if st.history else None,
        "spikes_per_hidden_neuron": ev["spikes_per_hidden_neuron"],
        "spikes_per_output_neuron": ev["spikes_per_output_neuron"],
        "energy_per_sample": ev.get("energy_per_sample"),
        "run_duration_s": sp.phases.duration_s,
        "window_s": sp.phases.t_window_s,
        "confusion_matrix": plots.confusion_counts(data.y_test, ev["predictions"], data.n_classes).tolist(),
        "n_train": int(len(data.y_train)),
        "n_test": int(len(data.y_test)),
        "layer_sizes": [data.n_features, c.n_hidden, data.n_classes],
        "codes_per_unit": sp.units.codes_per_unit,
        "wall_s": float(sum(h["wall_s"] for h in st.history)),
        "history": st.history,
        "chip": chip_info,
    }
    write_json(run_dir / "metrics.json", metrics)
    if st.history:
        plots.learning_curve(st.history, run_dir / "learning_curve.png", f"{c.dataset}, EqSpike ({c.update})")
    from anamorph.training.eqprop.stdp_figure import stdp_figure

    first = slice(0, c.batch_size)
    stdp_figure(
        sp,
        st.net,
        data.X_train[first],
        targets(c, data.y_train[first], data.n_classes),
        c,
        run_dir / "stdp.png",
    )
    write_manifest(
        run_dir,
        seeds={"seed": c.seed},
        inputs={"chip": c.chip, "calibration": c.calibration},
        extra={"config": c.identity()},
    )
    return {**metrics, "run_dir": str(run_dir)}
