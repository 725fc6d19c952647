"""The gated-synapse Monte Carlo sweep (``anamorph sweep gated-synapse``).

Per instance (device drawn from ``default_rng([seed, instance])``, then one
standard-normal cycle-to-cycle draw per gate pulse from the same generator): the device
starts reset and receives :data:`AMPLITUDES_V`, potentiating and depressing trains at four
amplitudes each, one trapezoidal pulse per :data:`PULSE` slot; then the gate rests for
:data:`RETENTION_S`. Measured (columns):

* ``g_s@0``: conductance before the first pulse (the reset device, ``g_min``);
* ``gate_v@<k>``, ``g_s@<k>``: amplitude of pulse ``k`` (1-based) and the conductance at
  the end of its slot (the start of the next slot);
* ``g_ret_s@<t>``: conductance ``t`` seconds after the last slot, and ``tau_ret_s``, the
  decay time of ``g - g_min`` over the rest;
* ``period_s, width_s, edge_s``: the pulse protocol.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from anamorph.circuits.gated_synapse.device import (
    _VA_NAMES,
    DeviceVariation,
    GatedSynapseParams,
    MembraneBench,
    sample_params,
    simulate,
    train,
    validate,
)

N_PER_TRAIN = 12
TRAINS_V = (0.95, 1.35, -0.8, 1.6, -0.95, -1.3, 1.15, -1.1)
AMPLITUDES_V = tuple(a for a in TRAINS_V for _ in range(N_PER_TRAIN))
PERIOD_S, WIDTH_S, EDGE_S = 2e-6, 0.5e-6, 10e-9
T0_S = 2e-6
RETENTION_S = (50e-6, 100e-6, 200e-6, 300e-6)
SWEEP_BENCH = MembraneBench(
    t_step_s=50e-9, edge_s=EDGE_S
)  # coarser output grid (steps stay error-controlled)


def device_and_noise(seed: int, instance: int, settings: dict, n_pulses: int):
    """The instance's device parameters and its per-pulse cycle-to-cycle draws."""
    nominal = GatedSynapseParams(**{k: float(settings[k]) for k in _VA_NAMES if k in settings})
    scale = float(settings.get("variation_scale", 1.0))
    variation = DeviceVariation(
        **{k: float(settings[k]) * scale for k in asdict(DeviceVariation()) if k in settings}
    )
    rng = np.random.default_rng([seed, instance])
    params = validate(sample_params(nominal, variation, rng))
    return params, rng.standard_normal(n_pulses)


def measure(seed: int, instance: int, settings: dict) -> dict[str, float]:
    """Monte Carlo instance ``instance`` of ``seed`` (module docstring)."""
    params, noise = device_and_noise(seed, instance, settings, len(AMPLITUDES_V))
    pulses = train(AMPLITUDES_V, T0_S, PERIOD_S, WIDTH_S)
    t_end = T0_S + len(pulses) * PERIOD_S
    out = simulate(params, pulses, t_end + RETENTION_S[-1], SWEEP_BENCH, noise)
    t, g = out["t_s"], out["g_s"]
    result = {
        "period_s": PERIOD_S,
        "width_s": WIDTH_S,
        "edge_s": EDGE_S,
        "g_s@0": float(np.interp(T0_S, t, g)),
    }
    for k, amp in enumerate(AMPLITUDES_V, start=1):
        result[f"gate_v@{k}"] = amp
        result[f"g_s@{k}"] = float(np.interp(T0_S + k * PERIOD_S, t, g))
    for dt in RETENTION_S:
        result[f"g_ret_s@{dt:g}"] = float(np.interp(t_end + dt, t, g))
    g0 = result["g_s@0"]
    rel = (float(np.interp(t_end + RETENTION_S[-1], t, g)) - g0) / (result[f"g_s@{len(pulses)}"] - g0)
    result["tau_ret_s"] = RETENTION_S[-1] / -np.log(rel)
    return result


def _figures(table, out_dir):
    from anamorph.circuits.gated_synapse.figures import gated_synapse_figures

    return gated_synapse_figures(table, out_dir)


def _sweepable():
    from anamorph.circuits.sweep import SweepableCircuit

    defaults = {**asdict(GatedSynapseParams()), **asdict(DeviceVariation()), "variation_scale": 1.0}
    return SweepableCircuit("gated-synapse", measure, defaults, timeout_s=60.0, figures=_figures)


SWEEPABLE = _sweepable()
