"""Testbenches of the transistor-level LIF neuron and its Monte Carlo sweep (``lif``).

The neuron (:mod:`anamorph.circuits.lif.netlist`) obeys, between spikes,
``C_mem dV/dt = g_leak (v_leak - V) + I_in`` with ``tau_m = C_mem / g_leak``; when V
reaches v_th it is held at v_reset for t_ref (Gerstner et al., "Neuronal Dynamics",
2014, ch. 1; BrainScaleS-2 neuron: Aamir et al., IEEE TCAS-I 65(12), 2018).

Measurements of one instance (column names per CONTRIBUTING.md):

- ``v_leak_v``: operating point of the membrane without input;
- ``v_th_v``: membrane voltage at which the comparator's digital output crosses VDD/2
  (DC sweep of a source forcing the membrane);
- ``v_reset_v``: membrane voltage with the reset switch held on (operating point);
- ``g_leak_s``, ``c_mem_f``: real and imaginary parts of the membrane admittance
  ``Y = g + j omega C`` from an AC analysis at 1 kHz (<< 1/tau_m);
- ``tau_m_s``: exponential fit to the membrane's response to a small current step;
- ``t_ref_s``: from the membrane crossing v_th to the end of the reset (falling edge of
  the latch) under a strong input current;
- ``"<param>@<code>"``: the same at other 10-bit DAC codes;
- ``"rate_hz@<i_in_na>"``: 1 / mean inter-spike interval at a constant input current;
- ``p_static_w``: supply power of the biased neuron at rest, ``V_dd I_dd`` (operating point);
- ``e_spike_j``: supply energy of one spike, ``V_dd integral I_dd dt - p_static_w T`` over
  whole inter-spike intervals ``T`` of regular firing at ``i_energy_na``, per interval. The
  input current is drawn from the V_dd rail (as a synaptic input's current source would),
  so it includes the charge the reset discards, ``C_mem (v_th - v_reset)``, and the leak
  charge of the interval, besides the comparator's, latch's and refractory timer's currents.
"""

from __future__ import annotations

import numpy as np

from anamorph.circuits.lif.netlist import LifDesign, leak_ota_array, lif_netlist
from anamorph.circuits.process import DEFAULT_PROCESS, Mismatch
from anamorph.circuits.sweep import SweepableCircuit
from anamorph.circuits.testbench import (
    MeasurementError,
    crossings,
    dac_value,
    first_crossing,
    fit_exponential,
    lif_rate_hz,
    simulate,
    supply_energy_j,
)

PARAMS = ("v_leak", "v_th", "v_reset", "tau_m", "t_ref")
TRAN_OPTIONS = ".options method=gear reltol=3e-3"
SPIKE_MAX_STEP_S = 50e-9

DEFAULT_SETTINGS = {
    "corner": "tt",
    "code_v_leak": 228,
    "code_v_th": 313,
    "code_v_reset": 199,
    "code_tau_m": 512,
    "code_t_ref": 512,
    "dac_v_leak": [170, 228, 285],
    "dac_v_th": [285, 313, 370],
    "dac_v_reset": [142, 199, 256],
    "dac_tau_m": [256, 512, 768],
    "dac_t_ref": [256, 512, 768],
    "i_in_na": [100, 200, 400],
    "i_step_na": 6.0,
    "i_tref_na": 400.0,
    "leak_area_scale": 1.0,
    "i_energy_na": 200.0,
}


class Instance:
    """One Monte Carlo instance of the neuron: builds and runs its testbenches."""

    def __init__(self, seed: int, instance: int, settings: dict | None = None):
        self.settings = {**DEFAULT_SETTINGS, **(settings or {})}
        self.mismatch = Mismatch(seed, instance)
        self.design = LifDesign(leak_area_scale=float(self.settings["leak_area_scale"]))
        self.where = f"lif seed {seed} instance {instance}"

    def codes(self, **override) -> dict:
        c = {p: int(self.settings[f"code_{p}"]) for p in PARAMS}
        c.update(override)
        return c

    def run(self, codes=None, **kw) -> dict:
        net = lif_netlist(
            codes or self.codes(),
            mismatch=self.mismatch,
            corner=self.settings["corner"],
            design=self.design,
            **kw,
        )
        return simulate(net, source=self.where)

    # --- DC and small signal -------------------------------------------------------
    def v_leak(self, code: int | None = None) -> float:
        codes = self.codes() if code is None else self.codes(v_leak=code)
        return float(self.run(codes)["mem"][0])

    def v_reset(self, code: int | None = None) -> float:
        codes = self.codes() if code is None else self.codes(v_reset=code)
        return float(self.run(codes, force_reset=True)["mem"][0])

    def v_th(self, code: int | None = None, window_v: float = 0.05, step_v: float = 1e-3) -> float:
        """Membrane voltage where the comparator's output crosses its inverter's trip point.

        (cmp - spkb changes sign where the first inverter's input equals its output.)
        """
        codes = self.codes() if code is None else self.codes(v_th=code)
        r = self.run(
            codes,
            force_mem="vforce mem vthd dc 0",
            break_latch=True,
            analysis=f".dc vforce {-window_v} {window_v} {step_v}",
        )
        offset = first_crossing(r["v-sweep"], r["cmp"] - r["spkb"], 0.0, "threshold comparator")
        return float(r["vthd"][0] + offset)

    def small_signal(self, f_hz: float = 1e3) -> tuple[float, float]:
        """``(g_leak_s, c_mem_f)`` from the membrane admittance at ``f_hz``."""
        r = self.run(input_source="iin 0 mem dc 0 ac 1", analysis=f".ac lin 1 {f_hz} {f_hz}")
        y = 1.0 / complex(r["mem"][0])
        return y.real, y.imag / (2 * np.pi * f_hz)

    # --- transients ----------------------------------------------------------------
    def tau_m(
        self,
        code: int | None = None,
        t_on_s: float = 0.5e-6,
        t_stop_s: float = 40e-6,
        max_step_s: float = 400e-9,
    ) -> float:
        codes = self.codes() if code is None else self.codes(tau_m=code)
        i = float(self.settings["i_step_na"]) * 1e-9
        src = f"iin 0 mem pwl(0 0 {t_on_s:.6g} 0 {t_on_s + 1e-9:.6g} {i:.6g})"
        r = self.run(
            codes, input_source=src, analysis=f"{TRAN_OPTIONS}\n.tran 100n {t_stop_s:.6g} 0 {max_step_s:.6g}"
        )
        t, v = r["time"], r["mem"]
        sel = t >= t_on_s + 2e-9
        return fit_exponential(t[sel], v[sel])[0]

    def t_ref(self, code: int | None = None, v_th_v: float | None = None) -> float:
        codes = self.codes() if code is None else self.codes(t_ref=code)
        v_th_v = self.v_th() if v_th_v is None else v_th_v
        i = float(self.settings["i_tref_na"]) * 1e-9
        t_stop = 2e-6 + 1.5 * 0.9 * self.design.c_ref_f / dac_value(codes["t_ref"], self.design.i_ref_fs_a)
        r = self.run(
            codes,
            input_source=f"iin 0 mem pwl(0 0 1n {i:.6g})",
            analysis=f"{TRAN_OPTIONS}\n.tran 10n {t_stop:.6g} 0 {SPIKE_MAX_STEP_S}",
        )
        t = r["time"]
        up = crossings(t, r["mem"], v_th_v, "rising")
        down = crossings(t, r["q"], 0.5 * r["vdd"][0], "falling")
        if up.size == 0 or not np.any(down > up[0]):
            raise MeasurementError(f"t_ref: no complete refractory period within {t_stop:g} s")
        return float(down[down > up[0]][0] - up[0])

    def spike_times(self, t_s, i_in_a) -> np.ndarray:
        """Spike times (rising edges of the latch) for a piecewise-linear input current."""
        t_s, i_in_a = np.asarray(t_s, float), np.asarray(i_in_a, float)
        if t_s.ndim != 1 or t_s.shape != i_in_a.shape or t_s.size < 2 or np.any(np.diff(t_s) <= 0):
            raise ValueError("t_s and i_in_a must be 1-d arrays of one length >= 2, t_s increasing")
        t_pwl = t_s.copy()
        t_pwl[0] = max(t_pwl[0], min(1e-9, 0.5 * t_pwl[1]))  # the input starts at 0: rest
        pts = " ".join(f"{a:.12g} {b:.9g}" for a, b in zip(t_pwl, i_in_a))
        src = "iin 0 mem pwl(0 0 " + _wrap(pts) + ")"
        r = self.run(
            input_source=src,
            analysis=f"{TRAN_OPTIONS}\n.tran 10n {t_s[-1]:.9g} {t_s[0]:.9g} {SPIKE_MAX_STEP_S}",
        )
        return crossings(r["time"], r["q"], 0.5 * r["vdd"][0], "rising")

    def energy(self, n_isi: int = 4) -> dict[str, float]:
        """``p_static_w`` and ``e_spike_j`` (see the module docstring) at ``i_energy_na``."""
        vdd = DEFAULT_PROCESS.vdd_v
        rest = self.run(input_source="iin vdd mem dc 0")
        p_static = vdd * float(-rest["vdd#branch"][0])
        i = float(self.settings["i_energy_na"]) * 1e-9
        t_isi = 1.0 / float(lif_rate_hz(i, 0.40, 0.55, 0.35, 7e-6, 2e-6, 2e-12))  # nominal estimate
        r = self.run(
            input_source=f"iin vdd mem pwl(0 0 1n {i:.6g})",
            analysis=f"{TRAN_OPTIONS}\n.tran 10n {(n_isi + 2.5) * t_isi:.6g} 0 {SPIKE_MAX_STEP_S}",
        )
        t = r["time"]
        spikes = crossings(t, r["q"], 0.5 * vdd, "rising")
        if spikes.size < 3:
            raise MeasurementError(f"energy: fewer than 3 spikes at {i * 1e9:g} nA")
        t0, t1 = spikes[1], spikes[-1]  # whole intervals after the first (from rest)
        e = supply_energy_j(t, -r["vdd#branch"], vdd, t0, t1) - p_static * (t1 - t0)
        return {"p_static_w": p_static, "e_spike_j": float(e / (spikes.size - 2))}

    def f_i(self, currents_na, estimate: dict | None = None, isis_per_level: float = 2.2) -> dict:
        """Rates at each current from a staircase of constant currents.

        Only intervals between two spikes of the same level count (the interval that
        spans a step is dropped). Each level lasts ``isis_per_level`` inter-spike
        intervals as predicted from ``estimate`` (this instance's measured
        ``v_leak_v, v_th_v, v_reset_v, tau_m_s, t_ref_s, c_mem_f``; default: nominal
        values); the prediction sets only the simulated duration.
        """
        currents_na = [float(x) for x in currents_na]
        e = estimate or {
            "v_leak_v": 0.40,
            "v_th_v": 0.55,
            "v_reset_v": 0.35,
            "tau_m_s": 7e-6,
            "t_ref_s": 2e-6,
            "c_mem_f": 2e-12,
        }
        rate = lif_rate_hz(
            np.array(currents_na) * 1e-9,
            e["v_leak_v"],
            e["v_th_v"],
            e["v_reset_v"],
            e["tau_m_s"],
            e["t_ref_s"],
            e["c_mem_f"],
        )
        if np.any(rate <= 0):
            raise MeasurementError(f"f-I: a current in {currents_na} nA is below rheobase")
        seg = [float(min(isis_per_level / r + 1e-6, 80e-6)) for r in rate]
        edges = np.concatenate([[0.0], np.cumsum(seg)])
        t, i = [], []
        for k, cur in enumerate(currents_na):
            t += [edges[k] + 1e-9, edges[k + 1]]
            i += [cur * 1e-9, cur * 1e-9]
        spikes = self.spike_times(np.array(t), np.array(i))
        rates = {}
        for k, cur in enumerate(currents_na):
            s = spikes[(spikes > edges[k]) & (spikes <= edges[k + 1])]
            isi = np.diff(s)
            if isi.size == 0:
                raise MeasurementError(f"f-I: fewer than 2 spikes at {cur:g} nA")
            rates[f"rate_hz@{cur:g}"] = float(1.0 / isi.mean())
        return rates


def _wrap(text: str, width: int = 200) -> str:
    out, line = [], ""
    for tok in text.split():
        if len(line) + len(tok) > width:
            out.append(line)
            line = ""
        line += " " + tok
    out.append(line)
    return "\n+ ".join(x.strip() for x in out)


def measure(seed: int, instance: int, settings: dict) -> dict[str, float]:
    """Every LIF measurement of one Monte Carlo instance (see the module docstring)."""
    n = Instance(seed, instance, settings)
    s = n.settings
    out: dict[str, float] = {}
    dac = {p: {int(c): None for c in s[f"dac_{p}"]} for p in PARAMS}
    for code in dac["v_leak"]:
        dac["v_leak"][code] = n.v_leak(code)
    for code in dac["v_reset"]:
        dac["v_reset"][code] = n.v_reset(code)
    for code in dac["v_th"]:
        dac["v_th"][code] = n.v_th(code)
    for code in dac["tau_m"]:
        dac["tau_m"][code] = n.tau_m(code)
    v_th = dac["v_th"].get(int(s["code_v_th"])) or n.v_th()
    for code in dac["t_ref"]:
        dac["t_ref"][code] = n.t_ref(code, v_th)
    nominal = {
        "v_leak": n.v_leak,
        "v_th": lambda: v_th,
        "v_reset": n.v_reset,
        "tau_m": n.tau_m,
        "t_ref": lambda: n.t_ref(None, v_th),
    }
    for p in PARAMS:
        code = int(s[f"code_{p}"])
        out[f"{p}_{'s' if p.startswith('t') else 'v'}"] = dac[p][code] if code in dac[p] else nominal[p]()
    g, c = n.small_signal()
    out["c_mem_f"], out["g_leak_s"] = c, g
    for p in PARAMS:
        unit = "s" if p.startswith("t") else "v"
        out.update({f"{p}_{unit}@{code}": val for code, val in dac[p].items()})
    out.update(n.f_i(s["i_in_na"], out))
    out.update(n.energy())
    return out


def measure_energy(seed: int, instance: int, settings: dict | None = None) -> dict[str, float]:
    """Only ``p_static_w`` and ``e_spike_j`` of one Monte Carlo instance (two simulations)."""
    return Instance(seed, instance, settings).energy()


def measure_leak_ota(seed: int, instance: int, settings: dict) -> dict[str, float]:
    """One small simulation: the leak potential set by the instance's leak OTA alone."""
    return {"v_leak_v": float(leak_potentials_v(seed, [instance], settings)[0])}


def leak_potentials_v(seed: int, instances, settings: dict | None = None) -> np.ndarray:
    """v_leak set by the leak OTA alone of each of ``instances`` (one operating point).

    Copy ``k`` carries instance ``k``'s mismatch of the leak OTA (the transistors that
    dominate v_leak's spread); ``settings["leak_area_scale"]`` scales their W*L.
    """
    s = {**DEFAULT_SETTINGS, **(settings or {})}
    design = LifDesign(leak_area_scale=float(s["leak_area_scale"]))
    ks = [int(k) for k in instances]
    net = leak_ota_array(
        [Mismatch(seed, k) for k in ks],
        dac_value(int(s["code_v_leak"]), design.v_dac_fs_v),
        dac_value(int(s["code_tau_m"]), design.i_leak_fs_a),
        s["corner"],
        design,
    )
    r = simulate(net, source=f"lif leak OTA array, seed {seed}")
    return np.array([r[f"mem_{i}"][0] for i in range(len(ks))])


def simulate_lif_current(
    seed: int, instance: int, t_s: np.ndarray, i_in_a: np.ndarray, *, settings: dict | None = None
) -> np.ndarray:
    """Spike times (s) of Monte Carlo instance ``instance`` of ``seed`` for an input current.

    ``i_in_a`` is a piecewise-linear waveform through the points ``(t_s, i_in_a)``; the
    neuron starts at rest (no input, its operating point) at t = 0 and the current ramps
    linearly from 0 to ``i_in_a[0]`` at ``t_s[0]`` (within 1 ns if ``t_s[0] == 0``). The
    transient runs to ``t_s[-1]``. A spike is the rising edge of the neuron's refractory latch, a few ns
    after the membrane crosses v_th. The mismatch is the sweep's for that instance.
    """
    return Instance(seed, instance, settings).spike_times(t_s, i_in_a)


def _figures(table, out_dir):
    from anamorph.circuits.figures import transfer_curves

    return transfer_curves(table, out_dir, "lif")


SWEEPABLE = SweepableCircuit("lif", measure, DEFAULT_SETTINGS, timeout_s=180.0, figures=_figures)
