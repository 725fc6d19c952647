"""EventProp's backward pass: exact gradients from spike times (Wunderlich & Pehle 2021).

The adjoint (costate) ``p = (p_V, p_I) = dL/d(v, I)(t)`` of the model in
:mod:`.events` runs backward in time. Between events it follows the transposed
propagator exactly,

    p_V(t) = e^{-s/tau_m} p_V(t+s),   p_I(t) = kappa(s) p_V(t+s) + e^{-s/tau_s} p_I(t+s);

during a refractory period the membrane is clamped, so ``p_V = 0`` and ``p_I`` decays
with tau_s. In the paper's notation ``lambda_V = -p_V / tau_m`` and ``lambda_I = -p_I / tau_s``
(``tau_m lambda_V' = lambda_V``, ``tau_s lambda_I' = lambda_I - lambda_V`` backward in
time) and the weight gradient is

    dL/dw_ji = -tau_s sum_{spikes t_i of i} lambda_I,j(t_i) = sum p_I,j(t_i).

Input events leave the costate continuous. At a neuron's own spike ``t*`` (``v = 1``,
slope ``vdot = (I(t*) - 1)/tau_m``) the costate jumps:

    p_V(t*-) = -(dL/dt* + q) / vdot,    p_I(t*-) = p_I(t*+),
    q = -p_V(r+) (I(r) - v_r) / tau_m    at the end of refractoriness r = t* + t_ref

(a later spike releases the membrane later; ``r >= T``: q = 0), where ``dL/dt*`` is the
loss's own dependence plus that of every postsynaptic neuron k,

    dL/dt_j = sum_k w_kj (p_I,k(t_j)/tau_s - p_V,k(t_j)/tau_m)

(the W&P jump ``(lambda_V - lambda_I) w`` of the presynaptic neuron). For t_ref = 0 this is
the paper's ``(vdot+ / vdot-)`` factor. Grazing spikes (``vdot -> 0``) would make the jump
diverge; ``vdot`` is taken as at least ``grazing_vdot / tau_m`` (EventParams).
The currents the jumps need, ``I(t*)`` and ``I(r)``, are recomputed from the input spike
times and the weights, so the same backward pass serves spike times read from a chip.
"""

from __future__ import annotations

import numpy as np

from anamorph.training.eventprop.events import EventParams, events_from_spikes


def layer_backward(in_t, in_unit, w, spikes, g_spikes, p: EventParams):
    """(dL/dw (n_in, N), dL/d in_t (B, E)) of one layer.

    ``spikes`` (B, N, S) its spike times (inf-padded, ascending per neuron), ``g_spikes``
    (B, N, S) dL/dt of each. Each (sample, neuron) runs in compiled scalar code
    (:func:`.adjoint_kernel.layer_backward_loop`).
    """
    from anamorph.training.eventprop.adjoint_kernel import layer_backward_loop

    as_float = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    return layer_backward_loop(
        as_float(in_t),
        np.ascontiguousarray(in_unit, dtype=np.int64),
        as_float(w),
        as_float(spikes),
        as_float(g_spikes),
        p.tau_m_s,
        p.tau_syn_s,
        p.t_ref_s,
        p.v_reset,
        p.duration_s,
        p.grazing_vdot,
    )


def backward(spikes: list[np.ndarray], weights: list[np.ndarray], g_out: np.ndarray, p: EventParams):
    """Weight gradients of all layers from the spikes of :func:`.events.simulate` (or a chip)
    and ``g_out`` = dL/dt of the last layer's spikes (same shape as ``spikes[-1]``)."""
    grads = [None] * len(weights)
    g = g_out
    for l in range(len(weights) - 1, -1, -1):
        et, eu, order = events_from_spikes(spikes[l])
        dw, g_in = layer_backward(et, eu, weights[l], spikes[l + 1], g, p)
        grads[l] = dw
        if l > 0:
            B, n, S = spikes[l].shape
            flat = np.zeros((B, n * S))
            np.put_along_axis(flat, order, g_in, axis=1)
            g = flat.reshape(B, n, S)
    return grads
