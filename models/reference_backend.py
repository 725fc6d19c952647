"""ReferenceChip: the numpy reference as a second Backend for one Chip.

Runs :func:`anamorph.models.reference.simulate_reference` with a chip's TRUE parameters
and its per-synapse gains (rows as laid out by :class:`~anamorph.models.network.ChipNetwork`),
and reports what the emulator reports: spike events stamped with the start of their step,
and the membranes sampled by the ADC every ``adc_period_s`` and converted through the
chip's ADC (:meth:`anamorph.models.chip.Chip.adc`). With noise off it gives the same
spikes as :class:`~anamorph.models.emulator.ChipEmulator`; with noise on, the noise is
drawn from ``default_rng([seed, run])`` with numpy (the same statistics, other numbers).
Slower than the emulator (a Python loop over steps); meant as an independent check.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

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
from anamorph.models.chip import MAX_FAN_IN, N_NEURONS, Chip
from anamorph.models.network import ChipNetwork, projection_currents
from anamorph.models.reference import simulate_reference


class ReferenceChip(ReferenceADCChannels):
    """A :class:`~anamorph.models.backend.Backend` integrating a Chip with numpy.

    Parameters
    ----------
    chip : Chip
    dt_s : float
        Integration step (s); spike stamps are quantised to it.
    noise : bool
        Temporal membrane noise of the chip (``hidden['noise_v_rms']``) on or off.
    seed : int
        Run ``k`` draws its noise from ``default_rng([seed, k])``.
    adc_period_s : float
        ADC sample period (a sample at ``j * adc_period_s`` reads the membrane at the start
        of step ``floor(j * adc_period_s / dt_s)``).
    ideal_adc : bool
        Return exact membrane voltages instead of ADC readings (tests only).
    read_sensors_every_sample : bool
        Sensors read after every sample and summed (as :class:`ChipEmulator`).
    """

    n_neurons = N_NEURONS
    max_fan_in = MAX_FAN_IN

    def __init__(
        self,
        chip: Chip,
        *,
        dt_s: float = 0.5e-6,
        noise: bool = False,
        seed: int = 0,
        adc_period_s: float = 1.7e-6,
        ideal_adc: bool = False,
        read_sensors_every_sample: bool = False,
    ) -> None:
        if not (np.isfinite(dt_s) and dt_s > 0) or not (np.isfinite(adc_period_s) and adc_period_s >= dt_s):
            raise InputError("dt_s must be > 0 and adc_period_s >= dt_s", "ReferenceChip", "dt_s")
        self.dt_s = float(dt_s)
        self.noise = bool(noise)
        self.seed = int(seed)
        self.adc_period_s = float(adc_period_s)
        self.ideal_adc = bool(ideal_adc)
        self.read_sensors_every_sample = bool(read_sensors_every_sample)
        self.n_runs = 0
        self.adc_offset_lsb = np.zeros(N_NEURONS, dtype=np.int64)  # digital ADC offsets
        self.reconfigure(chip)

    def reconfigure(self, chip: Chip) -> None:
        """Run ``chip`` (typically with new DAC codes) from now on; the run counter continues."""
        self.chip = chip
        self._true = chip.true_params()
        self._fingerprint = chip.fingerprint()

    def configure(self, codes: dict[str, np.ndarray]) -> None:
        """Write DAC codes (see :class:`~anamorph.models.backend.Backend`): :meth:`reconfigure`
        with ``self.chip.with_codes(codes)`` (validated by ``validate_codes``)."""
        self.reconfigure(self.chip.with_codes(codes))

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
        currents = projection_currents(self.chip, network, self._true)
        as_amperes = replace(
            network, projections=tuple(replace(p, codes=c) for p, c in zip(network.projections, currents))
        )
        noise_seed = [self.seed, self.n_runs]
        noise = self.chip.hidden["noise_v_rms"][:n_used] if self.noise else 0.0
        n_steps = int(round(duration_s / self.dt_s))
        steps = None if rec is None else adc_steps(n_steps, self.dt_s, self.adc_period_s)
        obs = simulate_reference(
            self._true.take(slice(0, n_used)),
            inputs,
            as_amperes,
            duration_s,
            self.dt_s,
            record=rec,
            stimulus=stimulus,
            teaching=teaching,
            noise_v_rms=noise,
            seed=noise_seed,
            weights_in_amperes=True,
        )
        self.n_runs += 1
        raw = None if rec is None else np.ascontiguousarray(obs.adc_v[:, steps, :])
        return report(
            self, network, inputs, obs.spikes, n_steps, noise_seed, self._fingerprint, raw, steps, rec
        )
