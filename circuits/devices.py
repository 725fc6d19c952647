"""Transistor-level building blocks shared by the circuit netlists: MOSFET lines and the 5T OTA.

:class:`Devices` binds a process, a Monte Carlo instance's mismatch and a corner once, so a
netlist writes each transistor as ``m(name, d, g, s, b, kind, (w_m, l_m))``; every line
comes from :meth:`anamorph.circuits.process.Process.mosfet`, the one place a device gets
its corner shift and its Pelgrom mismatch (:class:`anamorph.circuits.process.Mismatch`).

:func:`ota5` is the PMOS-input five-transistor OTA (Razavi, "Design of Analog CMOS
Integrated Circuits", 2nd ed., ch. 5): a PMOS tail source mirroring [bias], a PMOS input
pair with bulks tied to the common source, an NMOS current-mirror load; small-signal it
delivers ``I(out) = g_m (V(plus) - V(minus))`` with ``g_m`` set by the tail current.
"""

from __future__ import annotations

from anamorph.circuits.process import DEFAULT_PROCESS, Process


class Devices:
    """MOSFET lines of one circuit instance.

    Parameters
    ----------
    process : Process
        Model cards and Pelgrom coefficients.
    mismatch : Mismatch or numpy Generator, optional
        The instance's mismatch (None: nominal devices).
    corner : str
        Process corner.
    tag : str
        Appended to every device name (copies of one circuit in a single netlist); the
        random stream stays keyed by the untagged name, so a copy carries the mismatch of
        the instance it stands for.
    """

    def __init__(self, process: Process = DEFAULT_PROCESS, mismatch=None, corner: str = "tt", tag: str = ""):
        self.process, self.mismatch, self.corner, self.tag = process, mismatch, corner, tag

    def __call__(self, name: str, d: str, g: str, s: str, b: str | None, kind: str, wl) -> str:
        """One transistor ``name`` (drain, gate, source, bulk), ``wl = (w_m, l_m)``.

        ``b=None`` ties the bulk to its rail (``0`` for NMOS, ``vdd`` for PMOS).
        """
        if b is None:
            b = "0" if kind.lower().startswith("n") else "vdd"
        return self.process.mosfet(
            name + self.tag, d, g, s, b, kind, wl[0], wl[1], self.mismatch, self.corner, key=name
        )


def ota5(
    m: Devices,
    names,
    plus: str,
    minus: str,
    out: str,
    bias: str,
    tail: str,
    mirror: str,
    tail_wl,
    pair_wl,
    load_wl,
    bias_diode: str | None = None,
) -> list[str]:
    """A PMOS-input 5T OTA: current ``g_m (V(plus) - V(minus))`` into ``out``.

    ``names`` are the device names (tail source, + input, - input, diode load, output
    load); ``tail`` and ``mirror`` the internal nodes (common source, load diode). With
    ``bias_diode`` a diode-connected PMOS of the tail's size turns a current sunk from
    [bias] into the tail's gate voltage. PMOS bulks are tied to their sources (own wells).
    """
    t, p1, p2, l1, l2 = names
    lines = [m(bias_diode, bias, bias, "vdd", "vdd", "p", tail_wl)] if bias_diode else []
    return lines + [
        m(t, tail, bias, "vdd", "vdd", "p", tail_wl),
        m(p1, mirror, plus, tail, tail, "p", pair_wl),
        m(p2, out, minus, tail, tail, "p", pair_wl),
        m(l1, mirror, mirror, "0", "0", "n", load_wl),
        m(l2, out, mirror, "0", "0", "n", load_wl),
    ]
