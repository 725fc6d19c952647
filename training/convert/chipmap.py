"""The rate network on the chip: rate-coded inputs, 6-bit codes, spike counts -> rates.

* Inputs: channel ``i`` of a sample with rate ``a_i`` (units of 1/tau_m) fires a regular
  train of rate ``r_i = a_i / tau_m`` with a random phase, ``t = (phi + n) / r_i``,
  ``phi ~ U(0, 1)``, over the window ``T``.
* Weights: the software weights are already in code units; the codes are the nearest
  codes under the process model's nominal synaptic transfer
  (:func:`anamorph.training.mapping.to_codes`), and a code's value for the software
  model is that transfer (:func:`code_values`). One code unit delivers the charge
  ``w_unit tau_syn`` per event, which :func:`.softlif.j_per_code` turns into the current
  ``j`` of the soft-LIF.
* Readout: spike counts after a warm-up (the membranes start at rest) over the rest of
  the window give the rates ``a = count tau_m / (T - T_warm)`` of every layer; the class
  is the output with the most spikes (ties: the earliest first spike).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.models.backend import SpikeEvents
from anamorph.training.mapping import WEIGHT_MAX, to_codes


def code_values(codes: np.ndarray, tables) -> np.ndarray:
    """Nominal transfer (code units) of signed codes: ``T_exc[w]`` or ``-T_inh[-w]``."""
    c = np.asarray(codes, dtype=np.int64)
    exc, inh = (np.asarray(t, dtype=np.float64) for t in tables)
    return np.where(c >= 0, exc[np.clip(c, 0, WEIGHT_MAX)], -inh[np.clip(-c, 0, WEIGHT_MAX)])


def quantise(weights: list[np.ndarray], tables) -> list[np.ndarray]:
    """Signed 6-bit codes of weights in code units."""
    return [to_codes(w, 1.0, tables) for w in weights]


def input_events(a0: np.ndarray, tau_m_s: float, window_s: float, rng: np.random.Generator) -> SpikeEvents:
    """Regular trains of rates ``a0 / tau_m`` with random phases, shape (B, n_in) -> events."""
    r = np.asarray(a0, dtype=np.float64) / tau_m_s
    phase = rng.uniform(0.0, 1.0, r.shape)
    n = np.maximum(np.where(r > 0, np.ceil(window_s * r - phase), 0), 0).astype(np.int64)  # (phi+n)/r < T
    samples, units = np.nonzero(n)
    reps = n[samples, units]
    s, u = np.repeat(samples, reps), np.repeat(units, reps)
    starts = np.repeat(np.cumsum(reps) - reps, reps)
    k = np.arange(reps.sum()) - starts
    t = (phase[s, u] + k) / r[s, u]
    return SpikeEvents(t, u, s, r.shape[0])


@dataclass(frozen=True)
class ChipRates:
    """Measured rates of every chip layer (``a[l]``, (B, n_l)) and the predicted classes."""

    a: list[np.ndarray]
    predictions: np.ndarray
    spikes_per_sample: float
    #: mean spikes per sample of each neuron over the whole window: inputs, then every chip layer
    spikes_per_neuron: tuple[np.ndarray, ...] = ()


def run_rates(
    backend,
    a0: np.ndarray,
    codes: list[np.ndarray],
    *,
    tau_m_s: float,
    window_s: float,
    warmup_s: float,
    rng: np.random.Generator,
) -> ChipRates:
    """Run the batch ``a0`` on ``backend`` with ``codes``; the rates of every layer."""
    events = input_events(a0, tau_m_s, window_s, rng)
    obs = backend.run(events, codes, window_s)
    sp = obs.spikes
    sizes = [c.shape[1] for c in codes]
    late = sp.times_s >= warmup_s
    counted = SpikeEvents(sp.times_s[late], sp.units[late], sp.samples[late], sp.n_samples)
    a, first = [], 0
    for n in sizes:
        a.append(counted.select(first, n).counts(n) * tau_m_s / (window_s - warmup_s))
        first += n
    out = sp.select(first - sizes[-1], sizes[-1])
    t_first = np.full((sp.n_samples, sizes[-1]), np.inf)
    np.minimum.at(t_first, (out.samples, out.units), out.times_s)
    score = a[-1] - 1e-6 * np.where(np.isfinite(t_first), t_first / window_s, 2.0)
    per_neuron = [events.counts(np.shape(a0)[1]).mean(axis=0)]
    first = 0
    for n in sizes:
        per_neuron.append(sp.select(first, n).counts(n).mean(axis=0))
        first += n
    return ChipRates(a, np.argmax(score, axis=1), float(sp.times_s.size / sp.n_samples), tuple(per_neuron))


def measure_batch(net, backend, a0: np.ndarray, weights: list[np.ndarray], tables, **run_kw):
    """The batch ``a0`` on the chip with ``weights``' codes: (measured rates, nominal currents).

    Returns ``(meas, a, j, w_eff)``: the :class:`ChipRates`, the rates of every layer with
    the inputs first, each layer's nominal current ``j_l = k a_{l-1} T(codes_l)`` and the
    codes' nominal weight values ``T(codes_l)``.
    """
    codes = quantise(weights, tables)
    meas = run_rates(backend, a0, codes, tau_m_s=net.f.tau_m_s, **run_kw)
    w_eff = [code_values(c, tables) for c in codes]
    a = [a0] + meas.a
    j = [net.k * a[l] @ w_eff[l] for l in range(len(codes))]
    return meas, a, j, w_eff
