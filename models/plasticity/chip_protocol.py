"""STDP protocols run on the emulated chip: many plastic synapses at once, post spikes forced.

A protocol (:class:`anamorph.circuits.tstdp.protocols.Protocol`, biological times) runs at
chip speed (times x ``TIME_SCALE`` = 1e-3) on a network of ``n_rows`` input channels onto
``n_neurons`` neurons (``n_rows`` = min(N, 256) synapse rows each, ``n_neurons`` =
ceil(N / 256)); the plastic projection has code 0 (no current), so the pre spikes do not
move the membranes, and every neuron is made to spike at the protocol's post times by a
teaching current pulse of one emulator step (``PULSE_A``, far above what reaches the
threshold within a step). The post spikes then fall on the step of the requested time
(times are quantised to the emulator's step, 0.5 µs = 0.5 ms biological). Several
protocols run as the samples of one batch. Each synapse's weight change is its
``a+ - a-`` as the plasticity processor reads it (:mod:`anamorph.models.plasticity.processor`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from anamorph.circuits.tstdp.circuit import TIME_SCALE
from anamorph.models.chip import MAX_FAN_IN

if TYPE_CHECKING:
    from anamorph.circuits.tstdp.protocols import Protocol
    from anamorph.models.emulator import ChipEmulator

PULSE_A = 10e-6  # teaching pulse: 2.5 V per 0.5 µs step on a 2 pF membrane
LEAD_S = 10e-6  # chip time before the first spike
TAIL_S = 5e-6  # chip time after the last spike


@dataclass(frozen=True, eq=False)
class ChipProtocolResult:
    """Per-synapse weight changes of each protocol and what went differently from the request."""

    dw: np.ndarray  # (n_protocols, n_synapses) read through the sensor ADC
    dw_exact: np.ndarray  # (n_protocols, n_synapses) the sensors' exact values
    saturated: int  # sensor readings clipped at the ADC's full scale
    post_requested: int  # post spikes asked for, all protocols and neurons
    post_observed: int  # post spikes the neurons fired


def layout(n_synapses: int) -> tuple[int, int]:
    """(rows, neurons) holding ``n_synapses`` plastic synapses."""
    n_rows = min(int(n_synapses), MAX_FAN_IN)
    return n_rows, -(-int(n_synapses) // MAX_FAN_IN)


def run_protocols(
    emulator: ChipEmulator, protocols: Sequence[Protocol], n_synapses: int = 256
) -> ChipProtocolResult:
    """Run ``protocols`` (one batch sample each) on ``n_synapses`` synapses of ``emulator``'s chip."""
    from anamorph.models.backend import SpikeEvents, Teaching
    from anamorph.models.network import ChipNetwork, Projection
    from anamorph.models.plasticity.processor import network_readings, network_sensors

    n_rows, n_neurons = layout(n_synapses)
    dt = emulator.dt_s
    batch = len(protocols)
    pre_t, pre_u, pre_s, post_steps, ends = [], [], [], [], []
    for s, protocol in enumerate(protocols):
        pre, post = protocol.trains()
        pre = LEAD_S + pre * TIME_SCALE
        k = np.rint((LEAD_S + post * TIME_SCALE) / dt).astype(np.int64)
        if np.any(np.diff(k) < 1):
            raise ValueError(f"protocol {protocol.name}: two post spikes within one emulator step")
        post_steps.append(k)
        pre_t.append(np.repeat(pre, n_rows))
        pre_u.append(np.tile(np.arange(n_rows), pre.size))
        pre_s.append(np.full(pre.size * n_rows, s))
        ends.append(max(pre.max(initial=0.0), (k.max(initial=0) + 1) * dt))
    inputs = SpikeEvents(np.concatenate(pre_t), np.concatenate(pre_u), np.concatenate(pre_s), batch)
    steps = np.unique(np.concatenate([[0], *post_steps, *(k + 1 for k in post_steps)]))
    current = np.zeros((batch, steps.size, n_neurons))
    for s, k in enumerate(post_steps):
        current[s, np.searchsorted(steps, k), :] = PULSE_A
    network = ChipNetwork(
        n_rows,
        (("post", n_neurons),),
        (Projection("input", "post", np.zeros((n_rows, n_neurons), np.int64), plastic=True),),
    )
    duration = max(ends) + TAIL_S
    obs = emulator.run(inputs, network, duration, teaching=Teaching(steps * dt, current))
    readings = network_readings(emulator.chip, network, inputs, obs.spikes, per_sample=True)[0]
    exact = network_sensors(emulator.chip, network, inputs, obs.spikes, per_sample=True)[0]
    first = lambda a: a.reshape(batch, -1)[:, :n_synapses]
    requested = sum(k.size for k in post_steps) * n_neurons
    return ChipProtocolResult(
        first(readings.causal - readings.acausal),
        first(exact.dw),
        readings.saturated,
        requested,
        int(obs.spikes.times_s.size),
    )
