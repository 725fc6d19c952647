"""``anamorph fit`` and ``anamorph chip``: the models layer's subcommands.

``anamorph fit SWEEP_DIR... --out process.json`` fits a ProcessModel to sweeps of the four
circuit kinds (lif, synapse, gated-synapse, tstdp; one sweep per kind). The shipped default
was made with::

    anamorph sweep lif --instances 40 --seed 1 --out models/data/sweeps/lif --workers 1
    anamorph sweep synapse --instances 40 --seed 2 --out models/data/sweeps/synapse --workers 1
    anamorph sweep gated-synapse --instances 100 --seed 11 --out models/data/sweeps/gated-synapse --workers 1
    anamorph sweep tstdp --instances 100 --seed 3 --out models/data/sweeps/tstdp --workers 2
    anamorph fit models/data/sweeps/lif models/data/sweeps/synapse models/data/sweeps/gated-synapse \
        models/data/sweeps/tstdp --out models/data/process_default.json

(the sweep tables are kept in ``models/data/sweeps``; the fit runs three ngspice training
transients per LIF instance, about 2 minutes for 40 instances).

``anamorph chip [--process FILE] --seed S --out chip.json [--detune SIGMA]`` draws one
chip (the shipped process model when ``--process`` is not given).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def _fit(args: argparse.Namespace) -> int:
    from anamorph.models.fit import fit_process

    out = Path(args.out)
    if out.is_dir():
        from anamorph.errors import InputError

        raise InputError("is a directory; give a file name for the process model", out, "--out")
    process = fit_process(args.sweep_dirs, transients=not args.no_transients)
    process.save(out)
    print(f"process model -> {out}")
    return 0


def _chip(args: argparse.Namespace) -> int:
    from anamorph.errors import InputError
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    out = Path(args.out)
    if out.is_dir():
        raise InputError("is a directory; give a file name for the chip", out, "--out")
    if not math.isfinite(args.detune) or args.detune < 0:
        raise InputError("must be a finite number >= 0", "--detune")
    process = ProcessModel.load(args.process) if args.process else ProcessModel.default()
    chip = sample_chip(process, args.seed, detune=args.detune)
    chip.save(out)
    print(f"chip seed {args.seed} ({chip.fingerprint()[:12]}) -> {out}")
    return 0


def _seed(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "fit",
        help="fit a process model to circuit sweeps",
        description="Fit a ProcessModel (DAC transfers, spreads, correlations) to sweep "
        "directories of the lif, synapse, gated-synapse and tstdp circuits "
        "(one per kind).",
        epilog="example: anamorph fit models/data/sweeps/lif models/data/sweeps/synapse "
        "models/data/sweeps/gated-synapse models/data/sweeps/tstdp --out process.json",
    )
    p.add_argument(
        "sweep_dirs",
        nargs="+",
        metavar="SWEEP_DIR",
        help="folders holding sweep.parquet (from `anamorph sweep lif|synapse|gated-synapse|tstdp`)",
    )
    p.add_argument("--out", required=True, help="process model JSON to write")
    p.add_argument(
        "--no-transients",
        action="store_true",
        help="fit LIF instances to their sweep rows only (no ngspice training transient)",
    )
    p.set_defaults(func=_fit)
    p = sub.add_parser(
        "chip",
        help="draw one seeded chip from a process model",
        description="Sample a Chip (512 neurons, mismatch, noise, ADC) from a ProcessModel.",
    )
    p.add_argument("--process", help="process model JSON (default: the shipped one)")
    p.add_argument("--seed", type=_seed, required=True, help="chip seed")
    p.add_argument("--out", required=True, help="chip JSON to write")
    p.add_argument(
        "--detune",
        type=float,
        default=0.0,
        help="extra relative spread of tau_m, tau_syn, v_th - v_leak (Cramer et al. 2022)",
    )
    p.set_defaults(func=_chip)
