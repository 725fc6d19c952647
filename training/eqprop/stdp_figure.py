"""The STDP-like form of EqSpike's update: measured weight change against spike timing.

EqSpike (Martin et al. 2021, iScience 24:102222) reports that its weight updates take a
form of spike-timing-dependent plasticity. Here the free and the nudged phase of one
batch are laid end to end (the nudged window after the free one, as if the teaching
current switched on at their junction) and, for every hidden -> output synapse and sample,
two measured quantities are compared: the EP update of that synapse,
``(s_pre^beta s_post^beta - s_pre^0 s_post^0) / beta``, and the spike-timing difference
``dt = <t_post> - <t_pre>`` of the centres of mass of the post- and presynaptic spikes in
that joint window. A post-synaptic neuron pushed up by the nudge fires more in the second
half (``dt > 0``) and its synapses potentiate; one pushed down fires earlier (``dt < 0``)
and they depress: post after pre -> potentiation, post before pre -> depression, the sign
structure of an STDP window (Bengio et al. 2015, arXiv:1509.05936, relate this rule,
"presynaptic rate times the change of the postsynaptic rate", to STDP).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.io import write_with
from anamorph.training.eqprop.spiking import HIDDEN, OUTPUT


def _centres(spikes, network, first: str, phases, offset_s: float):
    """Per (sample, unit) sum of spike times (window-relative + offset) and counts."""
    sl = network.slice(first)
    keep = (
        (spikes.units >= sl.start)
        & (spikes.units < sl.stop)
        & (spikes.times_s >= phases.t_settle_s)
        & (spikes.times_s < phases.duration_s)
    )
    n = sl.stop - sl.start
    tsum = np.zeros((spikes.n_samples, n))
    cnt = np.zeros((spikes.n_samples, n))
    np.add.at(
        tsum,
        (spikes.samples[keep], spikes.units[keep] - sl.start),
        spikes.times_s[keep] - phases.t_settle_s + offset_s,
    )
    np.add.at(cnt, (spikes.samples[keep], spikes.units[keep] - sl.start), 1.0)
    return tsum, cnt


def timing_and_updates(obs_free, obs_nudged, network, phases, beta: float, free, nudged):
    """(dt_s, dW) per (sample, hidden i, output j) with both neurons active: see module docstring."""
    parts = {}
    for name in (HIDDEN, OUTPUT):
        a, ca = _centres(obs_free.spikes, network, name, phases, 0.0)
        b, cb = _centres(obs_nudged.spikes, network, name, phases, phases.t_window_s)
        parts[name] = ((a + b) / np.maximum(ca + cb, 1), ca + cb)
    (tp, cp), (to, co) = parts[HIDDEN], parts[OUTPUT]
    dt = to[:, None, :] - tp[:, :, None]
    dw = (nudged[0][:, :, None] * nudged[1][:, None, :] - free[0][:, :, None] * free[1][:, None, :]) / beta
    ok = (cp[:, :, None] > 0) & (co[:, None, :] > 0)
    return dt[ok], dw[ok]


def stdp_figure(sp, net, X, target, c, path: Path, n_bins: int = 21) -> Path:
    """Run one batch (free + nudged at +beta) and plot dW against dt (scatter and bin means)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rng = np.random.default_rng([c.seed, 7])
    _, free, nudged, (o0, o1), network = sp.step(X, target, net, abs(c.beta), rng, (1 << 41) // 2)
    dt, dw = timing_and_updates(o0, o1, network, sp.phases, abs(c.beta), free, nudged)
    fig, ax = plt.subplots(figsize=(5, 3.6))
    us = dt * 1e6
    ax.plot(us, dw, ".", ms=1, alpha=0.2, color="0.5")
    edges = np.linspace(-sp.phases.t_window_s * 1e6, sp.phases.t_window_s * 1e6, n_bins + 1)
    mid = 0.5 * (edges[1:] + edges[:-1])
    which = np.digitize(us, edges) - 1
    means = [dw[which == k].mean() if np.any(which == k) else np.nan for k in range(n_bins)]
    ax.plot(mid, means, "o-", color="C3", label="bin mean")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set_xlabel(r"$\langle t_{post}\rangle - \langle t_{pre}\rangle$ (µs, chip time)")
    ax.set_ylabel(r"measured $\Delta W$ (hidden$\to$output)")
    ax.set_title("EqSpike update vs spike timing (free then nudged window)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)
