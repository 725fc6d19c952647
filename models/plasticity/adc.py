"""The ADC through which the plasticity processor reads the correlation sensors.

Like BrainScaleS-2's column-parallel ADC (CADC): every synapse column (target neuron) has
one channel per sensor type, each with its own offset. A sensor value ``a`` (in the
sensors' own unit, a weight change) reads as

    code = clip(rint(a / lsb + offset_lsb[column]), 0, 2^bits - 1),   lsb = full_scale / (2^bits - 1)

and the processor sees ``code * lsb`` (the nominal conversion: the offsets stay in the
readings, as on the chip before a calibration of the CADC).

Defaults (:data:`SENSOR_ADC`): 8 bit over 0 .. 1.0 (lsb 1/255 = 0.0039; sixty
pre-post pairings at +10 ms of the hippocampal rule accumulate about 0.25, a
post-pre-post protocol about 0.5), column offsets with 1 LSB standard deviation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SensorADC:
    """Resolution, full-scale value (sensor units) and per-column offset spread (LSB)."""

    bits: int = 8
    full_scale: float = 1.0
    offset_sd_lsb: float = 1.0

    @property
    def levels(self) -> int:
        return 2 ** int(self.bits) - 1

    @property
    def lsb(self) -> float:
        return float(self.full_scale) / self.levels

    def codes(self, values: np.ndarray, offset_lsb: np.ndarray | float = 0.0) -> np.ndarray:
        """Integer codes of sensor ``values`` (..., n_target) with column offsets ``offset_lsb``."""
        code = np.rint(np.asarray(values, dtype=np.float64) / self.lsb + offset_lsb)
        return np.clip(code, 0, self.levels).astype(np.int64)


SENSOR_ADC = SensorADC()
