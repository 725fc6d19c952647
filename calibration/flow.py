"""The calibration flow: check targets, measure before, search each parameter, verify.

Order (each step needs the ones before it configured, as in the calix calibration library
of BrainScaleS-2): leak potential -> membrane time constant -> reset ->
threshold -> refractory time -> synaptic time constant -> synaptic gain. Each parameter
is searched by an algorithm of :mod:`.algorithms` over a measurement of :mod:`.measure`;
the two never see each other's internals.

The DAC steps of the time constants and the gain (0.08-0.24 % of the value) are finer than
one measurement through the noisy membrane resolves (0.7-1 step per run even with the
precise protocols). After the search, each of them ends with a regression over many
probes around its estimate (:func:`.refine.refine`: each neuron's transfer is a straight
line in the code after the map that linearises the nominal transfer), which averages the
noise down to ~0.1-0.2 step: ``FINE`` for tau_m, ``PSP_FINE`` for tau_syn and the gain,
which share their runs.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

from . import algorithms
from .measure import Measurements
from .refine import plateau_search, refine
from .result import (Calibration, cache_key, default_cache_dir, hardware_fingerprint,
                     load_cached, store_cached)
from .runner import ChipRunner
from .targets import Targets, check_targets

#: The order in which parameters are calibrated.
ORDER = ("v_leak", "tau_m", "v_reset", "v_th", "t_ref", "tau_syn", "syn_gain")

ALGORITHMS = ("predictive", "binary", "noisy")

#: Extra probes (code offsets around the estimate) for the parameters whose measurement
#: noise is comparable to one DAC step: they join the regression of :func:`.refine.refine`.
POLISH = {"tau_m": (-6, -2, 2, 6), "tau_syn": (-6, -2, 2, 6), "syn_gain": (-6, -2, 2, 6),
          "v_th": (-3, 3)}

#: Final stage for tau_m, whose DAC step (0.08 %) is finer than one measurement resolves:
#: (measurement, code offsets, repeats). Its probes alone are regressed.
FINE = {"tau_m": ("tau_m_fine", (-2, -1, 1, 2), 16)}
FINE_WINDOW = 16

#: Final stage for tau_syn and the gain (DAC steps 0.18 and 0.24 %), which every PSP run
#: measures together: each run moves both codes by one pair of offsets (the two designs
#: uncorrelated), then each parameter is regressed over every PSP run of the calibration
#: within ``PSP_WINDOW`` codes.
PSP_FINE = (((-2, 1), (-1, -2), (1, 2), (2, -1)), 8)
PSP_WINDOW = 16


def _log(msg: str) -> None:
    if sys.stderr.isatty():
        print(f"calibrate: {msg}", file=sys.stderr)


def predicted_codes(process, targets: Targets) -> dict:
    """Codes the process model's nominal transfers give for the targets (the first guess)."""
    return {p: int(np.clip(np.rint(float(process.dac_inverse(p, targets.value(p)))), 0, 1023))
            for p in ORDER}


def _search(algorithm, measure, target, n, process, param, increasing, seed):
    if algorithm == "binary":
        return algorithms.binary_search(measure, target, n, increasing=increasing)
    if algorithm == "noisy":
        return algorithms.noisy_binary_search(measure, target, n, increasing=increasing, seed=seed)

    def predict(values):
        return np.array([float(process.dac_inverse(param, float(v))) for v in np.atleast_1d(values)])

    def slope(codes):
        c = np.asarray(codes, dtype=np.float64)
        return (process.dac_nominal(param, np.clip(c + 1, 0, 1023)) -
                process.dac_nominal(param, np.clip(c - 1, 0, 1023))) / np.where(
                    (c > 0) & (c < 1023), 2.0, 1.0)

    return algorithms.predictive_search(measure, target, n, predict, slope, increasing=increasing)


def _measure_all(meas: Measurements, codes: dict) -> dict:
    """Every parameter measured at one configuration (before / after figures)."""
    saved = dict(meas.context)
    meas.characterise(codes)
    out = {"v_leak": meas.context["v_leak_v"], "tau_m": meas.tau_m(codes)}
    meas.context["tau_m_s"] = out["tau_m"]
    out["v_reset"] = meas.reset(codes)
    out["v_th"] = meas.threshold(codes)
    out["t_ref"] = meas.t_ref(codes)
    out["tau_syn"], out["syn_gain"] = meas.psp(codes)
    for k in ("v_leak_v", "r_ohm", "tau_m_s"):  # keep the calibration's own context
        if k in saved:
            meas.context[k] = saved[k]
    return out


def _fine(res, codes: dict, param: str, method, offsets, repeats: int, target, lin) -> np.ndarray:
    """Codes from a regression over ``repeats`` rounds of probes at ``offsets`` around
    the estimate with the fine measurement ``method`` (adds its runs to ``res``).

    The rounds come in two halves, the second centred on the estimate from the first: when
    the search ended a few codes off, the final line is then not extrapolated far beyond
    the probes that determine it.
    """
    from .algorithms import SearchResult

    history = []
    centre = res.codes
    for half in (repeats // 2, repeats - repeats // 2):
        for _ in range(half):
            for off in offsets:
                probe = np.clip(centre + off, 0, 1023)
                history.append((probe, method({**codes, param: probe})))
        fine = SearchResult(centre, res.measured, res.bracketed, len(history), history=history)
        centre = refine(fine, target, lin, window=FINE_WINDOW)
    res.n_runs += len(history)
    return centre


def _psp_fine(meas: Measurements, codes: dict, params, success: dict, targets, process) -> None:
    """Joint final stage of tau_syn and the gain (see ``PSP_FINE``); updates ``codes``."""
    from .algorithms import SearchResult

    mine = [p for p in ("tau_syn", "syn_gain") if p in params]
    start = {p: codes[p].copy() for p in mine}
    offsets, repeats = PSP_FINE
    for _ in range(repeats):
        for pair in offsets:
            probe = {p: np.clip(start[p] + o, 0, 1023) for p, o in zip(("tau_syn", "syn_gain"), pair)
                     if p in mine}
            meas.psp({**codes, **probe})
    for p in mine:
        history = [(entry[p][0], entry[p][1]) for entry in meas.psp_log]
        res = SearchResult(start[p], np.full(start[p].shape, np.nan), success[p], 0, history=history)
        est = refine(res, targets.value(p), _linearise(process, p), window=PSP_WINDOW)
        codes[p] = np.where(success[p], est, start[p])


def _linearise(process, param):
    """The map under which the nominal transfer is linear in the code (1/x for reciprocal)."""
    kind = process.transfers[param].kind if hasattr(process, "transfers") else "linear"
    if kind == "reciprocal":
        return lambda v: 1.0 / np.asarray(v, dtype=np.float64)
    return lambda v: np.asarray(v, dtype=np.float64)


def _adc_quantum(process):
    """(LSB, lowest level) of the ADC from the process model's ADC description (volts)."""
    a = process.data["adc"]
    return (a["v_hi"] - a["v_lo"]) / (2 ** int(a["bits"]) - 1), float(a["v_lo"])


def calibrate(chip, targets: Targets | None = None, *, process=None, cache_dir: Path | None = None,
              seed: int = 0, algorithm: str = "predictive", params=ORDER, use_cache: bool = True,
              batch: int = 16, measure_before: bool = True) -> Calibration:
    """Find per-neuron DAC codes that bring ``chip`` to ``targets``.

    Parameters
    ----------
    chip : anamorph.models.chip.Chip
        The chip; it is only run, never inspected for its true parameters.
    targets : Targets, optional
        Default: :meth:`Targets.default` (the nominal operating point).
    process : ProcessModel, optional
        For the DAC ranges and the first guess; default: the shipped one.
    cache_dir : Path, optional
        Where results are cached by :func:`~.result.cache_key`; default
        :func:`~.result.default_cache_dir`.
    seed : int
        Seed of the chip's temporal noise during the measurements.
    algorithm : {"predictive", "binary", "noisy"}
        Search algorithm (see :mod:`.algorithms`).
    params : sequence of str
        The parameters to calibrate (others keep the predicted codes); subsets serve tests.
    use_cache : bool
        Read and write the cache.
    batch : int
        Independent copies per run (noise averaging).
    measure_before : bool
        Also measure every parameter at the chip's initial codes (for the figures).

    Raises
    ------
    InputError
        A target outside the DAC's reach, an unknown parameter or algorithm.
    """
    from anamorph.errors import InputError
    from anamorph.models.process_model import ProcessModel

    targets = targets or Targets.default()
    process = process or ProcessModel.default()
    if algorithm not in ALGORITHMS:
        raise InputError(f"unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}",
                         None, "algorithm")
    unknown = [p for p in params if p not in ORDER]
    if unknown:
        raise InputError(f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(ORDER)}",
                         None, "params")
    check_targets(targets, process)
    params = tuple(p for p in ORDER if p in params)
    settings = {"seed": int(seed), "algorithm": algorithm, "params": list(params),
                "batch": int(batch), "measure_before": bool(measure_before)}
    hw = hardware_fingerprint(chip)
    key = cache_key(hw, targets, settings)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    if use_cache:
        cached = load_cached(cache_dir, key)
        if cached is not None:
            return cached

    t_start = time.perf_counter()
    runner = ChipRunner(chip, seed=seed, batch=batch)
    meas = Measurements(runner, targets, process)
    n = runner.n_neurons
    initial = {p: np.asarray(c, dtype=np.int64).copy() for p, c in chip.codes.items()}
    before = _measure_all(meas, initial) if measure_before else {}
    meas.psp_log.clear()
    codes = {p: np.full(n, c, dtype=np.int64) for p, c in predicted_codes(process, targets).items()}
    meas.characterise(codes)
    success, achieved, reasons = {}, {}, {}
    methods = {"v_leak": meas.leak, "tau_m": meas.tau_m, "v_reset": meas.reset,
               "v_th": meas.threshold, "t_ref": meas.t_ref, "tau_syn": meas.tau_syn,
               "syn_gain": meas.syn_gain}
    for k, p in enumerate(params):
        _log(f"{p} ({runner.n_runs} runs so far)")
        v0, v1 = (float(x) for x in process.dac_nominal(p, np.array([0, 1023])))
        increasing = v1 > v0
        target = targets.value(p)

        def measure(c, p=p):
            return methods[p]({**codes, p: c})

        def search(level, p=p, measure=measure, increasing=increasing, k=k):
            return _search(algorithm, measure, level, n, process, p, increasing, seed=[seed, k])

        if p == "t_ref":  # the emulator holds a neuron for whole time steps
            res = plateau_search(search, measure, target, n, process, p, runner.dt_s, 0.0)
        elif p == "v_reset":  # the clamp is noise-free: one ADC level exactly
            res = plateau_search(search, measure, target, n, process, p, *_adc_quantum(process))
        else:
            res = _search(algorithm, measure, target, n, process, p, increasing, seed=[seed, k])
            # With DAC steps finer than the measurement noise, adjacent codes need not read in
            # order: a neuron counts as out of reach only if its search ended at a DAC end.
            at_end = (res.lo <= 0) | (res.hi >= 1023)  # the final bracket touches a DAC end
            res.bracketed = res.bracketed | ~at_end
            lin = _linearise(process, p)
            c = np.where(res.bracketed, refine(res, target, lin), res.codes)
            # Polish: a few more probes around the estimate, then the regression again.
            for off in POLISH.get(p, ()):
                probe = np.clip(c + off, 0, 1023)
                res.history.append((probe, measure(probe)))
                res.n_runs += 1
            res.codes = np.where(res.bracketed, refine(res, target, lin), res.codes)
            if p in FINE:
                res.codes = np.where(res.bracketed, _fine(res, codes, p, getattr(meas, FINE[p][0]),
                                                          *FINE[p][1:], target, lin), res.codes)
        codes[p] = res.codes
        ok = res.bracketed & np.isfinite(res.measured)
        success[p] = ok
        achieved[p] = res.measured
        reasons[p] = {}
        for i in np.flatnonzero(~ok):
            if not np.isfinite(res.measured[i]):
                reasons[p][int(i)] = "no valid measurement (e.g. no spikes or no decay to fit)"
            else:
                end = "highest" if (res.measured[i] < target) == increasing else "lowest"
                reasons[p][int(i)] = (f"target {target:.4g} is beyond the neuron's {end} reachable "
                                      f"value ({res.measured[i]:.4g} at code {res.codes[i]})")
        if p == "tau_m" or (p == "v_leak" and "tau_m" not in params):
            meas.characterise(codes)
        if p == "tau_m":
            meas.context["tau_m_s"] = res.measured
    if any(p in params for p in ("tau_syn", "syn_gain")):
        _psp_fine(meas, codes, params, success, targets, process)
    # Verify: every parameter measured at the final configuration.
    after = _measure_all(meas, codes)
    for p in params:
        achieved[p] = after[p]
    for p in ORDER:
        if p not in params:
            success[p] = np.ones(n, dtype=bool)
            achieved[p] = after[p]
            reasons[p] = {}
    cal = Calibration(codes={p: codes[p] for p in ORDER}, success=success, achieved=achieved,
                      targets=targets, chip_fingerprint=hw, reasons=reasons, before=before,
                      key=key, n_runs=runner.n_runs,
                      settings={**settings, "wall_s": time.perf_counter() - t_start})
    if use_cache:
        store_cached(cache_dir, cal)
    return cal
