"""The calibration flow: check targets, measure before, run each parameter's step, verify.

The steps are data (:mod:`.steps`): the ADC's row first (:mod:`.adc`: every channel
against the common reference, all later readings in the reference's volts), then one row
per DAC parameter, in the order they run, naming its measurement (:mod:`.measure`), its
search (:mod:`.algorithms`, :mod:`.refine`) and its final stage. The measurements and the searches never see each other's internals.

Given a :class:`~.checkpoint.Checkpoint`, the flow saves what every run measured, every
few seconds, and resumes by replaying it (:mod:`.runner`, :mod:`.checkpoint`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .adc import CorrectedADC, calibrate_adc
from .checkpoint import Checkpoint, checkpoint_path
from .measure import Measurements
from .result import Calibration, cache_key, default_cache_dir, hardware_fingerprint, load_cached, store_cached
from .runner import ChipRunner, ReplayMismatch
from .steps import (
    ALGORITHMS,
    INSTRUMENT,
    ORDER,
    STEPS,
    FineStage,
    PSPStage,
    fine_stage,
    increasing,
    linearise,
    psp_stage,
    search_step,
)
from .targets import Targets, check_targets

if TYPE_CHECKING:
    from anamorph.models.backend import Backend
    from anamorph.models.chip import Chip
    from anamorph.models.emulator import ChipEmulator
    from anamorph.models.process_model import ProcessModel

__all__ = ["ALGORITHMS", "ORDER", "calibrate", "calibrate_backend", "default_backend", "predicted_codes"]


def _log(msg: str) -> None:
    if sys.stderr.isatty():
        print(f"calibrate: {msg}", file=sys.stderr)


def predicted_codes(process: ProcessModel, targets: Targets) -> dict:
    """Codes the process model's nominal transfers give for the targets (the first guess)."""
    return {p: int(process.code_for(p, targets.value(p))) for p in ORDER}


def _measure_all(meas: Measurements, codes: dict) -> dict:
    """Every parameter measured at one configuration (before / after figures), row by row."""
    keep = ("v_leak_v", "r_ohm") + tuple(s.context for s in STEPS if s.context)
    saved = {k: meas.context[k] for k in keep if k in meas.context}
    meas.characterise(codes)
    out = {}
    for step in STEPS:
        if step.param in out or step.param not in ORDER:
            continue
        if step.known:
            out[step.param] = meas.context[step.known]
        elif isinstance(step.finish, PSPStage):  # one run measures all of the stage's parameters
            out.update(zip(step.finish.params, getattr(meas, step.finish.measure)(codes)))
        else:
            out[step.param] = getattr(meas, step.measure)(codes)
        if step.context:
            meas.context[step.context] = out[step.param]
    meas.context.update(saved)  # keep the calibration's own context
    return out


def _failure(measured: float, code: int, target: float, up: bool) -> str:
    if not np.isfinite(measured):
        return "no valid measurement (e.g. no spikes or no decay to fit)"
    end = "highest" if (measured < target) == up else "lowest"
    return f"target {target:.4g} is beyond the neuron's {end} reachable value ({measured:.4g} at code {code})"


def default_backend(chip: Chip, seed: int = 0) -> ChipEmulator:
    """The backend :func:`calibrate` runs by default: ``chip``'s emulator, its temporal noise
    on and seeded by ``seed`` (the one place calibration builds a chip's backend)."""
    from anamorph.models.emulator import ChipEmulator

    return ChipEmulator(chip, seed=seed, noise=True)


def _checked(
    targets: Targets | None, process: ProcessModel | None, algorithm: str, params: Sequence[str]
) -> tuple[Targets, ProcessModel, tuple[str, ...]]:
    """(targets, process, params in ORDER) with the defaults filled in, or InputError."""
    from anamorph.errors import InputError
    from anamorph.models.process_model import ProcessModel

    targets = targets or Targets.default()
    process = process or ProcessModel.default()
    if algorithm not in ALGORITHMS:
        raise InputError(
            f"unknown algorithm {algorithm!r}; one of {', '.join(ALGORITHMS)}", None, "algorithm"
        )
    unknown = [p for p in params if p not in ORDER]
    if unknown:
        raise InputError(
            f"unknown parameter(s) {', '.join(unknown)}; known: {', '.join(ORDER)}", None, "params"
        )
    check_targets(targets, process)
    return targets, process, tuple(p for p in ORDER if p in params)


def calibrate(
    chip: Chip,
    targets: Targets | None = None,
    *,
    backend: Backend | None = None,
    process_model: ProcessModel | None = None,
    cache_dir: Path | None = None,
    seed: int = 0,
    algorithm: str = "predictive",
    params: Sequence[str] = ORDER,
    use_cache: bool = True,
    batch: int = 16,
    measure_before: bool = True,
) -> Calibration:
    """Find per-neuron DAC codes that bring ``chip`` to ``targets`` (cached).

    Parameters
    ----------
    chip : anamorph.models.chip.Chip
        The chip: names the hardware (the cache key, :attr:`Calibration.chip_fingerprint`)
        and gives the codes it starts from. It is only run, through ``backend``.
    targets : Targets, optional
        Default: :meth:`Targets.default` (the nominal operating point).
    backend : Backend, optional
        What runs ``chip`` (e.g. a :class:`~anamorph.models.reference_backend.ReferenceChip`
        of it); default :func:`default_backend`. A given backend's class name joins the
        settings (and so the cache key).
    process_model : ProcessModel, optional
        For the DAC ranges and the first guess; default: the shipped one.
    cache_dir : Path, optional
        Where results are cached by :func:`~.result.cache_key`; default
        :func:`~.result.default_cache_dir`.
    seed : int
        Seed of the default backend's temporal noise and of the randomised searches.
    algorithm, params, batch, measure_before
        See :func:`calibrate_backend`.
    use_cache : bool
        Read and write the cache and the mid-run checkpoint ``KEY.checkpoint.npz``: a
        calibration killed midway and started again with the same chip, targets and
        settings resumes where the checkpoint left it and ends bit-identical to an
        uninterrupted one (see :mod:`anamorph.calibration`).

    Raises
    ------
    InputError
        A target outside the DAC's reach, an unknown parameter or algorithm.
    """
    targets, process, params = _checked(targets, process_model, algorithm, params)
    settings = {
        "seed": int(seed),
        "algorithm": algorithm,
        "params": list(params),
        "batch": int(batch),
        "measure_before": bool(measure_before),
    }
    if backend is not None:
        settings["backend"] = type(backend).__name__
    hw = hardware_fingerprint(chip)
    key = cache_key(hw, targets, settings)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    checkpoint = Checkpoint(checkpoint_path(cache_dir, key), key) if use_cache else None
    if use_cache:
        cached = load_cached(cache_dir, key)
        if cached is not None:
            checkpoint.remove()  # left by a run killed between writing its result and this
            return cached
    cal = calibrate_backend(
        default_backend(chip, seed) if backend is None else backend,
        chip.codes,
        targets,
        process_model=process,
        seed=seed,
        algorithm=algorithm,
        params=params,
        batch=batch,
        measure_before=measure_before,
        checkpoint=checkpoint,
    )
    cal = replace(cal, chip_fingerprint=hw, key=key, settings={**settings, **cal.settings})
    if use_cache:
        store_cached(cache_dir, cal)
        checkpoint.remove()
    return cal


def calibrate_backend(
    backend: Backend,
    initial_codes: dict,
    targets: Targets | None = None,
    *,
    process_model: ProcessModel | None = None,
    seed: int = 0,
    algorithm: str = "predictive",
    params: Sequence[str] = ORDER,
    batch: int = 16,
    measure_before: bool = True,
    checkpoint: Checkpoint | None = None,
) -> Calibration:
    """Run the steps (:data:`.steps.STEPS`) on a chip seen only through its Backend (no cache).

    Parameters
    ----------
    backend : Backend
        The chip: configured (``configure``) and run (``run``), nothing else.
    initial_codes : dict
        The codes the chip is configured with (the "before" measurements use them).
    targets, process_model
        As for :func:`calibrate`.
    seed : int
        Seed of the randomised searches (search ``k`` uses ``[seed, k]``).
    algorithm : {"predictive", "binary", "noisy"}
        Search algorithm (see :mod:`.algorithms`).
    params : sequence of str
        The parameters to calibrate (others keep the predicted codes); subsets serve tests.
    batch : int
        Independent copies per run (noise averaging).
    measure_before : bool
        Also measure every parameter at ``initial_codes`` (for the figures).
    checkpoint : Checkpoint, optional
        Written every few seconds with what the runs so far measured; a valid one found
        there is replayed first (resume). None: no checkpoint.

    Returns
    -------
    Calibration
        Without ``chip_fingerprint`` and ``key`` (:func:`calibrate` names it).
    """
    targets, process, params = _checked(targets, process_model, algorithm, params)
    args = (backend, initial_codes, targets, process, seed, algorithm, params, batch, measure_before)
    resume = checkpoint.load() if checkpoint is not None else None
    try:
        return _calibrate(*args, checkpoint, resume)
    except ReplayMismatch:
        if resume is None:
            raise
        _log("the checkpoint does not fit this flow: starting over")
        return _calibrate(*args, checkpoint, None)


def _noise_counter(backend: Backend) -> int | None:
    """The backend's run counter ``n_runs``, or None if it has none.

    The emulator and :class:`~anamorph.models.reference_backend.ReferenceChip` draw run
    ``k``'s noise from ``default_rng([seed, k])``: the counter is the noise-draw id of the
    next run, which a resumed calibration restores to draw the same noise.
    """
    k = getattr(backend, "n_runs", None)
    return int(k) if isinstance(k, (int, np.integer)) and not isinstance(k, bool) else None


def _resumable(saved: tuple[int, dict] | None, noise_start: int | None) -> dict | None:
    """The checkpointed state if it can be resumed from here: its log is one entry per run,
    and the backend's run counter is where it was when the checkpointed calibration began
    (the noise of every run then follows)."""
    if saved is None:
        return None
    state = saved[1]
    try:
        log, ran = state["log"], state["runner"]
        ok = (
            state["noise_start"] == noise_start
            and int(ran["n_runs"]) == len(log) == saved[0]
            and all(isinstance(e, tuple) and len(e) == 2 and isinstance(e[0], str) for e in log)
        )
        float(state["wall_s"])
    except (KeyError, TypeError, ValueError):
        return None
    return state if ok else None


def _calibrate(
    backend: Backend,
    initial_codes: dict,
    targets: Targets,
    process: ProcessModel,
    seed: int,
    algorithm: str,
    params: tuple[str, ...],
    batch: int,
    measure_before: bool,
    checkpoint: Checkpoint | None,
    resume: tuple[int, dict] | None,
) -> Calibration:
    """:func:`calibrate_backend` with checked arguments, resuming from ``resume`` if it fits."""
    from anamorph.models.backend import ReferenceADC

    t_start = time.perf_counter()
    # The ADC first, against its common reference (a backend without one: read as it reports).
    corrected = CorrectedADC(backend)
    adc_settings = {}
    if isinstance(backend, ReferenceADC):
        for row in INSTRUMENT:
            _log(f"{row.param} against the common reference")
            corrected.correction = calibrate_adc(backend, row.search, process)
            adc_settings = {"adc": corrected.correction.summary()}
    runner = ChipRunner(corrected, batch=batch)
    meas = Measurements(runner, targets, process)
    noise_start = _noise_counter(backend)
    state = _resumable(resume, noise_start)
    wall_s = 0.0  # spent by earlier, interrupted runs
    if state is not None:
        wall_s = float(state["wall_s"])
        _log(f"resuming after {len(state['log'])} runs")

        def then():  # the runner and the backend as the interrupted run left them
            runner.restore(state["runner"])
            if state["noise_next"] is not None:
                backend.n_runs = state["noise_next"]

        runner.replay(state["log"], then)
    if checkpoint is not None:

        def on_run():
            if checkpoint.due():
                snapshot = {
                    "log": runner.log,
                    "runner": runner.state(),
                    "noise_start": noise_start,
                    "noise_next": _noise_counter(backend),
                    "wall_s": wall_s + time.perf_counter() - t_start,
                }
                checkpoint.save(len(runner.log), snapshot)

        runner.on_run = on_run
    n = runner.n_neurons
    initial = {p: np.asarray(c, dtype=np.int64).copy() for p, c in initial_codes.items()}
    before = _measure_all(meas, initial) if measure_before else {}
    meas.psp_log.clear()
    codes = {p: np.full(n, c, dtype=np.int64) for p, c in predicted_codes(process, targets).items()}
    meas.characterise(codes)
    success, achieved, reasons = {}, {}, {}
    run = [s for s in STEPS if s.param in params]
    for k, step in enumerate(run):
        p = step.param
        _log(f"{p} ({runner.n_runs} runs so far)")
        target = targets.value(p)
        method = getattr(meas, step.measure)

        def measure(c, p=p, method=method):
            return method({**codes, p: c})

        res = search_step(
            step, measure, target, n, process, algorithm, [seed, k], runner.dt_s, corrected.correction
        )
        if isinstance(step.finish, FineStage):
            est = fine_stage(
                step.finish, res, codes, p, getattr(meas, step.finish.measure), target, linearise(process, p)
            )
            res.codes = np.where(res.bracketed, est, res.codes)
        codes[p] = res.codes
        success[p] = res.bracketed & np.isfinite(res.measured)
        achieved[p] = res.measured
        up = increasing(process, p)
        reasons[p] = {
            int(i): _failure(res.measured[i], res.codes[i], target, up) for i in np.flatnonzero(~success[p])
        }
        if step.characterise and not any(s.characterise for s in run[k + 1 :]):
            meas.characterise(codes)
        if step.context:
            meas.context[step.context] = res.measured
    shared = [s.finish for s in run if isinstance(s.finish, PSPStage)]
    for stage in dict.fromkeys(shared):  # each shared stage once, in the order of its rows
        mine = [s.param for s in run if s.finish == stage]
        psp_stage(stage, meas, codes, mine, success, targets, process)
    # Verify: every parameter measured at the final configuration.
    after = _measure_all(meas, codes)
    if runner.replaying:
        raise ReplayMismatch("the log has more runs than the flow")
    for p in params:
        achieved[p] = after[p]
    for p in ORDER:
        if p not in params:
            success[p] = np.ones(n, dtype=bool)
            achieved[p] = after[p]
            reasons[p] = {}
    return Calibration(
        codes={p: codes[p] for p in ORDER},
        success=success,
        achieved=achieved,
        targets=targets,
        chip_fingerprint="",
        reasons=reasons,
        before=before,
        n_runs=runner.n_runs,
        settings={"wall_s": wall_s + time.perf_counter() - t_start, **adc_settings},
    )
