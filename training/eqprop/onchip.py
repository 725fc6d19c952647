"""EqSpike's on-chip update: correlation sensors of the two phases change the 6-bit codes.

With ``--update on-chip`` there are no float weights: the chip's codes are the only
weights. The plastic projections (input+bias -> hidden, hidden -> output, and the bias row
of input -> output) carry triplet-STDP correlation sensors
(:mod:`anamorph.models.plasticity.sensors`, read through the sensor ADC,
:mod:`anamorph.models.plasticity.processor`). For uncorrelated pre- and post-synaptic
trains of rates ``r_pre``, ``r_post`` over a run of length ``T`` the pair terms accumulate

    a+ ~ T r_pre r_post A2+ tau_+,      a- ~ T r_pre r_post A2- tau_-,

so ``C = a+ + a-`` is the Hebbian product ``r_pre r_post`` of EP times a per-synapse,
mismatched factor (the chip's own amplitudes and time constants; the triplet terms add
``r_pre r_post^2``-like corrections). The plasticity step of a batch applies

    codes += stochastic_round(eta / beta * (C^beta - C^0))

to every plastic synapse (``C^0`` from the free run, ``C^beta`` from the nudged run; both
accumulate over all samples of the batch and over the whole run, settling included), and
writes the transposed hidden -> output codes into the feedback projection (the plasticity
processor writes both, keeping the couplings symmetric). Rounding draws come from
``rng([seed, 5, step])``. The sign of ``eta / beta`` follows beta's drawn sign; ``eta`` decays
per epoch like the software update's learning rate (``lr_decay``).

With ``estimator="symmetric"`` (Laborieux et al. 2021) a batch runs three times: free (for
the teaching current and the prediction), nudged with ``+beta`` and with ``-beta``; the step
is ``stochastic_round(eta / (2 beta) (C^+beta - C^-beta))``. The processor differences two
stored readings either way; only the reference run changes (the ``-beta`` run instead of the
free run), so the O(beta) bias of the one-sided difference goes and the sensor noise of the
two runs weighs half as much per unit of ``beta``.

Sensor reads (``sensor_reads``): by default the processor reads and resets the sensors
after every sample and adds the digital readings up (``"sample"``,
:func:`anamorph.models.plasticity.processor.network_readings`); ``"run"`` reads them once
after the batch. One read per run reaches the sensor ADC's full scale after a few
samples: at batch 5 on digits, 0.7-2 % of the readings clipped by the last epoch, on the
rows of bright pixels and the bias, the synapses that should learn most, and those
synapses stopped learning. Read per sample, no reading clipped, the batch grew to the
software update's 25, and the hidden rates no longer crept up over the epochs (2.5
against 7-9 hidden spikes per neuron and sample).

Caveats (measured, see the report of the run): the sensors use the nearest-spike
interaction, so a+ per post spike is ``E[exp(-dt_pre / tau_+)]``, which saturates once the
presynaptic period is shorter than ``tau_+`` (~17 µs on the chip): the Hebbian term is
``r_post g(r_pre)`` with a saturating ``g``, not exactly ``r_pre r_post``. The 6-bit codes
quantise the weights coarsely (a code is ~1/21 rheobase).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.models.chip import WEIGHT_MAX
from anamorph.models.plasticity.processor import apply_rule
from anamorph.training.eqprop.rate import RateNet
from anamorph.training.eqprop.spiking import chip_network, nudge

PLASTIC = (0, 1, 3)  # projections of spiking.chip_network that learn (2 is the feedback copy)


@dataclass
class EPSensorRule:
    """``codes + stochastic_round(gain (C^beta - C^0))`` on ``rows`` (all if None), clipped."""

    free: object  # SensorReadings of the free run
    gain: float  # eta / beta (codes per sensor unit)
    rng: np.random.Generator
    rows: slice | None = None

    def __call__(self, readings, codes, modulator=None):
        d = self.gain * ((readings.causal + readings.acausal) - (self.free.causal + self.free.acausal))
        step = np.floor(d + self.rng.random(d.shape)).astype(np.int64)
        if self.rows is not None:
            keep = np.zeros_like(step)
            keep[self.rows] = step[self.rows]
            step = keep
        return np.clip(codes + step, -WEIGHT_MAX, WEIGHT_MAX)


def plastic_network(net: RateNet, sp):
    """The chip network with its learning projections marked plastic (sensors on)."""
    from dataclasses import replace

    network = chip_network(net, sp.units, sp.tables)
    projs = tuple(replace(p, plastic=k in PLASTIC) for k, p in enumerate(network.projections))
    return replace(network, projections=projs)


def step(sp, st, X, target, beta: float, rng, k: int, c):
    """Free and nudged run of one batch, then the sensor-driven code update of ``st.net``.

    ``st.net`` holds the codes themselves (``sp.units.codes_per_unit == 1``, no tables).
    Returns the free rates [s_h, s_o] and the number of sensor readings clipped at the
    sensor ADC's full scale in the two differenced runs.
    """
    network = plastic_network(st.net, sp)
    if c.estimator == "symmetric":  # runs 3k (free), 3k + 1 (+beta), 3k + 2 (-beta)
        free, _, inputs, _ = sp.run(X, st.net, rng, 3 * k, network=network)
        _, obs1, _, _ = sp.run(
            X, st.net, rng, 3 * k + 1, nudge(target, free[1], beta, sp.units, network), network, inputs
        )
        _, ref, _, _ = sp.run(
            X, st.net, rng, 3 * k + 2, nudge(target, free[1], -beta, sp.units, network), network, inputs
        )
        span = 2.0 * beta
    else:
        free, ref, inputs, _ = sp.run(X, st.net, rng, 2 * k, network=network)
        _, obs1, _, _ = sp.run(
            X, st.net, rng, 2 * k + 1, nudge(target, free[1], beta, sp.units, network), network, inputs
        )
        span = beta
    round_rng = np.random.default_rng([c.seed, 5, k])
    gain = c.eta_codes * (st.opt.lr / c.lr) / span  # eta decays with the learning rate
    new = {}
    for j in PLASTIC:
        rows = slice(-1, None) if j == 3 else None
        rule = EPSensorRule(ref.sensors[j], gain, round_rng, rows)
        new[j] = apply_rule(rule, obs1.sensors[j], network.projections[j].codes, where=f"projections[{j}]")
    saturated = sum(o.sensors[j].saturated for o in (ref, obs1) for j in PLASTIC)
    w1, b1 = new[0][:-1].astype(np.float64), new[0][-1].astype(np.float64)
    st.net.weights[0][:] = w1
    st.net.biases[0][:] = b1
    st.net.weights[1][:] = new[1]
    st.net.biases[1][:] = new[3][-1]
    return free, saturated
