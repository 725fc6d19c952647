"""Numpy reference integration of a network of behavioural LIF neurons.

The independent check of the Brian2 emulator: the same equations and the same per-step
order (:func:`anamorph.models.neuron.step`), written as a plain loop over time steps with
the batch vectorised. The network is a :class:`~anamorph.models.network.ChipNetwork`
(populations on chip neurons in order, projections in any direction) or its feed-forward
short form, a list of weights ``weights[l]`` of shape ``(n_l, n_{l+1})``.

An input spike at time ``t`` is delivered in step ``floor(t/dt + 1e-3)`` (the binning of
Brian2's SpikeGeneratorGroup) after that step's integration, so it acts from the next
step on; a spike of chip neuron ``j`` in step ``n`` adds its synapses' current jumps to
every target in the same step (after all neurons have integrated), acting from step
``n+1``. Stimulus and teaching currents of step ``n`` enter that step's integration.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from anamorph.models.backend import Observables, SpikeEvents, Stimulus, Teaching
from anamorph.models.network import INPUT, ChipNetwork
from anamorph.models.neuron import NeuronParams, NeuronState, noise_step_scale, propagator, step


def event_steps(times_s: np.ndarray, dt_s: float) -> np.ndarray:
    """Time step in which an input spike at ``times_s`` is delivered."""
    return np.floor(np.asarray(times_s) / dt_s + 1e-3).astype(np.int64)


def input_drive(inputs: SpikeEvents, w_in_a: np.ndarray, dt_s: float, n_steps: int) -> np.ndarray:
    """Synaptic current jumps of layer 1 per step: shape (n_steps, n_samples, n_1)."""
    rows, values = input_drive_rows(inputs, w_in_a, dt_s, n_steps)
    table = np.zeros((n_steps * inputs.n_samples, w_in_a.shape[1]))
    table[rows] = values
    return table.reshape(n_steps, inputs.n_samples, w_in_a.shape[1])


def input_drive_rows(
    inputs: SpikeEvents, w_in_a: np.ndarray, dt_s: float, n_steps: int
) -> tuple[np.ndarray, np.ndarray]:
    """The rows of :func:`input_drive` that have input spikes: ``(rows, values)``.

    ``rows`` (increasing) are the flat indices ``step * n_samples + sample`` of the (step,
    sample) pairs with at least one input spike (binned by ``event_steps``); ``values[k]``
    is the sum of the weight rows of that pair's spikes (one sparse product); every other
    row of the table is zero.
    """
    from scipy import sparse

    steps = event_steps(inputs.times_s, dt_s)
    ok = (steps >= 0) & (steps < n_steps)
    n_in = w_in_a.shape[0]
    # One sort of (row, unit) keys gives the raster in canonical CSR form (units increasing
    # within a row, a unit's spikes in one step counted): the form, and so the order of the
    # sums, that scipy gives a raster built from unsorted (row, unit) pairs.
    pairs, count = np.unique(
        (steps[ok] * inputs.n_samples + inputs.samples[ok]) * n_in + inputs.units[ok], return_counts=True
    )
    row_of_pair = pairs // n_in
    first = np.flatnonzero(np.diff(row_of_pair, prepend=-1))
    rows = row_of_pair[first]
    indptr = np.append(first, pairs.size)
    raster = sparse.csr_matrix((count.astype(np.float64), pairs % n_in, indptr), shape=(rows.size, n_in))
    return rows, np.asarray(raster @ w_in_a).reshape(rows.size, w_in_a.shape[1])


def stimulus_steps(stimulus: Stimulus | None, dt_s: float) -> tuple[int, int]:
    """Steps ``k_on <= n < k_off`` in which a stimulus flows (its times rounded to steps)."""
    if stimulus is None:
        return 0, 0
    return int(np.rint(stimulus.t_on_s / dt_s)), int(np.rint(stimulus.t_off_s / dt_s))


def simulate_reference(
    params: NeuronParams,
    inputs: SpikeEvents,
    weights: Sequence[np.ndarray] | ChipNetwork,
    duration_s: float,
    dt_s: float,
    *,
    record: Sequence[int] | np.ndarray | None = None,
    stimulus: Stimulus | None = None,
    teaching: Teaching | None = None,
    noise_v_rms: np.ndarray | float = 0.0,
    seed: int = 0,
    weights_in_amperes: bool = False,
    n_neurons: int | None = None,
) -> Observables:
    """Integrate the network with numpy and return spikes and (optionally) membrane traces.

    Parameters
    ----------
    params : NeuronParams
        Per-neuron (or scalar) parameters of the chip neurons used (first entries).
    weights : ChipNetwork or list of arrays (n_l, n_{l+1})
        Integer codes (current per spike ``code * w_unit_a[target]``) or, with
        ``weights_in_amperes``, the current jump of each synapse in amperes (then the
        projections' ``codes`` hold amperes).
    record : None, "all" or chip neuron indices
        Neurons whose membrane is returned at every step (``adc_t_s = k dt``, raw volts).
    teaching : Teaching, optional
        Per-sample, piecewise-constant currents into the membranes (not validated here).
    n_neurons : int, optional
        Number of neurons for a network without layers (default 512 or the size of params).
    noise_v_rms : float or array
        Stationary membrane noise (V); drawn from ``default_rng(seed)``.
    """
    if isinstance(weights, ChipNetwork):
        net = weights
    elif len(weights):
        net = ChipNetwork.from_layers(weights)
    else:
        n = n_neurons or max(np.size(getattr(params, f)) for f in ("v_leak_v", "tau_m_s"))
        net = ChipNetwork.from_layers([], n_neurons=n)
    n_used = net.n_used
    p_full = params.as_arrays(max(n_used, *[np.size(getattr(params, f)) for f in ("v_leak_v", "c_mem_f")]))
    p = p_full.take(slice(0, n_used))
    prop = propagator(p, dt_s, n_used)
    n_steps = int(round(duration_s / dt_s))
    b = inputs.n_samples
    drive = np.zeros((n_steps, b, n_used)) if any(q.source == INPUT for q in net.projections) else None
    recurrent = []  # (source slice, target slice, currents)
    for q in net.projections:
        w = np.asarray(q.codes, dtype=np.float64)
        tgt = net.slice(q.target)
        if not weights_in_amperes:
            w = w * p.w_unit_a[tgt][None, :]
        if q.source == INPUT:
            drive[:, :, tgt] += input_drive(inputs, w, dt_s, n_steps)
        else:
            recurrent.append((net.slice(q.source), tgt, w))
    i_stim = np.zeros(n_used) if stimulus is None else np.asarray(stimulus.i_a, dtype=np.float64)[:n_used]
    teach = None if teaching is None else teaching.per_step(dt_s, n_steps)
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
        i_in = i_stim if k_on <= n < k_off else 0.0
        if teach is not None:
            i_in = i_in + teach[n]
        noise = noise_scale * rng.standard_normal((b, n_used)) if np.any(noise_scale > 0) else 0.0
        state, spiked = step(state, i_in, prop, noise)
        i_syn = state.i_syn_a
        if drive is not None:
            i_syn += drive[n]
        if spiked.any():
            for src, tgt, w in recurrent:
                pre = spiked[:, src]
                if pre.any():
                    i_syn[:, tgt] += pre.astype(np.float64) @ w
            s, k = np.nonzero(spiked)
            out_s.append(s)
            out_n.append(k)
            out_t.append(np.full(s.size, t))
    cat = lambda xs, dtype: np.concatenate(xs).astype(dtype) if xs else np.zeros(0, dtype)
    spikes = SpikeEvents(cat(out_t, np.float64), cat(out_n, np.int64), cat(out_s, np.int64), b)
    if traces is None:
        return Observables(spikes, meta={"dt_s": dt_s, "n_steps": n_steps})
    return Observables(
        spikes,
        np.arange(n_steps) * dt_s,
        np.stack(traces, axis=1),
        rec.astype(np.int64),
        meta={"dt_s": dt_s, "n_steps": n_steps},
    )
