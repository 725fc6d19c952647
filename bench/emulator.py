"""Benchmark of the Brian2 chip emulator, printed as ``name: value unit`` lines.

Network 256-246-10 on a sampled chip (mismatch and noise on), latency-coded inputs
(Cramer et al. 2022: t = tau_in log(x / (x - theta)), tau_in = 8 µs, theta = 0.2; test
images of the mnist5k data set, MNIST at 16x16), 100 µs of chip time per sample, batch 100.
Side by side:

* the emulator (ChipEmulator.run), at dt = 0.5 µs and 1 µs, spikes only and with the
  membranes of all hidden and output neurons recorded (the training path); at 0.5 µs also
  in float32 (``dtype="float32"``), with the fraction of (neuron, sample) spike counts
  equal to float64's (the same noise, rounded), and with one OpenMP thread (the others
  run with the emulator's default, every CPU, or ``--threads``);
* a plain loop that builds and runs one Brian2 network per sample (SpikeGeneratorGroup,
  Synapses, NeuronGroup with the LIF equations, the same parameters);
* the numpy reference (:func:`anamorph.models.reference.simulate_reference`);
* peer simulators (``bench/_peers.py``: jaxsnn, Spyx and a plain ``jax.lax.scan``; installed by
  ``pip install -e .[peers]``): the same network, batch and dt (200 steps of 0.5 µs), nominal
  neuron parameters, the emulator's synaptic currents, the inputs as dense per-step spike
  tensors (B, T, 256); forward pass only, jit-compiled (compilation not timed). snnTorch and
  Norse are left out: torch from PyPI is the CUDA build (a 555 MB wheel plus GBs of nvidia-*
  CUDA wheels). ``emulator_to_<peer>_ratio`` is the emulator's rate (dt 0.5 µs, spikes only)
  over the peer's, the two timed in turns.

Every rate is the median of ``--rounds`` rounds of ``--batches`` batches; the runs compared
(the emulator's variants; each peer with the emulator) take turns within each round.

Run: ``.venv/bin/python bench/emulator.py [--batches 5] [--rounds 5] [--plain-samples 4] [--no-peers]``
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from functools import partial

import numpy as np

from anamorph.models.backend import SpikeEvents
from anamorph.models.brian_simd import default_threads
from anamorph.models.chip import sample_chip
from anamorph.models.emulator import ChipEmulator
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference import simulate_reference

try:  # run as a script: bench/ is on sys.path
    import _peers as peers
except ImportError:  # imported as bench.emulator
    from bench import _peers as peers

DURATION_S = 100e-6
SIZES = (256, 246, 10)


def latency_inputs(n: int, seed: int) -> SpikeEvents:
    """``n`` mnist5k test images (16x16) drawn with rng(seed), in the training code's latency code."""
    from anamorph.training.datasets import load_mnist5k
    from anamorph.training.encoding import LatencyCode

    x = load_mnist5k().X_test
    rng = np.random.default_rng(seed)
    return LatencyCode(tau_in_s=8e-6, theta_in=0.2, t_max_s=DURATION_S).events(x[rng.integers(0, len(x), n)])


def weights(seed: int):
    rng = np.random.default_rng(seed)
    w1 = np.clip(np.rint(rng.normal(2.0, 12.0, SIZES[:2])), -63, 63).astype(np.int64)
    w2 = np.clip(np.rint(rng.normal(0.0, 20.0, SIZES[1:])), -63, 63).astype(np.int64)
    return [w1, w2]


def in_turns(runs, batches, rounds, n_samples):
    """Each of ``runs`` (name: a function running one batch of ``n_samples``) timed in
    ``rounds`` rounds of ``batches`` calls, taking turns within each round: its median
    samples per wall-clock second and per CPU second of this process, and its last result.

    This machine's speed drifts by a factor of about 1.5 within minutes, so only rates
    measured in turns compare. Each function is called once first (compilation, not timed).
    """
    last = {name: run() for name, run in runs.items()}
    rates, n = {name: [] for name in runs}, batches * n_samples
    for _ in range(rounds):
        for name, run in runs.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(batches):
                last[name] = run()
            rates[name].append((n / (time.perf_counter() - t0), n / (time.process_time() - c0)))
    return {name: (*np.median(rates[name], axis=0), last[name]) for name in runs}


def emulator_runs(emus, inputs, w, record=None):
    """``in_turns``' functions for ``emus`` (name: ChipEmulator): one batch of ``inputs``."""
    return {name: partial(emu.run, inputs, w, DURATION_S, record=record) for name, emu in emus.items()}


def plain_loop(chip, inputs, w, n_samples, dt_s):
    """Build and run one ordinary Brian2 network per sample (the naive baseline)."""
    import brian2 as b2

    b2.prefs.codegen.target = "cython"
    b2.prefs.logging.console_log_level = "ERROR"
    p = chip.true_params()
    n_hid, n_out = SIZES[1], SIZES[2]
    emu = ChipEmulator(chip)
    cur = emu.synaptic_currents(w)
    eqs = """dv/dt = (v_leak - v)/tau_m + I_syn/c_mem + sigma*sqrt(2/tau_m)*xi : volt (unless refractory)
dI_syn/dt = -I_syn/tau_syn : amp
v_leak : volt
v_th : volt
v_reset : volt
tau_m : second
tau_syn : second
t_ref : second
c_mem : farad
sigma : volt
"""
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(n_samples):
        b2.start_scope()
        b2.defaultclock.dt = dt_s * b2.second
        keep = inputs.samples == s
        sgg = b2.SpikeGeneratorGroup(SIZES[0], inputs.units[keep], inputs.times_s[keep] * b2.second)
        g = b2.NeuronGroup(
            n_hid + n_out, eqs, threshold="v >= v_th", reset="v = v_reset", refractory="t_ref", method="euler"
        )
        for name, unit in (
            ("v_leak", b2.volt),
            ("v_th", b2.volt),
            ("v_reset", b2.volt),
            ("tau_m", b2.second),
            ("tau_syn", b2.second),
            ("t_ref", b2.second),
            ("c_mem", b2.farad),
        ):
            field = {
                "v_leak": "v_leak_v",
                "v_th": "v_th_v",
                "v_reset": "v_reset_v",
                "tau_m": "tau_m_s",
                "tau_syn": "tau_syn_s",
                "t_ref": "t_ref_s",
                "c_mem": "c_mem_f",
            }[name]
            setattr(g, name, getattr(p, field)[: n_hid + n_out] * unit)
        g.sigma = chip.hidden["noise_v_rms"][: n_hid + n_out] * b2.volt
        g.v = p.v_leak_v[: n_hid + n_out] * b2.volt
        s1 = b2.Synapses(sgg, g[:n_hid], "w : amp", on_pre="I_syn_post += w")
        i1, j1 = np.nonzero(np.ones(SIZES[:2]))
        s1.connect(i=i1, j=j1)
        s1.w = cur[0].ravel() * b2.amp
        s2 = b2.Synapses(g[:n_hid], g[n_hid:], "w : amp", on_pre="I_syn_post += w")
        i2, j2 = np.nonzero(np.ones(SIZES[1:]))
        s2.connect(i=i2, j=j2)
        s2.w = cur[1].ravel() * b2.amp
        _monitor = b2.SpikeMonitor(g)  # found by b2.run in this frame
        b2.run(DURATION_S * b2.second, namespace={})
        if s == 0:  # the first sample pays the one-off compilation; restart the clock
            t0, c0 = time.perf_counter(), time.process_time()
    return (n_samples - 1) / (time.perf_counter() - t0), (n_samples - 1) / (time.process_time() - c0)


def time_peer(name, chip, inputs, w, batches, rounds, emu, dt_s=0.5e-6):
    """Peer ``name`` and ``emu`` timed in turns (:func:`in_turns`): the peer's and the
    emulator's (samples per wall-clock second, per CPU second), and the peer's hidden
    spikes per sample."""
    n_steps = int(round(DURATION_S / dt_s))
    x = peers.dense_spikes(inputs, SIZES[0], n_steps, dt_s)
    peer = peers.PEERS[name](ChipEmulator(chip, dt_s=dt_s).synaptic_currents(w), dt_s)
    runs = {"peer": lambda: peer.forward(x).block_until_ready(), **emulator_runs({"emu": emu}, inputs, w)}
    timed = in_turns(runs, batches, rounds, inputs.n_samples)
    return timed["peer"][:2], timed["emu"][:2], float(np.asarray(peer.hidden_spikes(x)).mean())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5, help="rounds of --batches batches; medians")
    ap.add_argument("--plain-samples", type=int, default=4)
    ap.add_argument(
        "--peers",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the installed peer simulators side by side (the others print 'not installed')",
    )
    ap.add_argument(
        "--threads", type=int, default=None, help="the emulator's OpenMP threads (default: its own)"
    )
    args = ap.parse_args(argv)
    chip = sample_chip(ProcessModel.default(), seed=0)
    inputs = latency_inputs(args.batch_size, seed=1)
    w = weights(2)
    print(f"load_average_1min: {os.getloadavg()[0]:.1f} processes")
    threads = default_threads() if args.threads is None else args.threads
    print(f"emulator_threads: {threads} threads")
    for dt_s in (0.5e-6, 1e-6):
        tag = f"dt{dt_s * 1e6:g}us"
        emus = {"default": ChipEmulator(chip, dt_s=dt_s, noise=True, seed=0, threads=threads)}
        if dt_s == 0.5e-6:
            if threads > 1:
                emus["1thread"] = ChipEmulator(chip, dt_s=dt_s, noise=True, seed=0, threads=1)
            emus["float32"] = ChipEmulator(
                chip, dt_s=dt_s, noise=True, seed=0, dtype="float32", threads=threads
            )
        timed = in_turns(emulator_runs(emus, inputs, w), args.batches, args.rounds, inputs.n_samples)
        rate, cpu_rate, obs = timed["default"]
        print(f"emulator_{tag}: {rate:.0f} samples/s")
        print(f"emulator_{tag}_per_cpu_second: {cpu_rate:.0f} samples/s")
        recording = emulator_runs({"default": emus["default"]}, inputs, w, record="all")
        rate_rec, cpu_rec, _ = in_turns(recording, args.batches, args.rounds, inputs.n_samples)["default"]
        print(f"emulator_record_all_{tag}: {rate_rec:.0f} samples/s")
        print(f"emulator_record_all_{tag}_per_cpu_second: {cpu_rec:.0f} samples/s")
        hidden = obs.spikes.select(0, SIZES[1]).counts(SIZES[1]).sum(axis=1).mean()
        print(f"hidden_spikes_per_sample_{tag}: {hidden:.1f} spikes")
        if dt_s == 0.5e-6:
            emu_05 = emus["default"]
            if "1thread" in timed:
                rate1 = timed["1thread"][0]
                print(f"emulator_1thread_{tag}: {rate1:.0f} samples/s")
                print(f"threads_speedup_{tag}: {rate / rate1:.2f} x")
            rate32, cpu32, obs32 = timed["float32"]
            print(f"emulator_float32_{tag}: {rate32:.0f} samples/s")
            print(f"emulator_float32_{tag}_per_cpu_second: {cpu32:.0f} samples/s")
            print(f"float32_to_float64_ratio_{tag}: {rate32 / rate:.2f} x")
            same = obs32.spikes.counts(SIZES[1] + SIZES[2]) == obs.spikes.counts(SIZES[1] + SIZES[2])
            print(f"float32_same_spike_counts_{tag}: {same.mean():.4f} of neurons and samples")
    for name in peers.PEERS if args.peers else ():
        if not peers.available(name):
            print(f"peer_{name}: not installed (pip install -e .[peers])")
            continue
        (rate, cpu_rate), (emu_rate, emu_cpu), hidden = time_peer(
            name, chip, inputs, w, args.batches, args.rounds, emu_05
        )
        print(f"peer_{name}: {rate:.0f} samples/s")
        print(f"peer_{name}_per_cpu_second: {cpu_rate:.0f} samples/s")
        print(f"peer_{name}_hidden_spikes_per_sample: {hidden:.1f} spikes")
        print(f"emulator_in_turns_with_{name}: {emu_rate:.0f} samples/s")
        print(f"emulator_to_{name}_ratio: {emu_rate / rate:.2f} x")
        print(f"emulator_to_{name}_ratio_cpu: {emu_cpu / cpu_rate:.2f} x")
    p = chip.true_params()
    emu = ChipEmulator(chip, dt_s=0.5e-6)
    cur = emu.synaptic_currents(w)
    t0, c0 = time.perf_counter(), time.process_time()
    simulate_reference(
        p,
        inputs,
        cur,
        DURATION_S,
        0.5e-6,
        weights_in_amperes=True,
        noise_v_rms=chip.hidden["noise_v_rms"],
        seed=0,
    )
    print(f"numpy_reference_dt0.5us: {inputs.n_samples / (time.perf_counter() - t0):.0f} samples/s")
    print(
        f"numpy_reference_dt0.5us_per_cpu_second: {inputs.n_samples / (time.process_time() - c0):.0f} samples/s"
    )
    if args.plain_samples > 1:
        plain, plain_cpu = plain_loop(chip, inputs, w, args.plain_samples, 0.5e-6)
        print(f"plain_brian2_loop_dt0.5us: {plain:.2f} samples/s")
        print(f"plain_brian2_loop_dt0.5us_per_cpu_second: {plain_cpu:.2f} samples/s")
        emu = ChipEmulator(chip, dt_s=0.5e-6, threads=threads)
        emu_rate, emu_cpu, _ = in_turns(
            emulator_runs({"": emu}, inputs, w), args.batches, 1, inputs.n_samples
        )[""]
        print(f"speedup_emulator_vs_plain_loop_dt0.5us: {emu_rate / plain:.0f} x")
        print(f"speedup_emulator_vs_plain_loop_dt0.5us_cpu: {emu_cpu / plain_cpu:.0f} x")
    print(f"peak_memory: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
