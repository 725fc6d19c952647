r"""Map between the TSTDP circuit's biases and the triplet rule's parameters.

The map comes from the circuit's design equations (:mod:`anamorph.circuits.tstdp.circuit`) with
the transistors characterised by one DC operating-point run in ngspice (nominal devices, or
with ``mismatch`` those of one Monte Carlo instance, capacitors included):

- time constants: a trace ramps at :math:`I_{leak}/C`, the read transistor's current falls
  by :math:`e^{-S\,\Delta V}` (:math:`S = |d\ln I/dV|`, measured as a 30 mV secant at the
  trace's reset level), so :math:`\tau = C / (S I_{leak})`;
- amplitudes: the charge a read window of length :math:`T_r` puts on :math:`C_w`, with the
  traces starting to move :math:`T_d` (read + reset pulse) after their spike::

      A = I_0 e^{T_d \lambda} (1 - e^{-T_r \lambda}) / (\lambda C_w w_scale),
      lambda = sum of 1/tau of the traces the term reads

  where :math:`I_0` is the read transistor's current with its gate and source at their
  reset levels, measured in a short transient (:func:`reset_levels`).

A target amplitude below ``OFF_AMPLITUDE`` parks that term's source at ``v_w0`` (term off).
Limits of the default design: an amplitude needs its source bias inside [0, VDD], so the
largest A3p is about 0.041 (the visual-cortex nearest-spike set asks 0.053 and gets 0.041).

Times here are biological (the circuit's divided by ``TIME_SCALE``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from anamorph.circuits.tstdp.circuit import GMIN_S, TIME_SCALE, TstdpBiases, TstdpDesign
from anamorph.circuits.tstdp.rule import TripletParams

DELTA_V = 0.03
# term -> (kind, gate node level attr, source bias attr, gate step sign, source step sign)
# ("gate_p" / "gate_n": reference devices with the source at the rail, for the gate slopes)
_TERMS = {
    "a2p": ("p", "v_r1_v", "v_a2p_v", +1, -1),
    "a3p": ("p", "v_r1_v", "v_a3p_v", +1, -1),
    "a2m": ("n", "v_o1_v", "v_a2m_v", -1, +1),
    "a3m": ("n", "v_o1_v", "v_a3m_v", -1, +1),
    "gate_p": ("p", "v_r1_v", "vdd", +1, -1),
    "gate_n": ("n", "v_o1_v", "gnd", -1, +1),
}
# probe device -> the circuit device whose mismatch it carries (others: same name)
_DEVICE = {"gate_p": "a2p", "gate_n": "a2m", "br1": "btp", "br2": "btx", "bo1": "btm", "bo2": "bty"}
OFF_AMPLITUDE = 1e-6  # a smaller target amplitude switches its term off (source parked at v_w0)
# trace -> (leak kind, bias current attr, capacitor attr, drain level, direction of the ramp)
_LEAKS = {
    "r1": ("p", "i_tau_plus_a", "c_gate_trace_f", "v_r1_v", +1),
    "r2": ("p", "i_tau_x_a", "c_source_trace_f", "v_a3m_v", +1),
    "o1": ("n", "i_tau_minus_a", "c_gate_trace_f", "v_o1_v", -1),
    "o2": ("n", "i_tau_y_a", "c_source_trace_f", "v_a3p_v", -1),
}


def _level(name, biases, design, vdd=None):
    if name in ("vdd", "gnd"):
        return vdd if name == "vdd" else 0.0
    return getattr(design, name) if hasattr(design, name) else getattr(biases, name)


def reset_levels(
    biases: TstdpBiases, design: TstdpDesign = TstdpDesign(), process=None, mismatch=None, corner="tt"
) -> dict[str, float]:
    """Trace voltages just after one reset (a transient of one pre and one post spike).

    They differ from the bias levels by the reset switches' charge injection (about a mV).
    ``mismatch`` / ``corner``: those of the circuit instance (default: nominal).
    """
    from anamorph.circuits.tstdp.circuit import simulate

    d, t0 = design, 2e-6
    t_end = t0 + d.t_read_s + d.t_edge_s + d.t_set_s + d.t_set_edge_s + 20e-9
    out = simulate([t0], [t0], t_end + 10e-9, biases, design, process, mismatch, corner)
    return {name: float(np.interp(t_end, out["t_s"], out[name])) for name in ("r1", "r2", "o1", "o2")}


def characterise(
    biases: TstdpBiases, design: TstdpDesign = TstdpDesign(), process=None, mismatch=None, corner="tt"
) -> dict[str, float]:
    """DC currents of the read and leak transistors at the traces' measured reset levels:
    ``I0_<term>``, ``S_gate_<term>``, ``S_source_<term>`` (1/V), ``I_leak_<trace>`` (A) and
    the capacitors ``C_<trace>``, ``C_w`` (F).

    With ``mismatch`` (a :class:`~anamorph.circuits.process.Mismatch`) every probe device
    carries the mismatch of the circuit device it stands for (same random-stream key:
    read transistor ``a2p`` .. ``a3m``, leak mirror ``btp`` / ``r1leak`` ..., capacitors
    ``cr1`` .. ``cw``), and the reset levels come from that instance's transient, so the
    map gives the rule that instance implements.
    """
    from anamorph.circuits.process import DEFAULT_PROCESS
    from anamorph.ngspice import Simulator

    p = process or DEFAULT_PROCESS
    levels = reset_levels(biases, design, process, mismatch, corner)
    d = replace(design, v_r1_v=levels["r1"], v_o1_v=levels["o1"])
    biases = replace(
        biases,
        **{
            attr: levels[trace]
            for attr, trace in (("v_a3p_v", "o2"), ("v_a3m_v", "r2"))
            if abs(getattr(biases, attr) - design.v_w0_v) > 1e-9
        },
    )
    lines = ["tstdp characterisation", p.model_cards().strip(), f"Vdd vdd 0 {p.vdd_v}"]
    probes = []
    for term, (kind, gate_attr, src_attr, sg, ss) in _TERMS.items():
        vg, vs = _level(gate_attr, biases, d), _level(src_attr, biases, d, p.vdd_v)
        bulk = "vdd" if kind == "p" else "0"
        for tag, g, s in (("0", vg, vs), ("g", vg + sg * DELTA_V, vs), ("s", vg, vs + ss * DELTA_V)):
            name = f"{term}{tag}"
            lines += [
                f"Vg{name} g{name} 0 {g}",
                f"Vs{name} s{name} 0 {s}",
                f"Vd{name} d{name} 0 {d.v_w0_v}",
                p.mosfet(
                    name,
                    f"d{name}",
                    f"g{name}",
                    f"s{name}",
                    bulk,
                    kind,
                    d.w_out_m,
                    d.l_out_m,
                    mismatch,
                    corner,
                    key=_DEVICE.get(term, term),
                ),
            ]
            probes.append((f"I_{term}_{tag}", f"vd{name}#branch"))
    for trace, (kind, i_attr, _, level_attr, direction) in _LEAKS.items():
        level = _level(level_attr, biases, d) + direction * DELTA_V
        rail = "vdd" if kind == "p" else "0"
        current = getattr(biases, i_attr)
        src = f"I{trace} b{trace} 0 {current}" if kind == "p" else f"I{trace} vdd b{trace} {current}"
        lines += [
            src,
            p.mosfet(
                f"b{trace}",
                f"b{trace}",
                f"b{trace}",
                rail,
                rail,
                kind,
                d.w_leak_m,
                d.l_leak_m,
                mismatch,
                corner,
                key=_DEVICE[f"b{trace}"],
            ),
            f"Vl{trace} l{trace} 0 {level}",
            p.mosfet(
                f"l{trace}",
                f"l{trace}",
                f"b{trace}",
                rail,
                rail,
                kind,
                d.w_leak_m,
                d.l_leak_m,
                mismatch,
                corner,
                key=f"{trace}leak",
            ),
        ]
        probes.append((f"I_leak_{trace}", f"vl{trace}#branch"))
    lines.append(f".options gmin={GMIN_S:g}")  # as in the circuit's transient (circuit.GMIN_S)
    res = Simulator().run("\n".join([*lines, ".op", ".end"]) + "\n", source="tstdp characterisation")
    cur = {name: abs(float(res[vec][0])) for name, vec in probes}
    out = {}
    for term in _TERMS:
        i0 = cur[f"I_{term}_0"]
        out[f"I0_{term}"] = i0
        out[f"S_gate_{term}"] = np.log(i0 / cur[f"I_{term}_g"]) / DELTA_V
        out[f"S_source_{term}"] = np.log(i0 / cur[f"I_{term}_s"]) / DELTA_V
    out.update({f"I_leak_{t}": cur[f"I_leak_{t}"] for t in _LEAKS})
    for trace, (_, _, c_attr, _, _) in _LEAKS.items():
        out[f"C_{trace}"] = _capacitance(p, f"c{trace}", getattr(d, c_attr), mismatch)
    out["C_w"] = _capacitance(p, "cw", d.c_w_f, mismatch)
    return out


def _capacitance(process, name: str, c_f: float, mismatch) -> float:
    """The value of capacitor ``name`` with the instance's mismatch (as the netlist has it)."""
    return float(process.capacitor(name, "a", "0", c_f, mismatch).split()[-1])


def params_from_characterisation(ch: dict, design: TstdpDesign = TstdpDesign()) -> TripletParams:
    """The rule's parameters (biological time) that a characterised bias set implements."""
    d = design

    def gate_slope(pair, triplet, ref):  # the slope of the term that carries most current
        best = max((pair, triplet), key=lambda term: ch[f"I0_{term}"])
        return ch[f"S_gate_{best}"] if ch[f"I0_{best}"] > 1e-11 else ch[f"S_gate_{ref}"]

    def source_slope(triplet, pair):  # a switched-off triplet term: its trace matters not; use the pair's
        return ch[f"S_source_{triplet}"] if ch[f"I0_{triplet}"] > 1e-11 else ch[f"S_source_{pair}"]

    def cap(trace, nominal):  # an instance's capacitor, if characterised with its mismatch
        return ch.get(f"C_{trace}", nominal)

    tau_c = {
        "plus": cap("r1", d.c_gate_trace_f) / (ch["I_leak_r1"] * gate_slope("a2p", "a3p", "gate_p")),
        "minus": cap("o1", d.c_gate_trace_f) / (ch["I_leak_o1"] * gate_slope("a2m", "a3m", "gate_n")),
        "x": cap("r2", d.c_source_trace_f) / (ch["I_leak_r2"] * source_slope("a3m", "a2m")),
        "y": cap("o2", d.c_source_trace_f) / (ch["I_leak_o2"] * source_slope("a3p", "a2p")),
    }
    t_d = d.t_read_s + d.t_edge_s + d.t_set_s + d.t_set_edge_s / 2
    t_r = d.t_read_s - 1.5 * d.t_edge_s  # the park switch ends the read mid-way through its edge

    def amp(term, *taus):
        lam = sum(1.0 / tau_c[t] for t in taus)
        charge = max(ch[f"I0_{term}"], 0.0) * np.exp(t_d * lam) * (1 - np.exp(-t_r * lam)) / lam
        return charge / (cap("w", d.c_w_f) * d.w_scale_v)

    return TripletParams(
        a2p=amp("a2p", "plus"),
        a3p=amp("a3p", "plus", "y"),
        a2m=amp("a2m", "minus"),
        a3m=amp("a3m", "minus", "x"),
        tau_x_s=tau_c["x"] / TIME_SCALE,
        tau_y_s=tau_c["y"] / TIME_SCALE,
        tau_plus_s=tau_c["plus"] / TIME_SCALE,
        tau_minus_s=tau_c["minus"] / TIME_SCALE,
        interaction="nearest",
    )


def params_for(
    biases: TstdpBiases, design: TstdpDesign = TstdpDesign(), process=None, mismatch=None, corner="tt"
) -> TripletParams:
    """Forward map: the rule's parameters that ``biases`` implement (nominal devices, or the
    devices of the Monte Carlo instance ``mismatch`` at ``corner``)."""
    return params_from_characterisation(characterise(biases, design, process, mismatch, corner), design)


def biases_for(
    target: TripletParams,
    design: TstdpDesign = TstdpDesign(),
    process=None,
    start: TstdpBiases = TstdpBiases(),
    iterations: int = 4,
) -> TstdpBiases:
    """Inverse map: biases whose nominal circuit implements ``target`` (fixed-point iteration).

    ``target.tau_plus_s`` and ``tau_minus_s`` are set by the leak currents like tau_x, tau_y.
    """
    from anamorph.circuits.process import DEFAULT_PROCESS

    vdd = (process or DEFAULT_PROCESS).vdd_v
    b = start
    for _ in range(iterations):
        ch = characterise(b, design, process)
        now = params_from_characterisation(ch, design)
        new = {}
        for attr, tau in (
            ("i_tau_plus_a", "tau_plus_s"),
            ("i_tau_minus_a", "tau_minus_s"),
            ("i_tau_x_a", "tau_x_s"),
            ("i_tau_y_a", "tau_y_s"),
        ):
            new[attr] = float(
                np.clip(getattr(b, attr) * getattr(now, tau) / getattr(target, tau), 1e-13, 1e-6)
            )
        for term, (_, _, src_attr, _, ss) in list(_TERMS.items())[:4]:
            if getattr(target, term) < OFF_AMPLITUDE:
                new[src_attr] = design.v_w0_v
                continue
            ratio = getattr(target, term) / max(getattr(now, term), 1e-12)
            step = -ss * np.log(ratio) / max(ch[f"S_source_{term}"], 10.0)
            new[src_attr] = float(np.clip(getattr(b, src_attr) + np.clip(step, -0.1, 0.1), 0.0, vdd))
        b = replace(b, **new)
    return b
