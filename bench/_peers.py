"""Peer simulators of the emulator's benchmark network, one forward function per peer.

The network of ``bench/emulator.py`` (256-246-10, feed-forward, batch ``B``, ``T`` steps of
``dt``) as a current-based LIF with an exponential synaptic current (Cramer et al. 2022,
PNAS 119(4), Methods), nominal parameters :data:`anamorph.models.neuron.DEFAULT_TARGETS`:

    tau_m dV/dt = -(V - v_leak) + (tau_m / c_mem) I_syn,   tau_syn dI_syn/dt = -I_syn,
    I_syn += w_a at an input spike (w_a: the synapse's current jump in A),
    V >= v_th: spike, V = v_reset (held for t_ref where the peer's neuron has a refractory time).

Every peer takes the inputs as a dense per-step spike tensor ``x`` of shape (B, T, 256)
(:func:`dense_spikes`) and the weights as current jumps in amperes (the emulator's
``synaptic_currents``, the sampled chip's), mapped to each library's units below; every
peer is a jit-compiled forward pass (no gradients) returning the output spikes (B, T, 10)
(:class:`Peer`), in float32, without membrane noise (the emulator's runs with it). The
peers differ from the emulator in the neuron update, at the same cost per step (two dense
products and an element-wise update of 256 neurons):

* ``jaxsnn`` (the BrainScaleS-2 team's JAX library): its discrete-time ``Topology`` with
  ``Input``, ``Linear`` and ``LIF`` modules, whose step is the forward-Euler
  ``jaxsnn.discrete.functional.lif.lif_step`` (synaptic current in volts, i.e. times
  ``tau_m / c_mem``; reset to ``v_reset``, no refractory time), vmapped over the batch;
* ``spyx``: ``spyx.nn.Sequential`` of ``flax.nnx.Linear`` and ``spyx.nn.CuBaLIF``
  (``I' = alpha I + x``, ``V' = beta V + I'``, subtractive reset by the threshold, no
  refractory time) run by ``spyx.nn.run``; ``alpha = exp(-dt/tau_syn)``,
  ``beta = exp(-dt/tau_m)``, input in volts per step (times ``dt / c_mem``); with
  ``v_reset == v_leak`` (the nominal chip) the subtractive reset lands at ``v_reset``;
* ``jax_scan``: not a library; a plain ``jax.lax.scan`` of the emulator's exact update
  (:func:`anamorph.models.neuron.step`: exact propagator, reset and refractory time), the
  emulator's own neuron model in JAX without a library around it.

snnTorch and Norse are not among the peers: torch from PyPI is the CUDA build (the torch
2.14.1 wheel alone is 555 MB, plus the nvidia-* CUDA 13 wheels it requires, GBs in all).
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

from anamorph.models.backend import SpikeEvents
from anamorph.models.neuron import DEFAULT_TARGETS, NeuronParams, propagator

# peer name -> modules it needs (all need jax)
REQUIREMENTS = {"jaxsnn": ("jax", "jaxsnn"), "spyx": ("jax", "spyx", "flax"), "jax_scan": ("jax",)}


def available(name: str) -> bool:
    """Whether the modules peer ``name`` needs are importable."""
    return all(importlib.util.find_spec(m) is not None for m in REQUIREMENTS[name])


def dense_spikes(inputs: SpikeEvents, n_in: int, n_steps: int, dt_s: float) -> np.ndarray:
    """Spike events as a float32 tensor (B, T, n_in): 1 in the step ``floor(t / dt)`` of each spike."""
    x = np.zeros((inputs.n_samples, n_steps, n_in), dtype=np.float32)
    steps = np.minimum((inputs.times_s / dt_s).astype(np.int64), n_steps - 1)
    np.add.at(x, (inputs.samples, steps, inputs.units), 1.0)
    return x


class Peer(NamedTuple):
    """A peer's jit-compiled forward pass ``x -> output spikes (B, T, 10)`` (the timed call)
    and ``x -> hidden spikes per sample`` (B,) (the activity check, not timed)."""

    forward: Callable
    hidden_spikes: Callable


def jaxsnn_peer(w_a: Sequence[np.ndarray], dt_s: float, p: NeuronParams = DEFAULT_TARGETS) -> Peer:
    """jaxsnn's discrete ``Topology`` (Input -> Linear -> LIF -> Linear -> LIF), vmapped and jit-compiled.

    ``lif_step`` integrates ``V += dt/tau_m (v_leak - V + I)`` with ``I`` in volts, so a
    current jump ``w_a`` enters as ``w_a tau_m / c_mem``; voltages relative to ``v_leak``.
    """
    import jax
    import jax.numpy as jnp
    from jaxsnn.discrete.functional import LIFParameters
    from jaxsnn.discrete.modules import LIF, Input, Linear
    from jaxsnn.discrete.topology import Topology

    ohm = p.tau_m_s / p.c_mem_f
    lif = LIFParameters(
        tau_syn=p.tau_syn_s,
        tau_mem=p.tau_m_s,
        v_th=p.v_th_v - p.v_leak_v,
        v_leak=0.0,
        v_reset=p.v_reset_v - p.v_leak_v,
    )
    topo = Topology(dt=dt_s)  # its time_steps is unused: the scan runs over the input's length
    topo.add(
        {
            "inp": Input(w_a[0].shape[0]),
            "syn_ih": Linear(pre_weights=jnp.asarray(w_a[0] * ohm, dtype=jnp.float32)),
            "hid": LIF(w_a[0].shape[1], lif),
            "syn_ho": Linear(pre_weights=jnp.asarray(w_a[1] * ohm, dtype=jnp.float32)),
            "out": LIF(w_a[1].shape[1], lif),
        }
    )
    topo.connect([("inp", "syn_ih"), ("syn_ih", "hid"), ("hid", "syn_ho"), ("syn_ho", "out")])
    init_fn, apply_fn = topo.done()
    params = init_fn(jax.random.PRNGKey(0))
    run = jax.vmap(lambda x: apply_fn({"inp": x}, params)[1])  # x: (T, 256) per sample
    return Peer(jax.jit(lambda x: run(x)["out"]), jax.jit(lambda x: run(x)["hid"].sum(axis=(1, 2))))


def spyx_peer(w_a: Sequence[np.ndarray], dt_s: float, p: NeuronParams = DEFAULT_TARGETS) -> Peer:
    """Spyx: ``Sequential(Linear, CuBaLIF, Linear, CuBaLIF)`` run by ``spyx.nn.run``, jit-compiled.

    The model is split into graph and state (``flax.nnx.split``) and merged inside
    ``jax.jit``; the hidden spikes come from the same layers truncated after the hidden one.
    """
    import jax
    import jax.numpy as jnp
    import spyx
    from flax import nnx

    alpha = float(np.exp(-dt_s / p.tau_syn_s))
    beta = float(np.exp(-dt_s / p.tau_m_s))
    thr = p.v_th_v - p.v_leak_v
    rngs = nnx.Rngs(0)
    layers = []
    for w in w_a:
        lin = nnx.Linear(w.shape[0], w.shape[1], use_bias=False, rngs=rngs)
        lin.kernel = nnx.Param(jnp.asarray(w * dt_s / p.c_mem_f, dtype=jnp.float32))
        layers += [lin, spyx.nn.CuBaLIF((w.shape[1],), alpha=alpha, beta=beta, threshold=thr, rngs=rngs)]

    def runner(model):
        graph, state = nnx.split(model)
        return lambda x: spyx.nn.run(nnx.merge(graph, state), x, batch_major=True)[0]

    full, hidden = runner(spyx.nn.Sequential(*layers)), runner(spyx.nn.Sequential(*layers[:2]))
    return Peer(jax.jit(full), jax.jit(lambda x: hidden(x).sum(axis=(1, 2))))


def jax_scan_peer(w_a: Sequence[np.ndarray], dt_s: float, p: NeuronParams = DEFAULT_TARGETS) -> Peer:
    """A plain ``jax.lax.scan`` of the emulator's exact step (:func:`anamorph.models.neuron.step`).

    Per step and layer: integrate ``V' = v_leak + (V - v_leak) e_m + I p_syn`` (held while
    refractory), threshold, deliver this step's spikes to ``I`` (acting from the next step),
    reset to ``v_reset`` for ``n_ref`` steps. Voltages relative to ``v_leak``, ``I`` in volts
    per step (times ``p_syn``).
    """
    import jax
    import jax.numpy as jnp

    pr = propagator(p, dt_s, 1)
    e_m, e_s = float(pr.e_m[0]), float(pr.e_s[0])
    thr, reset, n_ref = p.v_th_v - p.v_leak_v, p.v_reset_v - p.v_leak_v, int(pr.n_ref[0])
    w1, w2 = (jnp.asarray(w * pr.p_syn_ohm[0], dtype=jnp.float32) for w in w_a)

    def layer(state, drive):
        v, i, refr = state
        active = refr == 0
        v = jnp.where(active, v * e_m + i, v)
        refr = refr - (~active)
        spiked = (v >= thr) & (refr == 0)
        v = jnp.where(spiked, reset, v)
        refr = jnp.where(spiked, n_ref, refr)
        return (v, i * e_s + drive, refr), spiked.astype(jnp.float32)

    def step(carry, x_t):
        hid, out = carry
        hid, s_hid = layer(hid, x_t @ w1)
        out, s_out = layer(out, s_hid @ w2)
        return (hid, out), (s_hid.sum(axis=1), s_out)

    def run(x):
        rest = lambda n: (jnp.zeros((x.shape[0], n)),) * 2 + (jnp.zeros((x.shape[0], n), jnp.int32),)
        _, (n_hid, s_out) = jax.lax.scan(step, (rest(w1.shape[1]), rest(w2.shape[1])), jnp.swapaxes(x, 0, 1))
        return jnp.swapaxes(s_out, 0, 1), n_hid.sum(axis=0)

    return Peer(jax.jit(lambda x: run(x)[0]), jax.jit(lambda x: run(x)[1]))


PEERS: dict[str, Callable[..., Peer]] = {"jaxsnn": jaxsnn_peer, "spyx": spyx_peer, "jax_scan": jax_scan_peer}
