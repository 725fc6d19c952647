"""The calibration as data: one row per DAC parameter, in the order the flow runs them.

Each row (:class:`Step`) names how its parameter is *measured* (a method of
:class:`~.measure.Measurements`, ``method(codes) -> (n,) values``), how it is *searched*
(:class:`Regression`: a search of :mod:`.algorithms` refined by the regression of
:func:`.refine.refine`; :class:`Plateau`: :func:`.refine.plateau_search` for a quantised
measurement) and how it is *finished* (:class:`FineStage`, :class:`PSPStage`: final
regressions over many runs), and what later measurements learn from it. Adding a
parameter is adding a row (and its measurement); :func:`.flow.calibrate` runs the rows.

Order (each step needs the ones before it configured, as in the calix calibration library
of BrainScaleS-2): the ADC -> leak potential -> membrane time constant -> reset ->
threshold -> refractory time -> synaptic time constant -> synaptic gain. The first row
(:class:`ReferenceFit`) calibrates no DAC parameter but the instrument every later row
measures through: each ADC channel against a reference voltage common to all channels
(:mod:`.adc`), so that the potentials are brought to their targets in true volts rather
than in what each neuron's own channel reports.

The DAC steps of the time constants and the gain (0.08-0.24 % of the value) are finer than
one measurement through the noisy membrane resolves (0.7-1 step per run even with the
precise protocols). After the search each of them ends with a regression over many probes
around its estimate (each neuron's transfer is a straight line in the code after the map
that linearises the nominal transfer), which averages the noise down to ~0.1-0.2 step:
:data:`TAU_M_FINE` for tau_m, :data:`PSP_FINE` for tau_syn and the gain, which share their
runs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from . import algorithms
from .algorithms import CODE_MAX, SearchResult
from .refine import plateau_search, refine

if TYPE_CHECKING:
    from anamorph.models.process_model import ProcessModel

    from .adc import ADCCorrection
    from .algorithms import Measure
    from .measure import Measurements
    from .targets import Targets

ALGORITHMS = ("predictive", "binary", "noisy")


@dataclass(frozen=True)
class Regression:
    """Search with the flow's algorithm, then regress every probe near the result.

    Neurons whose final bracket does not touch a DAC end count as bracketed (with DAC steps
    finer than the noise, adjacent codes need not read in order). ``polish`` are code
    offsets of extra probes around the first regression's estimate, after which the
    regression runs again.
    """

    polish: tuple[int, ...] = ()


@dataclass(frozen=True)
class Plateau:
    """:func:`.refine.plateau_search` for a measurement quantised to levels.

    ``levels``: ``"time_step"`` (the chip holds a neuron for whole time steps) or ``"adc"``
    (a noise-free reading of one ADC level).
    """

    levels: str


@dataclass(frozen=True)
class ReferenceFit:
    """The ADC's row: its channels fitted against the common reference (:mod:`.adc`).

    The reference is a ``bits``-bit DAC over ``0 .. v_max_v`` (as BrainScaleS-2's
    capacitive-memory cell switched onto every CADC channel); every code whose voltage lies
    inside the ADC's range is read once by all channels.
    """

    bits: int = 10
    v_max_v: float = 1.2


@dataclass(frozen=True)
class FineStage:
    """Final regression over ``repeats`` rounds of probes at code ``offsets`` around the
    estimate, measured with the finer method ``measure``; only these probes are regressed
    (within ``window`` codes). At most ``recentre`` further passes (a quarter of the rounds
    each) re-centre on estimates that left the probed codes."""

    measure: str
    offsets: tuple[int, ...]
    repeats: int
    window: int = 16
    recentre: int = 2


@dataclass(frozen=True)
class PSPStage:
    """Joint final stage of ``params``, which every run of ``measure`` measures together.

    Each of ``repeats`` rounds runs once per tuple of ``offsets`` (one code offset per
    parameter of ``params``, the designs uncorrelated); then each parameter is regressed
    over every such run of the calibration (``Measurements.psp_log``) within ``window``
    codes.
    """

    params: tuple[str, ...]
    offsets: tuple[tuple[int, ...], ...]
    repeats: int
    measure: str = "psp"
    window: int = 16


@dataclass(frozen=True)
class Step:
    """One DAC parameter's calibration.

    Attributes
    ----------
    param : str
        The DAC parameter (a key of the chip's codes and of :meth:`Targets.value`).
    measure : str
        The :class:`~.measure.Measurements` method that measures it.
    search : Regression or Plateau
        How its codes are searched.
    finish : FineStage or PSPStage or None
        Its final stage (a shared :class:`PSPStage` runs once for all its rows).
    characterise : bool
        Re-measure leak and membrane resistance (:meth:`Measurements.characterise`) after
        this step, unless a later step of the same calibration does it.
    context : str or None
        ``Measurements.context`` key that receives the measured values (later measurements
        use them).
    known : str or None
        ``Measurements.context`` key under which :meth:`Measurements.characterise` already
        measures this parameter (verification needs no run of its own).
    """

    param: str
    measure: str
    search: Regression | Plateau | ReferenceFit
    finish: FineStage | PSPStage | None = None
    characterise: bool = False
    context: str | None = None
    known: str | None = None


#: tau_m's DAC step (0.08 %) is finer than one measurement resolves.
TAU_M_FINE = FineStage("tau_m_fine", (-2, -1, 1, 2), 16)
#: tau_syn and the gain (DAC steps 0.18 and 0.24 %) share every PSP run.
PSP_FINE = PSPStage(("tau_syn", "syn_gain"), ((-2, 1), (-1, -2), (1, 2), (2, -1)), 8)
_POLISH = (-6, -2, 2, 6)

STEPS = (
    Step("adc", "reference", ReferenceFit()),
    Step("v_leak", "leak", Regression(), characterise=True, known="v_leak_v"),
    Step("tau_m", "tau_m", Regression(_POLISH), TAU_M_FINE, characterise=True, context="tau_m_s"),
    Step("v_reset", "reset", Plateau("adc")),
    Step("v_th", "threshold", Regression((-3, 3))),
    Step("t_ref", "t_ref", Plateau("time_step")),
    Step("tau_syn", "tau_syn", Regression(_POLISH), PSP_FINE),
    Step("syn_gain", "syn_gain", Regression(_POLISH), PSP_FINE),
)

#: The order in which DAC parameters are calibrated (after the ADC rows, :data:`INSTRUMENT`).
ORDER = tuple(s.param for s in STEPS if not isinstance(s.search, ReferenceFit))
#: The rows that calibrate the measuring instrument, not a DAC parameter.
INSTRUMENT = tuple(s for s in STEPS if isinstance(s.search, ReferenceFit))


def linearise(process: ProcessModel, param: str) -> Callable[[np.ndarray], np.ndarray]:
    """The map under which the nominal transfer is linear in the code (1/x for reciprocal)."""
    kind = process.transfers[param].kind if hasattr(process, "transfers") else "linear"
    if kind == "reciprocal":
        return lambda v: 1.0 / np.asarray(v, dtype=np.float64)
    return lambda v: np.asarray(v, dtype=np.float64)


def increasing(process: ProcessModel, param: str) -> bool:
    """Whether the nominal transfer of ``param`` rises with the code."""
    return process.code_at_extreme(param, True) == CODE_MAX


def levels(plateau: Plateau, dt_s: float, process: ProcessModel) -> tuple[float, float]:
    """(quantum, origin) of a plateau's levels: the time step, or the ADC's LSB and lowest level."""
    if plateau.levels == "time_step":
        return dt_s, 0.0
    a = process.data["adc"]
    return (a["v_hi"] - a["v_lo"]) / (2 ** int(a["bits"]) - 1), float(a["v_lo"])


def algorithm_search(
    algorithm: str,
    measure: Measure,
    target: np.ndarray | float,
    n: int,
    process: ProcessModel,
    param: str,
    seed: int | Sequence[int],
) -> SearchResult:
    """One search of :mod:`.algorithms` for ``target`` (the predictive one uses the nominal
    transfer of ``param`` for its prediction and slope)."""
    up = increasing(process, param)
    if algorithm == "binary":
        return algorithms.binary_search(measure, target, n, increasing=up)
    if algorithm == "noisy":
        return algorithms.noisy_binary_search(measure, target, n, increasing=up, seed=seed)

    def predict(values):
        return np.array([float(process.dac_inverse(param, float(v))) for v in np.atleast_1d(values)])

    def slope(codes):
        c = np.asarray(codes, dtype=np.float64)
        return (
            process.dac_nominal(param, np.clip(c + 1, 0, CODE_MAX))
            - process.dac_nominal(param, np.clip(c - 1, 0, CODE_MAX))
        ) / np.where((c > 0) & (c < CODE_MAX), 2.0, 1.0)

    return algorithms.predictive_search(measure, target, n, predict, slope, increasing=up)


def search_step(
    step: Step,
    measure: Measure,
    target: np.ndarray | float,
    n: int,
    process: ProcessModel,
    algorithm: str,
    seed: int | Sequence[int],
    dt_s: float,
    adc: ADCCorrection | None = None,
) -> SearchResult:
    """The codes of ``step`` searched as its row says (``measure(codes) -> values``).

    ``adc`` is the ADC's calibration (``measure`` returns volts through it): the ADC levels
    of an ``"adc"`` plateau are then sought in each channel's own readings, where they lie
    on the ADC's grid, at the reading each channel gives for the target.
    """
    p = step.param
    if isinstance(step.search, Plateau) and step.search.levels == "adc" and adc is not None:
        measure_v = measure

        def measure(c):
            return adc.reading(measure_v(c))

        target = adc.reading(target)

    def search(level):
        return algorithm_search(algorithm, measure, level, n, process, p, seed)

    if isinstance(step.search, Plateau):
        res = plateau_search(search, measure, target, n, process, p, *levels(step.search, dt_s, process))
        if step.search.levels == "adc" and adc is not None:
            res.measured = adc.volts(res.measured)
        return res
    res = search(target)
    at_end = (res.lo <= 0) | (res.hi >= CODE_MAX)  # the final bracket touches a DAC end
    res.bracketed = res.bracketed | ~at_end
    lin = linearise(process, p)
    c = np.where(res.bracketed, refine(res, target, lin), res.codes)
    for off in step.search.polish:
        probe = np.clip(c + off, 0, CODE_MAX)
        res.history.append((probe, measure(probe)))
        res.n_runs += 1
    res.codes = np.where(res.bracketed, refine(res, target, lin), res.codes)
    return res


def fine_stage(
    stage: FineStage,
    res: SearchResult,
    codes: dict,
    param: str,
    method: Measure,
    target: np.ndarray | float,
    lin: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Codes from the regression of ``stage`` around ``res.codes`` (adds its runs to ``res``).

    The rounds come in two halves, the second centred on the estimate from the first: when
    the search ended a few codes off, the final line is then not extrapolated far beyond
    the probes that determine it. While some neuron's estimate still lies outside the
    codes its last pass probed (the search ended far off, or the regression clipped an
    untrusted extrapolation to the edge of its probes), up to ``stage.recentre`` further
    passes of a quarter of the rounds each probe around the new estimates.
    """
    history = []
    centre = res.codes
    reach = (min(stage.offsets), max(stage.offsets))
    quarter = max(1, stage.repeats // 4)
    passes = [stage.repeats // 2, stage.repeats - stage.repeats // 2]
    extra = stage.recentre
    while passes:
        for _ in range(passes.pop(0)):
            for off in stage.offsets:
                probe = np.clip(centre + off, 0, CODE_MAX)
                history.append((probe, method({**codes, param: probe})))
        fine = SearchResult(centre, res.measured, res.bracketed, len(history), history=history)
        est = refine(fine, target, lin, window=stage.window)
        outside = res.bracketed & ((est < centre + reach[0]) | (est > centre + reach[1]))
        centre = est
        if not passes and np.any(outside) and extra > 0:
            extra -= 1
            passes.append(quarter)
    res.n_runs += len(history)
    return centre


def psp_stage(
    stage: PSPStage,
    meas: Measurements,
    codes: dict,
    mine: Sequence[str],
    success: dict,
    targets: Targets,
    process: ProcessModel,
) -> None:
    """Run the joint stage for the calibrated parameters ``mine`` of ``stage``; updates ``codes``."""
    start = {p: codes[p].copy() for p in mine}
    method = getattr(meas, stage.measure)
    for _ in range(stage.repeats):
        for offsets in stage.offsets:
            probe = {
                p: np.clip(start[p] + o, 0, CODE_MAX) for p, o in zip(stage.params, offsets) if p in mine
            }
            method({**codes, **probe})
    for p in mine:
        history = [(entry[p][0], entry[p][1]) for entry in meas.psp_log]
        res = SearchResult(start[p], np.full(start[p].shape, np.nan), success[p], 0, history=history)
        est = refine(res, targets.value(p), linearise(process, p), window=stage.window)
        codes[p] = np.where(success[p], est, start[p])
