r"""Learning rules for the plasticity step (:mod:`anamorph.models.plasticity.processor`).

:class:`TripletSTDP` is plain triplet STDP (Pfister & Gerstner, J. Neurosci. 26(38), 2006)
on the chip's 6-bit weights: with the sensor readings :math:`a^\pm` of a run,

.. math::

    \Delta c = \eta\, m\, (a^+ - a^-), \qquad
    c' = \mathrm{clip}(c + \lfloor \Delta c + u \rfloor, -63, 63), \quad u \sim U[0, 1),

where :math:`\eta` converts a weight change into codes and the modulator :math:`m`
(default 1) scales it (a reward turns it into a three-factor rule). Stochastic rounding
keeps the expected code change equal to :math:`\Delta c` however small it is. The
rule acts on the signed code: potentiation moves an inhibitory synapse (negative code)
towards zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anamorph.models.chip import WEIGHT_MAX

if TYPE_CHECKING:
    from anamorph.models.plasticity.processor import SensorReadings


class TripletSTDP:
    """``rule(readings, codes, modulator)``: stochastically rounded ``eta m (a+ - a-)``.

    Parameters
    ----------
    eta_codes : float
        Codes per unit weight change (63: a weight change of 1 spans the full code range).
    seed : int
        The rounding draws come from ``default_rng([seed, 3])``, advancing with every call.
    """

    def __init__(self, eta_codes: float = 63.0, seed: int = 0) -> None:
        if not np.isfinite(eta_codes):
            raise ValueError("eta_codes must be finite")
        self.eta_codes = float(eta_codes)
        self.seed = int(seed)
        self._rng = np.random.default_rng([self.seed, 3])

    def __call__(self, readings: SensorReadings, codes: np.ndarray, modulator: object = None) -> np.ndarray:
        m = 1.0 if modulator is None else np.asarray(modulator, dtype=np.float64)
        delta = self.eta_codes * m * (readings.causal - readings.acausal)
        step = np.floor(delta + self._rng.random(np.shape(delta)))
        return np.clip(np.asarray(codes, dtype=np.int64) + step.astype(np.int64), -WEIGHT_MAX, WEIGHT_MAX)
