r"""Gated-synapse weight memory (Verilog-A, ``gated_synapse.va``) in a membrane testbench.

A behavioural three-terminal device (pre, post, gate) in the spirit of Jones & Jha, "A
compact gated-synapse model for neuromorphic circuits", IEEE TCAD 40(9), 2021, with the
step-size behaviour of memristive and ferroelectric synapses: gate pulses above a
threshold potentiate (positive) or depress (negative) a state ``s in [0, 1]`` with
state-dependent, saturating, asymmetric steps; a drive that rises as a power of the
overdrive above threshold (VTEAM, Kvatinsky et al., IEEE TCAS-II 62(8), 2015); retention
decay; device-to-device and cycle-to-cycle variation. The published equations were not
available here; the model is our own.

Equations (gate voltage :math:`V_g` referred to ground)::

    f_p(V_g) = (V_g / v_th_p - 1)^a_p     for V_g >  v_th_p, else 0
    f_d(V_g) = (-V_g / v_th_d - 1)^a_d    for V_g < -v_th_d, else 0
    ds/dt = m [f_p (1 - s)^gamma_p / t_p - f_d s^gamma_d / t_d] - s / tau_ret
    dx/dt = (s - x) / tau_g,   g = g_min + (g_max - g_min) x,   I(pre -> post) = g V(pre, post)

Cycle-to-cycle variation: ``m = exp(sigma_c2c V(eta))``, where ``eta`` is a fourth
(control) terminal that carries one standard-normal draw per gate pulse as a
piecewise-linear voltage (:func:`eta_pwl`). OpenVAF compiles no random-number functions
(``$random``/``$rdist_*``) for transient analysis, and ngspice's own random sources
cannot be replayed outside ngspice; a PWL input drawn from a recorded seed makes the
noise both random across pulses and reproducible, so a behavioural model can be compared
pulse by pulse. ``eta`` tied to ground is a noise-free device. Device-to-device variation:
:class:`DeviceVariation`, drawn per instance by :func:`sample_params`.

Each parameter has a range declared in the Verilog-A file (``from [a:b]``); ngspice's
OSDI loader prints "Parameter X is out of bounds!" and aborts. :func:`validate` checks
the same ranges, read from the .va file, before anything runs and raises
:class:`~anamorph.errors.InputError` naming the parameter. ``gamma`` and ``a`` are >= 1 so
the right-hand side stays Lipschitz in ``s`` (no finite-time sticking at 0 or 1).

Testbench: the device drives a leaky membrane capacitor, ``C_mem dV/dt = g(t) (E_syn - V)
- g_leak V``, its presynaptic side held at ``E_syn``. The sweep (:func:`measure`) lives in
:mod:`.sweep`.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

import numpy as np

from anamorph.errors import InputError

VA_PATH = Path(__file__).with_name("gated_synapse.va")

# Python field name -> Verilog-A parameter name.
_VA_NAMES = {
    "v_th_p_v": "v_th_p",
    "v_th_d_v": "v_th_d",
    "a_p": "a_p",
    "a_d": "a_d",
    "t_p_s": "t_p",
    "t_d_s": "t_d",
    "gamma_p": "gamma_p",
    "gamma_d": "gamma_d",
    "tau_ret_s": "tau_ret",
    "tau_g_s": "tau_g",
    "g_min_s": "g_min",
    "g_max_s": "g_max",
    "sigma_c2c": "sigma_c2c",
}


@dataclass(frozen=True)
class GatedSynapseParams:
    """Device parameters (SI units; ``g_*_s`` siemens, ``t_*_s``/``tau_*_s`` seconds).

    ``v_th_p_v``/``v_th_d_v`` potentiation/depression gate thresholds (the latter for a
    negative gate), ``a_p``/``a_d`` drive exponents, ``t_p_s``/``t_d_s`` step time at unit
    drive, ``gamma_p``/``gamma_d`` state nonlinearity, ``tau_ret_s`` retention time,
    ``tau_g_s`` conductance lag, ``sigma_c2c`` log-normal cycle-to-cycle spread of a step.
    """

    v_th_p_v: float = 0.8
    v_th_d_v: float = 0.6
    a_p: float = 2.0
    a_d: float = 3.0
    t_p_s: float = 2e-6
    t_d_s: float = 3e-6
    gamma_p: float = 2.0
    gamma_d: float = 1.5
    tau_ret_s: float = 5e-3
    tau_g_s: float = 2e-8
    g_min_s: float = 1e-9
    g_max_s: float = 1e-6
    sigma_c2c: float = 0.1


@dataclass(frozen=True)
class DeviceVariation:
    """Device-to-device spread: absolute (V) for thresholds, relative (log-normal) otherwise."""

    sigma_v_th_v: float = 0.03
    sigma_a_rel: float = 0.05
    sigma_t_rel: float = 0.15
    sigma_gamma_rel: float = 0.08
    sigma_tau_ret_rel: float = 0.25
    sigma_g_min_rel: float = 0.10
    sigma_g_max_rel: float = 0.08


@dataclass(frozen=True)
class MembraneBench:
    """The neuron's synaptic input the device drives, and the simulator's settings."""

    e_syn_v: float = 1.0
    c_mem_f: float = 1e-12
    g_leak_s: float = 1e-7
    t_step_s: float = 10e-9
    edge_s: float = 10e-9


_RANGE = re.compile(
    r"parameter\s+real\s+(\w+)\s*=\s*[-+\w.]+\s+from\s*([\[(])\s*([-+\w.]+)\s*:\s*([-+\w.]+)\s*([\])])"
)


def va_ranges(path: Path = VA_PATH) -> dict[str, tuple[float, float, bool, bool]]:
    """The ranges declared in the .va file: name -> (low, high, low inclusive, high inclusive)."""
    out = {}
    for name, lb, lo, hi, rb in _RANGE.findall(Path(path).read_text()):
        out[name] = (float(lo), float("inf") if hi == "inf" else float(hi), lb == "[", rb == "]")
    return out


def field_ranges() -> dict[str, tuple[float, float, bool, bool]]:
    """The declared ranges by Python field name (``"t_p_s"`` -> ``(1e-9, 1.0, True, True)``)."""
    ranges = va_ranges()
    return {f: ranges[v] for f, v in _VA_NAMES.items()}


def check_range(name: str, value, rng: tuple[float, float, bool, bool], where: str) -> None:
    """Raise InputError naming ``name`` unless every element of ``value`` lies in ``rng``."""
    lo, hi, lo_in, hi_in = rng
    v = np.asarray(value, dtype=np.float64)
    ok = np.isfinite(v) & ((v >= lo) if lo_in else (v > lo)) & ((v <= hi) if hi_in else (v < hi))
    if not np.all(ok):
        bad = v[~ok].flat[0] if v.ndim else float(v)
        lb, rb = "[" if lo_in else "(", "]" if hi_in else ")"
        raise InputError(
            f"gated synapse parameter {name} = {float(bad)!r} is outside its declared "
            f"range {lb}{lo:g}, {hi:g}{rb}",
            where,
            name,
        )


def validate(params: GatedSynapseParams) -> GatedSynapseParams:
    """Raise InputError if a parameter lies outside its declared Verilog-A range."""
    ranges = field_ranges()
    for f in fields(params):
        check_range(f.name, getattr(params, f.name), ranges[f.name], VA_PATH.name)
    if params.g_max_s <= params.g_min_s:
        raise InputError("g_max_s must exceed g_min_s", VA_PATH.name, "g_max_s")
    return params


def sample_params(
    nominal: GatedSynapseParams, variation: DeviceVariation, rng: np.random.Generator
) -> GatedSynapseParams:
    """One device of a Monte Carlo population (device-to-device variation; 11 normal draws)."""
    z = rng.standard_normal(11)
    v = variation
    return replace(
        nominal,
        v_th_p_v=nominal.v_th_p_v + v.sigma_v_th_v * z[0],
        v_th_d_v=nominal.v_th_d_v + v.sigma_v_th_v * z[1],
        a_p=max(1.0, nominal.a_p * np.exp(v.sigma_a_rel * z[2])),
        a_d=max(1.0, nominal.a_d * np.exp(v.sigma_a_rel * z[3])),
        t_p_s=nominal.t_p_s * np.exp(v.sigma_t_rel * z[4]),
        t_d_s=nominal.t_d_s * np.exp(v.sigma_t_rel * z[5]),
        gamma_p=max(1.0, nominal.gamma_p * np.exp(v.sigma_gamma_rel * z[6])),
        gamma_d=max(1.0, nominal.gamma_d * np.exp(v.sigma_gamma_rel * z[7])),
        tau_ret_s=nominal.tau_ret_s * np.exp(v.sigma_tau_ret_rel * z[8]),
        g_min_s=nominal.g_min_s * np.exp(v.sigma_g_min_rel * z[9]),
        g_max_s=nominal.g_max_s * np.exp(v.sigma_g_max_rel * z[10]),
    )


def train(amplitudes_v, t0_s: float, period_s: float, width_s: float) -> list[tuple[float, float, float]]:
    """Gate pulses ``[(t_start_s, width_s, amplitude_v), ...]`` one per ``period_s`` from ``t0_s``."""
    return [(t0_s + k * period_s, width_s, float(a)) for k, a in enumerate(amplitudes_v)]


def gate_pwl(pulses, t_stop_s: float, edge_s: float) -> list[tuple[float, float]]:
    """Piecewise-linear gate waveform for ``pulses`` = [(t_start_s, width_s, amplitude_v), ...]."""
    points = [(0.0, 0.0)]
    for t0, width, amp in sorted(pulses):
        if t0 < points[-1][0] + 3 * edge_s or width <= edge_s:
            raise InputError(
                "gate pulses must be longer than their edges and at least three edges apart",
                "gate pulses",
                "t_start_s",
            )
        points += [(t0, 0.0), (t0 + edge_s, amp), (t0 + width, amp), (t0 + width + edge_s, 0.0)]
    if t_stop_s > points[-1][0]:
        points.append((t_stop_s, 0.0))
    return points


def eta_pwl(pulses, noise, t_stop_s: float, edge_s: float) -> list[tuple[float, float]]:
    """The cycle-to-cycle input: ``noise[k]`` held from two edges before pulse ``k`` to its end."""
    points = [(0.0, 0.0)]
    previous = 0.0
    for (t0, _, _), xi in zip(sorted(pulses), noise):
        points += [(t0 - 2 * edge_s, previous), (t0 - edge_s, float(xi))]
        previous = float(xi)
    points.append((max(t_stop_s, points[-1][0] + edge_s), previous))
    return points


def _pwl(points) -> str:
    return " ".join(f"{t:.12g} {v:.12g}" for t, v in points)


def netlist(
    params: GatedSynapseParams, pulses, t_stop_s: float, bench: MembraneBench = MembraneBench(), noise=None
) -> str:
    """The device between ``E_syn`` and a leaky membrane node, its gate driven by ``pulses``.

    ``noise`` (one standard-normal value per pulse, or None for none) drives ``eta``.
    """
    model = " ".join(f"{_VA_NAMES[k]}={v:.12g}" for k, v in asdict(params).items())
    if noise is not None and len(noise) != len(pulses):
        raise InputError(
            f"needs one noise value per gate pulse ({len(pulses)}), got {len(noise)}", "noise", "noise"
        )
    eta = f"PWL({_pwl(eta_pwl(pulses, noise, t_stop_s, bench.edge_s))})" if noise is not None else "0"
    return f"""gated synapse driving a membrane
.model gsyn gated_synapse {model}
Vpre pre 0 {bench.e_syn_v}
Vsense pre syn 0
Vg gate 0 PWL({_pwl(gate_pwl(pulses, t_stop_s, bench.edge_s))})
Veta eta 0 {eta}
N1 syn post gate eta gsyn
Cmem post 0 {bench.c_mem_f}
Rleak post 0 {1.0 / bench.g_leak_s}
.options reltol=1e-6 abstol=1e-15 vntol=1e-9 chgtol=1e-18
.tran {bench.t_step_s} {t_stop_s} 0 {bench.t_step_s}
.end
"""


def simulate(
    params: GatedSynapseParams, pulses, t_stop_s: float, bench: MembraneBench = MembraneBench(), noise=None
) -> dict[str, np.ndarray]:
    """Compile (cached), run in ngspice and return ``t_s, gate_v, eta, s, x, g_s, v_mem_v``.

    ``g_s`` is measured from the device current, ``I / V(pre, post)``.
    """
    from anamorph.ngspice import Simulator, compile_va

    validate(params)
    sim = Simulator()
    sim.load_osdi(compile_va(VA_PATH))
    res = sim.run(netlist(params, pulses, t_stop_s, bench, noise), source="gated-synapse")
    v_post = res["post"]
    current = res["vsense#branch"]
    return {
        "t_s": res["time"],
        "gate_v": res["gate"],
        "eta": res["eta"],
        "s": res["n1#sn"],
        "x": res["n1#xn"],
        "g_s": current / (bench.e_syn_v - v_post),
        "v_mem_v": v_post,
    }
