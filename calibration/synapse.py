"""Synaptic measurements: tau_syn and the synaptic gain from trains of post-synaptic potentials.

A mixin of :class:`~anamorph.calibration.measure.Measurements` (it uses its runner, step
response and helpers). Equations: a volley of input spikes adds ``I_0`` to the synaptic
current, which decays with tau_syn; the membrane, ``c dV/dt = -c (V - B)/tau_m + I``,
answers from the moment ``t_j + delta`` the current flows with

    V - B = K (exp(-s/tau_s) - exp(-s/tau_m)),   K = I_0 r tau_s / (tau_s - tau_m),

``s = t - t_j - delta``, ``r = tau_m / c``, whose area is ``int (V - B) dt = I_0 tau_s r``.
A train of volleys adds up linearly.
"""

from __future__ import annotations

import numpy as np

from anamorph.models.backend import SpikeEvents, Stimulus

from . import fits
from .runner import one_run


def train_basis(
    t_s: np.ndarray, t0_s: float, period_s: float, n_rep: int, tau_s: np.ndarray | float
) -> np.ndarray:
    """``sum_j exp(-(t - t_j)/tau)`` over the volleys ``t_j = t0 + j P < t``.

    With ``k`` the last volley before ``t`` the sum is geometric:
    ``exp(-(t - t_k)/tau) (1 - exp(-(k + 1) P/tau)) / (1 - exp(-P/tau))``.
    ``t_s`` is (n_t, 1); ``tau_s`` a scalar or (1, n) array; returns (n_t, 1) or (n_t, n).
    """
    t = np.asarray(t_s, dtype=np.float64)
    k = np.clip(np.ceil((t - t0_s) / period_s) - 1, -1, n_rep - 1)  # t_k < t strictly
    since = t - (t0_s + k * period_s)
    q = np.exp(-period_s / tau_s)
    return np.where(k >= 0, np.exp(-since / tau_s) * (1.0 - q ** (k + 1)) / (1.0 - q), 0.0)


def psp_area(
    amp: np.ndarray,
    coef_m: np.ndarray,
    tau_s: np.ndarray | float,
    tau_m: np.ndarray | float,
    max_delay_s: float,
) -> np.ndarray:
    """Area of one PSP from the amplitudes of its two exponentials, counted from its volley.

    The PSP ``K (exp(-s/tau_s) - exp(-s/tau_m))`` starts a delay ``delta`` after its volley
    (``s = t - t_j - delta``); as functions of ``t - t_j`` its exponentials have the
    amplitudes ``amp = K exp(delta/tau_s)`` and ``coef_m = -K exp(delta/tau_m)``, so
    ``delta = ln(-amp/coef_m) / (1/tau_s - 1/tau_m)`` (clipped to ``[0, max_delay]``) and
    the area is ``K (tau_s - tau_m)``. An error in ``delta`` enters only at second order
    (the PSP is zero at its onset).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        delay = np.log(-amp / coef_m) / (1.0 / tau_s - 1.0 / tau_m)
    delay = np.clip(np.where(np.isfinite(delay), delay, 0.0), 0.0, max_delay_s)
    return amp * np.exp(-delay / tau_s) * (tau_s - tau_m)


class SynapseMeasurements:
    """PSP-based measurements (mixed into Measurements)."""

    #: Step responses at the PSP runs' tau_m code (tau_m and r enter every PSP fit).
    PSP_CONTEXT_RUNS = 24
    #: Volleys per PSP run, their period in units of the slower time constant, and the
    #: nominal peak one PSP is sized for (its tail and the next PSPs pile up on it).
    PSP_VOLLEYS = 5
    PSP_PERIOD_TAUS = 3.0
    PSP_PEAK_V = 0.25

    def psp_tau_m_code(self) -> int:
        """The tau_m code farthest from the tau_syn target, at most 4x away (so the PSP's two
        exponentials separate best)."""
        lo, hi = self.value_range("tau_m")
        ts = self.targets.tau_syn_s
        slow, fast = min(4 * ts, hi), max(ts / 4, lo)
        want = slow if np.log(slow / ts) >= np.log(ts / fast) else fast
        return self.code_for("tau_m", want)

    def prepare_psp(self, codes: dict) -> None:
        """tau_m and ``r = tau_m / c_mem`` at the PSP runs' tau_m code (measured once).

        Both enter every PSP fit as fixed per-neuron numbers: an error of 0.1 % in tau_m
        moves every tau_syn found with it by about one DAC step, and one in ``r`` the gain
        by half a step. So they are averaged over ``PSP_CONTEXT_RUNS`` step responses of
        many copies each (:meth:`transient`).
        """
        c = self.psp_tau_m_code()
        tau_guess = float(self.process.dac_nominal("tau_m", np.array([c]))[0])
        self.context["tau_m_psp_code"] = np.full(self.n, c)
        runs = [self.transient({**codes, "tau_m": c}, tau_guess) for _ in range(self.PSP_CONTEXT_RUNS)]
        self.context["tau_m_psp_s"] = np.mean([tau for tau, _ in runs], axis=0)
        self.context["r_psp_ohm"] = np.mean([r for _, r in runs], axis=0)
        self.context["psp_weight"] = np.full(self.n, self.psp_weight(self.runner.max_fan_in, tau_guess))

    def psp(self, codes: dict) -> tuple[np.ndarray, np.ndarray]:
        """(tau_syn, I_0 per weight unit) from a train of PSPs of volleys on all rows.

        Every ``P`` a volley of simultaneous spikes on all rows at one weight code (every
        synapse of the neuron contributes, so the result is its mean synapse). With tau_m
        known the whole run is linear in all but tau_syn:
        ``V = B + E exp(-t/tau_m) + C S(t; tau_m) + A S(t; tau_syn)``, with ``S`` the sum over
        the volleys so far (:func:`train_basis`) and ``E`` the settling of a constant negative
        current that lowers the baseline by ~0.2 V (room for the PSPs inside the ADC's
        range). :func:`psp_area` turns ``A`` and ``C`` into the area of one PSP. Every run is
        logged in :attr:`psp_log`.
        """
        if "r_psp_ohm" not in self.context:
            self.prepare_psp(codes)
        tau_s, gain = self._psp_run(codes)
        self.psp_log.append(
            {
                p: (np.broadcast_to(codes[p], (self.n,)).copy(), value)
                for p, value in (("tau_syn", tau_s), ("syn_gain", gain))
            }
        )
        return tau_s, gain

    @one_run
    def _psp_run(self, codes: dict) -> tuple[np.ndarray, np.ndarray]:
        """The run and the fit of :meth:`psp` (after :meth:`prepare_psp`)."""
        tau_m = self.context["tau_m_psp_s"]
        tau_m = np.where(np.isfinite(tau_m), tau_m, np.nanmedian(tau_m))[None, :]
        r = self.context["r_psp_ohm"]
        codes = {
            **codes,
            "tau_m": int(self.context["tau_m_psp_code"][0]),
            "v_th": self.extreme_code("v_th", True),
        }
        rows = self.runner.max_fan_in
        weight = int(self.context["psp_weight"][0])
        tau_nom = float(self.process.dac_nominal("tau_m", self.context["tau_m_psp_code"][:1])[0])
        slow = max(tau_nom, self.targets.tau_syn_s)
        # Whole steps: every volley then falls at the same phase of a step (same onset delay).
        period = np.round(self.PSP_PERIOD_TAUS * slow / self.dt_s) * self.dt_s
        n_rep = self.PSP_VOLLEYS
        t0 = self._grid(2.5 * tau_nom)
        times = t0 + period * np.arange(n_rep)
        b = self.batch_psp
        inputs = SpikeEvents(
            np.tile(np.repeat(times, rows), b),
            np.tile(np.tile(np.arange(rows), n_rep), b),
            np.repeat(np.arange(b), rows * n_rep),
            b,
        )
        w = np.full((rows, self.n), weight, dtype=np.int64)
        i_low = np.where(np.isfinite(r) & (r > 0), -0.2 / np.where(r > 0, r, 1.0), 0.0)
        duration = t0 + period * n_rep
        obs = self.runner.run(
            codes, duration, inputs=inputs, weights=[w], stimulus=Stimulus(i_low, 0.0, duration + 1.0)
        )
        t = obs.adc_t_s[:, None]
        v = self._settled_mean(obs, tau_nom)
        basis = [np.exp(-t / tau_m), train_basis(t, t0, period, n_rep, tau_m)]
        lo, hi = self.value_range("tau_syn")
        tau_s, amp, _, (_, c_m) = fits.fit_separable(
            v,
            basis,
            lambda tau: train_basis(t, t0, period, n_rep, np.reshape(tau, (1, -1))),
            fits.log_grid(lo / 3, hi * 3),
        )
        with np.errstate(invalid="ignore", divide="ignore"):
            i0 = psp_area(amp, c_m, tau_s, tau_m[0], 2 * self.dt_s) / (r * tau_s)
        # Current per code unit of the neuron's synaptic-gain DAC: the 6-bit weight transfer
        # table (nominal, the same for every neuron) maps code ``weight`` to T(weight) units.
        table = getattr(self.process, "weight_table_exc", None)
        units = float(table[weight]) if table is not None else float(weight)
        return tau_s, i0 / (rows * units)

    def psp_weight(self, rows: int, tau_m: float) -> int:
        """Weight code whose summed PSP over ``rows`` rows peaks near ``PSP_PEAK_V`` (nominal).

        Peak of ``c dV/dt = -c V/tau_m + I_0 exp(-t/tau_s)`` at
        ``t_p = tau_m tau_s ln(tau_s/tau_m) / (tau_s - tau_m)``.
        """
        tau_s = self.targets.tau_syn_s
        if abs(tau_s - tau_m) < 1e-3 * tau_s:
            peak_per_a = tau_s / self.c_mem_f / np.e
        else:
            tp = tau_m * tau_s / (tau_s - tau_m) * np.log(tau_s / tau_m)
            peak_per_a = (
                tau_m * tau_s / (tau_s - tau_m) / self.c_mem_f * (np.exp(-tp / tau_s) - np.exp(-tp / tau_m))
            )
        w = self.PSP_PEAK_V / (peak_per_a * self.targets.w_unit_a * rows)
        return int(np.clip(np.rint(w), 1, 63))
