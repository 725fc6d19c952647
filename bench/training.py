"""Benchmark of in-the-loop training on mnist5k (MNIST at 16x16, the 256-246-10 network).

Prints, as ``name: value unit`` lines, measured side by side in one run:
- the wall time of one epoch in the loop (3,500 training images, then the 500 validation
  and 1,000 test images evaluated on the chip), split into chip time (the Brian2
  emulator, including writing weights and reading spikes/ADC traces) and software time
  (latency coding, backward pass, Adam update, test evaluation's software part);
- the epoch at which the test accuracy first reached the target and the wall time to it.

Usage: .venv/bin/python bench/training.py [--epochs E (data-set default)] [--target 0.92] [--n-train N]
[--dataset mnist5k]
Runs on a calibrated chip sampled from the shipped process model (seed 0), with the
emulator's default OpenMP threads (``OMP_NUM_THREADS=1`` for one).
"""

from __future__ import annotations

import argparse
import tempfile
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--target", type=float, default=0.92)
    ap.add_argument("--n-train", type=int, default=None)
    ap.add_argument("--dataset", default="mnist5k")
    args = ap.parse_args()

    from anamorph.models.brian_simd import default_threads
    from anamorph.training.config import make_config
    from anamorph.training.prepare import load_chip
    from anamorph.training.run import train_run

    print(f"emulator_threads: {default_threads()} threads")
    t0 = time.perf_counter()
    chip, nominal, _ = load_chip(None, None, 0)
    print(f"calibration_or_cache: {time.perf_counter() - t0:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        c = make_config(args.dataset, out=tmp, epochs=args.epochs, n_train=args.n_train)
        res = train_run(c, chip=chip, nominal=nominal, progress=None)
    h = res.history
    n = len(h)
    chip_s = sum(e["chip_s"] for e in h) / n
    soft_s = sum(e["software_s"] for e in h) / n
    print(f"epoch_wall: {chip_s + soft_s:.2f} s")
    print(f"epoch_chip: {chip_s:.2f} s")
    print(f"epoch_software: {soft_s:.2f} s")
    print(f"chip_share: {100 * chip_s / (chip_s + soft_s):.1f} %")
    reached = [e for e in h if e["test_accuracy"] >= args.target]
    if reached:
        k = reached[0]["epoch"]
        print(f"epochs_to_{100 * args.target:.0f}pct: {k} epochs")
        print(f"time_to_{100 * args.target:.0f}pct: {sum(e['wall_s'] for e in h[:k]):.1f} s")
    else:
        print(
            f"epochs_to_{100 * args.target:.0f}pct: not reached in {n} epochs "
            f"(best test accuracy {100 * max(e['test_accuracy'] for e in h):.1f} %)"
        )
    print(f"final_test_accuracy: {100 * res.metrics['test_accuracy']:.1f} %")
    print(f"spikes_per_hidden_neuron: {res.metrics['spikes_per_hidden_neuron']:.2f} spikes")


if __name__ == "__main__":
    main()
