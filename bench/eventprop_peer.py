"""EventProp training side by side with jaxsnn's: Yin-Yang in software, per epoch.

Both train the same network size (our Yin-Yang EventProp network: 5 features x 5 input
channels + a bias spike, ``--hidden`` hidden, 3 outputs) on the same data (our Yin-Yang
train and test splits, seed ``--seed``, our linear input spike times) for ``--epochs``
epochs, batch 100, each with its own neuron, loss and optimiser:

* ours: ``anamorph train --algo eventprop --mode software`` (the exact event model at the
  chip's nominal constants, its adjoint in numpy, the run's defaults);
* jaxsnn (the BrainScaleS-2 team's JAX library, ``pip install -e .[peers]``): the recipe of
  its ``examples/event/yinyang_layered_event_prop.py``: ``Topology(backprop_method=
  "eventprop")``, LIF with tau_mem = 12 µs, tau_syn = 6 µs and a reset far below
  threshold (each neuron fires at most once), ``Linear`` initialisation, first-spike-time
  MSE loss with targets 0.8 / 1.2 x 6 µs, Adam (5e-3, decay 0.99 per epoch) after scaling
  by 1/tau_syn and clipping at 0.01; jit-compiled, compilation timed apart.

Printed per epoch: test accuracy and wall time of each, and the ratio of the wall times.

Usage: .venv/bin/python bench/eventprop_peer.py [--epochs 5] [--hidden 120] [--seed 0]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def ours(epochs: int, hidden: int, seed: int) -> list[dict]:
    """The per-epoch history (test accuracy, wall time, ...) of our software EventProp run."""
    from anamorph.training.eventprop.run import make_eventprop_config, train_eventprop

    history = []
    with tempfile.TemporaryDirectory() as tmp:
        c = make_eventprop_config(
            "yinyang", mode="software", epochs=epochs, n_hidden=hidden, seed=seed, out=tmp
        )
        train_eventprop(c, progress=history.append)
    return history


def jaxsnn_training(t_train, y_train, t_test, y_test, hidden: int, epochs: int, seed: int, batch: int = 100):
    """(compile s, [(test accuracy, wall s) per epoch]) of jaxsnn's recipe (module docstring)."""
    import jax
    import jax.numpy as jnp
    import optax
    from jaxsnn.event.encode import target_temporal_encode
    from jaxsnn.event.loss import first_spike, mse_loss
    from jaxsnn.event.modules import LIF, LIFParameters, Linear, Source
    from jaxsnn.event.topology import Topology
    from jaxsnn.event.types import Spike

    tau_mem, tau_syn = 12e-6, 6e-6
    n_in, n_out = t_train.shape[1], 3
    lif = LIFParameters(tau_syn=tau_syn, tau_mem=tau_mem, v_th=1.0, v_reset=-1000.0)
    topo = Topology(t_max=4.0 * tau_syn, backprop_method="eventprop")
    topo.add(
        {
            "inp": Source(n_in),
            "syn1": Linear(mean=3.0 / 5, std=1.6 / 5),
            "lif1": LIF(hidden, hidden + n_in, lif),
            "syn2": Linear(mean=0.5, std=0.8),
            "lif2": LIF(n_out, hidden + n_out, lif),
        }
    )
    topo.connect([("inp", "syn1"), ("syn1", "lif1"), ("lif1", "syn2"), ("syn2", "lif2")])
    init_fn, apply_fn = topo.done()
    params = init_fn(jax.random.PRNGKey(seed))
    n_batches = len(y_train) // batch
    optimizer = optax.chain(
        optax.scale(1.0 / tau_syn),
        optax.clip(0.01),
        optax.adam(optax.exponential_decay(5e-3, n_batches, 0.99)),
    )
    opt_state = optimizer.init(params)

    def spikes(t):
        order = np.argsort(t, axis=1)
        return Spike(
            time=jnp.asarray(np.take_along_axis(t, order, axis=1), dtype=jnp.float32),
            idx=jnp.asarray(order),
            current=jnp.zeros(t.shape),
            layer_idx=jnp.zeros(t.shape, dtype=int),
            internal=jnp.ones(t.shape, dtype=bool),
        )

    encode = jax.vmap(lambda c: target_temporal_encode(c, 0.8 * 6e-6, 1.2 * 6e-6, n_out))
    first = jax.vmap(first_spike, in_axes=(0, None))

    def loss(prm, inp, target):
        t_first = first(apply_fn({"inp": inp}, prm)["lif2"], n_out)
        return jnp.mean(jax.vmap(mse_loss, in_axes=(0, 0, None))(t_first, target, tau_mem))

    @jax.jit
    def update(prm, state, inp, target):
        grad = jax.grad(loss)(prm, inp, target)
        upd, state = optimizer.update(grad, state)
        return optax.apply_updates(prm, upd), state

    predict = jax.jit(lambda prm, inp: jnp.argmin(first(apply_fn({"inp": inp}, prm)["lif2"], n_out), axis=1))
    batches = [
        (spikes(t_train[k : k + batch]), encode(jnp.asarray(y_train[k : k + batch])))
        for k in range(0, n_batches * batch, batch)
    ]
    tests = [spikes(t_test[k : k + batch]) for k in range(0, len(y_test) - batch + 1, batch)]
    t0 = time.perf_counter()
    jax.block_until_ready(update(params, opt_state, *batches[0]))
    jax.block_until_ready(predict(params, tests[0]))
    compile_s = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(epochs):
        t0 = time.perf_counter()
        for k in rng.permutation(len(batches)):
            params, opt_state = update(params, opt_state, *batches[k])
        pred = np.concatenate([np.asarray(predict(params, t)) for t in tests])
        jax.block_until_ready(params)
        out.append((float(np.mean(pred == y_test[: len(pred)])), time.perf_counter() - t0))
    return compile_s, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=120)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from anamorph.training.datasets import load_dataset
    from anamorph.training.eventprop.loop import input_times
    from anamorph.training.eventprop.run import make_eventprop_config

    c = make_eventprop_config("yinyang", seed=args.seed)
    d = load_dataset("yinyang", seed=args.seed)
    tin = lambda X: input_times(X, c.input_repeat, c.t_max_s, c.bias_time_s)  # noqa: E731
    mine = ours(args.epochs, args.hidden, args.seed)
    try:
        compile_s, peer = jaxsnn_training(
            tin(d.X_train), d.y_train, tin(d.X_test), d.y_test, args.hidden, args.epochs, args.seed
        )
    except ImportError:
        compile_s, peer = None, []
        print("jaxsnn: not installed (pip install -e .[peers])")
    if compile_s is not None:
        print(f"jaxsnn_compile: {compile_s:.1f} s")
    for k, h in enumerate(mine):
        print(f"epoch_{k + 1}_anamorph: {100 * h['test_accuracy']:.1f} % in {h['wall_s']:.1f} s")
        if k < len(peer):
            acc, wall = peer[k]
            print(f"epoch_{k + 1}_jaxsnn: {100 * acc:.1f} % in {wall:.1f} s")
            print(f"epoch_{k + 1}_wall_anamorph_over_jaxsnn: {h['wall_s'] / wall:.2f} ratio")


if __name__ == "__main__":
    main()
