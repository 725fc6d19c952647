"""Calibration: per-neuron DAC codes that bring a mismatched chip to its targets.

Measurements (:mod:`.measure`, through the chip's spikes and ADC only) are kept apart from
the search algorithms (:mod:`.algorithms`); one row per DAC parameter (:mod:`.steps`) names
both, and :func:`calibrate` (:mod:`.flow`) runs the rows on a chip's
:class:`~anamorph.models.backend.Backend` (writing codes with ``configure``, measuring with
``run``); the result (:class:`Calibration`) is cached by a hash of the chip, the
targets and the package version.

Mid-run checkpoint (:mod:`.checkpoint`). What the flow does is fixed by what its runs
measure: the searches seed their generators per row (``[seed, k]``) and the emulator
draws run ``k``'s noise from ``[seed, k]``. Every measurement runs the chip once and the
runner logs its per-neuron result (:mod:`.runner`). After a run, once
:data:`.checkpoint.EVERY_S` (2 s) have passed since the last write, :func:`calibrate`
atomically writes ``CACHE_DIR/KEY.checkpoint.npz``: that log, the run count, the DAC codes
last written into the chip and the backend's run counter ``n_runs`` (the next run's
noise-draw id) with its value at the start. ``KEY`` is the final result's cache key
(hardware, targets, settings, package version, flow revision), also stored inside, so a
different chip or configuration never resumes from it (nor a backend whose run counter
did not start where the interrupted run's did). Started again, :func:`calibrate`
replays the log (the flow retraces its searches and stages on the logged values without
running the chip), restores the codes and the run counter, and runs on: the result is
bit-identical to an uninterrupted calibration (codes, achieved values, ``n_runs``). The
codes found so far, each parameter's results and the ADC's correction (which takes no
runs) are recomputed, not stored. A checkpoint that is unreadable (truncated, corrupt), of another key, or whose
log does not fit the flow is ignored and the calibration starts over. The result file
``KEY.json`` is written atomically at the end and owns the finished result; the
checkpoint is then removed. Without the cache (``use_cache=False``) there is no
checkpoint.
"""

from __future__ import annotations

from .flow import ORDER, calibrate, calibrate_backend
from .result import Calibration
from .targets import Targets, check_targets

__all__ = ["Calibration", "ORDER", "Targets", "calibrate", "calibrate_backend", "check_targets"]
