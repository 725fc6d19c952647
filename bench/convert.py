"""Benchmark of ANN-to-SNN conversion with in-the-loop fine-tuning, ``name: value unit`` lines.

A data set (digits: 64 pixels + bias -> 100 soft-LIF hidden -> 10; yinyang: 4 coordinates
x 10 channels + 10 bias channels -> 200 -> 3) is trained in software (numpy), mapped onto a
chip sampled from the shipped process model -- calibrated, uncalibrated (its codes as they
are, nominal parameters DEFAULT_TARGETS), and uncalibrated with its time constants and
thresholds detuned by 30 % (``sample_chip(..., detune=0.3)``) -- then fine-tuned in the
loop (Schmitt et al. 2017) for 30 iterations of 300 samples. Prints the test accuracies
(software, right after mapping, after fine-tuning and the mean of the last 5 iterations),
the samples per second of the rate-coded forward on the chip (median over the test-set
evaluations after each iteration: input trains, chip run, spike counting), the wall time of software
training and the median wall time of one in-the-loop iteration (chip run of the batch and
the backward pass; the test-set evaluation after each iteration is not counted), and their
ratio. ``--figure PNG`` draws accuracy against iteration of every case in one figure.

Run: ``.venv/bin/python bench/convert.py [--dataset digits] [--cases calibrated,detuned30]
[--seed 0] [--iterations 30] [--neuron-gain on|off] [--remap on|off] [--figure convert.png]``
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from anamorph.models.chip import sample_chip
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import ProcessModel
from anamorph.training.convert.figure import accuracy_curves
from anamorph.training.convert.run import make_convert_config, train_convert
from anamorph.training.prepare import load_chip

CASES = {
    "calibrated": (True, 0.0),
    "uncalibrated": (False, 0.0),
    "detuned30": (False, 0.3),
    # the mismatch experiment's sigma_d: detuning on top of the undetuned chip's calibration
    "sigma30": (True, 0.3),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="digits")
    ap.add_argument("--cases", default="calibrated,uncalibrated,detuned30", help=", ".join(CASES))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=30)
    ap.add_argument("--figure", default=None, help="PNG of accuracy against iteration")
    ap.add_argument(
        "--neuron-gain",
        choices=("on", "off"),
        default=None,
        help="backward pass with each neuron's fitted slope (default: the data set's)",
    )
    ap.add_argument(
        "--remap",
        choices=("on", "off"),
        default=None,
        help="first iteration re-maps the weights onto the fitted rate curves (default: the data set's)",
    )
    args = ap.parse_args()
    curves = []
    for label in args.cases.split(","):
        calibrate, detune = CASES[label]
        if detune and not calibrate:
            chip, nominal = sample_chip(ProcessModel.default(), args.seed, detune=detune), DEFAULT_TARGETS
        else:
            chip, nominal, _ = load_chip(None, None, args.seed, calibrate)
            if detune:
                detuned = sample_chip(ProcessModel.default(), args.seed, detune=detune)
                chip = detuned.with_codes(chip.codes)
        with tempfile.TemporaryDirectory() as tmp:
            gain = None if args.neuron_gain is None else args.neuron_gain == "on"
            remap = None if args.remap is None else args.remap == "on"
            c = make_convert_config(
                args.dataset,
                out=tmp,
                seed=args.seed,
                iterations=args.iterations,
                ft_neuron_gain=gain,
                ft_remap=remap,
            )
            m = train_convert(c, chip=chip, nominal=nominal)
        curves.append((label, m))
        label = f"{args.dataset}_{label}"
        acc = [h["accuracy"] for h in m["finetune"]]
        print(f"{label}_software_accuracy: {100 * m['software_test_accuracy']:.2f} %")
        print(f"{label}_mapped_accuracy: {100 * m['mapped_test_accuracy']:.2f} %")
        if acc:
            print(f"{label}_finetuned_accuracy: {100 * acc[-1]:.2f} %")
            print(f"{label}_finetuned_last5_mean_accuracy: {100 * np.mean(acc[-5:]):.2f} %")
            gain = np.mean(acc[-5:]) - m["mapped_test_accuracy"]
            print(f"{label}_finetune_gain_last5: {100 * gain:.2f} points")
            gap = m["software_test_accuracy"] - acc[-1]
            print(f"{label}_software_minus_finetuned: {100 * gap:.2f} points")
        print(f"{label}_spikes_per_sample: {m['spikes_per_sample']:.1f} spikes")
        if acc:  # test-set evaluations after the iterations (the first one also compiles)
            rate = m["n_test"] / float(np.median([h["eval_wall_s"] for h in m["finetune"]]))
            print(f"{label}_chip_forward_samples_per_s: {rate:.1f} samples/s (median over evaluations)")
        step_s = float(np.median([h["step_wall_s"] for h in m["finetune"]])) if acc else float("nan")
        print(f"{label}_software_train_s: {m['software_train_wall_s']:.2f} s")
        print(f"{label}_iteration_s: {step_s:.3f} s (median; chip batch of 300 + backward pass)")
        print(f"{label}_iteration_to_software_train_ratio: {step_s / m['software_train_wall_s']:.4f}")
        print(f"{label}_iteration_samples_per_s: {300 / step_s:.1f} samples/s", flush=True)
    if args.figure:
        accuracy_curves(curves, args.figure, f"conversion, {args.dataset}, seed {args.seed}")
        print(f"figure: {args.figure}")


if __name__ == "__main__":
    main()
