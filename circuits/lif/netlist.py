"""Transistor-level netlist of the LIF neuron (BrainScaleS-2 in spirit, accelerated).

Blocks (node names in brackets)::

    membrane   C_mem from [mem] to ground (MIM capacitor, a few pF)
    leak       PMOS-input OTA, follower-connected: I = g_m (v_leak - V_mem); g_m set
               by its tail current, which mirrors the tau_m DAC current [lbias]
    threshold  PMOS-input 5T comparator [mem] vs the v_th DAC line, two inverters
               -> [spk] (high while V_mem > v_th)
    refractory [spk] sets an SR latch [q]/[qb]; while [qb] is high a PMOS holds C_ref
               [rf] at VDD; once the latch is set the t_ref DAC current discharges [rf]; when
               [rf] falls below an inverter threshold [rdone] resets the latch; a
               snap transistor pair (positive feedback while the latch is set) makes
               that reset full-swing, and the precharge waits for the latch to flip
               (three-inverter delay), so no analog equilibrium exists in between;
               [q] is high during the refractory time
    reset      NMOS switch [mem] -> [vrst] while [q] is high; [vrst] is driven by a
               unity-gain OTA buffer from the v_reset DAC line

t_ref ~ C_ref (VDD - V_inv) / I_ref and tau_m = C_mem / g_m. Each DAC is ideal
(code / (2**10 - 1) * full scale); mismatch lives in the transistors it drives (Pelgrom,
:mod:`anamorph.circuits.process`). Design values follow the spirit of the BrainScaleS-2
neuron (Aamir et al., "An accelerated LIF neuronal network array for a large-scale
mixed-signal neuromorphic architecture", IEEE TCAS-I 65(12), 2018): tau_m of a few
microseconds from a few-pF membrane and an OTA leak.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.circuits.devices import Devices, ota5
from anamorph.circuits.process import DEFAULT_PROCESS, Process
from anamorph.circuits.testbench import dac_value


@dataclass(frozen=True)
class LifDesign:
    """Sizes (m), capacitors (F), DAC full scales and fixed biases of the neuron."""

    c_mem_f: float = 2.0e-12
    c_ref_f: float = 100e-15
    c_vrst_f: float = 1.0e-12
    v_dac_fs_v: float = 1.8
    i_leak_fs_a: float = 400e-9
    i_ref_fs_a: float = 100e-9
    i_cmp_a: float = 1.0e-6
    i_buf_a: float = 10.0e-6
    leak_pair_wl_m: tuple = (0.5e-6, 40e-6)
    leak_load_wl_m: tuple = (1.0e-6, 20.0e-6)
    leak_tail_wl_m: tuple = (2.0e-6, 4.0e-6)
    leak_area_scale: float = 1.0  # multiplies W*L of every leak-OTA transistor


def _scaled(wl, scale):
    k = np.sqrt(scale)
    return wl[0] * k, wl[1] * k


def leak_ota(
    mismatch,
    corner: str = "tt",
    design: LifDesign = LifDesign(),
    process: Process = DEFAULT_PROCESS,
    tag: str = "",
) -> list[str]:
    """The leak OTA: ``I(mem) = g_m (V(vleakd) - V(mem))``, tail current from [lbias].

    ``tag`` is appended to every device and internal node name (for arrays of copies);
    the mismatch streams stay keyed by the untagged names.
    """
    pair = _scaled(design.leak_pair_wl_m, design.leak_area_scale)
    load = _scaled(design.leak_load_wl_m, design.leak_area_scale)
    tail = _scaled(design.leak_tail_wl_m, design.leak_area_scale)
    mem, lb, lt, la = f"mem{tag}", f"lbias{tag}", f"ltail{tag}", f"la{tag}"
    return ota5(
        Devices(process, mismatch, corner, tag),
        ("mlt", "ml1", "ml2", "ml3", "ml4"),
        "vleakd",
        mem,
        mem,
        lb,
        lt,
        la,
        tail,
        pair,
        load,
        bias_diode="mlb",
    )


def lif_netlist(
    codes: dict,
    *,
    mismatch=None,
    corner: str = "tt",
    design: LifDesign = LifDesign(),
    process: Process = DEFAULT_PROCESS,
    input_source: str = "iin 0 mem dc 0",
    force_mem: str | None = None,
    force_reset: bool = False,
    break_latch: bool = False,
    analysis: str = ".op",
) -> str:
    """Netlist of one neuron.

    Parameters
    ----------
    codes : dict
        10-bit DAC codes ``v_leak, v_th, v_reset, tau_m, t_ref``.
    mismatch : Mismatch or numpy Generator, optional
        Monte Carlo instance (None: nominal).
    input_source : str
        The line that drives [mem] (an ``i`` element from node 0 to ``mem``).
    force_mem : str, optional
        A voltage-source line that forces [mem] (threshold testbench).
    force_reset : bool
        Hold the reset switch on (reset-potential testbench).
    break_latch : bool
        Disconnect the comparator from the refractory latch (threshold testbench).
    analysis : str
        Analysis and option cards.
    """
    P, d, c = process, design, corner
    m = Devices(P, mismatch, c)

    def inv(name, a, y):
        return [
            m(f"m{name}p", y, a, "vdd", "vdd", "p", (1e-6, 0.18e-6)),
            m(f"m{name}n", y, a, "0", "0", "n", (0.5e-6, 0.18e-6)),
        ]

    def nor(name, a, b, y):
        return [
            m(f"m{name}pa", f"{name}x", a, "vdd", "vdd", "p", (2e-6, 0.18e-6)),
            m(f"m{name}pb", y, b, f"{name}x", "vdd", "p", (2e-6, 0.18e-6)),
            m(f"m{name}na", y, a, "0", "0", "n", (0.5e-6, 0.18e-6)),
            m(f"m{name}nb", y, b, "0", "0", "n", (0.5e-6, 0.18e-6)),
        ]

    v = lambda key: dac_value(codes[key], d.v_dac_fs_v)  # noqa: E731
    lines = [
        "* anamorph LIF neuron",
        P.model_cards(),
        f"vdd vdd 0 {P.vdd_v}",
        f"vleakd vleakd 0 {v('v_leak'):.9g}",
        f"vthd vthd 0 {v('v_th'):.9g}",
        f"vrstd vrstd 0 {v('v_reset'):.9g}",
        f"ileakd lbias 0 {dac_value(codes['tau_m'], d.i_leak_fs_a):.9g}",
        f"irefd vdd rbias {dac_value(codes['t_ref'], d.i_ref_fs_a):.9g}",
        f"icmp cbias 0 {d.i_cmp_a:.9g}",
        f"ibuf bbias 0 {d.i_buf_a:.9g}",
        # membrane and leak OTA
        P.capacitor("cmem", "mem", "0", d.c_mem_f, mismatch),
        *leak_ota(mismatch, c, d, P),
        # threshold comparator
        *ota5(
            m,
            ("mct", "mc1", "mc2", "mc3", "mc4"),
            "mem",
            "vthd",
            "cmp",
            "cbias",
            "ctail",
            "ca",
            (2e-6, 1e-6),
            (4e-6, 1e-6),
            (2e-6, 1e-6),
            bias_diode="mcb",
        ),
        *inv("i1", "cmp", "spkb"),
        *inv("i2", "spkb", "spk"),
        # refractory timer: SR latch set by [spk], reset when C_ref has discharged
        *nor("n1", "rdone", "qb", "q"),
        *nor("n2", "0" if break_latch else "spk", "q", "qb"),
        *inv("i6", "qb", "qd1"),
        *inv("i7", "qd1", "qd2"),
        *inv("i8", "qd2", "qbn"),
        m("mr1", "rf", "qbn", "vdd", "vdd", "p", (0.5e-6, 0.5e-6)),
        m("mrb", "rbias", "rbias", "0", "0", "n", (2e-6, 2e-6)),
        m("mr2", "rf", "rbias", "0", "0", "n", (2e-6, 2e-6)),
        P.capacitor("cref", "rf", "0", d.c_ref_f, mismatch),
        *inv("i3", "rf", "rdone"),
        # snap: while the latch is still set, a rising [rdone] pulls [rf] further down
        # (positive feedback), so the latch always sees a full-swing reset
        m("mr3", "rf", "rdone", "rx", "0", "n", (0.5e-6, 0.5e-6)),
        m("mr4", "rx", "q", "0", "0", "n", (0.5e-6, 0.5e-6)),
        # reset switch and v_reset buffer
        m("ms1", "mem", "rforce" if force_reset else "q", "vrst", "0", "n", (1e-6, 0.18e-6)),
        *ota5(
            m,
            ("mbt", "mb1", "mb2", "mb3", "mb4"),
            "vrstd",
            "vrst",
            "vrst",
            "bbias",
            "btail",
            "ba",
            (4e-6, 1e-6),
            (16e-6, 1e-6),
            (2e-6, 1e-6),
            bias_diode="mbb",
        ),
        P.capacitor("cvrst", "vrst", "0", d.c_vrst_f, mismatch),
        input_source,
    ]
    if force_mem:
        lines.append(force_mem)
    if force_reset:
        lines.append(f"vrforce rforce 0 {P.vdd_v}")
    lines += [f".nodeset v(q)=0 v(qb)={P.vdd_v}", analysis, ".end"]
    return "\n".join(lines) + "\n"


def leak_ota_array(
    mismatches: list,
    v_leak_v: float,
    i_tail_a: float,
    corner: str = "tt",
    design: LifDesign = LifDesign(),
    process: Process = DEFAULT_PROCESS,
) -> str:
    """An operating-point netlist of one leak OTA per entry of ``mismatches``.

    Copy ``k`` has nodes ``mem_k`` (its follower output, the leak potential it sets),
    fed by its own ideal tail-bias source; all share the v_leak DAC line.
    """
    lines = [
        "* leak OTA array",
        process.model_cards(),
        f"vdd vdd 0 {process.vdd_v}",
        f"vleakd vleakd 0 {v_leak_v:.9g}",
    ]
    for k, mm in enumerate(mismatches):
        lines.append(f"ileakd_{k} lbias_{k} 0 {i_tail_a:.9g}")
        lines += leak_ota(mm, corner, design, process, tag=f"_{k}")
    return "\n".join(lines + [".op", ".end"]) + "\n"
