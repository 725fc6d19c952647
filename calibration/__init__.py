"""Calibration: per-neuron DAC codes that bring a mismatched chip to its targets.

Measurements (:mod:`.measure`, through the chip's spikes and ADC only) are kept apart from
the search algorithms (:mod:`.algorithms`); :func:`calibrate` (:mod:`.flow`) joins them, and
the result (:class:`Calibration`) is cached by a hash of the chip, the targets and the
package version.
"""

from .flow import ORDER, calibrate
from .result import Calibration
from .targets import Targets, check_targets

__all__ = ["Calibration", "ORDER", "Targets", "calibrate", "check_targets"]
