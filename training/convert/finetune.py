"""In-the-loop fine-tuning of a converted network (Schmitt et al. 2017, IJCNN).

Each iteration draws a batch, runs it on the chip with the current codes and records the
rates of every layer (:func:`.chipmap.run_rates`). The measured rates replace the
software activations: the output loss is evaluated on the measured output rates, and
layer ``l``'s current is the one its *measured* presynaptic rates drive through the codes'
nominal transfer, ``j_l = k a_{l-1}^chip T(codes_l)``. Backpropagation
(:func:`.ann.loss_and_grads`) then uses the soft-LIF derivative at that operating point,
updates float shadow weights (code units, Adam) and writes their nearest codes back to
the chip. Schmitt et al. reached close to the software accuracy after several tens of
such iterations on BrainScaleS-1. Optionally the first iteration instead re-maps the
weights onto every neuron's rate curve fitted to its measurement (:mod:`.remap`).

Every chip run has a fixed noise-draw id (``backend.n_runs``) and every iteration its own
generator (``default_rng([seed, 20, it])``: batch and input phases), so a run resumed from
a checkpoint continues exactly as an uninterrupted one.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from anamorph.training.convert.ann import RateNet, loss_and_grads
from anamorph.training.convert.chipmap import measure_batch, quantise, run_rates
from anamorph.training.convert.gain import fit_affine
from anamorph.training.convert.remap import remap_step

#: noise-draw ids of evaluation runs (training iteration ``it`` uses id ``it``)
EVAL_BASE = 1 << 40


def set_run_id(backend, run_id: int) -> None:
    """Fix the noise draw of the backend's next run (both chip backends count ``n_runs``)."""
    if hasattr(backend, "n_runs"):
        backend.n_runs = int(run_id)


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
    neuron_gain: bool = False,
) -> dict:
    """One in-the-loop iteration on the batch ``(a0, y)``; updates ``weights`` in place.

    With ``neuron_gain`` the backward pass uses each neuron's own rate curve, fitted to
    the batch's measured rates (:func:`.gain.fit_affine`), instead of the nominal soft-LIF.
    """
    meas, a, j, w_eff = measure_batch(
        net, backend, a0, weights, tables, window_s=window_s, warmup_s=warmup_s, rng=rng
    )
    neurons = [fit_affine(net.f, j[l], a[l + 1]) for l in range(len(j))] if neuron_gain else None
    loss, grads = loss_and_grads(net, a, j, w_eff, y, neurons)
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
    run_base: int = EVAL_BASE,
    energy=None,
) -> dict:
    """Test accuracy and spikes per sample of ``codes`` on the chip; batch ``k`` of the
    evaluation runs with the noise-draw id ``run_base + k``. With ``energy`` (an
    :class:`~anamorph.models.energy.EnergyParams`) also the energy per sample (uJ) from the
    spikes counted over the window (the output layer spikes; no ADC conversion)."""
    hits, spikes, t0 = 0, 0.0, time.perf_counter()
    per_neuron = None
    for k, s in enumerate(range(0, len(y), batch)):
        set_run_id(backend, run_base + k)
        m = run_rates(
            backend, a0[s : s + batch], codes, tau_m_s=tau_m_s, window_s=window_s, warmup_s=warmup_s, rng=rng
        )
        hits += int(np.sum(m.predictions == y[s : s + batch]))
        spikes += m.spikes_per_sample * len(m.predictions)
        part = [c * len(m.predictions) for c in m.spikes_per_neuron]
        per_neuron = part if per_neuron is None else [a + b for a, b in zip(per_neuron, part)]
    out = {
        "accuracy": hits / len(y),
        "spikes_per_sample": spikes / len(y),
        "eval_wall_s": time.perf_counter() - t0,
    }
    if energy is not None:
        from anamorph.models.energy import in_microjoules, network_energy

        per_neuron = [c / len(y) for c in per_neuron]
        e = network_energy(energy, per_neuron[:-1], codes, window_s, 0.0, float(np.sum(per_neuron[-1])))
        out["energy_per_sample"] = in_microjoules(e)
    return out


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
    evaluate: Callable[[list[np.ndarray], int], dict] | None = None,
    on_iteration: Callable[[dict, list[dict]], None] | None = None,
    history: list[dict] | None = None,
    lr: float | None = None,
    lr_decay: float = 1.0,
    neuron_gain: bool = False,
    remap_bias: tuple[float, int] | None = None,
) -> list[dict]:
    """In-the-loop steps on random batches up to ``iterations`` (continuing ``history``);
    after each, ``evaluate(codes, iteration)`` and ``on_iteration(row, history)``.

    Iteration ``it`` (from 0) steps with the learning rate ``lr lr_decay^it`` (``lr``:
    ``optimizer.lr`` if not given). With ``remap_bias = (a_bias, n_bias)`` (the rate and
    number of the first layer's bias channels) the first iteration re-maps the weights
    onto the neurons' measured rate curves (:func:`.remap.remap_step`) instead of a step.
    """
    history = [] if history is None else list(history)
    lr0 = optimizer.lr if lr is None else float(lr)
    for it in range(len(history), iterations):
        optimizer.lr = lr0 * lr_decay**it
        rng = np.random.default_rng([seed, 20, it])
        idx = rng.choice(len(y), size=min(batch_size, len(y)), replace=False)
        set_run_id(backend, it)
        t0 = time.perf_counter()
        kw = dict(window_s=window_s, warmup_s=warmup_s, rng=rng)
        if remap_bias is not None and it == 0:
            a_bias, n_bias = remap_bias
            step = remap_step(
                net, backend, a0[idx], y[idx], weights, tables, a_bias=a_bias, n_bias=n_bias, **kw
            )
        else:
            step = chip_step(
                net, backend, a0[idx], y[idx], weights, tables, optimizer, neuron_gain=neuron_gain, **kw
            )
        row = {"iteration": it + 1, **step}
        row["step_wall_s"] = time.perf_counter() - t0
        if evaluate is not None:
            row.update(evaluate(quantise(weights, tables), it + 1))
        history.append(row)
        if on_iteration is not None:
            on_iteration(row, history)
    return history
