"""Benchmark: EventProp beside the surrogate algorithm, both in the loop on the same chip.

Both train with their data set's defaults on a calibrated chip sampled from the shipped
process model (seed ``--seed``): EventProp reads only spike times from the chip (exact
adjoint of the event model), the surrogate algorithm spike times and the ADC samples of
every membrane (Cramer et al. 2022). Prints, as ``name: value unit`` lines measured in one
run: every epoch's test accuracy and wall time (chip runs and software apart), the mean
time per epoch, the wall time to the first epoch at the target test accuracy (as measured,
and "steady": the first epoch, which also compiles, counted at the median epoch), and the
ratio of EventProp's time over the surrogate algorithm's. jaxsnn's side of the comparison
is ``bench/eventprop_peer.py``.

Usage: .venv/bin/python bench/eventprop_training.py [--dataset yinyang|digits]
       [--target 0.95 (yinyang) / 0.93 (digits)] [--epochs E (each algorithm's default)] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile

try:  # run as a script: bench/ is on sys.path
    from _history import print_comparison
except ImportError:  # imported as bench.eventprop_training
    from bench._history import print_comparison

TARGETS = {"yinyang": 0.95, "digits": 0.93}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", choices=tuple(TARGETS), default="yinyang")
    ap.add_argument("--target", type=float, default=None)
    ap.add_argument("--epochs", type=int, default=None, help="epochs of both runs (their defaults)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from anamorph.training.config import make_config
    from anamorph.training.eventprop.run import make_eventprop_config, train_eventprop
    from anamorph.training.prepare import load_chip
    from anamorph.training.run import train_run

    chip, nominal, _ = load_chip(None, None, args.seed)
    histories = {"eventprop": [], "surrogate": []}
    with tempfile.TemporaryDirectory() as tmp:
        e = make_eventprop_config(args.dataset, out=f"{tmp}/ep", epochs=args.epochs, seed=args.seed)
        train_eventprop(e, chip=chip, nominal=nominal, progress=histories["eventprop"].append)
        s = make_config(args.dataset, out=f"{tmp}/sg", epochs=args.epochs, seed=args.seed, mode="chip")
        train_run(s, chip=chip, nominal=nominal, progress=histories["surrogate"].append)
    print_comparison(histories, args.dataset, TARGETS[args.dataset] if args.target is None else args.target)


if __name__ == "__main__":
    main()
