"""EventProp in the loop with the (emulated) chip, as on BrainScaleS-2 (Pehle et al. 2023,
arXiv:2302.07141): the chip runs the forward pass and reports spike times only (no ADC);
the software re-runs its event model *pinned* to those spike times -- the currents the
adjoint's jumps need, I(t*) and I(t* + t_ref), follow from the chip's input and hidden
spike times and the weights actually written (the nominal value of each 6-bit code) --
and the exact adjoint (:mod:`.adjoint`) turns the loss on the chip's output spike times
into weight gradients. A chip spike stamped ``t`` crossed threshold within
``[t, t + dt]``; it enters the backward pass at ``t + dt/2``.

Input code: feature ``x`` in [0, 1] spikes at ``x * t_max`` (jaxsnn's Yin-Yang code; the
features are (x, y, 1-x, 1-y), each repeated ``input_repeat`` times), plus a bias channel
at ``bias_time_s``; for images (digits) at ``(1 - x) * t_max``, dark pixels silent.
Weights are dimensionless current jumps; one code unit is
``w_unit tau_m / (c_mem (v_th - v_leak))`` of the chip's nominal parameters (about 1/62).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from anamorph.models.backend import SpikeEvents
from anamorph.training.eventprop.adjoint import backward
from anamorph.training.eventprop.events import EventParams, current_units_per_code, simulate
from anamorph.training.eventprop.loss import LossParams, loss_and_grad
from anamorph.training.mapping import WEIGHT_MAX, to_codes

EVAL_BASE = 1 << 40


def input_times(
    X: np.ndarray, repeat: int, t_max_s: float, bias_time_s: float | None, invert: bool = False
) -> np.ndarray:
    """(B, n_in) spike times of the linear code above; ``invert``: ``(1 - x) * t_max`` and no
    spike for ``x <= 0`` (images: bright pixels early, dark ones silent)."""
    x = np.repeat(np.asarray(X, dtype=np.float64), repeat, axis=1)
    t = (1.0 - x) * t_max_s if invert else x * t_max_s
    if invert:
        t[x <= 0] = np.inf
    if bias_time_s is not None:
        t = np.column_stack([t, np.full(len(t), float(bias_time_s))])
    return t


def spikes_by_layer(events: SpikeEvents, sizes: list[int], dt_s: float) -> list[np.ndarray]:
    """Chip output events as (B, N, S) inf-padded spike times per layer (stamp + dt/2)."""
    out, first = [], 0
    for n in sizes:
        ev = events.select(first, n)
        order = np.lexsort((ev.times_s, ev.units, ev.samples))
        b, u, t = ev.samples[order], ev.units[order], ev.times_s[order]
        k = np.arange(len(order))
        new_neuron = np.ones(len(order), dtype=bool)
        new_neuron[1:] = (b[1:] != b[:-1]) | (u[1:] != u[:-1])
        rank = k - np.maximum.accumulate(np.where(new_neuron, k, 0))  # spike index within its neuron
        arr = np.full((events.n_samples, n, max(1, int(rank.max(initial=0)) + 1)), np.inf)
        arr[b, u, rank] = t + 0.5 * dt_s
        out.append(arr)
        first += n
    return out


@dataclass
class EventPropModel:
    """Forward passes (chip or ideal model) and gradients of one run."""

    p: EventParams
    lp: LossParams
    scale: float  # codes per dimensionless weight unit
    tables: tuple | None = None
    backend: object = None
    push: float = 0.0
    chip_s: float = 0.0

    def quantised(self, weights):
        """The weights the chip realises: the nominal transfer of each written code."""
        out = []
        for w in weights:
            codes = to_codes(w, self.scale, self.tables)
            if self.tables is None:
                out.append(codes / self.scale)
            else:
                exc, inh = (np.asarray(t, dtype=np.float64) for t in self.tables)
                out.append(np.where(codes >= 0, exc[np.abs(codes)], -inh[np.abs(codes)]) / self.scale)
        return out

    def forward(self, t_in: np.ndarray, weights, on_chip: bool, run_id: int | None = None):
        """Spike times of every layer (input first); on the chip only spikes are read."""
        if not on_chip:
            return simulate(t_in, weights, self.p)
        if run_id is not None and hasattr(self.backend, "n_runs"):
            self.backend.n_runs = int(run_id)
        codes = [to_codes(w, self.scale, self.tables) for w in weights]
        t0 = time.perf_counter()
        obs = self.backend.run(SpikeEvents.from_latencies(t_in), codes, self.p.duration_s)
        self.chip_s += time.perf_counter() - t0
        sizes = [w.shape[1] for w in weights]
        return [t_in[:, :, None]] + spikes_by_layer(obs.spikes, sizes, self.backend.dt_s)

    def step(self, t_in, weights, y, on_chip: bool, run_id=None):
        """(loss, gradients, info) of one batch."""
        spikes = self.forward(t_in, weights, on_chip, run_id)
        loss, g, pred = loss_and_grad(spikes[-1], y, self.lp, self.p.duration_s)
        grads = backward(spikes, self.quantised(weights) if on_chip else weights, g, self.p)
        grads = self.silent_push(spikes, grads, y)
        return loss, grads, {"correct": int(np.sum(pred == y)), "spikes": spikes}

    def silent_push(self, spikes, grads, y):
        """Add the silent-neuron heuristic: a neuron that should fire but is silent gets no
        gradient from its spike time, so its weights from presynaptic neurons that fired are
        raised at rate ``push`` (the label neuron for TTFS, every output for MSE; hidden
        neurons silent for the whole batch). Not part of the exact gradient; 0 disables it."""
        if self.push <= 0:
            return grads
        B = len(y)
        out_silent = ~np.isfinite(spikes[-1][:, :, 0])
        if self.lp.kind == "ttfs":
            out_silent &= np.eye(out_silent.shape[1], dtype=bool)[y]
        for l in range(len(grads)):
            pre = np.isfinite(spikes[l]).sum(axis=2).astype(np.float64)  # (B, n_in)
            if l == len(grads) - 1:
                silent = out_silent.astype(np.float64)
            else:
                never = ~np.isfinite(spikes[l + 1][:, :, 0]).any(axis=0)
                silent = np.broadcast_to(never, (B, grads[l].shape[1]))
            grads[l] = grads[l] - self.push * (pre.T @ silent) / B
        return grads

    def evaluate(self, t_in, weights, y, on_chip: bool, batch: int, run_base: int = 0) -> dict:
        pred = np.empty(len(y), dtype=np.int64)
        hidden = 0.0
        counts = [np.zeros(w.shape[0]) for w in weights] + [np.zeros(weights[-1].shape[1])]  # energy
        for k, s in enumerate(range(0, len(y), batch)):
            sp = self.forward(t_in[s : s + batch], weights, on_chip, EVAL_BASE + run_base + k)
            for l, a in enumerate(sp):
                counts[l] += np.isfinite(a).sum(axis=(0, 2))
            t = np.where(np.isfinite(sp[-1][:, :, 0]), sp[-1][:, :, 0], np.inf)
            pred[s : s + batch] = np.argmin(t, axis=1)
            hidden += float(sum(np.isfinite(a).sum() for a in sp[1:-1]))
        n_hidden = sum(w.shape[1] for w in weights[:-1])
        return {
            "accuracy": float(np.mean(pred == y)),
            "predictions": pred,
            "spikes_per_hidden_neuron": hidden / len(y) / n_hidden,
            "presyn_spikes_per_sample": [c / len(y) for c in counts[:-1]],
            "output_spikes_per_sample": float(counts[-1].sum() / len(y)),
        }


def make_model(
    nominal, duration_s: float, loss: LossParams, tables=None, backend=None, push: float = 0.0
) -> EventPropModel:
    p = EventParams.from_nominal(nominal, duration_s)
    return EventPropModel(p, loss, 1.0 / current_units_per_code(nominal), tables, backend, push)


def w_limit(model: EventPropModel) -> float:
    top = (
        WEIGHT_MAX
        if model.tables is None
        else min(float(model.tables[0][WEIGHT_MAX]), float(model.tables[1][WEIGHT_MAX]))
    )
    return top / model.scale
