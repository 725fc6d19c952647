"""Runs one chip with changing DAC codes through the emulator, and counts the runs."""

from __future__ import annotations

import numpy as np

from anamorph.models.backend import Observables, SpikeEvents, Stimulus


class ChipRunner:
    """Configure a chip's codes and run it on the emulator: all neurons, ADC on every one.

    Like writing DAC codes into a real chip between experiments: when the emulator offers
    ``reconfigure(chip)`` the compiled network is kept and only its constants change;
    otherwise a new emulator is built for each configuration.

    Parameters
    ----------
    chip : Chip
        The chip to measure (its codes are replaced run by run).
    seed : int
        Seed of the emulator's temporal noise (the emulator derives each run's noise
        from ``[seed, run]``).
    batch : int
        Independent copies run in parallel (their noise averages).
    dt_s : float
        Emulator time step.
    emulator_options : dict, optional
        Further ChipEmulator arguments (e.g. ``noise=False`` in tests).
    """

    def __init__(self, chip, *, seed: int = 0, batch: int = 8, dt_s: float = 0.5e-6,
                 emulator_options: dict | None = None):
        from anamorph.models.chip import N_NEURONS
        from anamorph.models.emulator import ChipEmulator

        self.chip = chip
        self.seed = int(seed)
        self.batch = int(batch)
        self.dt_s = float(dt_s)
        self.n_neurons = N_NEURONS
        self.n_runs = 0
        self.options = {"noise": True, **(emulator_options or {})}
        self._emulator = ChipEmulator(chip, dt_s=self.dt_s, seed=self.seed, **self.options)
        self._codes = {p: np.asarray(c, dtype=np.int64) for p, c in chip.codes.items()}
        self.max_fan_in = self._emulator.max_fan_in
        self.adc_period_s = float(self._emulator.adc_period_s)

    def _configure(self, codes: dict) -> None:
        from anamorph.models.emulator import ChipEmulator

        if all(np.array_equal(codes[p], self._codes[p]) for p in codes):
            return
        chip = self.chip.with_codes(codes)
        if hasattr(self._emulator, "reconfigure"):
            self._emulator.reconfigure(chip)
        else:
            # A new emulator keeps counting runs so that no two runs share their noise.
            emu = ChipEmulator(chip, dt_s=self.dt_s, seed=self.seed, **self.options)
            emu.n_runs = self._emulator.n_runs
            self._emulator = emu
        self._codes = codes

    def run(self, codes: dict, duration_s: float, *, stimulus: Stimulus | None = None,
            inputs: SpikeEvents | None = None, weights=None, batch: int | None = None) -> Observables:
        """Run ``duration_s`` with the given codes (dict DAC param -> int or (n,) ints).

        Without ``inputs``, ``batch`` (default: the runner's) copies run with no synaptic input.
        """
        full = {p: np.broadcast_to(np.asarray(c, dtype=np.int64), (self.n_neurons,)).copy()
                for p, c in {**self._codes, **codes}.items()}
        self._configure(full)
        if inputs is None:
            inputs = SpikeEvents(np.zeros(0), np.zeros(0), np.zeros(0), batch or self.batch)
            weights = []
        self.n_runs += 1
        return self._emulator.run(inputs, weights or [], duration_s, record="all", stimulus=stimulus)
