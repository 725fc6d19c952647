"""Synaptic measurements: tau_syn and the synaptic gain from post-synaptic potentials.

A mixin of :class:`~anamorph.calibration.measure.Measurements` (it uses its runner, step
response and helpers). Equations: a volley of input spikes adds ``I_0`` to the synaptic
current, which decays with tau_syn; the membrane, ``c dV/dt = -c (V - B)/tau_m + I``,
answers with ``V - B = I_0 r tau_s / (tau_s - tau_m) (exp(-t/tau_s) - exp(-t/tau_m))``,
``r = tau_m / c``, whose area is ``int (V - B) dt = I_0 tau_s r``.
"""

from __future__ import annotations

import numpy as np

from anamorph.models.backend import SpikeEvents, Stimulus

from . import fits


class SynapseMeasurements:
    """PSP-based measurements (mixed into Measurements)."""

    PSP_TAU_RUNS = 12
    PSP_R_RUNS = 8

    def psp_tau_m_code(self) -> int:
        """The tau_m code farthest from the tau_syn target, at most 4x away (so the PSP's two
        exponentials separate best)."""
        lo, hi = self.value_range("tau_m")
        ts = self.targets.tau_syn_s
        slow, fast = min(4 * ts, hi), max(ts / 4, lo)
        want = slow if np.log(slow / ts) >= np.log(ts / fast) else fast
        return self.code_for("tau_m", want)

    def prepare_psp(self, codes: dict) -> None:
        """tau_m and ``r = tau_m / c_mem`` at the PSP runs' tau_m code (measured once)."""
        c = self.psp_tau_m_code()
        tau_guess = float(self.process.dac_nominal("tau_m", np.array([c]))[0])
        self.context["tau_m_psp_code"] = np.full(self.n, c)
        # tau_m from steps of 3 tau_m (precise decays), r from a long one (plateau). Both
        # enter every PSP measurement as fixed per-neuron numbers: an error of 0.1 % in tau_m
        # moves every tau_syn found with it by about one DAC step, so they are measured with
        # many copies (PSP_TAU_RUNS and PSP_R_RUNS runs, averaged).
        d = self._grid(self.t_on_s + 9 * tau_guess)
        runs = [self.fine_decay({**codes, "tau_m": c}, tau_guess, d) for _ in range(self.PSP_TAU_RUNS)]
        tau = np.mean(runs, axis=0)
        self.context["tau_m_psp_s"] = tau
        d = self._grid(self.t_on_s + 13 * tau_guess)
        runs = [self.step_response({**codes, "tau_m": c}, tau_guess, plateau=True, duration_s=d,
                                   batch=self.batch_fine, tau_known=np.where(np.isfinite(tau), tau, tau_guess))[1]
                for _ in range(self.PSP_R_RUNS)]
        self.context["r_psp_ohm"] = np.mean(runs, axis=0)
        self.context["psp_weight"] = np.full(self.n, self.psp_weight(self.runner.max_fan_in, tau_guess))

    def psp(self, codes: dict):
        """(tau_syn, I_0 per weight unit) from PSPs of simultaneous spikes on all rows.

        Volleys every ``P`` (6 tau_m) on all rows at weight code 1 (every synapse of the
        neuron contributes, so the result is its mean synapse); the ADC samples fall at different
        phases after each volley, so the samples of all volleys, binned by the time since
        their volley, trace the PSP in steps of ``dt``. Fit, with tau_m known:
        ``V = B + A exp(-t/tau_syn) + C exp(-t/tau_m)``.
        """
        if "r_psp_ohm" not in self.context:
            self.prepare_psp(codes)
        tau_m = self.context["tau_m_psp_s"]
        tau_m = np.where(np.isfinite(tau_m), tau_m, np.nanmedian(tau_m))
        codes = {**codes, "tau_m": int(self.context["tau_m_psp_code"][0]),
                 "v_th": self.extreme_code("v_th", True)}
        rows = self.runner.max_fan_in
        weight = int(self.context["psp_weight"][0])
        tau_nom = float(self.process.dac_nominal("tau_m", self.context["tau_m_psp_code"][:1])[0])
        p_steps = int(np.ceil(6 * max(tau_nom, self.targets.tau_syn_s) / self.dt_s))
        period = p_steps * self.dt_s
        n_rep = 7
        # A constant negative current lowers the baseline by ~0.2 V (the PSPs then stay
        # inside the ADC's range); the first volley waits until the membrane has settled and
        # the first period is left out (its PSP lacks the tails of earlier volleys).
        t0 = self._grid(3 * tau_nom)
        times = t0 + period * np.arange(n_rep)
        b = self.batch_psp
        ev_t = np.tile(np.repeat(times, rows), b)
        ev_u = np.tile(np.tile(np.arange(rows), n_rep), b)
        ev_s = np.repeat(np.arange(b), rows * n_rep)
        inputs = SpikeEvents(ev_t, ev_u, ev_s, b)
        w = np.full((rows, self.n), weight, dtype=np.int64)
        r = self.context["r_psp_ohm"]
        i_low = np.where(np.isfinite(r) & (r > 0), -0.2 / np.where(r > 0, r, 1.0), 0.0)
        duration = t0 + period * n_rep
        obs = self.runner.run(codes, duration, inputs=inputs, weights=[w],
                              stimulus=Stimulus(i_low, 0.0, duration + 1.0))
        t = obs.adc_t_s
        k = np.searchsorted(times, t, side="right") - 1
        since = np.where(k >= 1, t - times[np.maximum(k, 0)], np.nan)
        v_mean = np.nanmean(obs.adc_v, axis=0)  # the copies share their sample times
        ok = since > 0.5 * self.dt_s
        lo, hi = self.value_range("tau_syn")
        tau_s, amp, base, _ = fits.fit_exponentials(since[ok], v_mean[ok], fits.log_grid(lo / 3, hi * 3),
                                                    fixed_tau_s=tau_m[None, :])
        # Area: mean of each dt-bin of time since the volley, summed over the period (in the
        # periodic regime the tails of earlier volleys make up for this one's tail beyond P);
        # the sum over samples at the volley's own steps misses h^2/12 V'(0+) = h^2/12 I_0/c
        # of the integral (Euler-Maclaurin), a fraction h^2 / (12 tau_syn tau_m).
        ok = np.isfinite(since)
        bins = np.floor(since[ok] / self.dt_s + 1e-6).astype(np.int64)
        onehot = np.zeros((bins.size, p_steps))
        inside = bins < p_steps
        onehot[np.flatnonzero(inside), bins[inside]] = 1.0
        cnt = onehot.sum(axis=0)
        prof = (onehot.T @ np.nan_to_num(v_mean[ok])) / np.maximum(cnt, 1)[:, None]
        have = np.flatnonzero(cnt > 0)
        if have.size < p_steps:  # bins no sample fell into: linear interpolation
            idx = np.arange(p_steps)
            j = np.clip(np.searchsorted(have, idx), 1, have.size - 1)
            x0, x1 = have[j - 1], have[j]
            f = np.clip((idx - x0) / np.maximum(x1 - x0, 1), 0.0, 1.0)[:, None]
            prof = prof[x0] * (1 - f) + prof[x1] * f
        area = (prof - base[None, :]).sum(axis=0) * self.dt_s
        area = area / (1.0 - self.dt_s ** 2 / (12.0 * tau_s * tau_m))
        i0 = area / (self.context["r_psp_ohm"] * tau_s)
        # Current per code unit of the neuron's synaptic-gain DAC: the 6-bit weight transfer
        # table (nominal, the same for every neuron) maps code ``weight`` to T(weight) units.
        table = getattr(self.process, "weight_table_exc", None)
        units = float(table[weight]) if table is not None else float(weight)
        return tau_s, i0 / (rows * units)

    def psp_weight(self, rows: int, tau_m: float) -> int:
        """Weight code whose summed PSP over ``rows`` rows peaks near 0.3 V (nominal).

        Peak of ``c dV/dt = -c V/tau_m + I_0 exp(-t/tau_s)`` at
        ``t_p = tau_m tau_s ln(tau_s/tau_m) / (tau_s - tau_m)``.
        """
        tau_s = self.targets.tau_syn_s
        if abs(tau_s - tau_m) < 1e-3 * tau_s:
            peak_per_a = tau_s / self.c_mem_f / np.e
        else:
            tp = tau_m * tau_s / (tau_s - tau_m) * np.log(tau_s / tau_m)
            peak_per_a = tau_m * tau_s / (tau_s - tau_m) / self.c_mem_f * (
                np.exp(-tp / tau_s) - np.exp(-tp / tau_m))
        w = 0.3 / (peak_per_a * self.targets.w_unit_a * rows)
        return int(np.clip(np.rint(w), 1, 63))

