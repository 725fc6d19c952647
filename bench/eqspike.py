"""Benchmark of EqSpike's phases on a calibrated emulated chip (digits network).

Prints ``name: value unit`` lines, measured in one run:
- how fast the spiking network settles: the mean hidden and output rate in 5 µs bins of a
  long free run, and the first bin after which the rate stays within 5 % of its final
  value (the mean over the second half of the run);
- the wall time of one phase (one emulator run of the default length) per batch;
- the repeatability of the EP update per window length: the cosine similarity of two
  updates of the same batch and weights whose runs differ only in the chip's noise draw
  (1 = noise-free; sets how long the phases must be);
- training on digits on the same calibrated chip, EqSpike (software update, defaults) beside
  the surrogate algorithm (defaults), ``--train-epochs`` epochs each (0 skips): per epoch the
  test accuracy and the wall time split into chip runs and software, and the ratio of the
  wall times each needs to reach 90 % test accuracy, as measured and "steady" (the first
  epoch, which also builds and compiles the Brian2 networks, counted at the median epoch).

Usage: .venv/bin/python bench/eqspike.py [--batch 25] [--hidden 100] [--seed 0]
       [--train-epochs 12] [--n-train N] [--n-test N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np

try:  # run as a script: bench/ is on sys.path
    from _history import print_comparison
except ImportError:  # imported as bench.eqspike
    from bench._history import print_comparison


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=25)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--train-epochs", type=int, default=12, help="epochs of the training comparison (0: skip)"
    )
    ap.add_argument("--n-train", type=int, default=None, help="training samples of the comparison (all)")
    ap.add_argument("--n-test", type=int, default=None, help="test samples of the comparison (all)")
    args = ap.parse_args()

    from anamorph.models.emulator import ChipEmulator
    from anamorph.training.datasets import load_dataset
    from anamorph.training.eqprop.loop import init_net, make_eqspike_config, targets
    from anamorph.training.eqprop.spiking import HIDDEN, OUTPUT, Phases, SpikingEP, Units
    from anamorph.training.prepare import load_chip

    c = make_eqspike_config("digits", n_hidden=args.hidden, batch_size=args.batch, seed=args.seed)
    chip, nominal, _ = load_chip(None, None, args.seed)
    emu = ChipEmulator(chip, seed=args.seed, noise=True, nominal=nominal)
    units = Units.from_nominal(nominal)
    tables = (chip.process.weight_table_exc, chip.process.weight_table_inh)
    data = load_dataset("digits", seed=args.seed)
    X, y = data.X_train[: args.batch], data.y_train[: args.batch]
    net = init_net(c, [data.n_features, args.hidden, data.n_classes])
    tgt = targets(c, y, data.n_classes)

    bin_s, long_s = 5e-6, 300e-6
    sp = SpikingEP(emu, units, Phases(0.0, long_s), tables)
    _, obs, _, network = sp.run(X, net, np.random.default_rng(0), 0)
    n_bins = int(round(long_s / bin_s))
    for name in (HIDDEN, OUTPUT):
        sl = network.slice(name)
        keep = (obs.spikes.units >= sl.start) & (obs.spikes.units < sl.stop)
        b = np.minimum((obs.spikes.times_s[keep] / bin_s).astype(int), n_bins - 1)
        s = np.bincount(b, minlength=n_bins) / (args.batch * (sl.stop - sl.start)) * units.t_ref_s / bin_s
        final = s[n_bins // 2 :].mean()
        # a bin counts as settled within 5 % or 3 standard errors of its spike count
        n_per_bin = args.batch * (sl.stop - sl.start) * bin_s / units.t_ref_s
        tol = np.maximum(0.05 * final, 3 * np.sqrt(final / n_per_bin))
        outside = np.flatnonzero(np.abs(s - final) > tol)
        settle = (outside[outside < n_bins // 2].max() + 1) * bin_s if outside.size else 0.0
        print(f"eqspike_{name}_rate_final: {final:.4f} t_ref-units")
        print(f"eqspike_{name}_rate_first_bins: {' '.join(f'{v / final:.2f}' for v in s[:8])} x final")
        print(f"eqspike_{name}_settle_time: {settle * 1e6:.1f} us")

    phases = Phases(c.t_settle_s, c.t_window_s)
    sp = SpikingEP(emu, units, phases, tables)
    sp.run(X, net, np.random.default_rng(0), 1)  # build (and compile) before timing
    t0 = time.perf_counter()
    _, obs, _, network = sp.run(X, net, np.random.default_rng(0), 2)
    wall = time.perf_counter() - t0
    print(
        f"eqspike_phase_wall_time: {wall:.3f} s per batch of {args.batch} "
        f"({phases.duration_s * 1e6:.0f} us chip time)"
    )
    print(f"eqspike_phase_wall_time_per_sample: {1e3 * wall / args.batch:.2f} ms")
    counts = obs.spikes.counts(network.n_used)
    hidden = counts[:, network.slice(HIDDEN)].mean()
    print(f"eqspike_hidden_spikes_per_neuron_per_sample: {hidden:.2f} spikes")

    for window in (15e-6, 30e-6, 60e-6, 120e-6, 240e-6):
        sp = SpikingEP(emu, units, Phases(c.t_settle_s, window), tables)
        ups = [sp.step(X, tgt, net, c.beta, np.random.default_rng(1), 10 + r)[0] for r in (0, 1)]
        a, b = (np.concatenate([u.ravel() for u in up]) for up in ups)
        cos = float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))
        print(f"eqspike_update_repeatability_window_{window * 1e6:.0f}us: {cos:.3f} cosine")

    if args.train_epochs > 0:
        compare_training(chip, nominal, args.seed, args.train_epochs, args.n_train, args.n_test)


def compare_training(chip, nominal, seed: int, epochs: int, n_train: int | None, n_test: int | None) -> None:
    """EqSpike and the surrogate algorithm on digits, same chip: accuracy and wall time per epoch."""
    from anamorph.training.config import make_config
    from anamorph.training.eqprop.loop import make_eqspike_config, train_eqspike
    from anamorph.training.run import train_run

    histories = {"eqspike": [], "surrogate": []}
    with tempfile.TemporaryDirectory() as tmp:
        c = make_eqspike_config(
            "digits", out=f"{tmp}/eq", epochs=epochs, seed=seed, n_train=n_train, n_test=n_test
        )
        train_eqspike(c, chip=chip, nominal=nominal, progress=histories["eqspike"].append)
        s = make_config(
            "digits", out=f"{tmp}/sg", epochs=epochs, seed=seed, n_train=n_train, n_test=n_test, mode="chip"
        )
        train_run(s, chip=chip, nominal=nominal, progress=histories["surrogate"].append)
    print_comparison(histories, "digits", 0.9)


if __name__ == "__main__":
    main()
