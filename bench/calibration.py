"""Benchmark: calibrate all 512 neurons of a sampled chip for every target.

Prints ``name: value unit`` lines: wall time and emulator runs of a full calibration (no
cache), the same for a cached repeat, and the across-neuron spread of each parameter before
and after, measured through the chip and -- for illustration only, a benchmark may look --
from the chip's true parameters (the potentials in true volts: the calibration fits every
ADC channel against the reference common to all channels before any neuron).

    .venv/bin/python bench/calibration.py [--seed 0] [--algorithm predictive] [--figure DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from anamorph.models.dac import CODE_MAX


def observed(chip, param):
    """What a neuron of ``chip`` truly does, as the comparison needs it (benchmark only).

    Potentials in true volts (the ADC is calibrated against its common reference first);
    the refractory time as the emulator applies it (whole steps of 0.5 us); the synaptic
    gain averaged over the neuron's 256 synapses.
    """
    tp, h = chip.true_params(), chip.hidden
    if param in ("v_leak", "v_th", "v_reset"):
        return getattr(tp, param + "_v")
    if param == "t_ref":
        return np.rint(tp.t_ref_s / 0.5e-6) * 0.5e-6
    if param == "syn_gain":
        return tp.w_unit_a * h["syn_gain_exc"].mean(axis=0)
    return getattr(tp, param + "_s")


def residual_steps(chip, cal, param):
    """|achieved - target| of each neuron in DAC steps of its own transfer at its code (truth)."""
    configured = cal.apply(chip)
    codes = configured.codes
    f0 = observed(configured, param)
    up = observed(chip.with_codes({**codes, param: np.minimum(codes[param] + 1, CODE_MAX)}), param)
    down = observed(chip.with_codes({**codes, param: np.maximum(codes[param] - 1, 0)}), param)
    step = np.maximum(np.abs(up - f0), np.abs(f0 - down))
    return np.abs(f0 - cal.targets.value(param)) / step


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=0, help="chip seed")
    ap.add_argument("--algorithm", default="predictive", choices=("predictive", "binary", "noisy"))
    ap.add_argument("--figure", type=Path, default=None, help="directory for the spread figure")
    args = ap.parse_args(argv)

    from anamorph.calibration import calibrate
    from anamorph.calibration.figures import spread, spread_figure
    from anamorph.calibration.targets import FIELD_OF
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    process = ProcessModel.default()
    chip = sample_chip(process, args.seed)
    with tempfile.TemporaryDirectory() as cache:
        t0, c0 = time.perf_counter(), time.process_time()
        cal = calibrate(chip, process_model=process, cache_dir=Path(cache), algorithm=args.algorithm)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        t0 = time.perf_counter()
        again = calibrate(chip, process_model=process, cache_dir=Path(cache), algorithm=args.algorithm)
        wall_cached = time.perf_counter() - t0
    assert again.from_cache
    print(f"calibration_wall_time: {wall:.1f} s")
    print(f"calibration_cpu_time: {cpu:.1f} s")  # wall time is inflated on a shared machine
    print(f"calibration_emulator_runs: {cal.n_runs} runs")
    print(f"calibration_cached_wall_time: {wall_cached:.3f} s")
    print(f"calibration_cached_speedup: {wall / wall_cached:.0f} x")
    print(f"calibration_neurons_all_ok: {int(cal.all_success.sum())} of {cal.all_success.size} neurons")
    for p, ok in cal.success.items():
        if not ok.all():
            i, why = next(iter(cal.reasons[p].items()))
            print(f"# {p}: {int((~ok).sum())} neuron(s) failed, e.g. neuron {i}: {why}")
    after_chip = cal.apply(chip)
    truth_before = {p: observed(chip, p) for p in FIELD_OF}
    truth_after = {p: observed(after_chip, p) for p in FIELD_OF}
    for p, f in FIELD_OF.items():
        what, unit, scale = ("std", "mV", 1e3) if f.endswith("_v") else ("cv", "%", 100.0)
        print(f"{p}_{what}_measured_before: {spread(cal.before[p], p) * scale:.3g} {unit}")
        print(f"{p}_{what}_measured_after: {spread(cal.achieved[p], p) * scale:.3g} {unit}")
        print(f"{p}_{what}_true_before: {spread(truth_before[p], p) * scale:.3g} {unit}")
        print(f"{p}_{what}_true_after: {spread(truth_after[p], p) * scale:.3g} {unit}")
        ratio = spread(truth_after[p], p) / spread(truth_before[p], p)
        print(f"{p}_spread_ratio_true: {ratio:.3g} after/before")
    for p in ("v_leak", "v_th", "v_reset", "tau_m", "tau_syn", "syn_gain"):
        r = residual_steps(chip, cal, p)[cal.success[p]]
        print(f"{p}_within_one_dac_step_true: {np.mean(r <= 1) * 100:.1f} % (largest {r.max():.2f} steps)")
    raw_b, raw_a = chip.true_params(), after_chip.true_params()
    for f in ("v_leak_v", "v_th_v", "v_reset_v"):
        print(f"{f[:-2]}_std_true_unreferred_before: {np.std(getattr(raw_b, f)) * 1e3:.3g} mV")
        print(f"{f[:-2]}_std_true_unreferred_after: {np.std(getattr(raw_a, f)) * 1e3:.3g} mV")
    # The ADC's channels at mid-range (true transfer), without and with the digital offsets
    # the calibration wrote; the rest of their spread is corrected in every reading.
    a, h = process.data["adc"], chip.hidden
    lsb = (a["v_hi"] - a["v_lo"]) / (2 ** int(a["bits"]) - 1)
    mid = h["adc_gain"] * 0.5 * (a["v_lo"] + a["v_hi"]) + h["adc_offset_v"]
    digital = np.asarray(cal.settings.get("adc", {}).get("digital_offset_lsb", np.zeros(mid.size)))
    print(f"adc_channel_std_true_before: {np.std(mid) * 1e3:.3g} mV")
    print(f"adc_channel_std_true_digital_offsets: {np.std(mid + digital * lsb) * 1e3:.3g} mV")
    if args.figure is not None:
        out = spread_figure(cal, args.figure / "calibration_spread.png", truth_before, truth_after)
        print(f"# figure: {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
