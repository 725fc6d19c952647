"""Runs a chip with changing DAC codes through the Backend interface, and counts the runs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from anamorph.models.backend import Observables, SpikeEvents, Stimulus

if TYPE_CHECKING:
    from anamorph.models.backend import Backend
    from anamorph.models.network import ChipNetwork


class ChipRunner:
    """Write DAC codes into a chip and run it: all neurons, ADC on every one.

    The chip is seen only through :class:`~anamorph.models.backend.Backend`: codes go in
    through ``configure`` (only when they changed since the last run, like writing DAC
    codes into a real chip between experiments), observables come out of ``run``.

    Parameters
    ----------
    backend : Backend
        The chip to measure (its temporal noise is the backend's: the emulator draws each
        run's noise from ``[seed, run]``).
    batch : int
        Independent copies run in parallel (their noise averages).
    """

    def __init__(self, backend: Backend, *, batch: int = 8) -> None:
        self.backend = backend
        self.batch = int(batch)
        self.dt_s = float(backend.dt_s)
        self.n_neurons = int(backend.n_neurons)
        self.max_fan_in = int(backend.max_fan_in)
        self.n_runs = 0
        self._codes: dict | None = None  # what was last written (None: nothing yet)

    def _configure(self, codes: dict) -> None:
        if self._codes is not None and all(np.array_equal(codes[p], self._codes[p]) for p in codes):
            return
        self.backend.configure(codes)
        self._codes = codes

    def run(
        self,
        codes: dict,
        duration_s: float,
        *,
        stimulus: Stimulus | None = None,
        inputs: SpikeEvents | None = None,
        weights: Sequence[np.ndarray] | ChipNetwork | None = None,
        batch: int | None = None,
    ) -> Observables:
        """Run ``duration_s`` with the given codes (dict DAC param -> int or (n,) ints; the
        parameters not given keep the codes of the previous run).

        Without ``inputs``, ``batch`` (default: the runner's) copies run with no synaptic input.
        """
        full = {
            p: np.broadcast_to(np.asarray(c, dtype=np.int64), (self.n_neurons,)).copy()
            for p, c in {**(self._codes or {}), **codes}.items()
        }
        self._configure(full)
        if inputs is None:
            inputs = SpikeEvents(np.zeros(0), np.zeros(0), np.zeros(0), batch or self.batch)
            weights = []
        self.n_runs += 1
        return self.backend.run(inputs, weights or [], duration_s, record="all", stimulus=stimulus)
