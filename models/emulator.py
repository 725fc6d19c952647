"""ChipEmulator: runs a Chip with Brian2 (implements :class:`anamorph.models.backend.Backend`).

A batch of ``B`` samples runs as ``B`` independent copies of the network in one Brian2
network (one NeuronGroup of ``B x n_used`` neurons; copy ``s`` owns neurons
``s*n_used .. (s+1)*n_used-1``). Each neuron integrates the exact one-step propagator of
:mod:`anamorph.models.neuron` (generated Cython code, the same arithmetic as the numpy
reference), thresholds and resets in Brian2's own threshold and reset code, and spikes
between chip neurons travel through Brian2 Synapses (``I_syn_post += w``), one Synapses
object per projection of a :class:`~anamorph.models.network.ChipNetwork` in any direction
(forward, lateral/recurrent, feedback). A teaching current (per sample, per neuron,
piecewise constant in time) enters the membrane like the stimulus. The triplet-STDP
sensors of plastic projections are evaluated from the run's spike times after the run
(exact, since they do not act on the dynamics; :mod:`anamorph.models.plasticity.sensors`)
and reported, read through the sensor ADC, in ``Observables.sensors``.

Speed (what dominates, measured by ``bench/emulator.py``):

* The input projections do not depend on the chip's dynamics, so their synaptic events
  (``B x n_in x n_1`` synapses, the bulk of all synapses) are summed per step with one
  sparse matrix product in numpy instead of millions of Brian2 synapses. The result is
  identical: each input spike adds its synapses' current jumps to ``I_syn`` in the step it
  is delivered. Only the (step, sample) rows with input spikes are computed
  (:func:`~anamorph.models.reference.input_drive_rows`; latency codes fire once per
  channel, so about 8 % of the rows in the benchmark) and written, before each step, into
  a per-neuron buffer (``drive``) read by the generated code; building and streaming a
  dense (steps x neurons) table took about a quarter of a batch's time.
* The network is built once per (batch size, network structure, steps, with or without
  teaching) and cached (compiled code is shared by all sizes; the codes are not part of
  the structure); a batch only writes the teaching table (if any), the synaptic weights
  and the initial state in place, and calls the objects' compiled code directly.
  ``Network.run`` is used once (it creates the code objects); later batches skip its
  per-call set-up (namespace
  resolution, code-object creation and a full garbage collection, ~0.3 s per call).
* The membrane update and the threshold condition run in loops that GCC vectorises (4
  neurons per AVX2 instruction): Brian2's Cython code gives the compiler no guarantee that
  its arrays do not overlap, :mod:`anamorph.models.brian_simd` passes them to the loop as
  ``restrict`` arguments. The per-neuron reads go through the loop counter (contiguous
  loads, no gather through the ``i`` array). ``dtype="float32"`` halves the state and
  doubles the vector width. Both loops split the batch's copies among OpenMP threads
  (``threads``; every CPU by default).
* Spikes between chip neurons reach their synapses straight from the threshold's spike
  space, without Brian2's spike queue (zero delays; the same order of delivery).
* Membrane noise comes from a small counter-based generator inside the generated code
  (:mod:`anamorph.models.brian_network`), seeded per run from ``default_rng([seed, run])``
  (recorded in ``meta``); drawing 2.6 M normals per batch with numpy took as long as the
  whole network update.
* ADC samples are copied from the membrane array at the sampled steps inside the step
  loop (no StateMonitor recording every step), spikes from the threshold's spike space
  after each step (no SpikeMonitor).
* The drive buffer and the teaching table are read by small Cython functions whose code
  does not depend on the network's size, and the network's objects have fixed names (the
  generated code names its arrays after them), so a new batch size or duration, or a
  second emulator, needs no new compilation.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.models.backend import (
    Observables,
    ReferenceADCChannels,
    SpikeEvents,
    Stimulus,
    Teaching,
    adc_steps,
    report,
    validate_run,
)
from anamorph.models.brian_network import BuiltNetwork, noise_key
from anamorph.models.brian_simd import default_threads
from anamorph.models.chip import MAX_FAN_IN, N_NEURONS, Chip
from anamorph.models.network import INPUT, ChipNetwork, projection_currents
from anamorph.models.neuron import DEFAULT_TARGETS, NeuronParams, noise_step_scale, propagator
from anamorph.models.reference import input_drive_rows, stimulus_steps

if TYPE_CHECKING:
    from anamorph.models.neuron import Propagator

_CACHE_SIZE = 3
_MAX_TRACE_VALUES = 400_000_000  # recorded membrane values per batch (3.2 GB) at most


class ChipEmulator(ReferenceADCChannels):
    """A Brian2 emulation of one :class:`~anamorph.models.chip.Chip` (see module docstring).

    Parameters
    ----------
    chip : Chip
    dt_s : float
        Integration step (s); the exact propagator makes it an accuracy-free choice for
        the sub-threshold dynamics, spike times are quantised to it.
    noise : bool
        Temporal membrane noise of the chip on or off.
    seed : int
        Seed of the noise; run ``k`` of this emulator uses ``default_rng([seed, k])``.
    adc_period_s : float
        ADC sample period; a sample at ``j * adc_period_s`` reads the membrane of step
        ``floor(j * adc_period_s / dt_s)`` (its time is reported in ``adc_t_s``).
    nominal : NeuronParams, optional
        The targets the chip is configured for (public knowledge; DEFAULT_TARGETS).
    ideal_adc : bool
        Return exact membrane voltages instead of 8-bit ADC readings (tests only).
    read_sensors_every_sample : bool
        The plasticity processor reads (and resets) the correlation sensors after every
        sample and sums the readings, instead of reading them once after the run
        (:func:`anamorph.models.plasticity.processor.network_readings`).
    dtype : {"float64", "float32"}
        Floating-point type of the simulation. float64 (the default) equals the numpy
        reference exactly with noise off; float32 is faster, and its rounding moves the
        membranes by far less than the chip's own noise (README, "float32").
    threads : int, optional
        OpenMP threads of the neuron update and the threshold, each running a share of the
        batch's copies; the results do not depend on it. Default:
        :func:`~anamorph.models.brian_simd.default_threads` (``OMP_NUM_THREADS``, otherwise
        every CPU of the process within its CPU quota).
    """

    n_neurons = N_NEURONS
    max_fan_in = MAX_FAN_IN

    def __init__(
        self,
        chip: Chip,
        *,
        dt_s: float = 0.5e-6,
        noise: bool = True,
        seed: int = 0,
        adc_period_s: float = 1.7e-6,
        nominal: NeuronParams | None = None,
        ideal_adc: bool = False,
        read_sensors_every_sample: bool = False,
        dtype: str = "float64",
        threads: int | None = None,
    ) -> None:
        if not (np.isfinite(dt_s) and dt_s > 0) or not (np.isfinite(adc_period_s) and adc_period_s >= dt_s):
            raise InputError("dt_s must be > 0 and adc_period_s >= dt_s", "ChipEmulator", "dt_s")
        if dtype not in ("float64", "float32"):
            raise InputError(f"must be 'float64' or 'float32', not {dtype!r}", "ChipEmulator", "dtype")
        self.dtype = np.dtype(dtype).type
        if threads is not None and (
            isinstance(threads, bool) or not (isinstance(threads, int | np.integer) and threads >= 1)
        ):
            raise InputError(f"must be a whole number >= 1, not {threads!r}", "ChipEmulator", "threads")
        self.threads = default_threads() if threads is None else int(threads)
        self.chip = chip
        self.dt_s = float(dt_s)
        self.noise = bool(noise)
        self.seed = int(seed)
        self.adc_period_s = float(adc_period_s)
        self.nominal = DEFAULT_TARGETS if nominal is None else nominal
        self.ideal_adc = ideal_adc
        self.read_sensors_every_sample = bool(read_sensors_every_sample)
        self.n_runs = 0
        self.adc_offset_lsb = np.zeros(N_NEURONS, dtype=np.int64)  # digital ADC offsets
        self._true = chip.true_params()
        self._fingerprint = chip.fingerprint()
        self._cache: OrderedDict = OrderedDict()
        self._last_currents: tuple | None = None  # (structure, codes, currents) of the last batch

    # ----------------------------------------------------------------- running
    def _built(self, batch: int, network: ChipNetwork, n_steps: int, teaching: bool) -> BuiltNetwork:
        key = (batch, network.key, n_steps, teaching)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        import brian2 as b2

        b2.prefs.logging.console_log_level = "ERROR"
        offsets, sizes = network.offsets, network.sizes
        links = tuple(
            (offsets[p.source], sizes[p.source], offsets[p.target], sizes[p.target])
            for p in network.projections
            if p.source != INPUT
        )
        built = BuiltNetwork(
            b2,
            batch,
            links,
            network.n_used,
            n_steps,
            self.dt_s,
            *self._constants(network.n_used),
            teaching=teaching,
            dtype=self.dtype,
            threads=self.threads,
        )
        self._cache[key] = built
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return built

    def _constants(self, n_used: int) -> tuple[Propagator, np.ndarray]:
        prop = propagator(self._true.take(slice(0, n_used)), self.dt_s, n_used)
        sig = (
            noise_step_scale(self.chip.hidden["noise_v_rms"][:n_used], prop)
            if self.noise
            else np.zeros(n_used)
        )
        return prop, sig

    def reconfigure(self, chip: Chip) -> None:
        """Run ``chip`` (typically ``self.chip.with_codes(...)``) from now on.

        Like writing new DAC codes into a chip: the compiled networks are kept and only
        their per-neuron constants are rewritten (no rebuild, no recompilation). The run
        counter (and so the noise stream) continues.
        """
        self.chip = chip
        self._true = chip.true_params()
        self._fingerprint = chip.fingerprint()
        self._last_currents = None
        for built in self._cache.values():
            built.set_params(*self._constants(built.n_used))

    def configure(self, codes: dict[str, np.ndarray]) -> None:
        """Write DAC codes (see :class:`~anamorph.models.backend.Backend`): :meth:`reconfigure`
        with ``self.chip.with_codes(codes)`` (validated by ``validate_codes``)."""
        self.reconfigure(self.chip.with_codes(codes))

    def synaptic_currents(self, network: Sequence[np.ndarray] | ChipNetwork) -> list[np.ndarray]:
        """TRUE current jump of every synapse, per projection (tests and benchmarks only)."""
        net = network if isinstance(network, ChipNetwork) else ChipNetwork.from_layers(network)
        return projection_currents(self.chip, net, self._true)

    def _currents(self, network: ChipNetwork) -> list[np.ndarray]:
        """:meth:`synaptic_currents`, reused while the weight codes stay those of the last
        batch (a chip's synapse memory keeps them between runs too)."""
        if any(getattr(p, "devices", None) is not None for p in network.projections):
            return self.synaptic_currents(network)  # devices: not codes
        codes = [p.codes for p in network.projections]
        last = self._last_currents
        if (
            last is not None
            and last[0] == network.key
            and all(np.array_equal(a, b) for a, b in zip(last[1], codes))
        ):
            return last[2]
        currents = self.synaptic_currents(network)
        self._last_currents = (network.key, [np.array(c) for c in codes], currents)
        return currents

    def _input_rows(
        self, inputs: SpikeEvents, network: ChipNetwork, currents: list[np.ndarray], n_steps: int
    ) -> tuple[np.ndarray, slice, np.ndarray]:
        """The input projections' current jumps as ``(rows, cols, values)`` for :meth:`BuiltNetwork.run`.

        ``rows = step * batch + sample`` (increasing) are the rows with input spikes, ``cols``
        the chip neurons from the first to the last input target, ``values`` (len(rows),
        len(cols)) their jumps: per target population the first input projection's
        :func:`~anamorph.models.reference.input_drive` row plus the next ones' (the order of
        the dense sum); zero for neurons without input projections.
        """
        parts = [
            (network.slice(proj.target), *input_drive_rows(inputs, cur, self.dt_s, n_steps))
            for proj, cur in zip(network.projections, currents)
            if proj.source == INPUT
        ]
        if not parts:
            return np.zeros(0, dtype=np.int64), slice(0, 0), np.zeros((0, 0))
        if len(parts) == 1:
            return parts[0][1], parts[0][0], parts[0][2]
        cols = slice(min(t.start for t, _, _ in parts), max(t.stop for t, _, _ in parts))
        rows = np.unique(np.concatenate([r for _, r, _ in parts]))
        values = np.zeros((rows.size, cols.stop - cols.start))
        done = set()
        for tgt, r, part in parts:
            k, c = np.searchsorted(rows, r), slice(tgt.start - cols.start, tgt.stop - cols.start)
            if tgt.start in done:
                values[k, c] += part
            else:
                values[k, c] = part  # rows without its spikes stay 0.0 (input_drive's zeros)
                done.add(tgt.start)
        return rows, cols, values

    def run(
        self,
        inputs: SpikeEvents,
        weights: Sequence[np.ndarray] | ChipNetwork,
        duration_s: float,
        record: Sequence[int] | str | None = None,
        stimulus: Stimulus | None = None,
        teaching: Teaching | None = None,
    ) -> Observables:
        """Run a batch; see :class:`anamorph.models.backend.Backend`."""
        network, rec, teaching = validate_run(inputs, weights, duration_s, record, stimulus, teaching)
        n_used = network.n_used
        n_steps = int(round(duration_s / self.dt_s))
        batch = inputs.n_samples
        if rec is not None and batch * len(rec) * n_steps * self.dt_s / self.adc_period_s > _MAX_TRACE_VALUES:
            raise InputError(
                "recording all neurons of this batch would exceed memory; use a smaller "
                "batch, fewer recorded neurons or a shorter run",
                "record",
            )
        net = self._built(batch, network, n_steps, teaching is not None)
        currents = self._currents(network)
        drive = self._input_rows(inputs, network, currents, n_steps)
        if net.w_currents is not currents:  # the same currents are in place already
            neuron_currents = [
                cur for proj, cur in zip(network.projections, currents) if proj.source != INPUT
            ]
            for w_var, cur in zip(net.w, neuron_currents):
                w_var[:] = np.tile(cur.ravel(), batch)
            net.w_currents = currents
        if teaching is not None:
            net.teach.reshape(n_steps, batch, n_used)[:] = teaching.per_step(self.dt_s, n_steps)
        noise_seed = [self.seed, self.n_runs]
        net.noise_key[0] = noise_key(self.seed, self.n_runs)
        i_stim = np.zeros(n_used) if stimulus is None else np.asarray(stimulus.i_a, dtype=np.float64)[:n_used]
        net.vars["i_stim"][:] = np.tile(i_stim, batch)
        k_on, k_off = stimulus_steps(stimulus, self.dt_s)  # compared half a step early: exact
        net.t_on[:] = (k_on - 0.5) * self.dt_s
        net.t_off[:] = (k_off - 0.5) * self.dt_s
        steps = None if rec is None else adc_steps(n_steps, self.dt_s, self.adc_period_s)
        idx, t_s, trace = net.run(steps, rec, drive)  # ordered by time, then neuron
        self.n_runs += 1
        spikes = SpikeEvents(t_s, idx % n_used, idx // n_used, batch)
        return report(
            self, network, inputs, spikes, n_steps, noise_seed, self._fingerprint, trace, steps, rec
        )
