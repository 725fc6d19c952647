"""``anamorph demo``: the whole chain on the shipped defaults, into one folder with a report.

Stages, each resumable (see :mod:`anamorph.pipeline`):

1. Monte Carlo sweeps in ngspice of the transistor-level LIF neuron, synapse, triplet-STDP
   synapse (the hippocampal protocols per instance) and gated synapse.
2. A fit of the process model to those sweeps (with its ``tstdp`` and ``gated_synapse`` sections).
3. Two seeded chips sampled from the fitted process model (A for training, B for deployment).
4. Plastic synapses: the hippocampal STDP protocols on 256 of chip A's plastic synapses, beside
   the nominal circuit in ngspice, the ideal rule and the data (:mod:`anamorph.demo_plasticity`).
5. Calibration of both chips' neurons to the nominal targets.
6. In-the-loop surrogate-gradient training on Yin-Yang with chip A (Cramer et al. 2022).
7. Deployment of the trained weights on chip B.
8. EqSpike (Martin et al. 2021) on the same data with chip A's own plasticity: correlation
   sensors and on-chip code updates, no float weights (``update="on-chip"``).
9. Deployment of EqSpike's codes on chip B.
10. ``report.html``: the story in order, figures embedded, both algorithms side by side.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, read_json, write_json, write_manifest
from anamorph.pipeline import Stage, run_stages


@dataclass(frozen=True)
class DemoSize:
    """How much work each stage does; ``QUICK`` is what CI affords."""

    lif_instances: int
    synapse_instances: int
    epochs: int
    n_train: int | None
    n_test: int | None
    tstdp_instances: int = 48
    gated_instances: int = 48
    sweep_figures: bool = True  # histogram pages of the plasticity sweeps (the report shows none)
    eqspike_epochs: int = 4  # EqSpike with on-chip updates on the same data set


QUICK = DemoSize(
    lif_instances=6,
    synapse_instances=6,
    epochs=6,
    n_train=2000,
    n_test=500,
    tstdp_instances=6,
    gated_instances=6,
    sweep_figures=False,
    eqspike_epochs=1,
)
FULL = DemoSize(lif_instances=48, synapse_instances=48, epochs=40, n_train=None, n_test=None)
SEED = 1  # every seed of the demo derives from this one (recorded in the manifest)
CHIP_SEEDS = {"A": 11, "B": 12}


def register(sub) -> None:
    p = sub.add_parser("demo", help="run the whole chain on the shipped defaults -> DIR/report.html")
    p.add_argument("--out", type=Path, required=True, help="output folder (an existing one is resumed)")
    p.add_argument("--quick", action="store_true", help="small sizes (a few minutes; what CI runs)")
    p.add_argument("--workers", type=int, default=None, help="sweep worker processes (default: CPUs)")
    p.set_defaults(func=main)


def _sweep_stage(circuit: str, instances: int, workers, figures: bool = True):
    def run(out: Path) -> dict:
        from anamorph.circuits.registry import get_circuit
        from anamorph.circuits.sweep import run_sweep

        table = run_sweep(
            get_circuit(circuit),
            instances,
            SEED,
            out / f"sweep_{circuit}",
            workers=workers,
            resume=True,
            figures=figures,
        )
        ok = int((table["status"] == "ok").sum())
        return {
            "line": f"{ok}/{len(table)} {circuit} instances simulated in ngspice",
            "instances": len(table),
            "ok": ok,
        }

    return run


def _fit(out: Path) -> dict:
    from anamorph.models.fit import fit_process

    process = fit_process([out / f"sweep_{c}" for c in ("lif", "synapse", "tstdp", "gated-synapse")])
    process.save(out / "process.json")
    from anamorph.demo_report import fit_overlay

    check = fit_overlay(out)
    err = check["mean_abs_error_s"]
    held = (
        f"held-out input: {check['n_spikes_ngspice']} spikes in ngspice, "
        f"{check['n_spikes_model']} in the fitted LIF"
    )
    if err is not None:
        held += f", mean spike-time error {err * 1e9:.3g} ns"
    return {"line": f"process model fitted -> {out / 'process.json'}; {held}", "held_out": check}


def _chips(out: Path) -> dict:
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    process = ProcessModel.load(out / "process.json")
    fingerprints = {}
    for name, seed in CHIP_SEEDS.items():
        chip = sample_chip(process, seed)
        chip.save(out / f"chip_{name}.json")
        fingerprints[name] = chip.fingerprint()
    return {
        "line": f"chips A (seed {CHIP_SEEDS['A']}) and B (seed {CHIP_SEEDS['B']}) sampled",
        "fingerprints": fingerprints,
    }


def _plasticity(out: Path) -> dict:
    from anamorph.demo_plasticity import run_plasticity

    return run_plasticity(out, SEED)


def _calibrate(out: Path) -> dict:
    from anamorph.calibration import calibrate
    from anamorph.calibration.figures import spread, spread_figure
    from anamorph.models.chip import Chip
    from anamorph.models.process_model import PARAM_FIELD, ProcessModel

    process = ProcessModel.load(out / "process.json")
    summary = {"spread_before": {}, "spread_after": {}, "success_fraction": {}}
    for name in CHIP_SEEDS:
        chip = Chip.load(out / f"chip_{name}.json")
        cal = calibrate(chip, process_model=process, cache_dir=out / "calibration_cache", seed=SEED)
        cal.save(out / f"calibration_{name}.json")
        spread_figure(cal, out / f"calibration_{name}.png")
        summary["spread_before"][name] = {p: spread(cal.before[p], p) for p in cal.achieved}
        summary["spread_after"][name] = {p: spread(cal.achieved[p], p) for p in cal.achieved}
        # the chip's true parameters at the calibrated codes (the demo evaluates, as a benchmark
        # would; the calibration itself never reads them)
        true = cal.apply(chip).true_params()
        summary.setdefault("spread_after_true", {})[name] = {
            p: spread(getattr(true, PARAM_FIELD[p]), p) for p in cal.achieved
        }
        summary["success_fraction"][name] = {p: float(cal.success[p].mean()) for p in cal.success}
        summary[f"fingerprint_{name}"] = cal.chip_fingerprint
    worst = min(min(v.values()) for v in summary["success_fraction"].values())
    summary["line"] = f"both chips calibrated; lowest per-parameter success rate {100 * worst:.1f} %"
    return summary


def _train(size: DemoSize):
    def run(out: Path) -> dict:
        from anamorph.training import make_config
        from anamorph.training.run import train_run

        c = make_config(
            "yinyang",
            out=str(out / "train"),
            chip=str(out / "chip_A.json"),
            calibration=str(out / "calibration_A.json"),
            epochs=size.epochs,
            seed=SEED,
            n_train=size.n_train,
            n_test=size.n_test,
        )
        result = train_run(c, resume=True)
        m = result.metrics
        return {
            "line": f"Yin-Yang test accuracy on chip A {100 * m['test_accuracy']:.1f} %",
            "test_accuracy": m["test_accuracy"],
            "test_accuracy_per_epoch": [h["test_accuracy"] for h in result.history],
        }

    return run


def _train_eqspike(size: DemoSize):
    def run(out: Path) -> dict:
        from anamorph.training.eqprop.loop import make_eqspike_config, train_eqspike

        c = make_eqspike_config(
            "yinyang",
            out=str(out / "train_eqspike"),
            update="on-chip",
            chip=str(out / "chip_A.json"),
            calibration=str(out / "calibration_A.json"),
            epochs=size.eqspike_epochs,
            seed=SEED,
            n_train=size.n_train,
            n_test=size.n_test,
        )
        m = train_eqspike(c, resume=True, progress=None)
        return {
            "line": f"EqSpike (on-chip updates): Yin-Yang test accuracy on chip A {100 * m['test_accuracy']:.1f} %",
            "test_accuracy": m["test_accuracy"],
            "test_accuracy_per_epoch": [h["test_accuracy"] for h in m["history"]],
        }

    return run


def _deploy(out: Path) -> dict:
    from anamorph.training.run import evaluate_run

    ev = evaluate_run(
        out / "train", chip_path=str(out / "chip_B.json"), calibration_path=str(out / "calibration_B.json")
    )
    write_json(out / "deploy_B.json", ev)
    return {
        "line": f"same weights on chip B: test accuracy {100 * ev['test_accuracy']:.1f} %",
        "test_accuracy": ev["test_accuracy"],
    }


def _deploy_eqspike(out: Path) -> dict:
    from anamorph.training.eqprop.deploy import deploy_eqspike

    ev = deploy_eqspike(
        out / "train_eqspike",
        chip_path=str(out / "chip_B.json"),
        calibration_path=str(out / "calibration_B.json"),
    )
    write_json(out / "deploy_eqspike_B.json", ev)
    return {
        "line": f"EqSpike's codes on chip B: test accuracy {100 * ev['test_accuracy']:.1f} %",
        "test_accuracy": ev["test_accuracy"],
    }


def _report(out: Path) -> dict:
    from anamorph.demo_report import build_report

    path = build_report(out)
    return {"line": f"report -> {path}"}


def stages(size: DemoSize, workers=None) -> list[Stage]:
    return [
        Stage(
            "sweep_lif",
            "Monte Carlo sweep of the LIF neuron circuit (ngspice)",
            _sweep_stage("lif", size.lif_instances, workers),
        ),
        Stage(
            "sweep_synapse",
            "Monte Carlo sweep of the synapse circuit (ngspice)",
            _sweep_stage("synapse", size.synapse_instances, workers),
        ),
        Stage(
            "sweep_tstdp",
            "Monte Carlo sweep of the triplet-STDP synapse circuit (ngspice)",
            _sweep_stage("tstdp", size.tstdp_instances, workers, size.sweep_figures),
        ),
        Stage(
            "sweep_gated",
            "Monte Carlo sweep of the gated synapse (ngspice)",
            _sweep_stage("gated-synapse", size.gated_instances, workers, size.sweep_figures),
        ),
        Stage("fit", "Fit of the process model", _fit),
        Stage("chips", "Two chips sampled from the process model", _chips),
        Stage("plasticity", "STDP protocols on chip A's plastic synapses", _plasticity),
        Stage("calibrate", "Calibration of both chips", _calibrate),
        Stage("train", "In-the-loop training on chip A (Yin-Yang)", _train(size)),
        Stage("deploy", "Deployment of the trained weights on chip B", _deploy),
        Stage("train_eqspike", "EqSpike with on-chip updates on chip A (Yin-Yang)", _train_eqspike(size)),
        Stage("deploy_eqspike", "Deployment of EqSpike's codes on chip B", _deploy_eqspike),
        Stage("report", "Report", _report),
    ]


def main(args) -> int:
    out = ensure_writable_dir(args.out)
    if args.workers is not None and args.workers < 1:
        raise InputError(f"must be at least 1, got {args.workers}", field="--workers")
    size = QUICK if args.quick else FULL
    previous = out / "demo.json"
    if previous.is_file() and read_json(previous).get("quick") != args.quick:
        raise InputError("this folder holds a demo of the other size; use another --out", out, "--quick")
    write_json(previous, {"quick": args.quick, "size": size.__dict__, "seed": SEED, "chip_seeds": CHIP_SEEDS})
    write_manifest(
        out,
        seeds={"demo": SEED, **{f"chip_{k}": v for k, v in CHIP_SEEDS.items()}},
        extra={"quick": args.quick},
    )
    run_stages(stages(size, args.workers), out)
    print(out.resolve() / "report.html")
    return 0


if __name__ == "__main__":
    from anamorph.cli import main as cli_main

    sys.exit(cli_main(["demo", *sys.argv[1:]]))
