"""Transistor-level netlist of a synapse: a 6-bit weight DAC into two synaptic inputs.

Blocks (node names in brackets)::

    weight DAC   6 binary-weighted NMOS current sources (bit b: 2**b unit areas in one
                 device, so its Pelgrom spread falls as 1/sqrt(2**b)) mirroring a
                 reference diode; during an event each set bit is steered from [dump]
                 to the routing node [wsum], otherwise it flows into [dump]
    routing      [wsum] -> [sxe] (excitatory) or [sxi] (inhibitory) for the event
    syn. input   per sign: capacitor C_syn at [sx*] held at v_ref by a follower OTA of
                 transconductance g_tau: an event removes Q_w = I_w(code) t_pulse, so
                 V_syn - v_ref relaxes as exp(-t / tau_syn), tau_syn = C_syn / g_tau
    output       a second OTA of the same size and bias converts v_ref - V_syn into a
                 current into (excitatory) or out of (inhibitory) the membrane

Both OTAs of an input mirror the tau_syn DAC current, so the membrane receives
``I_syn(t) = (g_out / g_tau) (Q_w / tau_syn) exp(-t / tau_syn)``: its charge per event,
``Q_w g_out / g_tau``, does not depend on tau_syn (cf. the BrainScaleS-2 synaptic
input, Billaudelle et al., "Versatile emulation of spiking neural networks on an
accelerated neuromorphic substrate", ISCAS 2020). Digital controls (bits, event timing)
are ideal sources; every transistor carries its Pelgrom mismatch.
"""

from __future__ import annotations

from dataclasses import dataclass

from anamorph.circuits.devices import Devices, ota5
from anamorph.circuits.process import DEFAULT_PROCESS, Process
from anamorph.circuits.testbench import dac_value

N_BITS = 6


@dataclass(frozen=True)
class SynapseDesign:
    """Sizes (m), capacitors (F), currents (A) and times (s) of the synapse."""

    c_syn_f: float = 2.0e-12
    i_lsb_a: float = 20e-9
    t_pulse_s: float = 50e-9
    v_ref_v: float = 0.5
    v_dump_v: float = 0.5
    i_tau_fs_a: float = 800e-9
    unit_wl_m: tuple = (1.0e-6, 4.0e-6)
    ref_units: int = 4
    ota_pair_wl_m: tuple = (1.0e-6, 40e-6)
    ota_load_wl_m: tuple = (1.0e-6, 20e-6)
    ota_tail_wl_m: tuple = (2.0e-6, 4.0e-6)


def _ota(m: Devices, d: SynapseDesign, tag, plus, minus, out, bias):
    """PMOS-input 5T OTA (:func:`~anamorph.circuits.devices.ota5`): ``g (V(plus) - V(minus))`` into [out]."""
    return ota5(
        m,
        (f"mt{tag}", f"m1{tag}", f"m2{tag}", f"m3{tag}", f"m4{tag}"),
        plus,
        minus,
        out,
        bias,
        f"t{tag}",
        f"a{tag}",
        d.ota_tail_wl_m,
        d.ota_pair_wl_m,
        d.ota_load_wl_m,
    )


def _pwl(points) -> str:
    return "pwl(" + " ".join(f"{t:.9g} {v:.6g}" for t, v in points) + ")"


def _bit_waves(events, bit, vdd, tp):
    """(on, off) PWL gate voltages of one bit for ``events`` [(t_s, code, sign), ...]."""
    on, off = [(0.0, 0.0)], [(0.0, vdd)]
    for t, code, _ in events:
        if (int(code) >> bit) & 1:
            on += [(t, 0.0), (t + 1e-9, vdd), (t + tp, vdd), (t + tp + 1e-9, 0.0)]
            off += [(t, vdd), (t + 1e-9, 0.0), (t + tp, 0.0), (t + tp + 1e-9, vdd)]
    return _pwl(on), _pwl(off)


def _route_wave(events, sign, vdd):
    """Routing-switch gate: on from 1 us before each event of ``sign`` until the next event."""
    pts, level = [(0.0, vdd if events and events[0][2] == sign else 0.0)], None
    for t, _, sg in events:
        new = vdd if sg == sign else 0.0
        if level is not None and new != level:
            pts += [(t - 1.0e-6, level), (t - 1.0e-6 + 1e-9, new)]
        level = new
    return _pwl(pts)


def synapse_netlist(
    events,
    code_tau_syn: int,
    *,
    mismatch=None,
    corner: str = "tt",
    design: SynapseDesign = SynapseDesign(),
    process: Process = DEFAULT_PROCESS,
    v_mem_v: float = 0.45,
    analysis: str = ".op",
) -> str:
    """Netlist of one synapse with both membrane outputs held at ``v_mem_v``.

    The currents into the held membrane are ngspice's branch currents ``vmeme#branch``
    / ``vmemi#branch`` (current entering the source at the membrane node: positive when
    the synapse pushes current into the membrane).

    Parameters
    ----------
    events : list of (t_s, weight_code, sign)
        Presynaptic events in time order: at ``t_s`` the 6-bit ``weight_code`` (0..63)
        drives [wsum] for ``t_pulse_s``, routed to ``sign`` (``"exc"``/``"inh"``).
    code_tau_syn : int
        10-bit DAC code of the OTA bias current (sets tau_syn).
    """
    for _, code, sign in events:
        if not 0 <= int(code) < 2**N_BITS or sign not in ("exc", "inh"):
            raise ValueError(f"bad event: weight {code!r} (0..{2**N_BITS - 1}), sign {sign!r}")
    d, P = design, process
    m = Devices(P, mismatch, corner)
    vdd = P.vdd_v
    lines = [
        "* anamorph synapse",
        P.model_cards(),
        f"vdd vdd 0 {vdd}",
        f"vref vref 0 {d.v_ref_v}",
        *_dac_lines(m, d, P),
        f"itau tbias 0 {dac_value(code_tau_syn, d.i_tau_fs_a):.9g}",
        m("mtb", "tbias", "tbias", "vdd", "vdd", "p", d.ota_tail_wl_m),
    ]
    for b in range(N_BITS):
        on, off = _bit_waves(events, b, vdd, d.t_pulse_s)
        lines += [f"vgon{b} gon{b} 0 {on}", f"vgoff{b} goff{b} 0 {off}"]
    lines += [
        f"vroute_e re 0 {_route_wave(events, 'exc', vdd)}",
        f"vroute_i ri 0 {_route_wave(events, 'inh', vdd)}",
        m("mre", "sxe", "re", "wsum", "0", "n", (1e-6, 0.18e-6)),
        m("mri", "sxi", "ri", "wsum", "0", "n", (1e-6, 0.18e-6)),
        f"vmeme meme 0 {v_mem_v}",
        f"vmemi memi 0 {v_mem_v}",
        P.capacitor("csyne", "sxe", "0", d.c_syn_f, mismatch),
        P.capacitor("csyni", "sxi", "0", d.c_syn_f, mismatch),
        *_ota(m, d, "fe", "vref", "sxe", "sxe", "tbias"),  # follower: holds sxe at v_ref
        *_ota(m, d, "oe", "vref", "sxe", "meme", "tbias"),  # exc output: + into membrane
        *_ota(m, d, "fi", "vref", "sxi", "sxi", "tbias"),
        *_ota(m, d, "oi", "sxi", "vref", "memi", "tbias"),  # inh output: - into membrane
        analysis,
        ".end",
    ]
    return "\n".join(lines) + "\n"


def _dac_lines(m, d: SynapseDesign, P: Process) -> list[str]:
    """Reference diode, binary-weighted sources and their steering switches."""
    lines = [
        f"vdump dump 0 {d.v_dump_v}",
        f"iref vdd wref {d.i_lsb_a * d.ref_units:.9g}",
        m("mwref", "wref", "wref", "0", "0", "n", (d.unit_wl_m[0] * d.ref_units, d.unit_wl_m[1])),
    ]
    for b in range(N_BITS):
        lines += [
            m(f"mw{b}", f"wd{b}", "wref", "0", "0", "n", (d.unit_wl_m[0] * 2**b, d.unit_wl_m[1])),
            m(f"msw{b}", "wsum", f"gon{b}", f"wd{b}", "0", "n", (1e-6, 0.18e-6)),
            m(f"msd{b}", "dump", f"goff{b}", f"wd{b}", "0", "n", (1e-6, 0.18e-6)),
        ]
    return lines


def dac_transfer_netlist(
    *,
    mismatch=None,
    corner: str = "tt",
    design: SynapseDesign = SynapseDesign(),
    process: Process = DEFAULT_PROCESS,
) -> str:
    """The weight DAC alone, [wsum] held at v_ref, swept over codes 0..63 in one DC analysis.

    The code is the swept voltage ``vcode``; behavioural sources decode its bits into
    ideal gate levels. The DAC current at each code is ``-vwsum#branch``.
    """
    m = Devices(process, mismatch, corner)
    vdd = process.vdd_v
    lines = [
        "* anamorph weight DAC transfer",
        process.model_cards(),
        f"vdd vdd 0 {vdd}",
        "vcode code 0 0",
        f"vwsum wsum 0 {design.v_ref_v}",
        *_dac_lines(m, design, process),
    ]
    for b in range(N_BITS):
        bit = f"(floor((v(code) + 0.25) / {2**b}) - 2 * floor((v(code) + 0.25) / {2 ** (b + 1)}))"
        lines += [f"bgon{b} gon{b} 0 v = {vdd} * {bit}", f"bgoff{b} goff{b} 0 v = {vdd} * (1 - {bit})"]
    lines += [f".dc vcode 0 {2**N_BITS - 1} 1", ".end"]
    return "\n".join(lines) + "\n"
