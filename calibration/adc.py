"""The ADC calibrated against a reference common to all its channels (the flow's first row).

Every potential the calibration sets is read through the neuron's own ADC channel, whose
reading is ``r = g_n V + o_n`` (gain and offset mismatch, ~1 % and ~5 mV), quantised to
the ADC's levels. Calibrated through uncorrected channels, the neurons would agree in what
their channels report and keep the channels' errors in their true potentials. As on
BrainScaleS-2 (calix, ``calix.common.cadc``), the ADC is calibrated first, against one
reference voltage switched onto every channel
(:class:`~anamorph.models.backend.ReferenceADC`), then the neurons through it:

1. *measure*: every channel reads each code of the reference DAC inside the ADC's range
   (:meth:`ReferenceADC.read_reference`, ``(n_levels, n)`` readings);
2. *search*: a least-squares line through each channel's unsaturated readings
   (:func:`.algorithms.affine_fit`) gives ``o_n`` and ``g_n``; the channels' digital offsets
   are set so that all read mid-range alike to within half an LSB
   (:func:`.algorithms.aligning_offsets`, as calix's ``ChannelOffsetCalib``); the sweep is
   measured and fitted again with them;
3. every later reading is mapped back to volts, ``V = (r - o_n) / g_n``
   (:class:`CorrectedADC`), so that the potentials are calibrated in the reference's volts,
   common to all neurons.

The reference's codes are ~1.2 mV apart, incommensurate with the ADC's 3.1 mV levels: the
quantisation errors of one channel's ~680 readings average out in its line, which places
``o_n + g_n V`` to ~0.01 mV (rms over the channels) at the potentials' operating point.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from anamorph.models.backend import ADC_OFFSET_MAX, ADC_OFFSET_MIN

from .algorithms import affine_fit, aligning_offsets

if TYPE_CHECKING:
    from anamorph.models.backend import Backend, Observables, ReferenceADC
    from anamorph.models.process_model import ProcessModel

    from .steps import ReferenceFit


@dataclass(frozen=True)
class ADCCorrection:
    """Each ADC channel's transfer, ``reading = offset_v + gain * V`` (digital offset included).

    Attributes
    ----------
    offset_v, gain : (n,) float64
        Intercept (V) and slope of each channel's reading against the reference's volts.
    digital_offset_lsb : (n,) int64
        The digital offsets written into the channels.
    n_levels : int
        Reference voltages in each sweep.
    """

    offset_v: np.ndarray
    gain: np.ndarray
    digital_offset_lsb: np.ndarray
    n_levels: int

    def reading(self, v_v: np.ndarray | float, neurons: np.ndarray | None = None) -> np.ndarray:
        """What the channels of ``neurons`` (default all, on the last axis) read for ``v_v``."""
        sel = slice(None) if neurons is None else neurons
        return self.offset_v[sel] + self.gain[sel] * np.asarray(v_v, dtype=np.float64)

    def volts(self, reading: np.ndarray, neurons: np.ndarray | None = None) -> np.ndarray:
        """The reference volts of readings ``reading[..., k]`` of channel ``neurons[k]``."""
        sel = slice(None) if neurons is None else neurons
        return (np.asarray(reading, dtype=np.float64) - self.offset_v[sel]) / self.gain[sel]

    def summary(self) -> dict:
        """JSON-ready record of the ADC's calibration (for :attr:`Calibration.settings`)."""
        return {
            "reference_levels": int(self.n_levels),
            "digital_offset_lsb": [int(d) for d in self.digital_offset_lsb],
        }


def reference_levels(fit: ReferenceFit, process: ProcessModel) -> np.ndarray:
    """The reference DAC's voltages inside the ADC's range, ``k v_max / (2^bits - 1)``."""
    a = process.data["adc"]
    v = np.arange(2**fit.bits) * fit.v_max_v / (2**fit.bits - 1)
    return v[(v >= a["v_lo"]) & (v <= a["v_hi"])]


def fit_channels(
    v_ref_v: np.ndarray, readings: np.ndarray, process: ProcessModel
) -> tuple[np.ndarray, np.ndarray]:
    """(offset_v, gain) of every channel from its readings of the reference sweep.

    Readings at the ADC's lowest or highest level are saturated and left out; a channel
    without a usable line keeps the nominal transfer (offset 0, gain 1).
    """
    a = process.data["adc"]
    lsb = (a["v_hi"] - a["v_lo"]) / (2 ** int(a["bits"]) - 1)
    inside = (readings > a["v_lo"] + 0.5 * lsb) & (readings < a["v_hi"] - 0.5 * lsb)
    offset, gain = affine_fit(v_ref_v, readings, inside)
    ok = np.isfinite(offset) & np.isfinite(gain) & (gain > 0)
    return np.where(ok, offset, 0.0), np.where(ok, gain, 1.0)


def calibrate_adc(backend: ReferenceADC, fit: ReferenceFit, process: ProcessModel) -> ADCCorrection:
    """Fit every channel against the common reference and set its digital offset (module doc)."""
    a = process.data["adc"]
    lsb = (a["v_hi"] - a["v_lo"]) / (2 ** int(a["bits"]) - 1)
    v = reference_levels(fit, process)
    n = np.asarray(backend.read_reference(v[:1])).shape[1]
    backend.configure_adc(np.zeros(n, dtype=np.int64))
    offset, gain = fit_channels(v, backend.read_reference(v), process)
    mid = 0.5 * (a["v_lo"] + a["v_hi"])
    digital = aligning_offsets(offset + gain * mid, lsb, ADC_OFFSET_MIN, ADC_OFFSET_MAX)
    backend.configure_adc(digital)
    offset, gain = fit_channels(v, backend.read_reference(v), process)
    return ADCCorrection(offset, gain, digital, int(v.size))


class CorrectedADC:
    """A Backend whose ADC readings are mapped to reference volts by ``correction``.

    Forwards the :class:`~anamorph.models.backend.Backend` protocol to ``backend``; while
    ``correction`` is None the readings pass unchanged.
    """

    def __init__(self, backend: Backend, correction: ADCCorrection | None = None) -> None:
        self.backend = backend
        self.correction = correction

    n_neurons = property(lambda self: self.backend.n_neurons)
    max_fan_in = property(lambda self: self.backend.max_fan_in)
    dt_s = property(lambda self: self.backend.dt_s)

    def configure(self, codes: dict[str, np.ndarray]) -> None:
        self.backend.configure(codes)

    def run(self, *args, **kwargs) -> Observables:
        obs = self.backend.run(*args, **kwargs)
        if self.correction is None or obs.adc_v is None:
            return obs
        return replace(obs, adc_v=self.correction.volts(obs.adc_v, obs.adc_neurons))
