"""Benchmark: energy per Yin-Yang and digits inference on the emulated chip, beside BrainScaleS-2.

For each data set a network is trained in the loop with the data set's defaults (or
``--epochs``) on a calibrated chip sampled from the shipped process model (seed 0), or an
existing run folder is deployed there (``--yinyang RUN_DIR``, ``--digits RUN_DIR``). The
energy per sample (:mod:`anamorph.models.energy`: static power of the used neurons over
the sample's duration, plus the spikes, synaptic events and readout ADC conversions
counted on the chip during the test set, with the circuit energies measured in ngspice
and the ADC's a cited model) is printed as ``name: value unit`` lines with its breakdown
and its ratio to BrainScaleS-2's 2.4 uJ per image (Cramer et al., PNAS 2022).

Usage: .venv/bin/python bench/energy.py [--epochs E] [--yinyang RUN_DIR] [--digits RUN_DIR]
"""

from __future__ import annotations

import argparse
import tempfile


def _energy(dataset: str, run_dir: str | None, epochs: int | None, chip, nominal) -> dict:
    from anamorph.training.config import make_config
    from anamorph.training.run import evaluate_run, train_run

    if run_dir is not None:
        return evaluate_run(run_dir, chip, nominal=nominal)
    with tempfile.TemporaryDirectory() as tmp:
        c = make_config(dataset, out=tmp, epochs=epochs)
        return train_run(c, chip=chip, nominal=nominal, progress=None).metrics


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=None)
    ap.add_argument("--yinyang", default=None, help="a trained Yin-Yang run folder to deploy")
    ap.add_argument("--digits", default=None, help="a trained digits run folder to deploy")
    args = ap.parse_args()

    from anamorph.training.prepare import load_chip

    chip, nominal, _ = load_chip(None, None, 0)
    for dataset, run_dir in (("yinyang", args.yinyang), ("digits", args.digits)):
        m = _energy(dataset, run_dir, args.epochs, chip, nominal)
        e = m["energy_per_sample"]
        print(f"{dataset}_test_accuracy: {100 * m['test_accuracy']:.1f} %")
        print(f"{dataset}_energy_per_inference: {e['total_uj']:.4f} uJ")
        for part in ("static", "spikes", "synapses", "adc"):
            print(f"{dataset}_energy_{part}: {e[f'{part}_uj']:.4f} uJ")
        print(f"{dataset}_chip_spikes_per_sample: {e['spikes']:.1f} spikes")
        print(f"{dataset}_synaptic_events_per_sample: {e['synaptic_events']:.0f} events")
        print(f"{dataset}_ratio_to_bss2_2.4uJ: {e['ratio_to_bss2']:.3f} x")


if __name__ == "__main__":
    main()
