"""The forward pass on the chip: what replaces the software model's values in the loop.

Cramer et al. 2022: each batch runs on the chip; its spikes and its ADC-sampled membrane
traces replace the software model's S[t] and V[t] in the backward pass. Here the chip is
any :class:`~anamorph.models.backend.Backend` (the Brian2 emulator); the traces are mapped
to the model's dimensionless scale with the chip's *nominal* parameters
(:func:`anamorph.training.mapping.membrane_to_model`) and linearly interpolated from the
ADC's sample times onto the model's time grid ``t_k = k dt``; spikes are binned to that
grid. The readout neurons are configured as non-spiking leaky integrators (threshold DAC
at the top of its range), as on BrainScaleS-2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.training.mapping import membrane_to_model, to_codes
from anamorph.training.snn import Traces


def readout_as_integrators(chip, process, first: int, n: int):
    """``chip`` with the threshold DAC of neurons ``first .. first+n-1`` at its highest voltage."""
    ends = np.asarray(process.dac_nominal("v_th", np.array([0, 1023])), dtype=np.float64)
    top = 1023 if ends[1] >= ends[0] else 0
    v_th = np.array(chip.codes["v_th"], dtype=np.int64)
    v_th[first:first + n] = top
    return chip.with_codes({"v_th": v_th})


def interpolate_traces(adc_t_s: np.ndarray, adc_v: np.ndarray, dt_s: float, n_steps: int) -> np.ndarray:
    """Linear interpolation of (B, n_t, n) traces sampled at ``adc_t_s`` onto ``k dt``, k < n_steps."""
    t = np.arange(n_steps) * dt_s
    if len(adc_t_s) < 2:
        return np.repeat(adc_v[:, :1], n_steps, axis=1)
    j = np.clip(np.searchsorted(adc_t_s, t, side="right") - 1, 0, len(adc_t_s) - 2)
    frac = np.clip((t - adc_t_s[j]) / (adc_t_s[j + 1] - adc_t_s[j]), 0.0, 1.0)[None, :, None]
    return adc_v[:, j] * (1.0 - frac) + adc_v[:, j + 1] * frac


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
    """

    backend: object
    nominal: object
    scale: float
    dt_s: float
    n_steps: int

    def run(self, inputs, weights: list[np.ndarray], run_id: int | None = None):
        """Run one batch; returns (Traces, Observables).

        ``inputs`` are the batch's input :class:`SpikeEvents`; ``weights`` the float
        weights in effect (written as codes). Spikes of layer l are the chip's events of
        that layer's neurons; V of every layer is the interpolated ADC trace. ``run_id``
        fixes the chip's noise draw (the emulator's run ``k`` uses rng([seed, k])), so a
        resumed run sees the same noise as an uninterrupted one.
        """
        if run_id is not None and hasattr(self.backend, "n_runs"):
            self.backend.n_runs = int(run_id)
        codes = [to_codes(w, self.scale) for w in weights]
        duration_s = self.n_steps * self.dt_s
        obs = self.backend.run(inputs, codes, duration_s, record="all")
        v_all = interpolate_traces(obs.adc_t_s, membrane_to_model(obs.adc_v, self.nominal),
                                   self.dt_s, self.n_steps)
        pos = {int(n): k for k, n in enumerate(obs.adc_neurons)}
        vs, ss = [], []
        first = 0
        for l, w in enumerate(weights):
            n = w.shape[1]
            cols = [pos[first + k] for k in range(n)]
            vs.append(np.ascontiguousarray(v_all[:, :, cols]))
            if l == len(weights) - 1:
                ss.append(np.zeros_like(vs[-1]))
            else:
                ss.append(obs.spikes.select(first, n).raster(n, self.dt_s, self.n_steps))
            first += n
        return Traces(vs, ss), obs
