"""Command-line subcommands ``export`` and ``import``: trained networks to and from NIR files."""

from __future__ import annotations

from anamorph.training.datasets import DATASET_HELP


def _export(args) -> int:
    from anamorph.training.nir.export import export_run

    path = export_run(args.run_dir, args.nir)
    print(f"NIR graph (times in ms, chip time x 1000; potentials in mV; model-unit weights) -> {path}")
    return 0


def _import(args) -> int:
    from anamorph.training.nir.importer import import_graph

    run_dir, report = import_graph(
        args.nir, args.out, dataset=args.dataset, chip=args.chip, seed=args.seed, dt_graph=args.dt
    )
    k = report["time_scale_chip_s_per_graph_unit"]
    print(
        f"time scale: 1 time unit of the graph = {k:.6g} s on the chip "
        f"(hidden tau_mem {report['hidden_tau_mem_graph']:.6g}, decaying as {report['hidden_tau_mem_decay_graph']:.6g}, "
        f"-> {report['chip_tau_m_s'] * 1e6:.3g} µs); "
        f"spikes: {report['spike_convention']}"
    )
    for key in ("note", "readout_note"):
        if key in report:
            print(f"note: {report[key]}")
    if report["weights_clipped"]:
        print(f"note: {report['weights_clipped']} weights clipped to the chip's 6-bit range")
    print(f"run folder -> {run_dir}")
    return 0


def register(sub) -> None:
    p = sub.add_parser(
        "export", help="write a trained run as a NIR graph (Neuromorphic Intermediate Representation)"
    )
    p.add_argument("run_dir", help="a finished surrogate-gradient run folder")
    p.add_argument("--nir", required=True, help="output file (HDF5, .nir)")
    p.set_defaults(func=_export)

    p = sub.add_parser("import", help="turn a feed-forward NIR graph into a run folder for the chip")
    p.add_argument("nir", help="NIR file (HDF5)")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument(
        "--chip", default=None, help="chip.json the run is meant for (default: the shipped process model)"
    )
    p.add_argument(
        "--dataset",
        default=None,
        help=f"data set and input code (default: the graph's metadata). {DATASET_HELP}",
    )
    p.add_argument("--seed", type=int, default=None, help="seed of the run (data split, chip)")
    p.add_argument(
        "--dt",
        type=float,
        default=None,
        help="the graph's time step, in its own time unit, if it is written in a per-step convention "
        "(snnTorch: 1e-4); default: NIR's continuous form (Dirac spikes)",
    )
    p.set_defaults(func=_import)
