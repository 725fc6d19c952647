"""Calibration: per-neuron DAC codes that bring a mismatched chip to its targets.

Measurements (:mod:`.measure`, through the chip's spikes and ADC only) are kept apart from
the search algorithms (:mod:`.algorithms`); one row per DAC parameter (:mod:`.steps`) names
both, and :func:`calibrate` (:mod:`.flow`) runs the rows on a chip's
:class:`~anamorph.models.backend.Backend` (writing codes with ``configure``, measuring with
``run``); the result (:class:`Calibration`) is cached by a hash of the chip, the
targets and the package version.
"""

from __future__ import annotations

from .flow import ORDER, calibrate, calibrate_backend
from .result import Calibration
from .targets import Targets, check_targets

__all__ = ["Calibration", "ORDER", "Targets", "calibrate", "calibrate_backend", "check_targets"]
