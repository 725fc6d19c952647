"""Loss of Cramer et al. 2022 and its explicit backward pass (BPTT) through :mod:`snn`.

Loss per batch of B samples, readout maxima m_c = max_t V_out,c[t]:

    L = -1/B sum_b log softmax(s m_b)[y_b]                 (s = logit_scale)
        + rho_a * mean_{b,c} m_bc^2                        (activity regulariser)
        + rho_b / N_H * 1/B sum_b sum_i (sum_t S_bi[t])^2   (sparsity, per hidden layer)

Backward, layer by layer from the readout down, time reversed (g = dL/d.):

    g~[t]   = (1 - C[t+1]) gV[t+1]                          (nothing passes a clamp)
    gI[t]   = g~[t] + exp(-dt/tau_s) gI[t+1]
    gS[t]   = dL/dS[t] (sparsity, layer above: gI_above[t+1] W_above^T)
              - exp(-dt/tau_m) V[t] g~[t]                   (unless the reset is detached)
    gV[t]   = dL/dV[t] + exp(-dt/tau_m)(1 - S[t]) g~[t] + S'(V[t]) gS[t]
    dL/dW   = sum_t S_in[t]^T gI[t+1]

S'(V) is the SuperSpike surrogate (or the exact sigmoid derivative in the smooth check);
the refractory clamp C (:func:`snn.clamp_mask`) is, like the reset, a constant of the
backward pass. The readout's ADC clipping passes gradients straight through. V and S may
be the model's own (:func:`snn.forward`) or the chip's (in the loop).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.training.kernels import backward_layer_loop
from anamorph.training.snn import NetParams, Traces, free_mask, spike_grad


@dataclass(frozen=True)
class LossParams:
    """Weights of the loss terms (Cramer et al. 2022: rho_b = 5e-4)."""

    rho_a: float = 1e-3
    rho_b: float = 5e-4
    logit_scale: float = 1.0


def readout(traces: Traces) -> tuple[np.ndarray, np.ndarray]:
    """m = max_t V_out[t] (batch, classes) and the arg-max step."""
    v = traces.v[-1]
    idx = np.argmax(v, axis=1)
    return np.take_along_axis(v, idx[:, None, :], axis=1)[:, 0, :], idx


def loss_and_grads(
    x: np.ndarray, traces: Traces, weights: list[np.ndarray], labels: np.ndarray, p: NetParams, lp: LossParams
):
    """Loss, dL/dW for every layer, and diagnostics (accuracy, spike counts).

    Parameters
    ----------
    x : (B, T, n_in) input spikes
    traces : V[t], S[t] of every layer (B, T, n_l)
    weights : list of (n_{l-1}, n_l) float weights (those actually in effect)
    labels : (B,) int
    """
    B = x.shape[0]
    m, idx = readout(traces)
    z = lp.logit_scale * m
    z = z - z.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    nll = -logp[np.arange(B), labels].mean()
    reg_a = lp.rho_a * np.mean(m**2)
    onehot = np.zeros_like(m)
    onehot[np.arange(B), labels] = 1.0
    gm = lp.logit_scale * (np.exp(logp) - onehot) / B + 2.0 * lp.rho_a * m / m.size

    n_layers = len(weights)
    counts = [traces.s[l].sum(axis=1) for l in range(n_layers - 1)]  # (B, n_l)
    sparsity = sum(lp.rho_b / c.shape[1] * np.sum(c**2) / B for c in counts)

    g_v_direct = np.zeros_like(traces.v[-1])
    np.put_along_axis(g_v_direct, idx[:, None, :], gm[:, None, :], axis=1)
    g_s_direct = None
    grads = [None] * n_layers
    a, b = p.decay_m, p.decay_s
    for l in range(n_layers - 1, -1, -1):
        v, s, w = traces.v[l], traces.s[l], weights[l]
        s_in = x if l == 0 else traces.s[l - 1]
        n = v.shape[2]
        hidden = l < n_layers - 1
        if hidden:
            keep = free_mask(s, p)
            g_s_counts = (2.0 * lp.rho_b / n / B) * counts[l]
            sg = spike_grad(v, p)
            g_s, g_v = g_s_direct, v[:, :0]
        else:
            keep = np.ones_like(v)
            sg, g_s, g_s_counts, g_v = v[:, :0], v[:, :0], v[:, 0, :0], g_v_direct
        g_i_next_all = backward_layer_loop(
            keep, v, s, sg, g_s, g_s_counts, g_v, a, b, hidden, p.detach_reset
        )  # gI[t+1] for t = 0..T-1
        grads[l] = s_in.reshape(-1, s_in.shape[2]).T @ g_i_next_all.reshape(-1, n)
        if l > 0:
            g_s_direct = (g_i_next_all.reshape(-1, n) @ w.T).reshape(B, -1, w.shape[0])
    info = {
        "loss": float(nll + reg_a + sparsity),
        "nll": float(nll),
        "reg_a": float(reg_a),
        "sparsity": float(sparsity),
        "correct": int(np.sum(np.argmax(m, axis=1) == labels)),
        "hidden_spikes": float(sum(c.sum() for c in counts)),
    }
    return info["loss"], grads, info
