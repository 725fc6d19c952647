"""Benchmark of ANN-to-SNN conversion with in-the-loop fine-tuning, ``name: value unit`` lines.

digits (8x8, 64 pixels + bias channel -> 100 soft-LIF hidden -> 10), trained in software
(numpy), mapped onto a chip sampled from the shipped process model -- calibrated, and
with its codes as they are (uncalibrated, nominal parameters DEFAULT_TARGETS), and uncalibrated with its time
constants and thresholds detuned by 30 % (``sample_chip(..., detune=0.3)``) -- then
fine-tuned in the loop (Schmitt et al. 2017) for 30 iterations of 300 samples. Prints the
test accuracies (software, right after mapping, after fine-tuning and the mean of the
last 5 iterations), the wall time of software training and the median wall time of one
in-the-loop iteration (chip run of the batch and the backward pass; the test-set evaluation
after each iteration is not counted), and their ratio.

Run: ``.venv/bin/python bench/convert.py [--seed 0] [--iterations 30]``
"""

from __future__ import annotations

import argparse
import tempfile

import numpy as np

from anamorph.models.chip import sample_chip
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import ProcessModel
from anamorph.training.convert.run import ConvertConfig, train_convert
from anamorph.training.prepare import load_chip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--iterations", type=int, default=30)
    args = ap.parse_args()
    for label, calibrate, detune in (
        ("calibrated", True, 0.0),
        ("uncalibrated", False, 0.0),
        ("detuned30_uncalibrated", False, 0.3),
    ):
        if detune:
            chip, nominal = sample_chip(ProcessModel.default(), args.seed, detune=detune), DEFAULT_TARGETS
        else:
            chip, nominal, _ = load_chip(None, None, args.seed, calibrate)
        with tempfile.TemporaryDirectory() as tmp:
            m = train_convert(
                ConvertConfig(out=tmp, seed=args.seed, iterations=args.iterations), chip=chip, nominal=nominal
            )
        acc = [h["accuracy"] for h in m["finetune"]]
        print(f"{label}_software_accuracy: {100 * m['software_test_accuracy']:.2f} %")
        print(f"{label}_mapped_accuracy: {100 * m['mapped_test_accuracy']:.2f} %")
        if acc:
            print(f"{label}_finetuned_accuracy: {100 * acc[-1]:.2f} %")
            print(f"{label}_finetuned_last5_mean_accuracy: {100 * np.mean(acc[-5:]):.2f} %")
            gain = np.mean(acc[-5:]) - m["mapped_test_accuracy"]
            print(f"{label}_finetune_gain_last5: {100 * gain:.2f} points")
        print(f"{label}_spikes_per_sample: {m['spikes_per_sample']:.1f} spikes")
        step_s = float(np.median([h["step_wall_s"] for h in m["finetune"]])) if acc else float("nan")
        print(f"{label}_software_train_s: {m['software_train_wall_s']:.2f} s")
        print(f"{label}_iteration_s: {step_s:.3f} s (median; chip batch of 300 + backward pass)")
        print(f"{label}_iteration_to_software_train_ratio: {step_s / m['software_train_wall_s']:.4f}")


if __name__ == "__main__":
    main()
