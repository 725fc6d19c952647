"""Each chip neuron's own rate curve, estimated from the rates the chip just measured.

The fine-tuning step backpropagates through ``da/dj`` of every neuron. The nominal
soft-LIF ``f`` describes the *calibrated* neuron; a neuron whose threshold, leak or
time constants are off (mismatch left after calibration, or detuning on top of it) fires
at a different rate for the same nominal current ``j``. To first order the difference is
an affine change of the current axis -- a threshold further from the leak scales the
rheobase, an offset current shifts it -- so each neuron ``n`` is described by

    a_n(j) ~ f(g_n j + b_n),        da_n/dj = g_n f'(g_n j + b_n),

with ``(g_n, b_n)`` fitted to the pairs ``(j, a_meas)`` of the current batch: nominal
currents from the measured presynaptic rates, measured rates of the neuron itself.
The fit is regularised toward the calibrated neuron ``(1, 0)``,

    min_{g, b}  sum_i (f(g j_i + b) - a_i)^2 + lam ((g - 1)^2 + b^2),

solved by a few damped Gauss-Newton steps, all neurons at once. It needs no state
between iterations (every batch is fitted afresh), so resumed runs stay exact. Schmitt et
al. (2017) backpropagate with the nominal derivative at the measured operating point;
this local gain estimate is our addition for chips far from their calibration.

Measured (Yin-Yang network, chip 0 detuned by sigma_d = 30 % on top of its calibration,
600 samples, fit on 300, rms rate error on the other 300): hidden layer 0.25 (nominal
curve) -> 0.033 (fitted), output layer 0.17 -> 0.051 -- the residuals of the *undetuned*
calibrated chip (0.034, 0.051), which the affine model cannot remove (per-synapse
mismatch, the pulse structure of the input trains). Fine-tuned test accuracy after 30
iterations 93.8 -> 94.4 % (`bench/convert.py --dataset yinyang --cases sigma30`).
"""

from __future__ import annotations

import numpy as np

from anamorph.training.convert.softlif import SoftLIF

#: Gauss-Newton iterations of a fit (from the calibrated neuron ``(1, 0)``)
STEPS = 6
#: bounds of the fitted gain and offset (a neuron 5x off its calibration is not one to trust)
G_RANGE, B_RANGE = (0.2, 5.0), (-3.0, 3.0)


def fit_affine(f: SoftLIF, j: np.ndarray, a: np.ndarray, lam: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Per-neuron ``(g, b)`` with ``f(g j + b) ~ a`` over a batch; ``j``, ``a``: (B, n).

    ``lam`` weighs the pull toward ``(1, 0)`` against the summed squared rate residuals
    (rates in units of 1/tau_m); a neuron that never fires keeps ``(1, 0)``. Points where the
    measured rate is within 5 % of the refractory ceiling ``tau_m / t_ref`` carry no
    information on the current axis and are left out.
    """
    j = np.asarray(j, dtype=np.float64)
    a = np.asarray(a, dtype=np.float64)
    use = (a < 0.95 * f.a_max).astype(np.float64)
    n = j.shape[1]
    g, b = np.ones(n), np.zeros(n)
    for _ in range(STEPS):
        u = g * j + b
        r = (f.activation(u) - a) * use
        d = f.derivative(u) * use
        jg = d * j  # d residual / d g
        # normal equations of the ridge problem, one 2x2 system per neuron
        h11 = np.sum(jg * jg, axis=0) + lam
        h12 = np.sum(jg * d, axis=0)
        h22 = np.sum(d * d, axis=0) + lam
        r1 = np.sum(jg * r, axis=0) + lam * (g - 1.0)
        r2 = np.sum(d * r, axis=0) + lam * b
        det = h11 * h22 - h12 * h12
        g = g - (h22 * r1 - h12 * r2) / det
        b = b - (h11 * r2 - h12 * r1) / det
        g, b = np.clip(g, *G_RANGE), np.clip(b, *B_RANGE)  # keep a wild batch from flipping a neuron
    return g, b
