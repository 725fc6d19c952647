"""EqSpike: equilibrium propagation with the chip's spiking neurons (the two phases and updates).

EqSpike (Martin et al. 2021, iScience 24:102222) trains a spiking network with Equilibrium
Propagation (Scellier & Bengio 2017, Front. Comput. Neurosci. 11:24): the network settles
to a spiking equilibrium twice, freely and weakly nudged towards the target, and every
synapse changes by the difference of its pre- times post-synaptic activity between the two
phases. Where the paper's details are not given here, this module chooses as follows.

Network on the chip: ``input (+ one bias channel) -> hidden -> output`` and the feedback
projection ``output -> hidden`` carrying the transpose of the forward codes, so the
couplings are symmetric (every update writes both from one float matrix). The output
biases come from the bias channel through an ``input -> output`` projection whose only
non-zero row is the bias row.

Units. A rate ``r`` is the dimensionless ``s = r t_ref`` (nominal refractory time), so
``0 <= s <= 1`` and the hard sigmoid of :mod:`.rate` never clips it. A weight ``W`` is such
that a presynaptic unit at ``s`` adds the mean current ``W s I_rh`` with the rheobase
``I_rh = c_mem (v_th - v_leak) / tau_m``; one code carries the charge ``w_unit_a tau_syn``
per spike, hence ``codes_per_unit = t_ref I_rh / (w_unit_a tau_syn)`` (~21 at the nominal
operating point, so code 63 ~ 3 rheobases), written with the nominal weight transfer
(:func:`anamorph.training.mapping.to_codes`). The LIF's rate ``s = f(h)`` of the field
``h = sum W s_pre + b`` (rheobase units) is zero below 1 and concave above it: the spiking
counterpart of the hard sigmoid.

Inputs: feature ``x`` in [0, 1] -> a regular spike train of rate ``x / t_ref`` (``s = x``)
with a random phase per (sample, channel) drawn from the run's seed, the same in both
phases of a batch (regular trains carry no Poisson noise into the rates); the bias channel
fires at ``1 / t_ref``.

Phases. Each phase is one chip run of ``t_settle + t_window``; rates are spike counts in
``[t_settle, t_settle + t_window)`` divided by the window. The nudged run injects into
output neuron ``k`` the teaching current ``beta (y_k - s_k^0) I_rh`` from the start (``s^0``
the free rate of the same sample, ``y`` the target rates): the rate-EP nudge
``beta (y - s)`` with the free rate in place of the instantaneous one (first order in beta).
``beta`` is therefore in rheobases per unit rate error; its sign is drawn per batch
(Laborieux et al. 2021, Front. Neurosci. 15:633674) unless ``estimator="one-sided"``.
``estimator="symmetric"`` (Laborieux et al. 2021) runs two nudged phases per batch, with
``+beta`` and ``-beta`` (the same teaching current with both signs), and takes
``[phi(s^+beta) - phi(s^-beta)] / (2 beta)``, whose bias is O(beta^2) instead of O(beta).

Update (software): with the measured ``s`` in place of ``rho(s)`` the rate-EP update of
:func:`anamorph.training.eqprop.rate.phi_grads`,
``Delta W = [s_pre^beta s_post^beta - s_pre^0 s_post^0] / beta`` (batch mean), estimates
``-dL/dW``; float shadow weights take it and are written as codes for the next batch.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from anamorph.errors import InputError
from anamorph.models.backend import SpikeEvents, Teaching
from anamorph.models.network import INPUT, ChipNetwork, Projection
from anamorph.training.eqprop.rate import RateNet, phi_grads
from anamorph.training.mapping import to_codes

HIDDEN, OUTPUT = "hidden", "output"
ESTIMATORS = ("random-sign", "one-sided", "symmetric")


@dataclass(frozen=True)
class Units:
    """The nominal scales that turn rates, weights and nudges into chip quantities."""

    t_ref_s: float
    i_rheobase_a: float
    codes_per_unit: float

    @classmethod
    def from_nominal(cls, nominal) -> Units:
        m = lambda x: float(np.mean(x))  # noqa: E731
        i_rh = m(nominal.c_mem_f) * (m(nominal.v_th_v) - m(nominal.v_leak_v)) / m(nominal.tau_m_s)
        scale = m(nominal.t_ref_s) * i_rh / (m(nominal.w_unit_a) * m(nominal.tau_syn_s))
        return cls(m(nominal.t_ref_s), i_rh, scale)


@dataclass(frozen=True)
class Phases:
    """Timing of one phase (a chip run): settle, then count spikes over the window."""

    t_settle_s: float = 30e-6
    t_window_s: float = 100e-6

    @property
    def duration_s(self) -> float:
        return self.t_settle_s + self.t_window_s

    def check(self) -> Phases:
        if not (self.t_settle_s >= 0 and self.t_window_s > 0):
            raise InputError("t_settle_s must be >= 0 and t_window_s > 0", None, "phases")
        return self


def input_trains(X: np.ndarray, units: Units, duration_s: float, rng: np.random.Generator) -> SpikeEvents:
    """Regular trains of rate ``x / t_ref`` per feature plus a bias channel at ``1 / t_ref``.

    Channel ``k < n_features`` carries feature ``k``, channel ``n_features`` the bias. Spike
    ``m`` of a channel of period ``T = t_ref / x`` is at ``(phi + m) T`` with ``phi`` uniform in
    [0, 1) from ``rng`` (one draw per sample and channel).
    """
    X = np.asarray(X, dtype=np.float64)
    B, n = X.shape
    s = np.concatenate([X, np.ones((B, 1))], axis=1)
    phase = rng.random((B, n + 1))
    with np.errstate(divide="ignore"):
        period = np.where(s > 0, units.t_ref_s / np.maximum(s, 1e-300), np.inf)
    first = phase * period
    count = np.where(s > 0, np.floor((duration_s - first) / np.where(s > 0, period, 1.0)) + 1, 0)
    count = np.maximum(count, 0).astype(np.int64).ravel()
    idx = np.repeat(np.arange(B * (n + 1)), count)
    m = np.arange(idx.size) - np.repeat(np.cumsum(count) - count, count)
    t = first.ravel()[idx] + m * period.ravel()[idx]
    return SpikeEvents(t, idx % (n + 1), idx // (n + 1), B)


def chip_network(net: RateNet, units: Units, tables=None) -> ChipNetwork:
    """The symmetric network of one hidden layer on the chip (see the module docstring)."""
    if len(net.weights) != 2:
        raise InputError("EqSpike runs one hidden layer (two weight matrices)", None, "net")
    w1, w2 = net.weights
    b1, b2 = net.biases
    c1 = to_codes(np.vstack([w1, b1[None, :]]), units.codes_per_unit, tables)
    c2 = to_codes(w2, units.codes_per_unit, tables)
    cb = np.zeros((w1.shape[0] + 1, w2.shape[1]), dtype=np.int64)
    cb[-1] = to_codes(b2, units.codes_per_unit, tables)
    n_in, n_h, n_o = w1.shape[0] + 1, w1.shape[1], w2.shape[1]
    return ChipNetwork(
        n_in,
        ((HIDDEN, n_h), (OUTPUT, n_o)),
        (
            Projection(INPUT, HIDDEN, c1),
            Projection(HIDDEN, OUTPUT, c2),
            Projection(OUTPUT, HIDDEN, c2.T.copy()),
            Projection(INPUT, OUTPUT, cb),
        ),
    )


def chip_energy(params, network: ChipNetwork, spikes: dict[str, np.ndarray], duration_s: float) -> dict:
    """Energy per sample (uJ, :mod:`anamorph.models.energy`) of a run of ``network``.

    ``spikes[name]`` are the mean spikes per sample of each unit of population ``name``
    over the whole run (``INPUT``: the input channels). Every presynaptic spike drives its
    row of every projection from its population (the symmetric feedback included); the
    classes are read from spike counts, so there is no ADC conversion.
    """
    from anamorph.models.energy import N_CODES, energy_per_sample, in_microjoules, synaptic_events

    exc, inh = np.zeros(N_CODES), np.zeros(N_CODES)
    for proj in network.projections:
        e, i = synaptic_events(spikes[proj.source], proj.codes)
        exc, inh = exc + e, inh + i
    chip_pops = [name for name, _ in network.populations]
    e = energy_per_sample(
        params,
        n_neurons=int(sum(n for _, n in network.populations)),
        duration_s=duration_s,
        spikes=float(sum(np.sum(spikes[name]) for name in chip_pops)),
        syn_exc=exc,
        syn_inh=inh,
        adc_conversions=0.0,
    )
    return in_microjoules(e)


def window_rates(spikes: SpikeEvents, network: ChipNetwork, phases: Phases, units: Units) -> list[np.ndarray]:
    """Dimensionless rates ``s = count t_ref / t_window`` of hidden and output, (B, n) each."""
    t0, t1 = phases.t_settle_s, phases.duration_s
    keep = (spikes.times_s >= t0) & (spikes.times_s < t1)
    sub = SpikeEvents(spikes.times_s[keep], spikes.units[keep], spikes.samples[keep], spikes.n_samples)
    counts = sub.counts(network.n_used).astype(np.float64) * units.t_ref_s / phases.t_window_s
    return [counts[:, network.slice(HIDDEN)], counts[:, network.slice(OUTPUT)]]


def nudge(
    target: np.ndarray, s_free_out: np.ndarray, beta: float, units: Units, network: ChipNetwork
) -> Teaching:
    """Teaching current ``beta (y - s^0) I_rh`` into the output neurons for the whole run."""
    B = len(target)
    i = np.zeros((B, 1, network.n_used))
    i[:, 0, network.slice(OUTPUT)] = beta * (target - s_free_out) * units.i_rheobase_a
    return Teaching(np.zeros(1), i)


def ep_update(
    x: np.ndarray, free: list[np.ndarray], nudged: list[np.ndarray], beta: float
) -> list[np.ndarray]:
    """``(phi_grads(s^beta) - phi_grads(s^0)) / beta``: weights then biases (rate.py's order)."""
    return [(a - b) / beta for a, b in zip(phi_grads(x, nudged), phi_grads(x, free))]


@dataclass
class SpikingEP:
    """Runs the free and nudged phases of a batch on a chip backend.

    ``backend``: a :class:`~anamorph.models.backend.Backend`; ``tables``: the nominal
    weight transfers (excitatory, inhibitory) used to choose codes.
    """

    backend: object
    units: Units
    phases: Phases
    tables: tuple | None = None
    chip_s: float = 0.0  # wall time spent in the backend's runs so far

    def run(
        self,
        X,
        net: RateNet,
        rng: np.random.Generator,
        run_id: int | None = None,
        teaching: Teaching | None = None,
        network: ChipNetwork | None = None,
        inputs=None,
    ):
        """One phase; returns (rates [s_h, s_o], Observables, inputs, network)."""
        network = chip_network(net, self.units, self.tables) if network is None else network
        inputs = input_trains(X, self.units, self.phases.duration_s, rng) if inputs is None else inputs
        if run_id is not None and hasattr(self.backend, "n_runs"):
            self.backend.n_runs = int(run_id)
        t0 = time.perf_counter()
        obs = self.backend.run(inputs, network, self.phases.duration_s, teaching=teaching)
        self.chip_s += time.perf_counter() - t0
        return window_rates(obs.spikes, network, self.phases, self.units), obs, inputs, network

    def step(self, X, target, net: RateNet, beta: float, rng: np.random.Generator, run_id: int = 0):
        """Free and nudged phase of one batch: (update, free rates, nudged rates, (obs0, obs1), network)."""
        free, obs0, inputs, network = self.run(X, net, rng, 2 * run_id)
        teach = nudge(target, free[1], beta, self.units, network)
        nudged, obs1, _, _ = self.run(X, net, rng, 2 * run_id + 1, teach, network, inputs)
        update = ep_update(np.asarray(X, dtype=np.float64), free, nudged, beta)
        return update, free, nudged, (obs0, obs1), network

    def step_symmetric(self, X, target, net: RateNet, beta: float, rng: np.random.Generator, run_id: int = 0):
        """Free phase, then nudged phases at +beta and -beta (runs ``3 run_id + 0, 1, 2``).

        Returns (update, free rates, [+beta rates, -beta rates], (obs0, obs+, obs-), network)
        with ``update = [phi(s^+beta) - phi(s^-beta)] / (2 beta)``.
        """
        free, obs0, inputs, network = self.run(X, net, rng, 3 * run_id)
        teach = nudge(target, free[1], beta, self.units, network)
        minus = nudge(target, free[1], -beta, self.units, network)
        plus, obs1, _, _ = self.run(X, net, rng, 3 * run_id + 1, teach, network, inputs)
        neg, obs2, _, _ = self.run(X, net, rng, 3 * run_id + 2, minus, network, inputs)
        x = np.asarray(X, dtype=np.float64)
        update = [(a - b) / (2.0 * beta) for a, b in zip(phi_grads(x, plus), phi_grads(x, neg))]
        return update, free, [plus, neg], (obs0, obs1, obs2), network
