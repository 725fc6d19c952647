"""The interface between a chip (emulated or ideal) and everything that uses it.

Training and calibration see a chip only through :class:`Backend`: they hand it input
spike times and signed weight codes and get back :class:`Observables` — what a real
BrainScaleS-2 would report (spike events and ADC-sampled membrane traces). They never
read a chip's hidden (true) parameters.

Neuron numbering: a feed-forward network with layer sizes ``(n_in, n_1, ..., n_L)`` is
placed on the chip's neurons in order: layer 1 on neurons ``0 .. n_1-1``, layer 2 on the
next ``n_2`` neurons, and so on. Inputs are not chip neurons; they enter through synapse
rows (the fan-in of each neuron, at most 256).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, Sequence, runtime_checkable

import numpy as np


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

    def __post_init__(self):
        object.__setattr__(self, "times_s", np.asarray(self.times_s, dtype=np.float64))
        object.__setattr__(self, "units", np.asarray(self.units, dtype=np.int64))
        object.__setattr__(self, "samples", np.asarray(self.samples, dtype=np.int64))
        if not (self.times_s.shape == self.units.shape == self.samples.shape):
            raise ValueError("times_s, units and samples must have the same shape")

    @classmethod
    def from_latencies(cls, latencies_s: np.ndarray) -> "SpikeEvents":
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

    def select(self, first_unit: int, n_units: int) -> "SpikeEvents":
        """The events of units ``first_unit .. first_unit+n_units-1``, renumbered from 0."""
        keep = (self.units >= first_unit) & (self.units < first_unit + n_units)
        return SpikeEvents(self.times_s[keep], self.units[keep] - first_unit, self.samples[keep], self.n_samples)

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
    """

    spikes: SpikeEvents
    adc_t_s: np.ndarray | None = None
    adc_v: np.ndarray | None = None
    adc_neurons: np.ndarray | None = None
    meta: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Stimulus:
    """A per-neuron current step injected into the membrane (calibration's test input).

    ``i_a[n]`` amperes flow into neuron ``n`` from ``t_on_s`` to ``t_off_s``.
    """

    i_a: np.ndarray
    t_on_s: float
    t_off_s: float


@runtime_checkable
class Backend(Protocol):
    """A chip that runs feed-forward spiking networks.

    ``weights[l]`` is an int array of shape ``(n_l, n_{l+1})`` of signed 6-bit codes in
    -63..63 (positive: excitatory row, negative: inhibitory row). ``duration_s`` is the
    chip time each sample runs; ``record`` lists chip neurons whose membranes the ADC
    samples (``None``: none, ``"all"``: every neuron of the network). ``dt_s`` is the
    resolution of the spike stamps: a spike stamped ``t`` crossed threshold within
    ``[t, t + dt_s]``.
    """

    n_neurons: int
    max_fan_in: int
    dt_s: float

    def run(self, inputs: SpikeEvents, weights: Sequence[np.ndarray], duration_s: float,
            record: Sequence[int] | str | None = None,
            stimulus: Stimulus | None = None) -> Observables: ...
