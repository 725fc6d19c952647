"""Would Brian2's C++ standalone device pay off for the chip emulator? Printed as ``name: value unit``.

The benchmark network of ``bench/emulator.py`` (256-246-10, feed-forward, batch
``--batch-size`` of latency-coded mnist5k test images, 100 µs per sample, dt = 0.5 µs, i.e.
200 steps; a new batch of images per repetition) runs, in one process and on the same
batches, in

* the runtime emulator :class:`anamorph.models.emulator.ChipEmulator` (Cython code objects
  called directly in a Python step loop), with membrane noise (its default) and without;
* the same network on Brian2's C++ standalone device (Stimberg, Brette & Goodman 2019,
  eLife 8:e47314), compiled once per OpenMP thread count (``openmp_threads`` = 2 and 1,
  each in its own project directory) with ``build_on_run=False`` and then run once per
  batch, without recompiling, through ``device.run(run_args=...)``.

The standalone network is the emulator's (:mod:`anamorph.models.brian_network`): one
NeuronGroup of ``batch x 256`` neurons (copy ``s`` owns neurons ``256 s .. 256 s + 255``:
246 hidden, 10 output) whose ``run_regularly`` update (``groups`` slot) is the exact
one-step propagator of :mod:`anamorph.models.neuron`,

    v <- v_leak + (v - v_leak) e_m + I_syn p_syn + sig * vnoise(step * N + i)   (if refr == 0),
    refr <- refr - [refr != 0],   I_syn <- I_syn e_s + drive,

with the per-neuron constants of ``ChipEmulator._constants`` (the sampled chip's true
parameters), Brian2's threshold ``v >= v_th and refr == 0`` and reset ``v = v_reset; refr =
n_ref``, and hidden-to-output Synapses per copy (``I_syn_post += w``). The membrane noise
is a C++ copy of the emulator's counter-based generator (a multiply-xorshift hash of
``key + step * N + i``, Irwin-Hall n = 4; see ``models/brian_network.py``), keyed per
batch through two shared variables: with the same key a run draws the same numbers as the
emulator. Should the emulator's generator change
without this copy, the noisy spikes would differ in detail only (same statistics), and only
the noise-off comparison would remain a spike-by-spike check. The stimulus current (zero in this benchmark) is left
out. Two ways to bring in the inputs (``input_mode``):

* ``timed``: a TimedArray ``drive(t, i)`` of the per-step input current jumps
  (:func:`anamorph.models.reference.input_drive`, the emulator's numbers), written per batch
  as a run_arg (200 x batch*256 doubles, 41 MB at batch 100);
* ``spikes``: an input NeuronGroup of ``batch x 256`` channels whose integer variable
  ``step_in`` (the step of the channel's one latency spike, -1: none) is a run_arg and whose
  threshold is ``int(t/dt + 0.5) == step_in``, and Synapses 256 x 246 per copy (connected by
  a generator expression in the binary, ``I_syn_post += w_in(0*second, ...)`` with the weight
  table a TimedArray run_arg). SpikeGeneratorGroup cannot take new spikes as run_args in
  Brian2 2.9 (its ``neuron_index`` and ``_timebins`` are read-only variables, which
  ``set_variable_by_name`` skips), hence the input group.

Printed: the compile time of each build (and the load average after it: the machine is
shared, and OpenMP threads suffer most from other processes); per batch the standalone's wall time (preparing
and writing the run_args, the binary's process, reading the SpikeMonitor back), of which
the binary's process (and its CPU time, all threads) and of that the simulation proper (Brian2's ``last_run_info``), means
over the batches and the fastest batch; the
samples/s of each (``_simulation_only``: the simulation proper alone) and of the runtime
emulator, and their ratios; the output spikes of the
standalone beside ``ChipEmulator(noise=False)`` (and, with the same noise keys, beside the
noisy emulator): counts and the fraction of identical (sample, neuron, step) spikes
(intersection over union).

Every batch is a new process of the compiled binary: it reads its run_args from files,
creates the synapses again (``spikes``: 6.3 M at batch 100) and, after the run, writes
every array of the network into its results directory; the simulation proper is the part
of a batch that the compiled code could shorten.

Run: ``.venv/bin/python bench/emulator_standalone.py [--batches 5] [--batch-size 100]
[--threads 2 1] [--input-modes timed spikes]``
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import tempfile
import time

import numpy as np

from anamorph.models.brian_network import noise_key
from anamorph.models.chip import sample_chip
from anamorph.models.emulator import ChipEmulator
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference import event_steps, input_drive

try:  # run as a script: bench/ is on sys.path
    import emulator as be
except ImportError:  # imported as bench.emulator_standalone
    from bench import emulator as be

N_IN, N_HID, N_OUT = be.SIZES
N_USED = N_HID + N_OUT
DT_S = 0.5e-6
N_STEPS = int(round(be.DURATION_S / DT_S))

_MODEL = """
v : 1
I_syn : 1
refr : integer
v_leak : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
e_m : 1 (constant)
e_s : 1 (constant)
p_syn : 1 (constant)
sig : 1
n_ref : integer (constant)
key_hi : 1 (shared)
key_lo : 1 (shared)
"""

# The emulator's update (models/brian_network.py) without the stimulus term.
_UPDATE = """
row = int(t/dt + 0.5)*N
active = 1.0*int(refr == 0)
v = active*(v_leak + (v - v_leak)*e_m + I_syn*p_syn + sig*vnoise(row + i, key_hi, key_lo)) + (1 - active)*v
refr = refr - int(refr != 0)
I_syn = I_syn*e_s{drive}
"""

# The emulator's Cython ``vnoise`` in C++; the 64-bit key arrives as two 32-bit halves.
_VNOISE_CPP = """
static inline double vnoise(const int64_t j, const double key_hi, const double key_lo)
{
    const uint64_t key = (((uint64_t)key_hi) << 32) | ((uint64_t)key_lo);
    uint64_t z = (key + (uint64_t)j) * (uint64_t)0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 32)) * (uint64_t)0xD6E8FEB86659FD93ULL;
    z = z ^ (z >> 32);
    return ((double)(int32_t)((z & 0xFFFF) + ((z >> 16) & 0xFFFF) + ((z >> 32) & 0xFFFF) + (z >> 48))
            - 131070.0) * 2.6428997918226276e-05;
}
"""


def spike_keys(sample, neuron, step) -> np.ndarray:
    """Sorted unique codes of the output neurons' (sample, neuron, step) spikes."""
    sample, neuron, step = (np.asarray(a, dtype=np.int64) for a in (sample, neuron, step))
    keep = neuron >= N_HID
    return np.unique((sample[keep] * N_USED + neuron[keep]) * (N_STEPS + 1) + step[keep])


def agreement(a: np.ndarray, b: np.ndarray) -> float:
    """Identical spikes over all distinct spikes of both (1.0 if neither has any)."""
    union = np.union1d(a, b).size
    return 1.0 if union == 0 else np.intersect1d(a, b).size / union


class StandaloneNetwork:
    """The emulator's network on the cpp_standalone device, compiled once, run per batch."""

    def __init__(self, b2, chip, w, batch: int, threads: int, input_mode: str, directory: str) -> None:
        self.b2, self.batch, self.input_mode = b2, batch, input_mode
        device = b2.get_device()
        b2.prefs.devices.cpp_standalone.openmp_threads = threads
        b2.defaultclock.dt = DT_S * b2.second
        emu = ChipEmulator(chip, dt_s=DT_S, noise=True)
        prop, sig = emu._constants(N_USED)
        self.cur = emu.synaptic_currents(w)
        n_total = batch * N_USED
        vnoise = b2.Function(
            lambda j, hi, lo: 0.0,
            arg_units=[1, 1, 1],
            return_unit=1,
            arg_types=["integer", "float", "float"],
            return_type="float",
        )
        vnoise.implementations.add_implementation("cpp", _VNOISE_CPP, name="vnoise")
        namespace = {"vnoise": vnoise}
        if input_mode == "timed":
            self.drive = b2.TimedArray(np.zeros((N_STEPS, n_total)), dt=DT_S * b2.second, name="drive_ta")
            namespace["drive"] = self.drive
            update = _UPDATE.format(drive=" + drive(t, i)")
        else:
            update = _UPDATE.format(drive="")
        g = b2.NeuronGroup(
            n_total,
            _MODEL,
            threshold="v >= v_th and refr == 0",
            reset="v = v_reset; refr = n_ref",
            namespace=namespace,
            name="chip",
        )
        g.run_regularly(update, when="groups")
        tile = lambda a: np.tile(np.asarray(a, dtype=np.float64), batch)
        for name, value in (
            ("v_leak", prop.v_leak_v),
            ("v_th", prop.v_th_v),
            ("v_reset", prop.v_reset_v),
            ("e_m", prop.e_m),
            ("e_s", prop.e_s),
            ("p_syn", prop.p_syn_ohm),
            ("sig", sig),
            ("v", prop.v_leak_v),
        ):
            setattr(g, name, tile(value))
        g.n_ref = np.tile(prop.n_ref, batch)
        self.group = g
        objects = [g]
        # hidden -> output of every copy; the weights (source, target) are a run_arg table
        self.w_out = b2.TimedArray(self.cur[1].reshape(1, -1), dt=1 * b2.second, name="w_out_ta")
        s_out = b2.Synapses(
            g,
            g,
            on_pre="I_syn_post += w_out(0*second, (i % 256)*10 + (j % 256) - 246)",
            namespace={"w_out": self.w_out},
            name="hidden_output",
        )
        base = (np.arange(batch) * N_USED)[:, None, None]
        pre = np.broadcast_to(base + np.arange(N_HID)[None, :, None], (batch, N_HID, N_OUT))
        post = np.broadcast_to(base + N_HID + np.arange(N_OUT)[None, None, :], (batch, N_HID, N_OUT))
        s_out.connect(i=pre.ravel(), j=post.ravel())
        objects.append(s_out)
        if input_mode == "spikes":
            self.inp = b2.NeuronGroup(
                batch * N_IN,
                "step_in : integer",
                threshold="int(t/dt + 0.5) == step_in",
                reset="",
                name="inputs",
            )
            self.inp.step_in = -1
            self.w_in = b2.TimedArray(self.cur[0].reshape(1, -1), dt=1 * b2.second, name="w_in_ta")
            s_in = b2.Synapses(
                self.inp,
                g,
                on_pre="I_syn_post += w_in(0*second, (i % 256)*246 + (j % 256))",
                namespace={"w_in": self.w_in},
                name="input_hidden",
            )
            s_in.connect(j="(i // 256) * 256 + k for k in range(246)")
            objects += [self.inp, s_in]
        self.mon = b2.SpikeMonitor(g, name="spikes")
        objects.append(self.mon)
        net = b2.Network(*objects)
        t0 = time.perf_counter()
        net.run(N_STEPS * DT_S * b2.second, namespace={})
        device.build(directory=directory, compile=True, run=False, with_output=False)
        self.build_s = time.perf_counter() - t0

    def run(self, inputs, key: int, noise: bool):
        """Run one batch; returns (sample, neuron, step) of all spikes and the binary's timers."""
        args = {self.group.key_hi: float(key >> 32), self.group.key_lo: float(key & 0xFFFFFFFF)}
        if not noise:
            args[self.group.sig] = 0.0
        if self.input_mode == "timed":
            table = np.zeros((N_STEPS, self.batch, N_USED))
            table[:, :, :N_HID] = input_drive(inputs, self.cur[0], DT_S, N_STEPS)
            args[self.drive] = table.reshape(N_STEPS, -1)
        else:
            steps = np.full(self.batch * N_IN, -1, dtype=np.int32)
            flat = inputs.samples * N_IN + inputs.units
            if np.unique(flat).size != flat.size:
                raise ValueError("an input channel fires twice; step_in holds one spike per channel")
            steps[flat] = event_steps(inputs.times_s, DT_S)
            args[self.inp.step_in] = steps
        device = self.b2.get_device()
        device.run(run_args=args, with_output=False)
        device.delete(code=False, data=False, run_args=True, directory=False)  # the batch's input files
        i, t = np.asarray(self.mon.i[:]), np.asarray(self.mon.t_[:])
        timers = (device.timers["run_binary"], device._last_run_time)
        return (i // N_USED, i % N_USED, np.rint(t / DT_S).astype(np.int64)), timers


def _children_cpu() -> float:
    """User + system CPU seconds of this process's finished children (the binary's runs)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def time_emulator_batches(chip, batches, w, noise: bool):
    """(samples/s, spikes of each batch) of ChipEmulator over ``batches`` (one untimed warm-up)."""
    emu = ChipEmulator(chip, dt_s=DT_S, noise=noise, seed=0)
    emu.run(batches[0], w, be.DURATION_S)  # build + compile (not timed); run 0
    out = []
    t0 = time.perf_counter()
    for inputs in batches:  # runs 1, 2, ...: noise keys noise_key(0, k + 1)
        s = emu.run(inputs, w, be.DURATION_S).spikes
        out.append((s.samples, s.units, np.rint(s.times_s / DT_S).astype(np.int64)))
    n = sum(b.n_samples for b in batches)
    return n / (time.perf_counter() - t0), out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 1])
    ap.add_argument("--input-modes", nargs="+", choices=("timed", "spikes"), default=["timed", "spikes"])
    args = ap.parse_args(argv)
    import brian2 as b2
    from brian2.devices.device import reset_device

    b2.prefs.logging.console_log_level = "ERROR"
    chip = sample_chip(ProcessModel.default(), seed=0)
    w = be.weights(2)
    batches = [be.latency_inputs(args.batch_size, seed=1 + k) for k in range(args.batches)]
    n = args.batches * args.batch_size
    print(f"load_average_1min: {os.getloadavg()[0]:.2f} processes")
    emu_rate = {}
    reference = {}
    for noise in (True, False):
        emu_rate[noise], reference[noise] = time_emulator_batches(chip, batches, w, noise)
        print(f"emulator_noise_{'on' if noise else 'off'}: {emu_rate[noise]:.0f} samples/s")

    root = tempfile.mkdtemp(prefix="emulator_standalone_")
    b2.set_device("cpp_standalone", build_on_run=False)
    b2.prefs.devices.cpp_standalone.extra_make_args_unix = ["-j2"]  # Brian2's "-j": one g++ per file
    try:
        first = True
        for threads in args.threads:
            for mode in args.input_modes:
                if not first:
                    b2.device.reinit()
                    b2.device.activate(build_on_run=False)
                first = False
                tag = f"{mode}_threads{threads}"
                net = StandaloneNetwork(b2, chip, w, args.batch_size, threads, mode, os.path.join(root, tag))
                print(f"standalone_{tag}_build: {net.build_s:.1f} s")
                print(f"load_average_1min_{tag}: {os.getloadavg()[0]:.2f} processes")
                for noise in (True, False):
                    ntag = f"{tag}_noise_{'on' if noise else 'off'}"
                    wall = binary = sim = cpu = 0.0
                    sims, walls = [], []
                    out, ref = [], []
                    for k, inputs in enumerate(batches):
                        t0, c0 = time.perf_counter(), _children_cpu()
                        spikes, (t_bin, t_sim) = net.run(inputs, noise_key(0, k + 1), noise)
                        wall_k = time.perf_counter() - t0
                        cpu += _children_cpu() - c0
                        wall, binary, sim = wall + wall_k, binary + t_bin, sim + t_sim
                        sims.append(t_sim)
                        walls.append(wall_k)
                        out.append(spike_keys(*spikes))
                        ref.append(spike_keys(*reference[noise][k]))
                    rate = n / wall
                    print(f"standalone_{ntag}_per_batch: {wall / args.batches:.3f} s")
                    print(f"standalone_{ntag}_binary_process_per_batch: {binary / args.batches:.3f} s")
                    print(f"standalone_{ntag}_simulation_per_batch: {sim / args.batches:.3f} s")
                    print(f"standalone_{ntag}_binary_cpu_per_batch: {cpu / args.batches:.3f} s")
                    print(f"standalone_{ntag}_fastest_batch: {min(walls):.3f} s")
                    print(f"standalone_{ntag}_fastest_simulation: {min(sims):.3f} s")
                    print(f"standalone_{ntag}_simulation_each_batch: {' '.join(f'{x:.3f}' for x in sims)} s")
                    print(f"standalone_{ntag}: {rate:.0f} samples/s")
                    print(f"standalone_to_emulator_{ntag}_ratio: {rate / emu_rate[noise]:.2f} x")
                    print(f"standalone_{ntag}_simulation_fraction_of_batch: {sim / wall:.2f} fraction")
                    print(f"standalone_{ntag}_simulation_only: {n / sim:.0f} samples/s")
                    print(
                        f"standalone_simulation_only_to_emulator_{ntag}_ratio: {n / sim / emu_rate[noise]:.2f} x"
                    )
                    a, b = np.concatenate(out), np.concatenate(ref)
                    print(f"standalone_{ntag}_output_spikes: {a.size} spikes")
                    print(f"emulator_{ntag}_output_spikes: {b.size} spikes")
                    print(f"identical_output_spikes_{ntag}: {agreement(a, b):.4f} fraction")
    finally:
        shutil.rmtree(root, ignore_errors=True)
        b2.device.reinit()
        reset_device()


if __name__ == "__main__":
    main()
