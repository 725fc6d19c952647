"""In-the-loop fine-tuning of a converted network (Schmitt et al. 2017, IJCNN).

Each iteration draws a batch, runs it on the chip with the current codes and records the
rates of every layer (:func:`.chipmap.run_rates`). The measured rates replace the
software activations: the output loss is evaluated on the measured output rates, and
layer ``l``'s current is the one its *measured* presynaptic rates drive through the codes'
nominal transfer, ``j_l = k a_{l-1}^chip T(codes_l)``. Backpropagation
(:func:`.ann.loss_and_grads`) then uses the soft-LIF derivative at that operating point,
updates float shadow weights (code units, Adam) and writes their nearest codes back to
the chip. Schmitt et al. reached close to the software accuracy after several tens of
such iterations on BrainScaleS-1.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from anamorph.training.convert.ann import RateNet, loss_and_grads
from anamorph.training.convert.chipmap import code_values, quantise, run_rates


def chip_step(
    net: RateNet,
    backend,
    a0: np.ndarray,
    y: np.ndarray,
    weights: list[np.ndarray],
    tables,
    optimizer,
    *,
    window_s: float,
    warmup_s: float,
    rng: np.random.Generator,
) -> dict:
    """One in-the-loop iteration on the batch ``(a0, y)``; updates ``weights`` in place."""
    codes = quantise(weights, tables)
    meas = run_rates(backend, a0, codes, tau_m_s=net.f.tau_m_s, window_s=window_s, warmup_s=warmup_s, rng=rng)
    w_eff = [code_values(c, tables) for c in codes]
    a = [a0] + meas.a
    j = [net.k * a[l] @ w_eff[l] for l in range(len(codes))]
    loss, grads = loss_and_grads(net, a, j, w_eff, y)
    optimizer.step(weights, grads)
    for w in weights:
        np.clip(w, -net.w_max, net.w_max, out=w)
    return {"loss": loss, "batch_accuracy": float(np.mean(meas.predictions == y))}


def chip_accuracy(
    backend,
    a0: np.ndarray,
    y: np.ndarray,
    codes: list[np.ndarray],
    *,
    tau_m_s: float,
    window_s: float,
    warmup_s: float,
    rng: np.random.Generator,
    batch: int = 500,
) -> dict:
    """Test accuracy and spikes per sample of ``codes`` on the chip."""
    hits, spikes = 0, 0.0
    for s in range(0, len(y), batch):
        m = run_rates(
            backend, a0[s : s + batch], codes, tau_m_s=tau_m_s, window_s=window_s, warmup_s=warmup_s, rng=rng
        )
        hits += int(np.sum(m.predictions == y[s : s + batch]))
        spikes += m.spikes_per_sample * len(m.predictions)
    return {"accuracy": hits / len(y), "spikes_per_sample": spikes / len(y)}


def finetune(
    net: RateNet,
    backend,
    a0: np.ndarray,
    y: np.ndarray,
    weights: list[np.ndarray],
    tables,
    optimizer,
    *,
    iterations: int,
    batch_size: int,
    window_s: float,
    warmup_s: float,
    seed: int,
    evaluate: Callable[[list[np.ndarray]], dict] | None = None,
    progress: Callable[[dict], None] | None = None,
) -> list[dict]:
    """``iterations`` in-the-loop steps on random batches; ``evaluate(codes)`` and
    ``progress(row)`` after each."""
    rng = np.random.default_rng([seed, 20])
    history = []
    for it in range(iterations):
        idx = rng.choice(len(y), size=min(batch_size, len(y)), replace=False)
        t0 = time.perf_counter()
        row = {
            "iteration": it + 1,
            **chip_step(
                net,
                backend,
                a0[idx],
                y[idx],
                weights,
                tables,
                optimizer,
                window_s=window_s,
                warmup_s=warmup_s,
                rng=rng,
            ),
        }
        row["step_wall_s"] = time.perf_counter() - t0
        if evaluate is not None:
            row.update(evaluate(quantise(weights, tables)))
        history.append(row)
        if progress is not None:
            progress(row)
    return history
