"""Benchmark of EventProp (exact event model, adjoint, chip in the loop), Yin-Yang network.

Prints ``name: value unit`` lines, measured in one run:
- wall time per batch of the exact event forward model, of the adjoint backward pass and
  of the emulated chip's forward pass (spikes only), and their ratios;
- how closely the calibrated emulated chip reproduces the event model's spike times for
  the same weights (same spike count, first-spike time difference of hidden neurons);
- the cosine between the adjoint gradient pinned to the chip's spikes and the ideal event
  model's gradient, per layer (same weights and batch, spike-time MSE loss);
- the bytes per sample read from the chip (:mod:`anamorph.models.readout`) by EventProp
  (spike events only) and by the surrogate algorithm (spike events and the ADC samples of
  every hidden and output membrane) for the same batch and weights, and their ratio;
- the worst relative error of the adjoint gradient against central finite differences of
  the event model on a small network (5-6-3, 3 samples);
- if jaxsnn is installed (``pip install -e .[peers]``), side by side: jaxsnn's event-based
  EventProp (``jaxsnn.event``: ``Topology(backprop_method="eventprop")`` with ``Source``,
  ``Linear`` and ``LIF``, as in its ``examples/event/yinyang_layered_event_prop.py``) on the
  same network, batch, input spike times, weights and neuron (tau_m = tau_syn, threshold 1,
  reset ``v_r``; jaxsnn's LIF has no refractory time), jit-compiled (compilation not timed):
  the forward pass and forward + EventProp gradient of its first-spike-time MSE loss per
  batch. Its per-layer event budget is the layer's input events plus twice the most spikes
  a sample has in the exact model's layer: without refractory time its hidden neurons fire
  about 1.6 times as often (3.2 against 2.0 spikes per neuron and sample at seed 0), and
  with 1.25 times every sample filled its budget; its cost grows with the budget.

Usage: .venv/bin/python bench/eventprop.py [--batch 100] [--hidden 120] [--seed 0] [--no-jaxsnn]
"""

from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np


def _fd_worst(seed: int) -> float:
    from anamorph.training.eventprop.adjoint import backward
    from anamorph.training.eventprop.events import EventParams, simulate

    p = EventParams(grazing_vdot=1e-9)  # the exact gradient, no guard
    rng = np.random.default_rng([seed, 7])
    x = rng.uniform(0, 15e-6, (3, 5))
    w = [rng.normal(0.9, 0.6, (5, 6)), rng.normal(0.7, 0.6, (6, 3))]
    sp = simulate(x, w, p)
    c = rng.normal(size=sp[-1].shape)
    loss = lambda s: float(np.sum(np.where(np.isfinite(s[-1]), c[:, :, : s[-1].shape[2]] * s[-1], 0.0)))  # noqa: E731
    grads = backward(sp, w, np.where(np.isfinite(sp[-1]), c, 0.0), p)
    worst = 0.0
    for l in range(2):
        for idx in np.ndindex(w[l].shape):
            runs = []
            for sgn in (1, -1):
                ws = [a.copy() for a in w]
                ws[l][idx] += sgn * 1e-7
                runs.append(simulate(x, ws, p))
            if not all(np.array_equal(np.isfinite(a), np.isfinite(b)) for r in runs for a, b in zip(r, sp)):
                continue
            fd = (loss(runs[0]) - loss(runs[1])) / 2e-7
            worst = max(worst, abs(fd - grads[l][idx]) / max(abs(fd), 1e-9))
    return worst


def _jaxsnn_side_by_side(t_in, wq, y, p, spikes, margin: float = 2.0, repeats: int = 3):
    """(forward s/batch, forward + gradient s/batch, hidden spikes per neuron and sample, share of
    samples whose hidden layer used its whole event budget) of jaxsnn."""
    import jax
    import jax.numpy as jnp
    from jaxsnn.event.encode import target_temporal_encode
    from jaxsnn.event.loss import first_spike, mse_loss
    from jaxsnn.event.modules import LIF, LIFParameters, Linear, Source
    from jaxsnn.event.topology import Topology
    from jaxsnn.event.types import Spike

    n_in, n_hid, n_out = wq[0].shape[0], wq[0].shape[1], wq[1].shape[1]
    most = [int(margin * np.isfinite(s).sum(axis=(1, 2)).max()) + 1 for s in spikes[1:]]
    budget = [n_in + most[0], most[0] + most[1]]  # events a layer sees: its inputs and its own spikes
    lif = LIFParameters(tau_syn=p.tau_syn_s, tau_mem=p.tau_m_s, v_th=1.0, v_reset=p.v_reset)
    topo = Topology(t_max=p.duration_s, backprop_method="eventprop")
    topo.add(
        {
            "inp": Source(n_in),
            "syn1": Linear(pre_weights=jnp.asarray(wq[0], dtype=jnp.float32)),
            "lif1": LIF(n_hid, budget[0], lif),
            "syn2": Linear(pre_weights=jnp.asarray(wq[1], dtype=jnp.float32)),
            "lif2": LIF(n_out, budget[1], lif),
        }
    )
    topo.connect([("inp", "syn1"), ("syn1", "lif1"), ("lif1", "syn2"), ("syn2", "lif2")])
    init_fn, apply_fn = topo.done()
    params = init_fn(jax.random.PRNGKey(0))
    order = np.argsort(t_in, axis=1)
    inp = Spike(
        time=jnp.asarray(np.take_along_axis(t_in, order, axis=1), dtype=jnp.float32),
        idx=jnp.asarray(order),
        current=jnp.zeros(t_in.shape),
        layer_idx=jnp.zeros(t_in.shape, dtype=int),
        internal=jnp.ones(t_in.shape, dtype=bool),
    )
    target = jax.vmap(lambda c: target_temporal_encode(c, 0.8 * p.tau_m_s, 1.2 * p.tau_m_s, n_out))(
        jnp.asarray(y)
    )

    def loss(prm):
        t_first = jax.vmap(first_spike, in_axes=(0, None))(apply_fn({"inp": inp}, prm)["lif2"], n_out)
        return jnp.mean(jax.vmap(mse_loss, in_axes=(0, 0, None))(t_first, target, p.tau_m_s))

    forward = jax.jit(lambda prm: apply_fn({"inp": inp}, prm))
    grad = jax.jit(jax.value_and_grad(loss))
    times = []
    for fn in (forward, grad):
        jax.block_until_ready(fn(params))  # trace + compile (not timed)
        t0 = time.perf_counter()
        for _ in range(repeats):
            jax.block_until_ready(fn(params))
        times.append((time.perf_counter() - t0) / repeats)
    hid = forward(params)["lif1"]
    n_hid_spikes = float(jnp.sum((hid.idx >= 0) & hid.internal)) / (t_in.shape[0] * n_hid)
    return times[0], times[1], n_hid_spikes, float(jnp.mean(jnp.all(hid.idx >= 0, axis=-1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--hidden", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--jaxsnn",
        action=argparse.BooleanOptionalAction,
        default=importlib.util.find_spec("jaxsnn") is not None,
        help="time jaxsnn's event-based EventProp side by side (default: on if installed)",
    )
    args = ap.parse_args()

    from anamorph.models.emulator import ChipEmulator
    from anamorph.training.datasets import load_dataset
    from anamorph.training.eventprop.adjoint import backward
    from anamorph.training.eventprop.loop import input_times, make_model, w_limit
    from anamorph.training.eventprop.loss import LossParams, loss_and_grad
    from anamorph.training.prepare import load_chip

    chip, nominal, _ = load_chip(None, None, args.seed)
    emu = ChipEmulator(chip, seed=args.seed, noise=True, nominal=nominal)
    tables = (chip.process.weight_table_exc, chip.process.weight_table_inh)
    m = make_model(nominal, 40e-6, LossParams(kind="mse"), tables, emu)
    wl = w_limit(m)
    d = load_dataset("yinyang", seed=args.seed)
    t_in = input_times(d.X_train[: args.batch], 5, 12e-6, 0.0)
    rng = np.random.default_rng([args.seed, 1])
    w = [
        np.clip(rng.normal(0.3, 0.25, (t_in.shape[1], args.hidden)) * wl, -wl, wl),
        np.clip(rng.normal(0.15, 0.25, (args.hidden, 3)) * wl, -wl, wl),
    ]
    wq = m.quantised(w)
    y = d.y_train[: args.batch]

    m.forward(t_in, wq, False)  # loads (or compiles) the event kernel
    t0 = time.perf_counter()
    sw = m.forward(t_in, wq, False)
    t_fwd = time.perf_counter() - t0
    _, g, _ = loss_and_grad(sw[-1], y, m.lp, m.p.duration_s)
    backward(sw, wq, g, m.p)  # loads (or compiles) the adjoint kernel
    t0 = time.perf_counter()
    backward(sw, wq, g, m.p)
    t_bwd = time.perf_counter() - t0
    m.forward(t_in, w, True, 0)  # first run builds the network
    t0 = time.perf_counter()
    hw = m.forward(t_in, w, True, 1)
    t_chip = time.perf_counter() - t0
    # what each algorithm reads from the chip for this batch: EventProp the spikes only,
    # surrogate gradients also every hidden and output membrane through the ADC
    from anamorph.models.backend import SpikeEvents
    from anamorph.models.readout import bytes_read
    from anamorph.training.mapping import to_codes

    codes = [to_codes(x, m.scale, m.tables) for x in w]
    bits = int(chip.process.data["adc"]["bits"])
    read_ep = bytes_read(emu.run(SpikeEvents.from_latencies(t_in), codes, m.p.duration_s), bits)
    read_sg = bytes_read(emu.run(SpikeEvents.from_latencies(t_in), codes, m.p.duration_s, record="all"), bits)
    print(f"eventprop_bytes_read_per_sample: {read_ep['total']:.0f} bytes")
    print(
        f"surrogate_bytes_read_per_sample: {read_sg['total']:.0f} bytes ({read_sg['adc']:.0f} of them ADC samples)"
    )
    print(f"surrogate_over_eventprop_bytes: {read_sg['total'] / read_ep['total']:.1f} ratio")
    print(f"event_forward_per_batch: {t_fwd:.3f} s")
    print(f"adjoint_backward_per_batch: {t_bwd:.3f} s")
    print(f"chip_forward_per_batch: {t_chip:.3f} s")
    print(f"backward_over_forward: {t_bwd / t_fwd:.2f} ratio")
    print(f"chip_over_event_forward: {t_chip / t_fwd:.2f} ratio")
    n_sw = np.isfinite(sw[1]).sum(axis=2)
    n_hw = np.isfinite(hw[1]).sum(axis=2)
    print(f"hidden_spikes_per_neuron_model: {n_sw.mean():.3f} spikes/sample")
    print(f"hidden_spikes_per_neuron_chip: {n_hw.mean():.3f} spikes/sample")
    print(f"hidden_same_spike_count: {100 * np.mean(n_sw == n_hw):.1f} %")
    both = np.isfinite(sw[1][:, :, 0]) & np.isfinite(hw[1][:, :, 0])
    dt = np.abs(sw[1][:, :, 0] - hw[1][:, :, :1][:, :, 0])[both]
    print(f"hidden_first_spike_abs_diff_median: {1e6 * np.median(dt):.3f} us")
    grads = []
    for sp in (sw, hw):
        _, g, _ = loss_and_grad(sp[-1], y, m.lp, m.p.duration_s)
        grads.append(backward(sp, wq, g, m.p))
    for l, (a, b) in enumerate(zip(*grads)):
        cos = float(np.sum(a * b) / (np.linalg.norm(a) * np.linalg.norm(b)))
        print(f"gradient_cosine_chip_vs_model_layer{l}: {cos:.3f} ratio")
    print(f"fd_relative_error_worst: {_fd_worst(args.seed):.2e} ratio")
    if not args.jaxsnn:
        if importlib.util.find_spec("jaxsnn") is None:
            print("jaxsnn_event: not installed (pip install -e .[peers])")
        return
    j_fwd, j_grad, j_hid, j_full = _jaxsnn_side_by_side(t_in, wq, y, m.p, sw)
    print(f"jaxsnn_event_forward_per_batch: {j_fwd:.3f} s")
    print(f"jaxsnn_eventprop_forward_and_gradient_per_batch: {j_grad:.3f} s")
    print(f"jaxsnn_hidden_spikes_per_neuron: {j_hid:.3f} spikes/sample")
    print(f"jaxsnn_samples_at_hidden_event_budget: {100 * j_full:.1f} %")
    print(f"event_forward_over_jaxsnn_forward: {t_fwd / j_fwd:.2f} ratio")
    print(f"event_forward_and_adjoint_over_jaxsnn: {(t_fwd + t_bwd) / j_grad:.2f} ratio")


if __name__ == "__main__":
    main()
