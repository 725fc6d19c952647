"""Benchmark of the on-chip plasticity: sensors in the emulator and the plasticity step.

Network 256-246-10 of ``bench/emulator.py`` (latency-coded mnist5k images, 100 µs of chip time
per sample, batch 100, mismatch and noise on), run by the emulator twice: static, and
with both projections plastic (the sensors of all 65 436 synapses evaluated and read
through the sensor ADC after every run), and with only the output projection plastic. The
sensors of one batch alone, by the compiled loop and by its whole-array numpy form. Then the plasticity step (TripletSTDP on the
readings, checks, new network) timed per 1000 synapses, and the sensors alone on the
hippocampal pair protocol (60 pairings at 1 Hz, 256 synapses).

Run: ``.venv/bin/python bench/plasticity.py [--batches 5]``; prints ``name: value unit``.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from emulator import DURATION_S, latency_inputs, weights  # noqa: E402

from anamorph.models.chip import sample_chip  # noqa: E402
from anamorph.models.emulator import ChipEmulator  # noqa: E402
from anamorph.models.network import ChipNetwork  # noqa: E402
from anamorph.models.plasticity.processor import network_sensors, plasticity_step  # noqa: E402
from anamorph.models.plasticity.rules import TripletSTDP  # noqa: E402
from anamorph.models.process_model import ProcessModel  # noqa: E402


def samples_per_s(emu, inputs, net, batches) -> tuple[float, object]:
    emu.run(inputs, net, DURATION_S)  # build + compile (not timed)
    t0 = time.perf_counter()
    for _ in range(batches):
        obs = emu.run(inputs, net, DURATION_S)
    return batches * inputs.n_samples / (time.perf_counter() - t0), obs


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--batch", type=int, default=100)
    args = parser.parse_args(argv)
    chip = sample_chip(ProcessModel.default(), 0)
    emu = ChipEmulator(chip, seed=0)
    inputs = latency_inputs(args.batch, 0)
    static = ChipNetwork.from_layers(weights(0))
    plastic = replace(static, projections=tuple(replace(p, plastic=True) for p in static.projections))
    rate_static, _ = samples_per_s(emu, inputs, static, args.batches)
    rate_plastic, obs = samples_per_s(emu, inputs, plastic, args.batches)
    last_only = replace(
        static, projections=(static.projections[0], replace(static.projections[1], plastic=True))
    )
    rate_last, _ = samples_per_s(emu, inputs, last_only, args.batches)
    n_syn = sum(p.codes.size for p in plastic.projections)
    print(f"synapses_plastic: {n_syn} synapses")
    print(f"emulator_static: {rate_static:.1f} samples/s")
    print(f"emulator_plastic_sensors: {rate_plastic:.1f} samples/s")
    print(f"plastic_over_static: {rate_plastic / rate_static:.3f} ratio")
    print(f"emulator_output_layer_plastic: {rate_last:.1f} samples/s")
    print(f"output_layer_plastic_over_static: {rate_last / rate_static:.3f} ratio")
    from anamorph.models.plasticity import sensors, sensors_numpy

    t0 = time.perf_counter()
    compiled = network_sensors(chip, plastic, inputs, obs.spikes)
    t_loop = time.perf_counter() - t0
    loop, sensors._side = sensors._side, sensors_numpy.side  # the whole-array numpy form
    try:
        t0 = time.perf_counter()
        reference = network_sensors(chip, plastic, inputs, obs.spikes)
        t_numpy = time.perf_counter() - t0
    finally:
        sensors._side = loop
    diff = max(
        float(np.max(np.abs(getattr(compiled[k], f) - getattr(reference[k], f))))
        for k in compiled
        for f in ("causal", "acausal")
    )
    print(f"sensors_per_batch: {t_loop:.3f} s (compiled loop)")
    print(f"sensors_per_batch_numpy_form: {t_numpy:.3f} s")
    print(f"sensors_numpy_form_over_compiled: {t_numpy / t_loop:.1f} ratio")
    print(f"sensors_max_abs_difference: {diff:.1e} sensor units")
    n_read = 2 * n_syn
    print(f"sensor_readings_saturated: {sum(r.saturated for r in obs.sensors.values()) / n_read * 100:.2f} %")
    n_spikes = obs.spikes.times_s.size + inputs.times_s.size
    print(f"spike_events_per_batch: {n_spikes} events")
    rule = TripletSTDP(eta_codes=63.0, seed=0)
    reps = 20
    t0 = time.perf_counter()
    for _ in range(reps):
        plasticity_step(plastic, obs, rule)
    step_s = (time.perf_counter() - t0) / reps
    print(f"plasticity_step: {step_s * 1e3:.2f} ms")
    print(f"plasticity_step_per_1000_synapses: {step_s / n_syn * 1e3 * 1e6:.1f} us")

    from anamorph.circuits.tstdp import protocols as sp
    from anamorph.circuits.tstdp.rule import TripletParams, weight_change
    from anamorph.models.backend import SpikeEvents
    from anamorph.models.plasticity.sensors import SensorParams, correlate

    params = TripletParams(7.3e-3, 3.5e-3, 2.3e-3, 1.6e-2, 7.3e-3, 0.2)
    pre, post = sp.pair(10e-3).trains()
    pre_ev = SpikeEvents(
        np.repeat(pre, 256), np.tile(np.arange(256), pre.size), np.zeros(pre.size * 256, int), 1
    )
    post_ev = SpikeEvents(post, np.zeros(post.size, int), np.zeros(post.size, int), 1)
    t0 = time.perf_counter()
    correlate(pre_ev, post_ev, SensorParams.from_rule(params, 1.0), 256, 1)
    t_sensors = time.perf_counter() - t0
    t0 = time.perf_counter()
    weight_change(pre, post, params)
    t_rule = time.perf_counter() - t0
    print(f"sensors_pair_protocol_256_synapses: {t_sensors * 1e3:.2f} ms")
    print(f"exact_rule_loop_one_synapse: {t_rule * 1e3:.2f} ms")
    print(f"sensors_speedup_vs_rule_loop: {256 * t_rule / t_sensors:.0f} ratio")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
