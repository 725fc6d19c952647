"""Re-mapping of the weights onto each chip neuron's measured rate curve (one chip run).

The first in-the-loop measurement tells each neuron's rate curve ``a_n(j) ~ f(g_n j + b_n)``
(:func:`.gain.fit_affine`): the neuron sees the nominal current ``j`` scaled by ``g_n`` and
shifted by ``b_n``. Scaling its incoming weights by ``1/g_n`` and moving ``-b_n/g_n`` onto
its bias channels gives it back the current of the software network,

    g_n (j_n / g_n - b_n / g_n) + b_n = j_n,

the rate-curve counterpart of re-normalising the weights after a conversion (Diehl et al.
2015). A layer without bias channels (the output layer) gets the gain only. The weights
stay within ``+-w_max`` (a neuron needing more is left at the bound), so a chip far off
its calibration is corrected only as far as the codes reach; fine-tuning does the rest.

Measured on chip 0 detuned by sigma_d = 30 % on top of its calibration
(``bench/convert.py --cases sigma30``, seed 0): Yin-Yang 76.8 % at mapping -> 89.8 %
after the re-mapping (software 97.0 %), 95.3 % after 30 iterations against 94.4 %
without it (same ``ft_lr`` = 0.5); digits 92.2 % -> 98.0 % (software 98.2 %), 98.0 % after 30 iterations
against 97.8 % without it.
"""

from __future__ import annotations

import numpy as np

from anamorph.training.convert.ann import RateNet
from anamorph.training.convert.chipmap import measure_batch
from anamorph.training.convert.gain import fit_affine


def remap(
    weights: list[np.ndarray],
    neurons: list[tuple[np.ndarray, np.ndarray]],
    *,
    k: float,
    a_bias: float,
    n_bias: int,
    w_max: float,
) -> None:
    """Rescale ``weights`` (code units, in place) to the fitted ``neurons[l] = (g, b)``.

    The first layer's last ``n_bias`` input rows are bias channels of rate ``a_bias``: each
    takes ``-b / (g k a_bias n_bias)`` more code units, which adds ``-b/g`` to ``j``.
    """
    for l, (w, (g, b)) in enumerate(zip(weights, neurons)):
        w /= g
        if l == 0 and n_bias > 0 and a_bias > 0:
            w[-n_bias:] -= b / (g * k * a_bias * n_bias)
        np.clip(w, -w_max, w_max, out=w)


def remap_step(
    net: RateNet,
    backend,
    a0: np.ndarray,
    y: np.ndarray,
    weights: list[np.ndarray],
    tables,
    *,
    window_s: float,
    warmup_s: float,
    rng: np.random.Generator,
    a_bias: float,
    n_bias: int,
) -> dict:
    """Run the batch ``(a0, y)``, fit every neuron's curve and :func:`remap` ``weights``."""
    meas, a, j, _ = measure_batch(
        net, backend, a0, weights, tables, window_s=window_s, warmup_s=warmup_s, rng=rng
    )
    neurons = [fit_affine(net.f, j[l], a[l + 1]) for l in range(len(j))]
    remap(weights, neurons, k=net.k, a_bias=a_bias, n_bias=n_bias, w_max=net.w_max)
    return {"loss": None, "batch_accuracy": float(np.mean(meas.predictions == y))}
