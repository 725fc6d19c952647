"""In-the-loop surrogate-gradient training (Cramer et al. 2022) and its pure-software twin.

One step: the batch runs forward (on the chip in mode "chip", through
:class:`~anamorph.training.chip_loop.ChipForward`; in the ideal model in mode "software");
the chip's (or model's) spikes and membranes enter the explicit backward pass
(:mod:`anamorph.training.backprop`); Adam updates the float weights, which are clipped to
the chip's range (+-63 codes) and written again as codes at the next step. Inverted dropout
(optional) silences a fresh random set of hidden neurons per batch by zeroing their
outgoing weights; input dropout (optional) removes a random fraction of input spikes. The learning rate decays by ``lr_decay`` per epoch.

Every epoch ends with an atomic checkpoint holding the weights, Adam's moments, the
shuffling generator's state and the history; the chip's noise of step ``k`` is drawn from
rng([seed, k]). A resumed run therefore ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import write_with
from anamorph.training.backprop import LossParams, loss_and_grads
from anamorph.training.config import TrainConfig
from anamorph.training.datasets import shift_images
from anamorph.training.optim import Adam
from anamorph.training.snn import NetParams, forward

CHECKPOINT = "checkpoint.npz"
EVAL_RUN_BASE = 1 << 40  # noise-draw ids of evaluation batches (training steps count from 0)


def net_params(c: TrainConfig, nominal, readout_range=None) -> NetParams:
    """The software model at the chip's nominal time constants and refractory time;
    ``readout_range``: what the chip's ADC can report of the readout (dimensionless)."""
    return NetParams(
        dt_s=c.dt_s,
        tau_m_s=float(np.mean(nominal.tau_m_s)),
        tau_syn_s=float(np.mean(nominal.tau_syn_s)),
        surrogate_beta=c.surrogate_beta,
        refractory_steps=int(round(float(np.mean(nominal.t_ref_s)) / c.dt_s)),
        readout_range=readout_range,
    )


def loss_params(c: TrainConfig) -> LossParams:
    return LossParams(rho_a=c.rho_a, rho_b=c.rho_b, logit_scale=c.logit_scale)


def init_weights(c: TrainConfig, sizes: list[int], w_max: float) -> list[np.ndarray]:
    """Gaussian weights (mean, sd in units of the largest chip weight), seeded by rng([seed, 1])."""
    rng = np.random.default_rng([c.seed, 1])
    out = []
    for l, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        w = rng.normal(c.init_mean[min(l, 1)], c.init_sd[min(l, 1)], (a, b)) * w_max
        out.append(np.clip(w, -w_max, w_max))
    return out


class Runner:
    """Forward passes of one run: on the chip (``chip_fwd``) or in the ideal model."""

    def __init__(self, c: TrainConfig, prepared, p: NetParams, chip_fwd=None):
        self.c, self.prep, self.p, self.chip_fwd = c, prepared, p, chip_fwd
        self.n_steps = int(round(c.duration_s / c.dt_s))
        self.chip_s = 0.0

    def inputs(self, X: np.ndarray):
        feats = self.prep.features(X, self.c.input_repeat)
        return self.prep.code.raster(feats, self.c.dt_s, self.n_steps), feats

    def forward(
        self, X: np.ndarray, weights, on_chip: bool, run_id: int | None = None, hidden_v: bool = True
    ):
        """(input raster, traces) of a batch; on the chip ``hidden_v=False`` skips the hidden
        layers' membranes (:meth:`ChipForward.run`)."""
        x, feats = self.inputs(X)
        if not on_chip:
            return x, forward(x, weights, self.p)
        if self.chip_fwd is None:
            raise InputError("this run has no chip to evaluate on", None, "chip")
        t0 = time.perf_counter()
        traces, _ = self.chip_fwd.run(self.prep.code.events(feats), weights, run_id, hidden_v)
        self.chip_s += time.perf_counter() - t0
        return x, traces

    def evaluate(self, weights, X: np.ndarray, y: np.ndarray, on_chip: bool, run_base: int = 0) -> dict:
        """Accuracy and hidden spikes per sample; batches padded to the run's batch size."""
        B = self.c.batch_size
        correct, spikes, n = 0, 0.0, len(y)
        predictions = np.empty(n, dtype=np.int64)
        presyn = [np.zeros(w.shape[0]) for w in weights]  # spikes of each layer's inputs (energy)
        for k, s in enumerate(range(0, n, B)):
            idx = np.arange(s, s + B)
            valid = idx < n
            idx = np.minimum(idx, n - 1)
            x, tr = self.forward(X[idx], weights, on_chip, EVAL_RUN_BASE + run_base + k, hidden_v=False)
            for l, s_l in enumerate([x, *tr.s[:-1]]):
                presyn[l] += np.asarray(s_l)[valid].sum(axis=(0, 1))
            m = tr.v[-1].max(axis=1)
            predictions[idx[valid]] = np.argmax(m, axis=1)[valid]
            correct += int(np.sum((np.argmax(m, axis=1) == y[idx])[valid]))
            spikes += float(sum(sl[valid].sum() for sl in tr.s[:-1]))
        n_hidden = sum(w.shape[1] for w in weights[:-1])
        return {
            "accuracy": correct / n,
            "spikes_per_sample": spikes / n,
            "spikes_per_hidden_neuron": spikes / n / n_hidden,
            "predictions": predictions,
            "presyn_spikes_per_sample": [p / n for p in presyn],
        }


def save_checkpoint(
    run_dir: Path, c: TrainConfig, epoch: int, weights, opt: Adam, rng, history, best=None
) -> None:
    arrays = {f"w{k}": w for k, w in enumerate(weights)}
    arrays.update({f"best{k}": w for k, w in enumerate(best or [])})
    arrays.update(opt.state_arrays())
    arrays["epoch"] = np.array(epoch)
    arrays["lr"] = np.array(opt.lr)
    arrays["rng_state"] = np.array(json.dumps(rng.bit_generator.state))
    arrays["history"] = np.array(json.dumps(history))
    arrays["config"] = np.array(json.dumps(c.identity(), sort_keys=True))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(run_dir / CHECKPOINT, write)


def read_checkpoint(run_dir: Path, identity: dict) -> dict[str, np.ndarray]:
    """The arrays of ``run_dir``'s checkpoint; InputError if unreadable or saved with other settings."""
    path = run_dir / CHECKPOINT
    try:
        with np.load(path, allow_pickle=False) as f:
            a = {k: f[k] for k in f.files}
    except Exception as e:
        raise InputError(f"unreadable checkpoint ({e}); delete it to start over", path) from None
    saved = json.loads(str(a["config"]))
    if saved != json.loads(json.dumps(identity, sort_keys=True)):
        diff = sorted(k for k in set(saved) | set(identity) if saved.get(k) != identity.get(k))
        raise InputError(
            f"resuming with different settings than the checkpoint ({', '.join(diff)})",
            path,
            diff[0] if diff else None,
        )
    return a


def load_checkpoint(run_dir: Path, c: TrainConfig, n_layers: int):
    """(epoch, weights, Adam, rng, history, best weights or None) from ``run_dir``;
    InputError if the settings differ."""
    a = read_checkpoint(run_dir, c.identity())
    opt = Adam(lr=float(a["lr"]))
    opt.load_arrays(a, n_layers)
    rng = np.random.default_rng()
    rng.bit_generator.state = json.loads(str(a["rng_state"]))
    weights = [np.array(a[f"w{k}"]) for k in range(n_layers)]
    best = [np.array(a[f"best{k}"]) for k in range(n_layers)] if "best0" in a else None
    return int(a["epoch"]), weights, opt, rng, json.loads(str(a["history"])), best


def train_epochs(
    c: TrainConfig,
    runner: Runner,
    weights,
    opt: Adam,
    rng,
    history: list,
    start_epoch: int,
    w_max: float,
    run_dir: Path | None,
    progress=None,
    best=None,
):
    """Epochs ``start_epoch .. c.epochs-1``; checkpoints after each.

    Where the data set has a validation split, each epoch is also evaluated on it and the
    weights of the epoch with the best validation accuracy (the first, on ties) are kept
    (model selection that never sees the test set). Returns (history, best weights or None).
    """
    on_chip = c.mode == "chip"
    data = runner.prep.data
    has_val = data.X_val is not None and len(data.y_val) > 0
    lp = loss_params(c)
    n_batches = len(data.y_train) // c.batch_size
    if n_batches == 0:
        raise InputError(
            f"fewer training samples ({len(data.y_train)}) than one batch ({c.batch_size})",
            c.dataset,
            "batch_size",
        )
    for epoch in range(start_epoch, c.epochs):
        t0, chip0 = time.perf_counter(), runner.chip_s
        perm = rng.permutation(len(data.y_train))
        correct, loss_sum, spikes = 0, 0.0, 0.0
        for k in range(n_batches):
            idx = perm[k * c.batch_size : (k + 1) * c.batch_size]
            eff, gain = list(weights), [1.0] * len(weights)
            if c.dropout > 0:
                for l in range(len(weights) - 1):
                    keep = (rng.random(weights[l].shape[1]) >= c.dropout) / (1.0 - c.dropout)
                    gain[l + 1] = keep[:, None]
                    eff[l + 1] = weights[l + 1] * gain[l + 1]
            X = data.X_train[idx]
            if c.augment_shift_px > 0:
                X = shift_images(X, rng, c.augment_shift_px)
            if c.input_dropout > 0:
                X = X * (rng.random(X.shape) >= c.input_dropout)
            x, traces = runner.forward(X, eff, on_chip, epoch * n_batches + k)
            loss, grads, info = loss_and_grads(x, traces, eff, data.y_train[idx], runner.p, lp)
            opt.step(weights, [g * gl for g, gl in zip(grads, gain)])
            for w in weights:
                np.clip(w, -w_max, w_max, out=w)
            correct += info["correct"]
            loss_sum += loss
            spikes += info["hidden_spikes"]
        ev = runner.evaluate(weights, data.X_test, data.y_test, on_chip, run_base=epoch * 10_000)
        n = n_batches * c.batch_size
        val = {}
        if has_val:
            acc = runner.evaluate(weights, data.X_val, data.y_val, on_chip, run_base=epoch * 10_000 + 5_000)[
                "accuracy"
            ]
            val = {"val_accuracy": acc}
            if best is None or acc > max(h["val_accuracy"] for h in history):
                best = [w.copy() for w in weights]
        chip_s = runner.chip_s - chip0
        history.append(
            {
                "epoch": epoch + 1,
                **val,
                "train_accuracy": correct / n,
                "train_loss": loss_sum / n_batches,
                "train_spikes_per_sample": spikes / n,
                "test_accuracy": ev["accuracy"],
                "test_spikes_per_sample": ev["spikes_per_sample"],
                "lr": opt.lr,
                "wall_s": time.perf_counter() - t0,
                "chip_s": chip_s,
                "software_s": time.perf_counter() - t0 - chip_s,
            }
        )
        opt.lr *= c.lr_decay
        if run_dir is not None:
            save_checkpoint(run_dir, c, epoch + 1, weights, opt, rng, history, best)
        if progress is not None:
            progress(history[-1])
    return history, best


def print_progress(h: dict) -> None:
    if sys.stderr.isatty():
        print(
            f"epoch {h['epoch']}: train {h['train_accuracy']:.3f} test {h['test_accuracy']:.3f} "
            f"hidden spikes/sample {h['test_spikes_per_sample']:.1f} ({h['wall_s']:.1f} s)",
            file=sys.stderr,
        )
