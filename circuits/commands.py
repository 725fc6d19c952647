"""``anamorph sweep``: Monte Carlo sweep of a circuit -> DIR/sweep.parquet, DIR/*.png.

``anamorph sweep CIRCUIT --instances N --seed S --out DIR [--workers K]
[--scheduler ADDRESS] [--resume]``; CIRCUIT is one of
:data:`anamorph.circuits.registry.CIRCUITS`. Input is validated before anything is
written; bad input is an :class:`~anamorph.errors.InputError` (exit code 2).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from anamorph.errors import InputError


def register(sub) -> None:
    p = sub.add_parser(
        "sweep", help="Monte Carlo sweep of a transistor-level circuit", description=__doc__.splitlines()[0]
    )
    p.add_argument("circuit", help="lif | synapse | tstdp | gated-synapse")
    p.add_argument("--instances", type=int, required=True, help="number of Monte Carlo instances")
    p.add_argument("--seed", type=int, default=0, help="seed (instance k uses [seed, k])")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    p.add_argument("--workers", type=int, default=None, help="local worker processes (default: CPUs)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address, e.g. tcp://host:8786")
    p.add_argument("--resume", action="store_true", help="finish an interrupted sweep in --out")
    p.set_defaults(func=run)


def validate(args: argparse.Namespace):
    """Check every argument; return the circuit's SWEEPABLE. Writes nothing."""
    from anamorph.circuits.registry import CIRCUITS, get_circuit

    if args.circuit not in CIRCUITS:
        raise InputError(f"unknown circuit {args.circuit!r} (known: {', '.join(CIRCUITS)})", field="CIRCUIT")
    if args.instances is None or args.instances <= 0:
        raise InputError(f"must be a positive integer, got {args.instances}", field="--instances")
    if args.seed < 0:
        raise InputError(f"must be a non-negative integer, got {args.seed}", field="--seed")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"must be at least 1, got {args.workers}", field="--workers")
    out = Path(args.out)
    probe = out
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if out.exists() and not out.is_dir():
        raise InputError("exists and is not a directory", out, "--out")
    if (
        not probe.is_dir()
        or not os.access(probe, os.W_OK | os.X_OK)
        or (out.exists() and not os.access(out, os.R_OK))
    ):
        raise InputError("cannot write here (no permission)", out, "--out")
    try:
        return get_circuit(args.circuit)
    except ModuleNotFoundError as e:
        raise InputError(
            f"circuit {args.circuit!r} is not available in this installation ({e})", field="CIRCUIT"
        ) from None


def run(args: argparse.Namespace) -> int:
    import sys

    circuit = validate(args)
    table = _sweep(circuit, args)
    counts = table["status"].value_counts().to_dict()
    print(
        f"sweep {circuit.name}: {len(table)} instances "
        f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))}) -> {Path(args.out) / 'sweep.parquet'}",
        file=sys.stderr,
    )
    return 0


def _sweep(circuit, args):
    from anamorph.circuits.sweep import run_sweep

    return run_sweep(
        circuit,
        args.instances,
        args.seed,
        args.out,
        workers=args.workers,
        scheduler=args.scheduler,
        resume=args.resume,
    )
