"""The forward pass on the chip: what replaces the software model's values in the loop.

Cramer et al. 2022: each batch runs on the chip; its spikes and its ADC-sampled membrane
traces replace the software model's S[t] and V[t] in the backward pass. Here the chip is
any :class:`~anamorph.models.backend.Backend` (the Brian2 emulator); the traces are mapped
to the model's dimensionless scale with the chip's *nominal* parameters
(:func:`anamorph.training.mapping.membrane_to_model`) and brought from the ADC's sample
times (every 1.7 µs) onto the model's time grid ``t_k = k dt``: the readout by linear
interpolation, hidden layers by linear interpolation too or by *assimilation* -- the model
driven by the chip's own input and output spikes, shifted to pass through every ADC
sample -- because a linear interpolation misses the approach to threshold that the
surrogate gradient is made of (Yin-Yang in the loop, seed 0: 94.8 % interpolated, 95.3 %
assimilated; on digits no clear difference over three seeds). Spikes are binned to the
grid: a chip spike is placed on the first grid step at which the membrane has crossed
(the model's ``S[k] = H(V[k] - 1)``); the emulator stamps a spike with the start of the
step ``[t, t + dt_chip]`` in which it crossed, so its model step is ``ceil((t + dt_chip)/dt)``.
The readout neurons are configured as non-spiking leaky integrators (threshold DAC at the
top of its range), as on BrainScaleS-2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.models.backend import SpikeEvents
from anamorph.training.kernels import driven_membrane_loop, lerp_rows
from anamorph.training.mapping import membrane_to_model, to_codes
from anamorph.training.snn import NetParams, Traces, free_mask


def readout_as_integrators(codes: dict, process_model, first: int, n: int) -> dict:
    """DAC ``codes`` with the threshold of neurons ``first .. first+n-1`` at its highest voltage."""
    v_th = np.array(codes["v_th"], dtype=np.int64)
    v_th[first : first + n] = process_model.code_at_extreme("v_th", high=True)
    return {**codes, "v_th": v_th}


def interpolate_traces(adc_t_s: np.ndarray, adc_v: np.ndarray, dt_s: float, n_steps: int) -> np.ndarray:
    """Linear interpolation of (B, n_t, n) traces sampled at ``adc_t_s`` onto ``k dt``, k < n_steps."""
    t = np.arange(n_steps) * dt_s
    if len(adc_t_s) < 2:
        return np.repeat(adc_v[:, :1], n_steps, axis=1)
    j = np.clip(np.searchsorted(adc_t_s, t, side="right") - 1, 0, len(adc_t_s) - 2)
    frac = np.clip((t - adc_t_s[j]) / (adc_t_s[j + 1] - adc_t_s[j]), 0.0, 1.0)
    return lerp_rows(np.ascontiguousarray(adc_v, dtype=np.float64), j, frac)


def spikes_on_grid(events: SpikeEvents, chip_dt_s: float, dt_s: float) -> SpikeEvents:
    """``events`` moved to the model step at which each crossing has happened (see above)."""
    k = np.ceil((events.times_s + chip_dt_s) / dt_s - 1e-9)
    return SpikeEvents(k * dt_s, events.units, events.samples, events.n_samples)


def driven_membrane(s_in: np.ndarray, s_own: np.ndarray, w: np.ndarray, p: NetParams) -> np.ndarray:
    """V[t] of one layer of the software model driven by observed spikes, (B, T, n).

    The model's equations (:mod:`.snn`) with the layer's input spikes ``s_in`` and with its
    resets and clamps at its own observed spikes ``s_own`` instead of at threshold crossings.
    """
    drive = (s_in.reshape(-1, s_in.shape[2]) @ w).reshape(*s_in.shape[:2], w.shape[1])
    return driven_membrane_loop(drive, s_own, free_mask(s_own, p), p.decay_m, p.decay_s)


def assimilate(v_model: np.ndarray, adc_t_s: np.ndarray, adc_v: np.ndarray, dt_s: float) -> np.ndarray:
    """The model's trace corrected to pass through the ADC samples.

    The residual ``adc - v_model`` at the sample times is interpolated linearly onto the
    grid and added: at the samples the result is what the chip reported, between them the
    model supplies what the ADC's period misses (the approach to threshold before a spike).
    """
    x = adc_t_s / dt_s
    j = np.clip(np.floor(x).astype(np.int64), 0, v_model.shape[1] - 2)
    at_samples = lerp_rows(v_model, j, np.clip(x - j, 0.0, 1.0))
    return v_model + interpolate_traces(adc_t_s, adc_v - at_samples, dt_s, v_model.shape[1])


@dataclass
class ChipForward:
    """Runs a network of float weights on a chip and returns :class:`Traces` in model units.

    Attributes
    ----------
    backend : Backend
        The chip (e.g. :class:`anamorph.models.emulator.ChipEmulator`).
    nominal : NeuronParams
        The chip's nominal parameters (DEFAULT_TARGETS or the calibration targets).
    scale : float
        Weight codes per unit of software weight (:func:`mapping.codes_per_unit`).
    dt_s : float
        The software model's time step; ``n_steps`` steps make one sample.
    tables : (array, array), optional
        Nominal weight transfers (excitatory, inhibitory) used to choose codes.
    model : NetParams, optional
        Given: hidden membranes are assimilated (:func:`driven_membrane`,
        :func:`assimilate`); None: the ADC samples interpolated linearly.
    """

    backend: object
    nominal: object
    scale: float
    dt_s: float
    n_steps: int
    tables: tuple | None = None
    model: NetParams | None = None

    def run(self, inputs, weights: list[np.ndarray], run_id: int | None = None, hidden_v: bool = True):
        """Run one batch; returns (Traces, Observables).

        ``inputs`` are the batch's input :class:`SpikeEvents`; ``weights`` the float
        weights in effect (written as codes). Spikes of layer l are the chip's events of
        that layer's neurons; V of every layer comes from its ADC trace (above). ``run_id``
        fixes the chip's noise draw (the emulator's run ``k`` uses rng([seed, k])), so a
        resumed run sees the same noise as an uninterrupted one. ``hidden_v=False`` (an
        evaluation: only the readout's trace and the spikes are used) records only the
        readout's membranes and leaves the hidden layers' V as None.
        """
        if run_id is not None and hasattr(self.backend, "n_runs"):
            self.backend.n_runs = int(run_id)
        codes = [to_codes(w, self.scale, self.tables) for w in weights]
        duration_s = self.n_steps * self.dt_s
        n_out = weights[-1].shape[1]
        first_out = sum(w.shape[1] for w in weights[:-1])
        record = "all" if hidden_v else np.arange(first_out, first_out + n_out)
        obs = self.backend.run(inputs, codes, duration_s, record=record)
        adc = membrane_to_model(obs.adc_v, self.nominal)
        pos = {int(n): k for k, n in enumerate(obs.adc_neurons)}
        vs, ss = [], []
        first = 0
        s_in = (
            inputs.raster(weights[0].shape[0], self.dt_s, self.n_steps) if self.model and hidden_v else None
        )
        for l, w in enumerate(weights):
            n = w.shape[1]
            last = l == len(weights) - 1
            layer_adc = adc[:, :, [pos[first + k] for k in range(n)]] if hidden_v or last else None
            if last:
                vs.append(interpolate_traces(obs.adc_t_s, layer_adc, self.dt_s, self.n_steps))
                ss.append(np.zeros_like(vs[-1]))
            else:
                events = spikes_on_grid(obs.spikes.select(first, n), self.backend.dt_s, self.dt_s)
                ss.append(events.raster(n, self.dt_s, self.n_steps))
                if not hidden_v:
                    vs.append(None)
                elif self.model is None:
                    vs.append(interpolate_traces(obs.adc_t_s, layer_adc, self.dt_s, self.n_steps))
                else:
                    vs.append(
                        assimilate(
                            driven_membrane(s_in, ss[-1], w, self.model), obs.adc_t_s, layer_adc, self.dt_s
                        )
                    )
                    s_in = ss[-1]
            first += n
        return Traces(vs, ss), obs
