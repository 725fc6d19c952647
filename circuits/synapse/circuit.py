"""Testbenches of the 6-bit synapse and its Monte Carlo sweep (``synapse``).

Per instance (column names per CONTRIBUTING.md):

- ``inl_lsb``, ``dnl_lsb``: largest |INL| and |DNL| of the weight DAC's DC transfer
  I(code), codes 0..63, with the end-point line as reference
  (LSB = (I(63) - I(0)) / 63; INL_k = (I_k - I_0)/LSB - k; DNL_k = (I_{k+1} - I_k)/LSB - 1);
- ``"q_exc_c@<code>"``, ``"q_inh_c@<code>"``: charge delivered to the held membrane by
  one event of that weight, ``integral (i(t) - i_before) dt`` over 7 tau_syn (negative
  for inhibition);
- ``syn_gain``: least-squares slope of q_exc against the code, through the origin,
  divided by the design's charge per LSB ``I_lsb t_pulse``;
- ``tau_syn_s`` and ``"tau_syn_s@<code>"``: exponential fit to the excitatory current
  after an event, at the nominal and at other 10-bit tau_syn DAC codes;
- ``p_static_w``: supply power of the biased synapse without events, ``V_dd`` times the
  current V_dd and the DAC's dump line deliver (operating point);
- ``"e_exc_j@<code>"``, ``"e_inh_j@<code>"``: supply energy of one event of that weight,
  ``V_dd integral (i(t) - i_before) dt`` over 3 tau_syn, where ``i`` is the current V_dd
  and the digital drivers (bit and routing gates; a CMOS driver draws from V_dd only the
  charge it sources) deliver. The reference lines (v_ref, dump) stand for class-A buffers,
  whose supply current does not change with load; the charge into the membrane comes out of
  the biased OTAs (``p_static_w``) and is counted with the neuron (``e_spike_j``).
"""

from __future__ import annotations

import numpy as np

from anamorph.circuits.process import DEFAULT_PROCESS, Mismatch
from anamorph.circuits.sweep import SweepableCircuit
from anamorph.circuits.synapse.netlist import N_BITS, SynapseDesign, dac_transfer_netlist, synapse_netlist
from anamorph.circuits.testbench import MeasurementError, fit_exponential, simulate, supply_energy_j

TRAN = ".options method=gear\n.tran 20n {stop:.6g} 0 {step:.6g}"
TAU_NOMINAL_S = 5e-6  # design tau_syn at code 400; sets the simulated windows only
CODE_TAU_REF = 400

DEFAULT_SETTINGS = {
    "corner": "tt",
    "code_tau_syn": 400,
    "dac_tau_syn": [256, 400, 640],
    "weights": [8, 16, 32, 63],
    "weight_tau": 32,
    "v_mem_v": 0.45,
    "mismatch_scale": 1.0,
    "energy_codes": list(range(2**N_BITS)),
}
DRIVERS = ("vgon", "vgoff", "vroute")  # digital gate drivers: their charge comes from V_dd


def inl_dnl_lsb(i_code: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """End-point INL (per code) and DNL (per step) of a DAC transfer, in LSB."""
    i_code = np.asarray(i_code, float)
    lsb = (i_code[-1] - i_code[0]) / (i_code.size - 1)
    if not lsb > 0:
        raise MeasurementError("weight DAC: full-scale current not above zero-code current")
    inl = (i_code - i_code[0]) / lsb - np.arange(i_code.size)
    dnl = np.diff(i_code) / lsb - 1.0
    return inl, dnl


class SynapseInstance:
    """One Monte Carlo instance of the synapse."""

    def __init__(self, seed: int, instance: int, settings: dict | None = None):
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.mismatch = Mismatch(seed, instance, float(self.settings["mismatch_scale"]))
        self.corner = self.settings["corner"]
        self.design = SynapseDesign()
        self.where = f"synapse seed {seed} instance {instance}"

    def dac_currents(self) -> np.ndarray:
        """DC weight current (A) at codes 0..63."""
        r = simulate(
            dac_transfer_netlist(mismatch=self.mismatch, corner=self.corner, design=self.design),
            source=self.where,
        )
        return -np.asarray(r["vwsum#branch"])

    def netlist(self, events, code_tau: int, analysis: str = ".op") -> str:
        return synapse_netlist(
            events,
            code_tau,
            mismatch=self.mismatch,
            corner=self.corner,
            design=self.design,
            v_mem_v=float(self.settings["v_mem_v"]),
            analysis=analysis,
        )

    def static_power_w(self, code_tau: int) -> float:
        """``p_static_w``: V_dd times the current V_dd and the dump line deliver, no events."""
        r = simulate(self.netlist([], code_tau), source=self.where)
        return DEFAULT_PROCESS.vdd_v * float(-r["vdd#branch"][0] - r["vdump#branch"][0])

    def event_energies(self, weights, sign: str, code_tau: int) -> list[float]:
        """Supply energy (J) of one event of each weight (see the module docstring)."""
        period = 3 * TAU_NOMINAL_S * np.sqrt(CODE_TAU_REF / code_tau)
        t_ev = [0.5e-6 + k * period for k in range(len(weights))]
        ev = [(t, int(w), sign) for t, w in zip(t_ev, weights)]
        r = simulate(
            self.netlist(ev, code_tau, TRAN.format(stop=t_ev[-1] + period, step=period / 80)),
            source=self.where,
        )
        t, vdd = r["time"], DEFAULT_PROCESS.vdd_v
        i = -r["vdd#branch"] + sum(
            np.maximum(-r[k], 0.0) for k in r if k.endswith("#branch") and k.startswith(DRIVERS)
        )
        out = []
        for t0 in t_ev:
            a, b = t0 - 0.1e-6, t0 + period - 0.1e-6
            out.append(supply_energy_j(t, i, vdd, a, b) - vdd * float(np.interp(a, t, i)) * (b - a))
        return out

    def events(self, weights, sign: str, code_tau: int):
        """Charge (C) per event for each weight, and the fitted tau_syn of the last event.

        One transient: the events follow each other every 7 tau_syn (estimated from the
        design's strong-inversion scaling tau ~ 1/sqrt(I_bias)).
        """
        period = 7 * TAU_NOMINAL_S * np.sqrt(CODE_TAU_REF / code_tau)
        t_ev = [0.5e-6 + k * period for k in range(len(weights))]
        ev = [(t, int(w), sign) for t, w in zip(t_ev, weights)]
        stop = t_ev[-1] + period
        r = simulate(
            synapse_netlist(
                ev,
                code_tau,
                mismatch=self.mismatch,
                corner=self.corner,
                design=self.design,
                v_mem_v=float(self.settings["v_mem_v"]),
                analysis=TRAN.format(stop=stop, step=period / 80),
            ),
            source=self.where,
        )
        t, i = r["time"], r["vmeme#branch" if sign == "exc" else "vmemi#branch"]
        charges = []
        for t0 in t_ev:
            sel = (t >= t0 - 0.1e-6) & (t <= t0 + period - 0.1e-6)
            if sel.sum() < 10:
                raise MeasurementError("synapse transient has too few points per event")
            charges.append(float(np.trapezoid(i[sel] - i[sel][0], t[sel])))
        after = (t >= t_ev[-1] + self.design.t_pulse_s + 0.2e-6) & (t <= stop)
        tau = fit_exponential(t[after], i[after])[0]
        return charges, tau


def measure(seed: int, instance: int, settings: dict) -> dict[str, float]:
    """Every synapse measurement of one Monte Carlo instance (see the module docstring)."""
    n = SynapseInstance(seed, instance, settings)
    s = n.settings
    inl, dnl = inl_dnl_lsb(n.dac_currents())
    out = {"inl_lsb": float(np.abs(inl).max()), "dnl_lsb": float(np.abs(dnl).max())}
    weights = [int(w) for w in s["weights"]]
    if any(not 0 <= w < 2**N_BITS for w in weights):
        raise ValueError(f"weights must be 6-bit codes 0..63, got {weights}")
    code_tau = int(s["code_tau_syn"])
    q_exc, tau_nominal = n.events(weights, "exc", code_tau)
    q_inh, _ = n.events(weights, "inh", code_tau)
    w = np.array(weights, float)
    slope = float(w @ np.array(q_exc) / (w @ w))
    out["syn_gain"] = slope / (n.design.i_lsb_a * n.design.t_pulse_s)
    out["tau_syn_s"] = tau_nominal
    taus = {code_tau: tau_nominal}
    w_tau = int(s["weight_tau"])
    for code in s["dac_tau_syn"]:
        if int(code) not in taus:
            taus[int(code)] = n.events([w_tau], "exc", int(code))[1]
    out.update({f"tau_syn_s@{c}": taus[int(c)] for c in s["dac_tau_syn"]})
    out.update({f"q_exc_c@{w}": q for w, q in zip(weights, q_exc)})
    out.update({f"q_inh_c@{w}": q for w, q in zip(weights, q_inh)})
    out.update(measure_energy(seed, instance, settings))
    return out


def measure_energy(seed: int, instance: int, settings: dict | None = None) -> dict[str, float]:
    """Only ``p_static_w``, ``"e_exc_j@<code>"`` and ``"e_inh_j@<code>"`` of one instance."""
    n = SynapseInstance(seed, instance, settings)
    codes = [int(c) for c in n.settings["energy_codes"]]
    if any(not 0 <= c < 2**N_BITS for c in codes):
        raise ValueError(f"energy_codes must be 6-bit codes 0..63, got {codes}")
    code_tau = int(n.settings["code_tau_syn"])
    out = {"p_static_w": n.static_power_w(code_tau)}
    for sign in ("exc", "inh"):
        out.update(
            {f"e_{sign}_j@{c}": float(e) for c, e in zip(codes, n.event_energies(codes, sign, code_tau))}
        )
    return out


def _figures(table, out_dir):
    from anamorph.circuits.figures import transfer_curves

    return transfer_curves(table, out_dir, "synapse")


SWEEPABLE = SweepableCircuit("synapse", measure, DEFAULT_SETTINGS, timeout_s=180.0, figures=_figures)
