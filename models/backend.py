"""The interface between a chip (emulated or ideal) and everything that uses it.

Training and calibration see a chip only through :class:`Backend`: they hand it input
spike times and signed weight codes and get back :class:`Observables` — what a real
BrainScaleS-2 would report (spike events and ADC-sampled membrane traces). They never
read a chip's hidden (true) parameters.

Neuron numbering: a network (:class:`anamorph.models.network.ChipNetwork`) is placed on
the chip's neurons in order, population after population; a feed-forward network with
layer sizes ``(n_in, n_1, ..., n_L)`` (the short form, a list of weight-code arrays) puts
layer 1 on neurons ``0 .. n_1-1``, layer 2 on the next ``n_2`` neurons, and so on. Inputs
are not chip neurons; they enter through synapse rows (the fan-in of each neuron, at most
256).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from anamorph.errors import InputError
from anamorph.models.chip import N_NEURONS
from anamorph.models.network import ChipNetwork


@dataclass(frozen=True)
class SpikeEvents:
    """A batch of spike events as flat arrays, one entry per spike.

    Attributes
    ----------
    times_s : (n_events,) float64
        Spike times in seconds from the start of the sample.
    units : (n_events,) int64
        Input channel (for inputs) or chip neuron index (for outputs).
    samples : (n_events,) int64
        Index of the sample in the batch.
    n_samples : int
        Batch size (samples without any event still count).
    """

    times_s: np.ndarray
    units: np.ndarray
    samples: np.ndarray
    n_samples: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "times_s", np.asarray(self.times_s, dtype=np.float64))
        object.__setattr__(self, "units", np.asarray(self.units, dtype=np.int64))
        object.__setattr__(self, "samples", np.asarray(self.samples, dtype=np.int64))
        if not (self.times_s.shape == self.units.shape == self.samples.shape):
            raise ValueError("times_s, units and samples must have the same shape")

    @classmethod
    def from_latencies(cls, latencies_s: np.ndarray) -> SpikeEvents:
        """One spike per (sample, channel) at ``latencies_s[sample, channel]``; NaN or inf = none."""
        lat = np.asarray(latencies_s, dtype=np.float64)
        samples, units = np.nonzero(np.isfinite(lat))
        return cls(lat[samples, units], units, samples, lat.shape[0])

    def raster(self, n_units: int, dt_s: float, n_steps: int) -> np.ndarray:
        """Dense spike counts, shape (n_samples, n_steps, n_units); bin k is [k*dt, (k+1)*dt)."""
        out = np.zeros((self.n_samples, n_steps, n_units), dtype=np.float64)
        step = np.floor(self.times_s / dt_s + 1e-9).astype(np.int64)
        ok = (step >= 0) & (step < n_steps) & (self.units < n_units)
        np.add.at(out, (self.samples[ok], step[ok], self.units[ok]), 1.0)
        return out

    def select(self, first_unit: int, n_units: int) -> SpikeEvents:
        """The events of units ``first_unit .. first_unit+n_units-1``, renumbered from 0."""
        keep = (self.units >= first_unit) & (self.units < first_unit + n_units)
        return SpikeEvents(
            self.times_s[keep], self.units[keep] - first_unit, self.samples[keep], self.n_samples
        )

    def counts(self, n_units: int) -> np.ndarray:
        """Spike counts, shape (n_samples, n_units)."""
        out = np.zeros((self.n_samples, n_units), dtype=np.int64)
        np.add.at(out, (self.samples, self.units), 1)
        return out


@dataclass(frozen=True)
class Observables:
    """What the chip reports for one batch.

    Attributes
    ----------
    spikes : SpikeEvents
        Output spikes; ``units`` are chip neuron indices (see module docstring).
    adc_t_s : (n_t,) float64 or None
        ADC sample times in seconds (every sample period, ~1.7 µs on BrainScaleS-2).
    adc_v : (n_samples, n_t, n_recorded) float64 or None
        ADC readings of the recorded neurons' membranes, converted to volts through the
        ADC's *nominal* transfer (so per-channel offset and gain errors remain in them).
    adc_neurons : (n_recorded,) int64 or None
        The chip neurons whose membranes were recorded, in the order of ``adc_v``.
    sensors : dict[int, SensorReadings]
        For every plastic projection (by index in the network), its synapses' triplet-STDP
        correlation sensors accumulated over the run (all samples), as the plasticity
        processor reads them through the sensor ADC
        (:mod:`anamorph.models.plasticity.processor`); empty without plastic projections.
    """

    spikes: SpikeEvents
    adc_t_s: np.ndarray | None = None
    adc_v: np.ndarray | None = None
    adc_neurons: np.ndarray | None = None
    meta: dict = field(default_factory=dict)
    sensors: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Stimulus:
    """A per-neuron current step injected into the membrane (calibration's test input).

    ``i_a[n]`` amperes flow into neuron ``n`` from ``t_on_s`` to ``t_off_s``.
    """

    i_a: np.ndarray
    t_on_s: float
    t_off_s: float


@dataclass(frozen=True, eq=False)
class Teaching:
    """A per-sample, per-neuron, piecewise-constant current into the membrane.

    The nudging current of equilibrium propagation (Scellier & Bengio 2017, Front. Comput.
    Neurosci. 11:24), different for every sample: ``i_a[s, k, n]`` amperes flow into chip
    neuron ``n`` of sample ``s`` from ``t_s[k]`` to ``t_s[k+1]`` (the last value to the end
    of the run). It enters the membrane like the stimulus, ``c_mem dV/dt = ... + I_teach``.
    On the time grid a breakpoint takes effect from step ``rint(t_s[k] / dt)``.

    Attributes
    ----------
    t_s : (n_t,) float64
        Increasing breakpoints, ``t_s[0] == 0``.
    i_a : (n_samples, n_t, n_neurons_used) float64
        Currents (A), for every neuron of the network (zero where no teaching).
    """

    t_s: np.ndarray
    i_a: np.ndarray

    def validate(self, n_samples: int, n_used: int, path: str = "teaching") -> Teaching:
        """Check finiteness and shapes; return it with float64 arrays."""
        try:
            t = np.asarray(self.t_s, dtype=np.float64)
            i = np.asarray(self.i_a, dtype=np.float64)
        except (TypeError, ValueError):
            raise InputError("t_s and i_a must be numeric arrays", path) from None
        if t.ndim != 1 or t.size == 0 or not np.all(np.isfinite(t)) or t[0] != 0 or np.any(np.diff(t) <= 0):
            raise InputError("must be finite, strictly increasing breakpoints starting at 0", path, "t_s")
        if i.shape != (n_samples, t.size, n_used):
            raise InputError(
                f"must have shape (n_samples, n_t, n_neurons) = {(n_samples, t.size, n_used)}, got {i.shape}",
                path,
                "i_a",
            )
        if not np.all(np.isfinite(i)):
            raise InputError("contains NaN or infinite currents", path, "i_a")
        return Teaching(t, i)

    def per_step(self, dt_s: float, n_steps: int) -> np.ndarray:
        """The current of every step, shape (n_steps, n_samples, n_neurons_used)."""
        starts = np.rint(np.asarray(self.t_s) / dt_s).astype(np.int64)
        seg = np.searchsorted(starts, np.arange(n_steps), side="right") - 1
        return np.ascontiguousarray(np.asarray(self.i_a)[:, np.maximum(seg, 0), :].transpose(1, 0, 2))


def as_network(network: ChipNetwork | Sequence[np.ndarray], path: str = "weights") -> ChipNetwork:
    """A validated ChipNetwork from a ChipNetwork or the feed-forward short form (a list)."""
    if isinstance(network, ChipNetwork):
        return network.validate("network")
    return ChipNetwork.from_layers(list(network)).validate(path)


def validate_run(
    inputs: SpikeEvents,
    network: Sequence[np.ndarray] | ChipNetwork,
    duration_s: float,
    record: Sequence[int] | str | None,
    stimulus: Stimulus | None,
    teaching: Teaching | None,
) -> tuple[ChipNetwork, np.ndarray | None, Teaching | None]:
    """The common checks of :meth:`Backend.run`; returns (network, recorded neurons or None, teaching)."""
    if not isinstance(inputs, SpikeEvents):
        raise InputError("inputs must be a SpikeEvents", "inputs")
    if not (isinstance(duration_s, (int, float, np.floating)) and np.isfinite(duration_s) and duration_s > 0):
        raise InputError("duration_s must be a finite number > 0", "duration_s")
    if inputs.n_samples < 1:
        raise InputError("a batch needs at least one sample", "inputs", "n_samples")
    net = as_network(network)
    n_used = net.n_used
    ev_ok = inputs.times_s.size == 0 or (np.all(np.isfinite(inputs.times_s)) and inputs.times_s.min() >= 0)
    if not ev_ok:
        raise InputError("input spike times must be finite and >= 0", "inputs", "times_s")
    if inputs.units.size and (inputs.units.min() < 0 or inputs.units.max() >= net.n_inputs):
        raise InputError(f"input units must lie in 0..{net.n_inputs - 1}", "inputs", "units")
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
        if (
            rec.ndim != 1
            or rec.size == 0
            or not np.issubdtype(rec.dtype, np.integer)
            or rec.min() < 0
            or rec.max() >= n_used
        ):
            raise InputError(f"record must list chip neurons in 0..{n_used - 1}", "record")
    if stimulus is not None:
        i_a = np.asarray(stimulus.i_a, dtype=np.float64)
        if i_a.shape not in ((N_NEURONS,), (n_used,)) or not np.all(np.isfinite(i_a)):
            raise InputError(
                f"stimulus.i_a must be {N_NEURONS} (or {n_used}) finite currents", "stimulus", "i_a"
            )
        if not (np.isfinite(stimulus.t_on_s) and np.isfinite(stimulus.t_off_s)):
            raise InputError("stimulus times must be finite", "stimulus")
    if teaching is not None:
        if not isinstance(teaching, Teaching):
            raise InputError("must be a Teaching", "teaching")
        teaching = teaching.validate(inputs.n_samples, n_used)
    return net, rec, teaching


def adc_steps(n_steps: int, dt_s: float, adc_period_s: float) -> np.ndarray:
    """Steps whose starting membrane the ADC samples: ``floor(j * adc_period_s / dt_s)``."""
    n_adc = int(np.floor((n_steps * dt_s) / adc_period_s + 1e-9))
    steps = np.floor(np.arange(n_adc) * adc_period_s / dt_s + 1e-9).astype(np.int64)
    return steps[steps < n_steps]


#: Range of the per-channel digital ADC offset (integer LSBs), as BrainScaleS-2's CADC.
ADC_OFFSET_MIN, ADC_OFFSET_MAX = -128, 127


def validate_adc_offsets(offset_lsb: np.ndarray) -> np.ndarray:
    """Check per-channel digital ADC offsets: 512 integers in ADC_OFFSET_MIN..ADC_OFFSET_MAX."""
    try:
        d = np.asarray(offset_lsb, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("must be numbers", "adc", "offset_lsb") from None
    if d.shape != (N_NEURONS,) or not np.all(np.isfinite(d)) or np.any(d != np.round(d)):
        raise InputError(f"must be {N_NEURONS} integers", "adc", "offset_lsb")
    if d.min() < ADC_OFFSET_MIN or d.max() > ADC_OFFSET_MAX:
        raise InputError(f"digital offset outside {ADC_OFFSET_MIN}..{ADC_OFFSET_MAX}", "adc", "offset_lsb")
    return d.astype(np.int64)


def reference_readings(backend, v_ref_v: np.ndarray) -> np.ndarray:
    """Every ADC channel's reading of the common reference at each of ``v_ref_v`` volts.

    Shape ``(n_levels, n_neurons)``: the reference, one voltage common to all channels,
    is switched onto every channel's input (the membranes disconnected) and each channel
    converts it once through its own transfer and digital offset
    (:meth:`~anamorph.models.chip.Chip.adc`); exact volts with ``backend.ideal_adc``. The
    reference is static and carries no temporal noise.
    """
    try:
        v = np.asarray(v_ref_v, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputError("must be numbers", "adc", "v_ref_v") from None
    if v.ndim != 1 or v.size == 0 or not np.all(np.isfinite(v)):
        raise InputError("must be a non-empty list of finite voltages", "adc", "v_ref_v")
    raw = np.repeat(v[:, None], N_NEURONS, axis=1)
    if backend.ideal_adc:
        return raw
    return backend.chip.adc(raw, np.arange(N_NEURONS), backend.adc_offset_lsb)


class ReferenceADCChannels:
    """:class:`ReferenceADC` for a backend with ``chip``, ``ideal_adc`` and ``adc_offset_lsb``
    (the channels' digital offsets, zero until :meth:`configure_adc`)."""

    def configure_adc(self, offset_lsb: np.ndarray) -> None:
        """Write the ADC channels' digital offsets (:func:`validate_adc_offsets`)."""
        self.adc_offset_lsb = validate_adc_offsets(offset_lsb)

    def read_reference(self, v_ref_v: np.ndarray) -> np.ndarray:
        """Every channel's reading of the common reference (:func:`reference_readings`)."""
        return reference_readings(self, v_ref_v)


@runtime_checkable
class ReferenceADC(Protocol):
    """A chip whose ADC can be calibrated against a reference common to all its channels.

    As on BrainScaleS-2, where a capacitive-memory voltage reaches every CADC channel
    through a shared line and each channel has a digital offset (calix,
    ``calix.common.cadc``): ``read_reference(v_ref_v)`` returns every channel's reading of
    each reference voltage, shape ``(n_levels, n_neurons)`` (:func:`reference_readings`);
    ``configure_adc(offset_lsb)`` writes the channels' digital offsets
    (:func:`validate_adc_offsets`), which every later reading includes.
    """

    def configure_adc(self, offset_lsb: np.ndarray) -> None: ...

    def read_reference(self, v_ref_v: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Backend(Protocol):
    """A chip that runs spiking networks.

    ``network`` is a :class:`~anamorph.models.network.ChipNetwork` or its feed-forward
    short form, a list where ``weights[l]`` is an int array of shape ``(n_l, n_{l+1})`` of
    signed 6-bit codes in -63..63 (positive: excitatory row, negative: inhibitory row).
    ``duration_s`` is the chip time each sample runs; ``record`` lists chip neurons whose
    membranes the ADC samples (``None``: none, ``"all"``: every neuron of the network).
    ``stimulus`` is a current step shared by all samples, ``teaching`` a per-sample,
    time-varying current per neuron. ``dt_s`` is the resolution of the spike stamps: a spike
    stamped ``t`` crossed threshold within ``[t, t + dt_s]``.

    ``configure(codes)`` writes DAC codes into the chip, as between experiments on a real
    one: ``codes`` maps DAC parameters to one 10-bit code per neuron (all of
    :data:`~anamorph.models.chip.DAC_PARAMS`, or a subset replacing those given; checked by
    :func:`~anamorph.models.chip.validate_codes`); later runs use them.
    """

    n_neurons: int
    max_fan_in: int
    dt_s: float

    def configure(self, codes: dict[str, np.ndarray]) -> None: ...

    def run(
        self,
        inputs: SpikeEvents,
        weights: Sequence[np.ndarray] | ChipNetwork,
        duration_s: float,
        record: Sequence[int] | str | None = None,
        stimulus: Stimulus | None = None,
        teaching: Teaching | None = None,
    ) -> Observables: ...


def report(
    backend: Backend,
    network: ChipNetwork,
    inputs: SpikeEvents,
    spikes: SpikeEvents,
    n_steps: int,
    noise_seed: list[int],
    fingerprint: str,
    raw: np.ndarray | None = None,
    steps: np.ndarray | None = None,
    rec: np.ndarray | None = None,
) -> Observables:
    """What a chip backend reports after a run (shared by the emulator and ``ReferenceChip``).

    The spikes, the run's metadata, the sensor readings of plastic projections and, for
    recorded neurons, the membrane ``raw[sample, k, neuron]`` at ``steps[k]`` read through
    the chip's ADC (exact volts with ``backend.ideal_adc``; ``raw``, the run's own array,
    is converted in place). ``fingerprint`` is the chip's,
    computed once per configuration by the backend.
    """
    from anamorph.models.plasticity.processor import network_readings

    meta = {
        "dt_s": backend.dt_s,
        "n_steps": n_steps,
        "noise": backend.noise,
        "noise_seed": noise_seed,
        "chip_fingerprint": fingerprint,
        "n_inputs": network.n_inputs,
        "populations": [[name, n] for name, n in network.populations],
    }
    sensors = network_readings(  # plastic projections only
        backend.chip, network, inputs, spikes, every_sample=backend.read_sensors_every_sample
    )
    if rec is None:
        return Observables(spikes, meta=meta, sensors=sensors)
    offset = getattr(backend, "adc_offset_lsb", None)
    adc_v = raw if backend.ideal_adc else backend.chip.adc(raw, rec, offset, out=raw)
    return Observables(spikes, steps * backend.dt_s, adc_v, rec.astype(np.int64), meta=meta, sensors=sensors)
