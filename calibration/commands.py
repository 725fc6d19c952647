"""``anamorph calibrate``: per-neuron DAC codes for a chip, written as calibration JSON."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="calibrate every neuron of a chip to its targets",
        description="Search per-neuron DAC codes (leak, threshold, reset, tau_m, tau_syn, "
        "refractory time, synaptic gain) that bring the chip's neurons to the "
        "targets, measuring only through the emulated chip's spikes and ADC. "
        "A repeated calibration of the same chip and targets is read from the cache; "
        "a killed one resumes from its checkpoint in the cache.",
    )
    p.add_argument(
        "--chip",
        type=Path,
        default=None,
        help="chip JSON (default: the shipped process model's chip with seed 0)",
    )
    p.add_argument(
        "--targets",
        type=Path,
        default=None,
        help="targets JSON (default: the chip's nominal operating point)",
    )
    p.add_argument(
        "--process",
        type=Path,
        default=None,
        help="process model JSON for the DAC ranges and predictions (default: shipped)",
    )
    p.add_argument("--out", type=Path, required=True, help="calibration JSON to write")
    p.add_argument("--seed", type=int, default=0, help="seed of the chip's noise during measurement")
    p.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="where calibrations are cached (default: ~/.cache/anamorph/calibration)",
    )
    p.add_argument("--no-cache", action="store_true", help="neither read nor write the cache")
    p.add_argument(
        "--figures", type=Path, default=None, help="directory for before/after spread figures (PNG)"
    )
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    import sys

    from anamorph.errors import InputError
    from anamorph.models.chip import Chip, sample_chip
    from anamorph.models.process_model import ProcessModel

    from . import Targets, calibrate

    if args.out.exists() and args.out.is_dir():
        raise InputError("is a directory, expected a file path", args.out, "--out")
    process = ProcessModel.load(args.process) if args.process else ProcessModel.default()
    chip = Chip.load(args.chip) if args.chip else sample_chip(process, 0)
    targets = Targets.load(args.targets) if args.targets else None
    if targets is not None:
        from .targets import check_targets

        check_targets(targets, process, args.targets)
    cal = calibrate(
        chip,
        targets,
        process_model=process,
        cache_dir=args.cache_dir,
        seed=args.seed,
        use_cache=not args.no_cache,
    )
    cal.save(args.out)
    if args.figures is not None:
        from anamorph.io import ensure_writable_dir

        from .figures import spread_figure

        ensure_writable_dir(args.figures, "--figures")
        spread_figure(cal, args.figures / "calibration_spread.png")
    ok = cal.all_success
    src = "cache" if cal.from_cache else f"{cal.n_runs} emulator runs"
    print(
        f"calibrated {ok.sum()}/{ok.size} neurons on every parameter ({src}) -> {args.out}", file=sys.stderr
    )
    for p, s in cal.success.items():
        if not s.all():
            first = next(iter(cal.reasons.get(p, {}).items()), None)
            why = f"; e.g. neuron {first[0]}: {first[1]}" if first else ""
            print(f"  {p}: {int((~s).sum())} neuron(s) failed{why}", file=sys.stderr)
    return 0
