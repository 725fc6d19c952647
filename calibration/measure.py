"""Measurements: one value per neuron from runs of the chip, through spikes and the ADC only.

Every measurement configures the chip (a full set of DAC codes), runs it once through the
:class:`~anamorph.models.backend.Backend` interface -- all 512 neurons in parallel, a few
independent copies (batch samples) to average the temporal noise -- and reduces the
observables to one number per neuron. Nothing here reads the chip's true parameters.

The protocols (equations: current-based LIF, ``c dV/dt = -(c/tau_m)(V - v_leak) + I``):

* leak: the mean ADC sample at rest, threshold at its highest code (no spikes);
* tau_m: decay ``V(t) = v_leak + dV exp(-t/tau_m)`` after a current step ends (fit) while
  searching; near the target the whole response to a step, rise and decay,
  ``V = B + D g(t; tau_m)`` (:meth:`Measurements.transient`), which resolves ~1.7x finer
  per run; a long step's plateau, or ``D`` over the step's current, gives
  ``r = dV_ss / I_stim = tau_m / c_mem`` (the membrane's resistance as the ADC sees it);
* reset, threshold, refractory time: under a constant current the neuron fires
  regularly; ADC samples aligned to its own spikes (:mod:`.spiketrace`) give the clamp
  level (reset), the membrane at the crossing (threshold) and the clamp duration;
* tau_syn and the synaptic gain (:mod:`.synapse`): a train of volleys of simultaneous
  input spikes on all rows, with tau_m set about 2-4x away from tau_syn and measured
  beforehand; the whole run is fitted by the superposed PSPs
  ``K (exp(-s/tau_syn) - exp(-s/tau_m))``. The PSP's area ``K (tau_syn - tau_m) =
  tau_m tau_syn I_0 / c_mem`` divided by ``r = tau_m / c_mem`` at the same tau_m code and
  by tau_syn gives the synaptic current ``I_0`` per weight-code unit, independent of the
  neuron's capacitance and of the ADC's gain.

A run starts with every membrane at rest and noise-free; until the noise has grown to full
size (~1.5 tau_m) it does not dither the 8-bit ADC, so the precise fits leave those
samples out (:meth:`Measurements._settled_mean`).

Each method marked :func:`~.runner.one_run` runs the chip once and is logged by the runner
(replayed when an interrupted calibration resumes); the others only combine them.

Runs share a few fixed shapes (batch size, duration, network) so that the emulator
compiles each shape once: "quiet" runs (no spikes: leak, steps), "firing" runs and
"psp" runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anamorph.models.backend import Stimulus

from . import fits, spiketrace
from .runner import ChipRunner, one_run
from .synapse import SynapseMeasurements

if TYPE_CHECKING:
    from anamorph.models.backend import Observables
    from anamorph.models.process_model import ProcessModel

    from .targets import Targets


class Measurements(SynapseMeasurements):
    """Per-neuron measurements of one chip.

    Parameters
    ----------
    runner : ChipRunner
        Runs the chip with given codes.
    targets : Targets
        The operating point (sizes the stimuli).
    process : ProcessModel
        Nominal transfers (to find a DAC's highest and lowest settings) and the nominal
        membrane capacitance (sizes the stimulus currents).
    batch_quiet, batch_firing, batch_psp, batch_fine : int
        Copies per run of each kind (more copies average more noise).
    """

    def __init__(
        self,
        runner: ChipRunner,
        targets: Targets,
        process: ProcessModel,
        *,
        batch_quiet: int = 64,
        batch_firing: int = 16,
        batch_psp: int = 32,
        batch_fine: int = 128,
    ) -> None:
        self.runner = runner
        self.targets = targets
        self.process = process
        self.c_mem_f = float(process.c_mem_f)
        self.n = runner.n_neurons
        self.dt_s = runner.dt_s
        self.batch_quiet, self.batch_firing, self.batch_psp = batch_quiet, batch_firing, batch_psp
        self.batch_fine = batch_fine
        tau = targets.tau_m_s
        self.t_on_s = self._grid(4e-6)
        self.quiet_s = self._grid(max(80e-6, self.t_on_s + 13 * tau))
        self.firing_s = self._grid(max(200e-6, 20 * (targets.t_ref_s + tau)))
        #: quantities measured on the way that later measurements need (per neuron)
        self.context: dict[str, np.ndarray] = {}
        #: every PSP run: {"tau_syn": (codes, values), "syn_gain": (codes, values)}
        self.psp_log: list[dict] = []

    # -- helpers -------------------------------------------------------------------------
    def extreme_code(self, param: str, high: bool) -> int:
        """The code whose nominal value is highest (``high``) or lowest."""
        return self.process.code_at_extreme(param, high)

    def code_for(self, param: str, value: float) -> int:
        """The nominal code of ``value`` (rounded, clipped)."""
        return int(self.process.code_for(param, value))

    def value_range(self, param: str) -> tuple[float, float]:
        lo, hi = sorted(float(x) for x in self.process.dac_range(param))
        return lo, hi

    def _current_for(self, dv_v: float, tau_m_s: float) -> np.ndarray:
        """Stimulus current that lifts a nominal membrane by ``dv`` at steady state."""
        return np.full(self.n, dv_v * self.c_mem_f / tau_m_s)

    def _grid(self, t_s: float) -> float:
        """``t_s`` moved to the middle of an emulator time step (no rounding ambiguity)."""
        return float((np.floor(t_s / self.dt_s) + 0.5) * self.dt_s)

    @staticmethod
    def _settled_mean(obs: Observables, tau_s: float) -> np.ndarray:
        """Mean over the copies of the ADC samples, NaN before ``1.5 tau_s``.

        A run starts with every membrane at rest and noise-free: until its noise has grown
        to full size it does not dither the 8-bit ADC, whose levels would then bias each
        neuron's early samples by up to half a step.
        """
        v = np.nanmean(obs.adc_v, axis=0)  # the copies share their sample times
        v[obs.adc_t_s < 1.5 * tau_s] = np.nan
        return v

    def _quiet(
        self,
        codes: dict,
        stimulus: Stimulus | None = None,
        duration_s: float | None = None,
        batch: int | None = None,
    ) -> Observables:
        codes = {**codes, "v_th": self.extreme_code("v_th", True)}
        return self.runner.run(
            codes, duration_s or self.quiet_s, stimulus=stimulus, batch=batch or self.batch_quiet
        )

    # -- potentials at rest ----------------------------------------------------------------
    @one_run
    def leak(self, codes: dict) -> np.ndarray:
        """Resting potential (mean ADC sample), no input, threshold out of reach.

        The membrane noise dithers the 8-bit ADC, so the mean resolves far below one LSB.
        """
        obs = self._quiet(codes)
        return fits.window_mean(obs.adc_t_s, obs.adc_v, 2e-6, np.inf)

    # -- membrane time constant -------------------------------------------------------------
    @one_run
    def step_response(
        self, codes: dict, tau_guess_s: float, *, dv_v: float = 0.4, plateau: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(tau_m, r = dV_ss / I_stim) per neuron from one current step, no spikes.

        The current would lift a nominal neuron with ``tau_guess`` by ``dv`` at steady
        state. Without ``plateau`` the step lasts ``tau_guess`` (so that a much slower
        neuron, whose membrane ramps as ``I t / c``, stays inside the ADC's range: at most
        ``dv``) and ``r`` is NaN; with ``plateau`` it lasts ``10 tau_guess`` (``dv`` 0.15 V,
        room for a neuron twice as slow) and the plateau gives ``r``. The decay
        ``B + A exp(-t/tau)`` after the step is fitted to the rest of the quiet run.
        """
        dv_v = 0.15 if plateau else dv_v
        i = self._current_for(dv_v, tau_guess_s)
        t_on = self.t_on_s
        t_off = self._grid(t_on + (10.0 if plateau else 1.0) * tau_guess_s)
        obs = self._quiet(codes, Stimulus(i, t_on, t_off))
        t, v = obs.adc_t_s, np.nanmean(obs.adc_v, axis=0)
        after = t > t_off
        tau, amp, off, _ = fits.fit_exponentials(
            t[after] - t_off, v[after], fits.log_grid(tau_guess_s / 30, tau_guess_s * 30)
        )
        r = np.full(self.n, np.nan)
        if plateau:
            base = fits.window_mean(t, obs.adc_v, 1e-6, t_on)
            t_top = t_off - 2 * tau_guess_s
            top = fits.window_mean(t, obs.adc_v, t_top, t_off)
            # The rise 1 - exp(-(t - t_on)/tau) averaged over the samples of the top window
            # (tau from the decay): corrects for the incomplete rise.
            tau_ok = np.where(np.isfinite(tau), tau, tau_guess_s)
            sel = (t >= t_top) & (t < t_off)
            rise = np.mean(1.0 - np.exp(-(t[sel, None] - t_on) / tau_ok[None, :]), axis=0)
            r = (top - base) / rise / i
        return tau, r

    def tau_m(self, codes: dict) -> np.ndarray:
        tau, _ = self.step_response(codes, self.targets.tau_m_s)
        return tau

    @one_run
    def transient(
        self, codes: dict, tau_guess_s: float, *, dv_v: float = 0.45, step_taus: float = 3.0
    ) -> tuple[np.ndarray, np.ndarray]:
        """(tau_m, r = D / I) of neurons near ``tau_guess`` from their whole step response.

        ``V = B + D g(t; tau_m)`` (:func:`.fits.fit_step_response`): rise, decay and the
        baseline before the step all carry ``tau_m``, and the step starts and ends on the
        emulator's step boundaries, where the sampled response is exactly this shape. Each
        neuron's current, from its measured ``r`` (:meth:`characterise`, scaled from the
        target's tau_m to ``tau_guess``), lifts it by ``dv`` at steady state, but never
        closer than 40 mV to the top of the ADC's range. Against the 3-tau decay of
        :meth:`step_response` (128 copies) this resolves tau_m 1.7x more finely per run in
        about half the time. The amplitude gives the membrane's resistance as the ADC sees
        it, ``r = D / I``.
        """
        dt = self.dt_s
        k_on = int(round(2.5 * tau_guess_s / dt))
        k_off = k_on + int(round(step_taus * tau_guess_s / dt))
        t_on, t_off = k_on * dt, k_off * dt
        duration = (k_off + int(round(2.5 * tau_guess_s / dt))) * dt
        vl = self.context.get("v_leak_v", np.full(self.n, self.targets.v_leak_v))
        r = self.context.get("r_ohm", np.full(self.n, self.targets.tau_m_s / self.c_mem_f))
        r = r * tau_guess_s / self.targets.tau_m_s
        ok = np.isfinite(vl) & np.isfinite(r) & (r > 0)
        top = float(self.process.data["adc"]["v_hi"]) - 0.04
        dv = np.clip(top - np.where(ok, vl, self.targets.v_leak_v), 0.05, dv_v)
        i = np.where(ok, dv / np.where(ok, r, 1.0), dv * self.c_mem_f / tau_guess_s)
        obs = self._quiet(codes, Stimulus(i, t_on, t_off), duration, self.batch_fine)
        v = self._settled_mean(obs, tau_guess_s)
        tau, amp, _ = fits.fit_step_response(
            obs.adc_t_s, v, t_on, t_off, fits.log_grid(tau_guess_s / 3, tau_guess_s * 3)
        )
        return tau, amp / i

    def tau_m_fine(self, codes: dict) -> np.ndarray:
        """tau_m near its target (:meth:`transient`)."""
        return self.transient(codes, self.targets.tau_m_s)[0]

    def characterise(self, codes: dict) -> None:
        """Leak and ``r = tau_m / c_mem`` at ``codes`` (sizes the drive of the firing runs)."""
        self.context["v_leak_v"] = self.leak(codes)
        tau, r = self.step_response(codes, self.targets.tau_m_s, plateau=True)
        self.context["r_ohm"] = r

    # -- spiking regime --------------------------------------------------------------------
    def _firing_run(
        self, codes: dict, above_th_v: float
    ) -> tuple[Observables, np.ndarray, np.ndarray, float]:
        """Run under a constant current that lifts each membrane to ``v_th target + above``.

        Uses each neuron's measured leak and ``r`` (:meth:`characterise`) when known, so
        that every neuron approaches the threshold alike.
        """
        v_goal = self.targets.v_th_v + above_th_v
        vl = self.context.get("v_leak_v", np.full(self.n, self.targets.v_leak_v))
        r = self.context.get("r_ohm", np.full(self.n, self.targets.tau_m_s / self.c_mem_f))
        ok = np.isfinite(vl) & np.isfinite(r) & (r > 0)
        i = np.where(
            ok,
            (v_goal - np.where(ok, vl, 0)) / np.where(ok, r, 1),
            (v_goal - self.targets.v_leak_v) * self.c_mem_f / self.targets.tau_m_s,
        )
        d = self.firing_s
        obs = self.runner.run(codes, d, stimulus=Stimulus(i, 0.0, d + 1.0), batch=self.batch_firing)
        since, until = spiketrace.align(obs.adc_t_s, obs.adc_neurons, obs.spikes, obs.spikes.n_samples)
        lag = spiketrace.reset_lag(obs.adc_v, since, until, self.dt_s)
        return obs, since, until, lag

    @one_run
    def reset(self, codes: dict) -> np.ndarray:
        """Clamp level after each spike, with a long (~10 us) refractory time.

        The clamped membrane carries no noise, so this reads one ADC level exactly: the
        calibration searches the codes where it steps between levels (see the flow).
        """
        t_long = min(10e-6, self.value_range("t_ref")[1])
        codes = {**codes, "t_ref": self.code_for("t_ref", t_long)}
        obs, since, until, lag = self._firing_run(codes, 0.15)
        return spiketrace.clamp_level(obs.adc_v, since, lag + 0.4 * self.dt_s, lag + 0.6 * t_long)

    @one_run
    def threshold(self, codes: dict) -> np.ndarray:
        """Membrane at the threshold crossing (samples before each spike, extrapolated).

        The drive lifts each membrane ~40 mV above the target threshold: a slow approach,
        whose crossing phase the membrane noise randomises. No spikes -> NaN (the threshold
        is above the drive).
        """
        obs, since, until, lag = self._firing_run(codes, 0.04)
        return spiketrace.threshold_level(obs.adc_v, until, self.dt_s, 3e-6, lag)

    @one_run
    def t_ref(self, codes: dict) -> np.ndarray:
        """Clamp duration after each spike (needs ``context['tau_m_s']``)."""
        tau = self.context.get("tau_m_s", np.full(self.n, self.targets.tau_m_s))
        tau = np.where(np.isfinite(tau), tau, self.targets.tau_m_s)
        obs, since, until, lag = self._firing_run(codes, 0.2)
        hi = min(self.value_range("t_ref")[1], 3 * self.targets.t_ref_s + 4 * self.dt_s)
        grid = np.arange(0.0, hi + 2 * self.dt_s, 0.05 * self.dt_s)
        s_max = hi + 2 * self.dt_s + 2 * self.targets.tau_m_s
        return spiketrace.refractory_time(obs.adc_v, since, until, tau, s_max, grid, self.dt_s, lag)

    def tau_syn(self, codes: dict) -> np.ndarray:
        return self.psp(codes)[0]

    def syn_gain(self, codes: dict) -> np.ndarray:
        return self.psp(codes)[1]
