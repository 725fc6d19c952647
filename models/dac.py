"""10-bit DAC transfer curves: code -> analog parameter, nominal and per neuron.

Each DAC parameter has a smooth parametric transfer in the normalised code
``x = code / CODE_MAX`` (``CODE_MAX = 1023``, the one definition of the code range):

    linear kind:      value(x) = u(x)
    reciprocal kind:  value(x) = 1 / u(x)        (time constants: a bias current sets a
                                                 conductance or a charging rate, so 1/tau
                                                 is what is linear in the code)
    u(x) = a + b x + q x^2

Per-neuron mismatch is an offset and a gain on the inner quantity (Pelgrom-type threshold
offset and current-factor mismatch of the DAC's output transistor, Pelgrom et al. 1989,
IEEE JSSC 24:1433):

    u_n(x) = (a + delta_n) + b (1 + gamma_n) x + q x^2
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

CODE_MAX = 1023
KINDS = ("linear", "reciprocal")
_U_MIN = 1e-30  # keeps a reciprocal transfer finite where u(x) would reach zero


@dataclass(frozen=True)
class Transfer:
    """One DAC transfer ``value = f(a + b x + q x^2)``, ``f`` identity or reciprocal."""

    kind: str
    a: float
    b: float
    q: float = 0.0

    def inner(self, code: np.ndarray | float) -> np.ndarray:
        x = np.asarray(code, dtype=np.float64) / CODE_MAX
        return self.a + self.b * x + self.q * x * x

    def value(self, code: np.ndarray | float) -> np.ndarray:
        return outer(self.kind, self.inner(code))

    def inverse(self, value: np.ndarray | float) -> np.ndarray:
        """The (float, unclipped) code whose nominal value is ``value``."""
        u = np.asarray(inner_of(self.kind, value), dtype=np.float64)
        # root of q x^2 + b x - (u - a) = 0 on the branch through x = (u - a)/b at q = 0,
        # written without cancellation (stable for q -> 0)
        disc = np.maximum(self.b * self.b + 4.0 * self.q * (u - self.a), 0.0)
        x = 2.0 * (u - self.a) / (self.b + np.sign(self.b) * np.sqrt(disc))
        return x * CODE_MAX

    def range(self) -> tuple[float, float]:
        v = self.value(np.arange(CODE_MAX + 1))
        return float(np.min(v)), float(np.max(v))

    def is_monotonic(self) -> bool:
        slope_0 = self.b
        slope_1 = self.b + 2 * self.q
        return slope_0 != 0 and np.sign(slope_0) == np.sign(slope_1)


def outer(kind: str, u: np.ndarray | float) -> np.ndarray | float:
    u = np.asarray(u, dtype=np.float64)
    if kind == "linear":
        return u
    if kind == "reciprocal":
        return 1.0 / np.maximum(u, _U_MIN)
    raise ValueError(f"unknown transfer kind {kind!r}")


def inner_of(kind: str, value: np.ndarray | float) -> np.ndarray | float:
    value = np.asarray(value, dtype=np.float64)
    if kind == "linear":
        return value
    if kind == "reciprocal":
        return 1.0 / value
    raise ValueError(f"unknown transfer kind {kind!r}")


def neuron_values(
    kind: str,
    a: float,
    b: float,
    q: float,
    offset: np.ndarray | float,
    gain: np.ndarray | float,
    code: np.ndarray | float,
) -> np.ndarray:
    """Per-neuron transfer ``f((a + offset) + b (1 + gain) x + q x^2)`` at ``code``."""
    x = np.asarray(code, dtype=np.float64) / CODE_MAX
    return outer(kind, (a + np.asarray(offset)) + b * (1.0 + np.asarray(gain)) * x + q * x * x)


def fit_transfer(
    kind: str, codes: np.ndarray | Sequence[float], values: np.ndarray | Sequence[float]
) -> Transfer:
    """Least-squares fit of ``a, b, q`` to measured points (value at code), one instance.

    The fit is done on the inner quantity (``value`` or ``1/value``), where the model is
    linear in ``a, b, q``. With fewer than 4 points the curvature ``q`` is fixed at 0.
    """
    codes = np.asarray(codes, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values) & np.isfinite(codes)
    if kind == "reciprocal":
        ok &= values > 0
    x = codes[ok] / CODE_MAX
    u = inner_of(kind, values[ok])
    if x.size < 2:
        raise ValueError("need at least two DAC points to fit a transfer")
    cols = [np.ones_like(x), x] + ([x * x] if x.size >= 4 else [])
    coef, *_ = np.linalg.lstsq(np.stack(cols, axis=1), u, rcond=None)
    return Transfer(kind, float(coef[0]), float(coef[1]), float(coef[2]) if coef.size > 2 else 0.0)
