"""Numpy reference integration of a feed-forward network of behavioural LIF neurons.

The independent check of the Brian2 emulator: the same equations and the same per-step
order (:func:`anamorph.models.neuron.step`), written as a plain loop over time steps with
the batch vectorised. Layer ``l+1`` of a network with weights ``weights[l]`` (shape
``(n_l, n_{l+1})``) sits on chip neurons in order after the previous layers (see
:mod:`anamorph.models.backend`); inputs enter layer 1.

An input spike at time ``t`` is delivered in step ``floor(t/dt + 1e-3)`` (the binning of
Brian2's SpikeGeneratorGroup) after that step's integration, so it acts from the next
step on; a neuron spike is delivered to the next layer in the step it occurs.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from anamorph.models.backend import Observables, SpikeEvents, Stimulus
from anamorph.models.neuron import NeuronParams, NeuronState, noise_step_scale, propagator, step


def event_steps(times_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Time step in which an input spike at ``times_s`` is delivered."""
    return np.floor(np.asarray(times_s) / dt_s + 1e-3).astype(np.int64)


def input_drive(inputs: SpikeEvents, w_in_a: np.ndarray, dt_s: float, n_steps: int) -> np.ndarray:
    """Synaptic current jumps of layer 1 per step: shape (n_steps, n_samples, n_1)."""
    from scipy import sparse

    steps = event_steps(inputs.times_s, dt_s)
    ok = (steps >= 0) & (steps < n_steps)
    rows = steps[ok] * inputs.n_samples + inputs.samples[ok]
    raster = sparse.csr_matrix((np.ones(rows.size), (rows, inputs.units[ok])),
                               shape=(n_steps * inputs.n_samples, w_in_a.shape[0]))
    return np.asarray(raster @ w_in_a).reshape(n_steps, inputs.n_samples, w_in_a.shape[1])


def stimulus_steps(stimulus: Stimulus | None, dt_s: float) -> tuple[int, int]:
    """Steps ``k_on <= n < k_off`` in which a stimulus flows (its times rounded to steps)."""
    if stimulus is None:
        return 0, 0
    return int(np.rint(stimulus.t_on_s / dt_s)), int(np.rint(stimulus.t_off_s / dt_s))


def layer_offsets(weights: Sequence[np.ndarray]) -> list[int]:
    """First chip neuron of each layer 1..L, and the total as the last entry."""
    sizes = [np.shape(w)[1] for w in weights]
    return list(np.concatenate([[0], np.cumsum(sizes)]).astype(int))


def simulate_reference(params: NeuronParams, inputs: SpikeEvents, weights: Sequence[np.ndarray],
                       duration_s: float, dt_s: float, *, record=None, stimulus: Stimulus | None = None,
                       noise_v_rms=0.0, seed: int = 0, weights_in_amperes: bool = False,
                       n_neurons: int | None = None) -> Observables:
    """Integrate the network with numpy and return spikes and (optionally) membrane traces.

    Parameters
    ----------
    params : NeuronParams
        Per-neuron (or scalar) parameters of the chip neurons used (first entries).
    weights : list of arrays (n_l, n_{l+1})
        Integer codes (current per spike ``code * w_unit_a[post]``) or, with
        ``weights_in_amperes``, the current jump of each synapse in amperes.
    record : None, "all" or chip neuron indices
        Neurons whose membrane is returned at every step (``adc_t_s = k dt``, raw volts).
    n_neurons : int, optional
        Number of neurons for a network without layers (default 512 or the size of params).
    noise_v_rms : float or array
        Stationary membrane noise (V); drawn from ``default_rng(seed)``.
    """
    offsets = layer_offsets(weights)
    if weights:
        n_used = offsets[-1]
    else:
        n_used = n_neurons or max(np.size(getattr(params, f)) for f in ("v_leak_v", "tau_m_s"))
    p_full = params.as_arrays(max(n_used, *[np.size(getattr(params, f)) for f in ("v_leak_v", "c_mem_f")]))
    p = p_full.take(slice(0, n_used))
    prop = propagator(p, dt_s, n_used)
    n_steps = int(round(duration_s / dt_s))
    b = inputs.n_samples
    w_a = []
    for layer, w in enumerate(weights):
        w = np.asarray(w, dtype=np.float64)
        if not weights_in_amperes:
            w = w * p.w_unit_a[offsets[layer]:offsets[layer + 1]][None, :]
        w_a.append(w)
    drive = input_drive(inputs, w_a[0], dt_s, n_steps) if weights else None
    i_stim = np.zeros(n_used) if stimulus is None else np.asarray(stimulus.i_a, dtype=np.float64)[:n_used]
    rec = None if record is None else (np.arange(n_used) if isinstance(record, str) else np.asarray(record))
    noise_v = np.asarray(noise_v_rms, dtype=np.float64)
    noise_scale = noise_step_scale(noise_v[:n_used] if noise_v.ndim else noise_v, prop)
    rng = np.random.default_rng(seed)
    k_on, k_off = stimulus_steps(stimulus, dt_s)
    state = NeuronState.rest(prop, (b, n_used))
    traces = [] if rec is not None else None
    out_t, out_n, out_s = [], [], []
    for n in range(n_steps):
        t = n * dt_s
        if traces is not None:
            traces.append(state.v_v[:, rec].copy())
        on = k_on <= n < k_off
        noise = noise_scale * rng.standard_normal((b, n_used)) if np.any(noise_scale > 0) else 0.0
        state, spiked = step(state, i_stim if on else 0.0, prop, noise)
        i_syn = state.i_syn_a
        if drive is not None:
            i_syn[:, :offsets[1]] += drive[n]
        for layer in range(1, len(weights)):
            pre = spiked[:, offsets[layer - 1]:offsets[layer]]
            if pre.any():
                i_syn[:, offsets[layer]:offsets[layer + 1]] += pre.astype(np.float64) @ w_a[layer]
        if spiked.any():
            s, k = np.nonzero(spiked)
            out_s.append(s)
            out_n.append(k)
            out_t.append(np.full(s.size, t))
    cat = (lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype))
    spikes = SpikeEvents(cat(out_t, np.float64), cat(out_n, np.int64), cat(out_s, np.int64), b)
    if traces is None:
        return Observables(spikes, meta={"dt_s": dt_s, "n_steps": n_steps})
    return Observables(spikes, np.arange(n_steps) * dt_s, np.stack(traces, axis=1), rec.astype(np.int64),
                       meta={"dt_s": dt_s, "n_steps": n_steps})
