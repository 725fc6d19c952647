"""``anamorph stdp``: one spike protocol through the ideal rule, the circuit and the chip.

``anamorph stdp --pre MS,MS,... --post MS,... [--repetitions 60 --frequency-hz 1]
[--chip chip.json --synapses N] [--seed S] [--no-circuit]`` prints one JSON object with
the weight change of the protocol (pre and post spike times in biological ms within one
period, repeated ``--repetitions`` times at ``--frequency-hz``):

- ``rule``: the ideal nearest-spike triplet rule with the parameters fitted to the
  hippocampal data (``circuits/tstdp/fitted.json``, ``rule_fit``);
- ``circuit``: the transistor-level synapse of the nominal design in ngspice with the
  fitted biases (:func:`anamorph.circuits.tstdp.circuit.protocol_weight_change`);
- ``chip`` (with ``--chip``): ``N`` plastic synapses of the emulated chip, each with its
  own mismatched sensor parameters, read through the sensor ADC
  (:mod:`anamorph.models.plasticity.chip_protocol`): mean and standard deviation over the
  synapses, and the median synapse's rule value from the chip's process model.

Bad spike lists (not numbers, negative, not increasing, empty) end with one line naming
the option and exit code 2.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def spike_list(text: str, option: str) -> tuple[float, ...]:
    """Parse ``"MS,MS,..."`` (biological ms) into seconds; InputError naming ``option``."""
    from anamorph.errors import InputError

    parts = [p.strip() for p in str(text).split(",")]
    if not parts or parts == [""]:
        raise InputError("needs at least one spike time (ms, comma-separated)", option)
    try:
        ms = [float(p) for p in parts]
    except ValueError:
        raise InputError(f"spike times must be numbers in ms, got {text!r}", option) from None
    if not all(math.isfinite(v) for v in ms):
        raise InputError("spike times must be finite", option)
    if min(ms) < 0:
        raise InputError("spike times must be >= 0 ms", option)
    if any(b <= a for a, b in zip(ms, ms[1:])):
        raise InputError("spike times must be strictly increasing", option)
    return tuple(v * 1e-3 for v in ms)


def _stdp(args: argparse.Namespace) -> int:
    from dataclasses import asdict

    from anamorph.circuits.tstdp.circuit import FITTED_PATH, TIME_SCALE
    from anamorph.circuits.tstdp.protocols import Protocol
    from anamorph.circuits.tstdp.rule import TripletParams, weight_change
    from anamorph.errors import InputError
    from anamorph.io import read_json

    pre, post = spike_list(args.pre, "--pre"), spike_list(args.post, "--post")
    if args.repetitions < 1:
        raise InputError("must be an integer >= 1", "--repetitions")
    if not (math.isfinite(args.frequency_hz) and args.frequency_hz > 0):
        raise InputError("must be a positive number", "--frequency-hz")
    if not 1 <= args.synapses <= 512 * 256:
        raise InputError("must be an integer in 1..131072", "--synapses")
    try:
        protocol = Protocol("stdp", pre, post, args.frequency_hz, args.repetitions)
    except InputError as e:
        raise InputError(e.message, "--frequency-hz") from None
    chip = None
    if args.chip:
        from anamorph.models.chip import Chip

        chip = Chip.load(args.chip)
    fitted = read_json(FITTED_PATH)
    params = TripletParams(**fitted["rule_fit"])
    trains = protocol.trains()
    out = {
        "protocol": {
            "pre_ms": [t * 1e3 for t in pre],
            "post_ms": [t * 1e3 for t in post],
            "repetitions": args.repetitions,
            "frequency_hz": args.frequency_hz,
            "chip_time_scale": TIME_SCALE,
        },
        "rule": {"dw": weight_change(*trains, params), "params": asdict(params)},
    }
    if not args.no_circuit:
        from anamorph.circuits.tstdp.circuit import load_fitted, protocol_weight_change

        out["circuit"] = {
            "dw": protocol_weight_change(protocol, load_fitted()),
            "biases": "fitted (nominal design)",
        }
    if chip is not None:
        from anamorph.models.emulator import ChipEmulator
        from anamorph.models.plasticity.chip_protocol import run_protocols
        from anamorph.models.plasticity.synapse_params import nominal_rule, section_of

        result = run_protocols(ChipEmulator(chip, seed=args.seed), [protocol], args.synapses)
        dw = result.dw[0]
        section = section_of(chip.process)
        out["chip"] = {
            "seed": chip.seed,
            "fingerprint": chip.fingerprint()[:12],
            "synapses": args.synapses,
            "mean": float(dw.mean()),
            "sd": float(dw.std(ddof=1)) if dw.size > 1 else 0.0,
            "min": float(dw.min()),
            "max": float(dw.max()),
            "median_synapse_rule_dw": weight_change(*trains, nominal_rule(section)),
            "process_section": section.get("source", {}).get("kind", "tstdp"),
            "saturated_readings": result.saturated,
            "post_spikes": {"requested": result.post_requested, "observed": result.post_observed},
        }
    print(json.dumps(out, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    from anamorph.models.commands import _seed

    p = sub.add_parser(
        "stdp",
        help="weight change of a spike protocol: ideal rule, circuit, chip",
        description="Weight change of a pre/post spike protocol (biological ms, repeated) "
        "through the fitted triplet rule, the ngspice circuit and, with --chip, "
        "N plastic synapses of the emulated chip.",
    )
    p.add_argument("--pre", required=True, metavar="MS,MS,...", help="pre spike times within one period (ms)")
    p.add_argument(
        "--post", required=True, metavar="MS,MS,...", help="post spike times within one period (ms)"
    )
    p.add_argument("--repetitions", type=int, default=60, help="number of periods (default 60)")
    p.add_argument("--frequency-hz", type=float, default=1.0, help="repetition frequency (default 1 Hz)")
    p.add_argument("--chip", help="chip JSON: also run the protocol on its plastic synapses")
    p.add_argument("--synapses", type=int, default=256, help="plastic synapses on the chip (default 256)")
    p.add_argument("--seed", type=_seed, default=0, help="seed of the chip's membrane noise")
    p.add_argument("--no-circuit", action="store_true", help="skip the ngspice circuit")
    p.set_defaults(func=_stdp)
