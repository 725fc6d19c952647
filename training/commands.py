"""Command-line subcommands of the training layer: ``train``, ``evaluate``, ``experiment``,
``population``."""

from __future__ import annotations

import json

from anamorph.training.datasets import DATASET_HELP


def _common(p) -> None:
    p.add_argument("--dataset", required=True, help=DATASET_HELP)
    p.add_argument("--epochs", type=int, default=None, help="training epochs (data-set default)")
    p.add_argument("--seed", type=int, default=0, help="seed of data split, chip, init, shuffling, noise")
    p.add_argument("--hidden", type=int, default=None, dest="n_hidden", help="hidden LIF neurons")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    p.add_argument("--dropout", type=float, default=None, help="dropout of hidden neurons (0..1)")
    p.add_argument("--n-train", type=int, default=None, help="use only the first N training samples")
    p.add_argument("--n-test", type=int, default=None, help="use only the first N test samples")
    p.add_argument(
        "--augment-shift",
        type=int,
        default=None,
        dest="augment_shift_px",
        help="augmentation: move training images by up to N pixels (square images; default off)",
    )
    p.add_argument(
        "--membrane",
        choices=("assimilated", "interpolated"),
        default=None,
        help="how the chip's ADC samples of hidden membranes enter the backward pass",
    )


def _config(args, **extra):
    from anamorph.training.config import make_config

    return make_config(
        args.dataset,
        **shared_options(args),
        dropout=args.dropout,
        membrane=args.membrane,
        augment_shift_px=args.augment_shift_px,
        **extra,
    )


def shared_options(args) -> dict:
    """The options of ``train`` that every algorithm takes, by config field name (None: its default)."""
    return {
        "epochs": args.epochs,
        "seed": args.seed,
        "n_hidden": args.n_hidden,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "n_train": args.n_train,
        "n_test": args.n_test,
    }


#: options of ``anamorph train`` that only some algorithms use
_ONLY_FOR = {
    "dropout": ("surrogate",),
    "membrane": ("surrogate",),
    "augment_shift_px": ("surrogate",),
    "update": ("eqspike",),
    "loss": ("eventprop",),
    "iterations": ("convert",),
    "init": ("surrogate",),
}


def _refuse_foreign_options(args) -> None:
    """An option given to an algorithm that does not use it is bad input, not silently ignored."""
    from anamorph.errors import InputError

    for name, algos in _ONLY_FOR.items():
        if getattr(args, name, None) is not None and args.algo not in algos:
            raise InputError(f"applies only to --algo {' | '.join(algos)}", getattr(args, name), f"--{name}")


def _train(args) -> int:
    _refuse_foreign_options(args)
    if args.algo == "eqspike":
        from anamorph.training.eqprop.settings import train_command

        return train_command(args)
    if args.algo == "eventprop":
        from anamorph.training.eventprop.run import train_command as eventprop_command

        return eventprop_command(args)
    if args.algo == "convert":
        from anamorph.training.convert.run import train_command as convert_command

        return convert_command(args)
    from anamorph.models.energy import energy_phrase
    from anamorph.training.run import init_hidden, train_run

    if args.init is not None and args.n_hidden is None:  # the network's size is the init run's
        args.n_hidden = init_hidden(args.init)
    c = _config(
        args, algo=args.algo, out=args.out, chip=args.chip, calibration=args.calibration, mode=args.mode
    )
    result = train_run(c, resume=args.resume, init=args.init)
    m = result.metrics
    print(
        f"test accuracy {100 * m['test_accuracy']:.2f} % on the chip, "
        f"{m['spikes_per_hidden_neuron']:.2f} spikes per hidden neuron per sample"
        f"{energy_phrase(m.get('energy_per_sample'))} -> {result.run_dir}"
    )
    return 0


def _evaluate(args) -> int:
    from anamorph.training.eqprop.deploy import deploy_eqspike, is_eqspike_run
    from anamorph.training.run import evaluate_run

    deploy = deploy_eqspike if is_eqspike_run(args.run_dir) else evaluate_run
    res = deploy(
        args.run_dir,
        chip_path=args.chip,
        calibration_path=args.calibration,
        calibrate_chip=not args.uncalibrated,
    )
    print(json.dumps(res, indent=2))
    return 0


def _mismatch(args) -> int:
    from anamorph.errors import InputError
    from anamorph.training.experiment import mismatch_experiment

    try:
        sigmas = [float(s) / 100.0 for s in args.sigmas.split(",")]
    except ValueError:
        raise InputError(
            "must be comma-separated percentages, e.g. 0,10,20,30,50", args.sigmas, "--sigmas"
        ) from None
    _refuse_foreign_options(args)
    if args.algo in ("eqspike", "eventprop"):
        if args.scheduler is not None:
            raise InputError("applies only to --algo surrogate", args.scheduler, "--scheduler")
        return _mismatch_in_the_loop(args, sigmas)
    if args.algo != "surrogate":
        raise InputError("the mismatch experiment runs surrogate | eqspike | eventprop", args.algo, "--algo")
    rows = mismatch_experiment(_config(args), args.out, sigmas, scheduler=args.scheduler)
    for r in rows:
        print(
            f"sigma_d {100 * r['sigma_d']:4.0f} %: in the loop {100 * r['in_the_loop_test_accuracy']:.1f} %, "
            f"software-trained deployed {100 * r['software_deployed_test_accuracy']:.1f} %"
        )
    return 0


def _mismatch_in_the_loop(args, sigmas) -> int:
    """The experiment of an algorithm that trains in the loop only (eqspike, eventprop)."""
    if args.algo == "eqspike":
        from anamorph.training.eqprop.mismatch import eqspike_mismatch_experiment as experiment
        from anamorph.training.eqprop.settings import make_eqspike_config

        c, name = make_eqspike_config(args.dataset, update=args.update, **shared_options(args)), "EqSpike"
    else:
        from anamorph.training.eventprop.mismatch import eventprop_mismatch_experiment as experiment
        from anamorph.training.eventprop.run import make_eventprop_config

        c, name = make_eventprop_config(args.dataset, **shared_options(args)), "EventProp"
    for r in experiment(c, args.out, sigmas):
        print(
            f"sigma_d {100 * r['sigma_d']:4.0f} %: {name} in the loop {100 * r['in_the_loop_test_accuracy']:.1f} %, "
            f"{r['in_the_loop_spikes_per_hidden_neuron']:.2f} spikes per hidden neuron per sample"
        )
    return 0


def _population(args) -> int:
    from anamorph.training.population import run_population, summary

    rows = run_population(
        args.run_dir,
        args.chips,
        args.out,
        first_seed=args.seed,
        calibrated=not args.uncalibrated,
        scheduler=args.scheduler,
    )
    s = summary(rows)
    print(
        f"{s['chips']} chips: test accuracy {100 * s['mean_test_accuracy']:.2f} +- "
        f"{100 * s['std_test_accuracy']:.2f} % (min {100 * s['min_test_accuracy']:.2f} %) -> {args.out}"
    )
    return 0


_SCHEDULER_HELP = "Dask scheduler address, e.g. tcp://host:8786 (default: run here)"


def register(sub) -> None:
    p = sub.add_parser("train", help="train a spiking network in the loop with the (emulated) chip")
    p.add_argument(
        "--algo",
        default="surrogate",
        help="surrogate (Cramer et al. 2022); convert (soft-LIF rate network, "
        "mapped and fine-tuned in the loop, Schmitt et al. 2017); "
        "eventprop (exact gradients from spike times, Wunderlich & Pehle 2021); "
        "eqspike (spiking equilibrium propagation, Martin et al. 2021)",
    )
    _common(p)
    p.add_argument("--chip", default=None, help="chip.json (default: sample the shipped process model)")
    p.add_argument("--calibration", default=None, help="calibration.json (default: calibrate the chip)")
    p.add_argument(
        "--mode",
        choices=("chip", "software"),
        default="chip",
        help="chip: in the loop (default); software: ideal model only, then deployed",
    )
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    p.add_argument(
        "--iterations",
        type=int,
        default=None,
        help="convert only: in-the-loop fine-tuning iterations (default 30)",
    )
    p.add_argument(
        "--init",
        default=None,
        help="surrogate only: start from this run folder's weights (e.g. one made by anamorph import)",
    )
    p.add_argument(
        "--loss",
        choices=("ttfs", "mse"),
        default=None,
        help="eventprop only: mse (spike-time targets, jaxsnn's BrainScaleS-2 example; the default "
        "except on digits) | ttfs (first-spike cross-entropy, Wunderlich & Pehle 2021; digits' default)",
    )
    p.add_argument(
        "--update",
        default=None,
        help="eqspike only: software (default; float shadow weights from spike counts) "
        "| on-chip (correlation sensors change the 6-bit codes)",
    )
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="deploy a trained run's weights on another chip")
    p.add_argument("run_dir")
    p.add_argument("--chip", required=True, help="chip.json to deploy on")
    p.add_argument("--calibration", default=None, help="its calibration.json (default: calibrate it)")
    p.add_argument("--uncalibrated", action="store_true", help="use the chip's codes as they are")
    p.set_defaults(func=_evaluate)

    p = sub.add_parser("experiment", help="experiments of the papers")
    esub = p.add_subparsers(dest="experiment", metavar="EXPERIMENT", parser_class=type(p))
    esub.required = True
    m = esub.add_parser(
        "mismatch",
        help="in-the-loop vs software-trained accuracy against detuning (Cramer et al. 2022, Fig. 4B)",
    )
    _common(m)
    m.add_argument("--sigmas", default="0,10,20,30,50", help="detuning spreads in percent")
    m.add_argument(
        "--algo", default="surrogate", help="surrogate (default) | eqspike | eventprop (in the loop only)"
    )
    m.add_argument("--update", default=None, help="eqspike only: software (default) | on-chip")
    m.add_argument("--out", required=True, help="output directory")
    m.add_argument("--scheduler", default=None, help=_SCHEDULER_HELP + " (one task per spread)")
    m.set_defaults(func=_mismatch)

    p = sub.add_parser("population", help="deploy one trained run on N sampled chips: accuracy distribution")
    p.add_argument("--run", required=True, dest="run_dir", help="run directory of a surrogate-gradient run")
    p.add_argument("--chips", type=int, required=True, help="number of chips sampled from the process model")
    p.add_argument("--seed", type=int, default=0, help="seed of the first chip (chip k: seed + k)")
    p.add_argument("--uncalibrated", action="store_true", help="use each chip's codes as sampled")
    p.add_argument("--scheduler", default=None, help=_SCHEDULER_HELP + " (one task per chip)")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=_population)
