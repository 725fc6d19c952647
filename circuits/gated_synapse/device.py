r"""Gated-synapse compact model (Verilog-A, ``gated_synapse.va``) in a membrane testbench.

A three-terminal behavioural device in the spirit of Jones & Jha, "A compact gated-synapse
model for neuromorphic circuits", IEEE TCAD 40(9), 2021. The published equations were not
available here; this model is our own, with the features that paper names: a gate that
sets the conductance state when its voltage passes a threshold, an ideal set time, a
conductance that follows its set value in time, and a decay of the state.

Equations (gate voltage :math:`V_g` referred to ground, state :math:`s \in [0, 1]`)::

    sigma(V_g) = 0                      for u <= 0,   u = (V_g - v_th) / v_w
               = 3 u^2 - 2 u^3          for 0 < u < 1
               = 1                      for u >= 1
    ds/dt = sigma(V_g) (1 - s) / t_set - s / tau_decay
    dx/dt = (s - x) / tau_g
    g     = g_min + (g_max - g_min) x
    I(pre -> post) = g V(pre, post)

A gate below ``v_th`` leaves the set dynamics exactly off (sigma = 0). ``t_set`` is the
ideal set time: a gate held at full overdrive brings ``s`` to within 1/e of 1 after
``t_set``. The device starts reset (``s = x = 0``: the DC operating point with a low gate).

Defaults (accelerated, BrainScaleS-2-like time scale): ``v_th = 0.5 V``, ``v_w = 0.1 V``,
``t_set = 1 us``, ``tau_decay = 1 ms``, ``tau_g = 0.2 us``, ``g_min = 1 nS``,
``g_max = 1 uS``. Each parameter has a range declared in the Verilog-A file
(``from [a:b]``); ngspice's OSDI loader then prints "Parameter X is out of bounds!" and
aborts the run. :func:`validate` checks the same ranges, read from the .va file, before
anything runs and raises :class:`~anamorph.errors.InputError` naming the parameter.

Testbench: the device drives a leaky membrane capacitor (the synaptic input of a neuron),
``C_mem dV/dt = g(t) (E_syn - V) - g_leak V``, with the presynaptic side held at ``E_syn``.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from anamorph.errors import InputError

VA_PATH = Path(__file__).with_name("gated_synapse.va")

# Python field name -> Verilog-A parameter name.
_VA_NAMES = {"v_th_v": "v_th", "v_w_v": "v_w", "t_set_s": "t_set", "tau_decay_s": "tau_decay",
             "tau_g_s": "tau_g", "g_min_s": "g_min", "g_max_s": "g_max"}


@dataclass(frozen=True)
class GatedSynapseParams:
    """Device parameters (SI units; ``g_*_s`` in siemens, ``t_*_s``/``tau_*_s`` in seconds)."""

    v_th_v: float = 0.5
    v_w_v: float = 0.1
    t_set_s: float = 1e-6
    tau_decay_s: float = 1e-3
    tau_g_s: float = 2e-7
    g_min_s: float = 1e-9
    g_max_s: float = 1e-6


@dataclass(frozen=True)
class DeviceVariation:
    """Device-to-device spread for Monte Carlo: absolute for ``v_th``, relative (lognormal) otherwise."""

    sigma_v_th_v: float = 0.02
    sigma_t_set_rel: float = 0.10
    sigma_tau_decay_rel: float = 0.20
    sigma_tau_g_rel: float = 0.05
    sigma_g_max_rel: float = 0.10


@dataclass(frozen=True)
class MembraneBench:
    """The neuron's synaptic input the device drives, and the simulator's settings."""

    e_syn_v: float = 1.0
    c_mem_f: float = 1e-12
    g_leak_s: float = 1e-7
    t_step_s: float = 10e-9
    edge_s: float = 10e-9


_RANGE = re.compile(r"parameter\s+real\s+(\w+)\s*=\s*[-+\w.]+\s+from\s*([\[(])\s*([-+\w.]+)\s*:\s*([-+\w.]+)\s*([\])])")


def va_ranges(path: Path = VA_PATH) -> dict[str, tuple[float, float, bool, bool]]:
    """The ranges declared in the .va file: name -> (low, high, low inclusive, high inclusive)."""
    out = {}
    for name, lb, lo, hi, rb in _RANGE.findall(Path(path).read_text()):
        out[name] = (float(lo), float("inf") if hi == "inf" else float(hi), lb == "[", rb == "]")
    return out


def validate(params: GatedSynapseParams) -> GatedSynapseParams:
    """Raise InputError if a parameter lies outside its declared Verilog-A range."""
    ranges = va_ranges()
    for f in fields(params):
        value = getattr(params, f.name)
        lo, hi, lo_in, hi_in = ranges[_VA_NAMES[f.name]]
        ok = np.isfinite(value) and (value >= lo if lo_in else value > lo) and (value <= hi if hi_in else value < hi)
        if not ok:
            lb, rb = "[" if lo_in else "(", "]" if hi_in else ")"
            raise InputError(f"gated synapse parameter {f.name} = {value!r} is outside its declared "
                             f"range {lb}{lo:g}, {hi:g}{rb}", str(VA_PATH.name), f.name)
    if params.g_max_s <= params.g_min_s:
        raise InputError("g_max_s must exceed g_min_s", str(VA_PATH.name), "g_max_s")
    return params


def sample_params(nominal: GatedSynapseParams, variation: DeviceVariation,
                  rng: np.random.Generator) -> GatedSynapseParams:
    """One device of a Monte Carlo population (device-to-device variation)."""
    z = rng.standard_normal(5)
    return replace(nominal,
                   v_th_v=nominal.v_th_v + variation.sigma_v_th_v * z[0],
                   t_set_s=nominal.t_set_s * np.exp(variation.sigma_t_set_rel * z[1]),
                   tau_decay_s=nominal.tau_decay_s * np.exp(variation.sigma_tau_decay_rel * z[2]),
                   tau_g_s=nominal.tau_g_s * np.exp(variation.sigma_tau_g_rel * z[3]),
                   g_max_s=nominal.g_max_s * np.exp(variation.sigma_g_max_rel * z[4]))


def gate_pwl(pulses, t_stop_s: float, edge_s: float) -> list[tuple[float, float]]:
    """Piecewise-linear gate waveform for ``pulses`` = [(t_start_s, width_s, amplitude_v), ...]."""
    points = [(0.0, 0.0)]
    for t0, width, amp in sorted(pulses):
        if t0 < points[-1][0] + edge_s or width <= edge_s:
            raise InputError("gate pulses must not overlap and must be longer than their edges",
                             "gate pulses", "t_start_s")
        points += [(t0, 0.0), (t0 + edge_s, amp), (t0 + width, amp), (t0 + width + edge_s, 0.0)]
    if t_stop_s > points[-1][0]:
        points.append((t_stop_s, 0.0))
    return points


def netlist(params: GatedSynapseParams, pulses, t_stop_s: float, bench: MembraneBench = MembraneBench()) -> str:
    """The device between ``E_syn`` and a leaky membrane node, its gate driven by ``pulses``."""
    model = " ".join(f"{_VA_NAMES[k]}={v:.12g}" for k, v in asdict(params).items())
    pwl = " ".join(f"{t:.12g} {v:.12g}" for t, v in gate_pwl(pulses, t_stop_s, bench.edge_s))
    return f"""gated synapse driving a membrane
.model gsyn gated_synapse {model}
Vpre pre 0 {bench.e_syn_v}
Vsense pre syn 0
Vg gate 0 PWL({pwl})
N1 syn post gate gsyn
Cmem post 0 {bench.c_mem_f}
Rleak post 0 {1.0 / bench.g_leak_s}
.options reltol=1e-6 abstol=1e-15 vntol=1e-9 chgtol=1e-18
.tran {bench.t_step_s} {t_stop_s} 0 {bench.t_step_s}
.end
"""


def simulate(params: GatedSynapseParams, pulses, t_stop_s: float,
             bench: MembraneBench = MembraneBench()) -> dict[str, np.ndarray]:
    """Compile (cached), run in ngspice and return ``t_s, gate_v, s, x, g_s, v_mem_v``.

    ``g_s`` is measured from the device current, ``I / V(pre, post)``.
    """
    from anamorph.ngspice import Simulator, compile_va

    validate(params)
    sim = Simulator()
    sim.load_osdi(compile_va(VA_PATH))
    res = sim.run(netlist(params, pulses, t_stop_s, bench), source="gated-synapse")
    v_post = res["post"]
    current = res["vsense#branch"]
    return {"t_s": res["time"], "gate_v": res["gate"], "s": res["n1#sn"], "x": res["n1#xn"],
            "g_s": current / (bench.e_syn_v - v_post), "v_mem_v": v_post}


# The sweep protocol: three set pulses at full overdrive, one sub-threshold pulse, then rest.
SET_PULSES = ((2e-6, 0.5e-6, 1.0), (6e-6, 0.5e-6, 1.0), (10e-6, 0.5e-6, 1.0))
SUB_PULSE = (14e-6, 1e-6, 0.4)
T_STOP_S = 30e-6
SWEEP_BENCH = MembraneBench(t_step_s=50e-9)  # coarser output grid for sweeps (steps stay error-controlled)


def _at(t, y, when):
    return float(np.interp(when, t, y))


def measure(seed: int, instance: int, settings: dict) -> dict[str, float]:
    """Monte Carlo instance ``instance``: device parameters drawn from ``default_rng([seed, instance])``.

    Returns the conductance settled 3 us after each set pulse (``g_pulse<k>_s``, siemens),
    the membrane voltage then (``v_mem_pulse<k>_v``), the state's decay time constant
    measured from ``s`` after the gate is released (``tau_decay_s``), and the change of ``s``
    across the sub-threshold pulse beyond that decay (``ds_subthreshold``).
    """
    nominal = GatedSynapseParams(**{k: float(settings[k]) for k in _VA_NAMES if k in settings})
    variation = DeviceVariation(**{k: float(settings[k]) * float(settings.get("variation_scale", 1.0))
                                   for k in asdict(DeviceVariation()) if k in settings})
    params = validate(sample_params(nominal, variation, np.random.default_rng([seed, instance])))
    out = simulate(params, [*SET_PULSES, SUB_PULSE], T_STOP_S, SWEEP_BENCH)
    t = out["t_s"]
    result = {}
    for k, (t0, width, _) in enumerate(SET_PULSES, start=1):
        result[f"g_pulse{k}_s"] = _at(t, out["g_s"], t0 + width + 3e-6)
        result[f"v_mem_pulse{k}_v"] = _at(t, out["v_mem_v"], t0 + width + 3e-6)
    t1, t2 = 18e-6, T_STOP_S
    tau = (t2 - t1) / np.log(_at(t, out["s"], t1) / _at(t, out["s"], t2))
    result["tau_decay_s"] = tau
    t_sub, w_sub, _ = SUB_PULSE
    before, after = t_sub - 0.1e-6, t_sub + w_sub + 0.1e-6
    result["ds_subthreshold"] = _at(t, out["s"], after) - _at(t, out["s"], before) * np.exp(-(after - before) / tau)
    return result


def _figures(table, out_dir):
    from anamorph.circuits.gated_synapse.figures import gated_synapse_figures

    return gated_synapse_figures(table, out_dir)


def _sweepable():
    from anamorph.circuits.sweep import SweepableCircuit

    defaults = {**asdict(GatedSynapseParams()), **asdict(DeviceVariation()), "variation_scale": 1.0}
    return SweepableCircuit("gated-synapse", measure, defaults, timeout_s=60.0, figures=_figures)


SWEEPABLE = _sweepable()
