"""ChipEmulator: runs a Chip with Brian2 (implements :class:`anamorph.models.backend.Backend`).

A batch of ``B`` samples runs as ``B`` independent copies of the network in one Brian2
network (one NeuronGroup of ``B x n_used`` neurons; copy ``s`` owns neurons
``s*n_used .. (s+1)*n_used-1``). Each neuron integrates the exact one-step propagator of
:mod:`anamorph.models.neuron` (generated Cython code, the same arithmetic as the numpy
reference), thresholds and resets in Brian2's own threshold and reset code, and layer-to-
layer spikes travel through Brian2 Synapses (``I_syn_post += w``).

Speed (what dominates, measured by ``bench/emulator.py``):

* The input layer does not depend on the chip's dynamics, so its synaptic events
  (``B x n_in x n_1`` synapses, the bulk of all synapses) are summed per step with one
  sparse matrix product in numpy and enter through a per-step table (``drive``) instead of
  millions of Brian2 synapses. The result is identical: each input spike adds its
  synapses' current jumps to ``I_syn`` in the step it is delivered.
* The network is built once per (batch size, layer sizes, steps) and cached (compiled
  code is shared by all sizes); a batch only writes the drive table, the synaptic
  weights and the initial state in place, and steps the network's objects directly. ``Network.run`` is used once (it
  creates the code objects); later batches skip its per-call set-up (namespace
  resolution, code-object creation and a full garbage collection, ~0.3 s per call).
* Membrane noise comes from a small counter-based generator inside the generated code
  (:mod:`anamorph.models.brian_network`), seeded per run from ``default_rng([seed, run])``
  (recorded in ``meta``); drawing 2.6 M normals per batch with numpy took as long as the
  whole network update.
* ADC samples are copied from the membrane array at the sampled steps inside the step
  loop (no StateMonitor recording every step).
* The tables are read by a small Cython function whose code does not depend on the
  network's size, so a new batch size or duration needs no new compilation.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Sequence

import numpy as np

from anamorph.errors import InputError
from anamorph.models.backend import Observables, SpikeEvents, Stimulus
from anamorph.models.chip import MAX_FAN_IN, N_NEURONS, WEIGHT_MAX, Chip
from anamorph.models.brian_network import BuiltNetwork
from anamorph.models.neuron import DEFAULT_TARGETS, NeuronParams, noise_step_scale, propagator
from anamorph.models.reference import input_drive, layer_offsets, stimulus_steps

_CACHE_SIZE = 3
_MAX_TRACE_VALUES = 400_000_000  # recorded membrane values per batch (3.2 GB) at most


class ChipEmulator:
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
    """

    n_neurons = N_NEURONS
    max_fan_in = MAX_FAN_IN

    def __init__(self, chip: Chip, *, dt_s: float = 0.5e-6, noise: bool = True, seed: int = 0,
                 adc_period_s: float = 1.7e-6, nominal: NeuronParams | None = None,
                 ideal_adc: bool = False):
        if not (np.isfinite(dt_s) and dt_s > 0) or not (np.isfinite(adc_period_s) and adc_period_s >= dt_s):
            raise InputError("dt_s must be > 0 and adc_period_s >= dt_s", "ChipEmulator", "dt_s")
        self.chip = chip
        self.dt_s = float(dt_s)
        self.noise = bool(noise)
        self.seed = int(seed)
        self.adc_period_s = float(adc_period_s)
        self.nominal = DEFAULT_TARGETS if nominal is None else nominal
        self.ideal_adc = ideal_adc
        self.n_runs = 0
        self._true = chip.true_params()
        self._fingerprint = chip.fingerprint()
        self._cache: OrderedDict = OrderedDict()

    # ----------------------------------------------------------------- validation
    def _check(self, inputs, weights, duration_s, record, stimulus):
        if not isinstance(inputs, SpikeEvents):
            raise InputError("inputs must be a SpikeEvents", "inputs")
        if not (isinstance(duration_s, (int, float, np.floating)) and np.isfinite(duration_s) and duration_s > 0):
            raise InputError("duration_s must be a finite number > 0", "duration_s")
        if inputs.n_samples < 1:
            raise InputError("a batch needs at least one sample", "inputs", "n_samples")
        ws = []
        for layer, w in enumerate(weights):
            w = np.asarray(w)
            where = f"weights[{layer}]"
            if w.ndim != 2 or w.size == 0:
                raise InputError("must be a non-empty 2-D array (n_pre, n_post)", where)
            if not np.issubdtype(w.dtype, np.number) or np.issubdtype(w.dtype, np.complexfloating):
                raise InputError("must be numeric weight codes", where)
            if not np.all(np.isfinite(w)):
                raise InputError("contains NaN or infinite values", where)
            if np.any(w != np.round(w)):
                raise InputError("weight codes must be integers", where)
            if np.abs(w).max() > WEIGHT_MAX:
                raise InputError(f"weight code outside -{WEIGHT_MAX}..{WEIGHT_MAX}", where)
            if w.shape[0] > MAX_FAN_IN:
                raise InputError(f"fan-in {w.shape[0]} exceeds the chip's {MAX_FAN_IN} synapse rows", where)
            if layer and w.shape[0] != ws[-1].shape[1]:
                raise InputError(f"has {w.shape[0]} rows but layer {layer} has {ws[-1].shape[1]} neurons", where)
            ws.append(w.astype(np.int64))
        sizes = (ws[0].shape[0],) + tuple(w.shape[1] for w in ws) if ws else (0,)
        n_used = sum(sizes[1:]) if ws else N_NEURONS
        if n_used > N_NEURONS:
            raise InputError(f"network needs {n_used} neurons, the chip has {N_NEURONS}", "weights")
        ev_ok = inputs.times_s.size == 0 or (np.all(np.isfinite(inputs.times_s)) and inputs.times_s.min() >= 0)
        if not ev_ok:
            raise InputError("input spike times must be finite and >= 0", "inputs", "times_s")
        if inputs.units.size and (inputs.units.min() < 0 or inputs.units.max() >= sizes[0]):
            raise InputError(f"input units must lie in 0..{sizes[0] - 1}", "inputs", "units")
        if inputs.samples.size and (inputs.samples.min() < 0 or inputs.samples.max() >= inputs.n_samples):
            raise InputError("input sample index out of range", "inputs", "samples")
        if record is None:
            rec = None
        elif isinstance(record, str):
            if record != "all":
                raise InputError('record must be None, "all" or a list of chip neurons', "record")
            rec = np.arange(n_used)
        else:
            rec = np.asarray(record)
            if rec.ndim != 1 or rec.size == 0 or not np.issubdtype(rec.dtype, np.integer) \
                    or rec.min() < 0 or rec.max() >= n_used:
                raise InputError(f"record must list chip neurons in 0..{n_used - 1}", "record")
        if stimulus is not None:
            i_a = np.asarray(stimulus.i_a, dtype=np.float64)
            if i_a.shape not in ((N_NEURONS,), (n_used,)) or not np.all(np.isfinite(i_a)):
                raise InputError(f"stimulus.i_a must be {N_NEURONS} (or {n_used}) finite currents", "stimulus", "i_a")
            if not (np.isfinite(stimulus.t_on_s) and np.isfinite(stimulus.t_off_s)):
                raise InputError("stimulus times must be finite", "stimulus")
        return ws, sizes, n_used, rec

    # ----------------------------------------------------------------- running
    def _built(self, batch, sizes, n_used, n_steps) -> BuiltNetwork:
        key = (batch, sizes, n_steps)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        import brian2 as b2

        b2.prefs.logging.console_log_level = "ERROR"
        built = BuiltNetwork(b2, batch, sizes, n_used, n_steps, self.dt_s, *self._constants(n_used))
        self._cache[key] = built
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return built

    def _constants(self, n_used: int):
        prop = propagator(self._true.take(slice(0, n_used)), self.dt_s, n_used)
        sig = noise_step_scale(self.chip.hidden["noise_v_rms"][:n_used], prop) if self.noise else np.zeros(n_used)
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
        for built in self._cache.values():
            built.set_params(*self._constants(built.n_used))

    def synaptic_currents(self, weights: Sequence[np.ndarray]) -> list[np.ndarray]:
        """TRUE current jump of every synapse of a network (tests and benchmarks only)."""
        offsets = layer_offsets(weights)
        return [self.chip.synapse_current_a(w, offsets[layer], self._true) for layer, w in enumerate(weights)]

    def run(self, inputs: SpikeEvents, weights: Sequence[np.ndarray], duration_s: float,
            record: Sequence[int] | str | None = None, stimulus: Stimulus | None = None) -> Observables:
        """Run a batch; see :class:`anamorph.models.backend.Backend`."""
        ws, sizes, n_used, rec = self._check(inputs, weights, duration_s, record, stimulus)
        n_steps = int(round(duration_s / self.dt_s))
        batch = inputs.n_samples
        if rec is not None and batch * len(rec) * n_steps * self.dt_s / self.adc_period_s > _MAX_TRACE_VALUES:
            raise InputError("recording all neurons of this batch would exceed memory; use a smaller "
                             "batch, fewer recorded neurons or a shorter run", "record")
        net = self._built(batch, sizes, n_used, n_steps)
        currents = self.synaptic_currents(ws)
        drive = net.drive.reshape(n_steps, batch, n_used)
        if ws:
            drive[:, :, :sizes[1]] = input_drive(inputs, currents[0], self.dt_s, n_steps)
        for w_var, cur in zip(net.w, currents[1:]):
            w_var[:] = np.tile(cur.ravel(), batch)
        noise_seed = [self.seed, self.n_runs]
        net.noise_key[0] = np.random.default_rng(noise_seed).integers(0, 2**63, dtype=np.uint64)
        i_stim = np.zeros(n_used) if stimulus is None else np.asarray(stimulus.i_a, dtype=np.float64)[:n_used]
        net.vars["i_stim"][:] = np.tile(i_stim, batch)
        k_on, k_off = stimulus_steps(stimulus, self.dt_s)   # compared half a step early: exact
        net.t_on[:] = (k_on - 0.5) * self.dt_s
        net.t_off[:] = (k_off - 0.5) * self.dt_s
        adc_steps = None
        if rec is not None:
            n_adc = int(np.floor((n_steps * self.dt_s) / self.adc_period_s + 1e-9))
            adc_steps = np.floor(np.arange(n_adc) * self.adc_period_s / self.dt_s + 1e-9).astype(np.int64)
            adc_steps = adc_steps[adc_steps < n_steps]
        trace = net.run(adc_steps, rec)
        self.n_runs += 1
        sm = net.spikes
        idx = np.asarray(sm.variables["i"].get_value(), dtype=np.int64)
        t_s = np.asarray(sm.variables["t"].get_value(), dtype=np.float64)
        order = np.lexsort((idx, t_s))
        idx, t_s = idx[order], t_s[order]
        spikes = SpikeEvents(t_s, idx % n_used, idx // n_used, batch)
        meta = {"dt_s": self.dt_s, "n_steps": n_steps, "noise": self.noise, "noise_seed": noise_seed,
                "chip_fingerprint": self._fingerprint, "layer_sizes": list(sizes)}
        if rec is None:
            return Observables(spikes, meta=meta)
        raw = np.ascontiguousarray(trace.transpose(1, 0, 2))
        adc_v = raw if self.ideal_adc else self.chip.adc(raw, rec)
        return Observables(spikes, adc_steps * self.dt_s, adc_v, rec.astype(np.int64), meta=meta)
