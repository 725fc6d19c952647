"""Runs a chip with changing DAC codes through the Backend interface, counts and logs the runs.

Every measurement that runs the chip is one run (:func:`one_run`); the runner logs what
each returned (the checkpoint saves the log, :mod:`.checkpoint`) and, resuming an
interrupted calibration, replays the log: the measurements return their logged values
without running the chip, so the flow retraces its steps to where it was cut off, bit for
bit, and runs on from there.
"""

from __future__ import annotations

import functools
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np

from anamorph.models.backend import Observables, SpikeEvents, Stimulus

if TYPE_CHECKING:
    from anamorph.models.backend import Backend
    from anamorph.models.network import ChipNetwork


class ReplayMismatch(RuntimeError):
    """A replayed log does not fit the measurements the flow asks for (another flow wrote it)."""


def _copy(out):
    return tuple(np.array(a) for a in out) if isinstance(out, tuple) else np.array(out)


def one_run(method: Callable) -> Callable:
    """Mark a measurement method (of an object with a ``runner``) that runs the chip exactly
    once: its result is logged (:meth:`ChipRunner.logged`) and replayed on resume."""

    @functools.wraps(method)
    def run_once(self, *args, **kwargs):
        return self.runner.logged(method.__name__, lambda: method(self, *args, **kwargs))

    return run_once


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
        #: (measurement, what it returned) of every run so far, in order
        self.log: list[tuple[str, np.ndarray | tuple]] = []
        #: called after every new (not replayed) run, e.g. to write a checkpoint
        self.on_run: Callable[[], None] | None = None
        self._replay: deque = deque()
        self._then: Callable[[], None] | None = None

    @property
    def replaying(self) -> bool:
        """True while logged results remain to be replayed."""
        return bool(self._replay)

    def replay(self, log: Sequence[tuple[str, np.ndarray | tuple]], then: Callable[[], None]) -> None:
        """Answer the next ``len(log)`` measurements from ``log`` (an interrupted calibration's
        :attr:`log`) instead of running the chip; call ``then()`` after the last (to put the
        runner and the backend where the interrupted run left them)."""
        self._replay = deque(log)
        self._then = then
        if not self._replay:
            then()

    def logged(self, name: str, measure: Callable[[], np.ndarray | tuple]) -> np.ndarray | tuple:
        """``measure()`` (one run of measurement ``name``), or its logged result while replaying.

        Raises
        ------
        ReplayMismatch
            The replayed log names another measurement here.
        """
        if self._replay:
            was, out = self._replay.popleft()
            if was != name:
                raise ReplayMismatch(f"the log has {was!r} where the flow measures {name!r}")
            self.n_runs += 1
            self.log.append((name, _copy(out)))
            if not self._replay:
                self._then()
            return out
        n = self.n_runs
        out = measure()
        if self.n_runs != n + 1:
            raise RuntimeError(f"measurement {name!r} ran the chip {self.n_runs - n} times, not once")
        self.log.append((name, _copy(out)))  # a copy: later in-place changes must not reach the log
        if self.on_run is not None:
            self.on_run()
        return out

    def state(self) -> dict:
        """The runs so far and the codes last written (for a checkpoint; :meth:`restore`)."""
        return {"n_runs": self.n_runs, "codes": self._codes}

    def restore(self, state: dict) -> None:
        """Continue from :meth:`state`: the run count, and its codes written into the backend
        (a backend built anew holds the chip's own codes)."""
        self.n_runs = int(state["n_runs"])
        self._codes = None
        if state["codes"] is not None:
            self._configure({p: np.asarray(c, dtype=np.int64) for p, c in state["codes"].items()})

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
        if self._replay:
            raise ReplayMismatch("a run outside a logged measurement (one_run) while replaying")
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
