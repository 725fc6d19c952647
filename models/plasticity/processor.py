"""The plasticity step: read the sensors through the ADC, run a rule, write new weight codes.

Like BrainScaleS-2's plasticity processing unit (Friedmann et al., IEEE TBioCAS 11(1),
2017): between runs, a program reads every plastic synapse's causal and acausal sensor
through the column ADC (:mod:`anamorph.models.plasticity.adc`), computes new 6-bit weights
with a user rule and writes them back; the sensors are reset. Here every emulator run
starts with reset sensors and ends with their ADC readings (``Observables.sensors``,
accumulated over all samples of the batch, which run one after another on the same
synapses); a step consumes one run's readings and returns a new
:class:`~anamorph.models.network.ChipNetwork`.

A rule is any callable ``rule(readings, codes, modulator) -> new codes`` where
``readings`` is a :class:`SensorReadings` of one projection, ``codes`` its current int64
codes (n_source, n_target) and ``modulator`` whatever the caller passes (a reward, a
learning rate, None). It must return integers in -63..63 of the same shape.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.models.chip import WEIGHT_MAX
from anamorph.models.plasticity.adc import SENSOR_ADC, SensorADC
from anamorph.models.plasticity.sensors import NAMES, SensorParams, Sensors, correlate

if TYPE_CHECKING:
    from anamorph.models.backend import Observables, SpikeEvents
    from anamorph.models.chip import Chip
    from anamorph.models.network import ChipNetwork


@dataclass(frozen=True, eq=False)
class SensorReadings:
    """Digitised sensors of one projection, in sensor units (``code * lsb``).

    Attributes
    ----------
    causal, acausal : (n_source, n_target) float64
        ADC readings of a+ and a- (with the column offsets and the 8-bit resolution).
    lsb : float
        One ADC step in sensor units.
    saturated : int
        Number of readings clipped at the ADC's full scale (sensors read too rarely).
    """

    causal: np.ndarray
    acausal: np.ndarray
    lsb: float
    saturated: int = 0


Rule = Callable[[SensorReadings, np.ndarray, object], np.ndarray]


def read_sensors(
    sensors: Sensors, adc: SensorADC = SENSOR_ADC, offsets_lsb: tuple[np.ndarray, np.ndarray] | None = None
) -> SensorReadings:
    """Read accumulated ``sensors`` (n_source, n_target) through ``adc``.

    ``offsets_lsb`` is ``(causal, acausal)``, each an array of the target columns' offsets
    (n_target,) in LSB, or None for an ideal (offset-free) ADC.
    """
    off_c, off_a = (0.0, 0.0) if offsets_lsb is None else offsets_lsb
    codes_c = adc.codes(sensors.causal, np.asarray(off_c)[..., None, :] if np.ndim(off_c) else off_c)
    codes_a = adc.codes(sensors.acausal, np.asarray(off_a)[..., None, :] if np.ndim(off_a) else off_a)
    saturated = int(np.count_nonzero(codes_c == adc.levels) + np.count_nonzero(codes_a == adc.levels))
    return SensorReadings(codes_c * adc.lsb, codes_a * adc.lsb, adc.lsb, saturated)


def apply_rule(
    rule: Rule,
    readings: SensorReadings,
    codes: np.ndarray,
    modulator: object = None,
    where: str = "projection",
) -> np.ndarray:
    """``rule(readings, codes, modulator)``, checked: integers in -63..63 of the codes' shape."""
    codes = np.asarray(codes, dtype=np.int64)
    new = np.asarray(rule(readings, codes.copy(), modulator))
    if new.shape != codes.shape:
        raise InputError(f"the rule returned shape {new.shape}, expected {codes.shape}", where, "codes")
    if not np.issubdtype(new.dtype, np.number) or np.issubdtype(new.dtype, np.complexfloating):
        raise InputError("the rule returned non-numeric codes", where, "codes")
    if not np.all(np.isfinite(new)) or np.any(new != np.round(new)):
        raise InputError(
            "the rule returned non-integer codes (round them, e.g. stochastically)", where, "codes"
        )
    if np.abs(new).max(initial=0) > WEIGHT_MAX:
        raise InputError(f"the rule returned codes outside -{WEIGHT_MAX}..{WEIGHT_MAX}", where, "codes")
    return new.astype(np.int64)


def plasticity_step(
    network: ChipNetwork,
    observables: Observables,
    rule: Rule,
    modulator: object = None,
    projections: Sequence[int] | None = None,
) -> ChipNetwork:
    """One plasticity step after a run: the network with every plastic projection's new codes.

    Parameters
    ----------
    network : ChipNetwork
        The network that ran.
    observables : Observables
        What the run reported; ``observables.sensors[k]`` holds the readings of plastic
        projection ``k``.
    rule : callable
        ``rule(readings, codes, modulator) -> new codes`` (see module docstring).
    modulator : object, optional
        Passed to the rule unchanged (a reward, a third factor).
    projections : sequence of int, optional
        Update only these plastic projections (default: all of them).

    Raises
    ------
    InputError
        A projection is not plastic or has no readings, or the rule returned bad codes
        (the message names ``projections[k]``).
    """
    sensors = getattr(observables, "sensors", None) or {}
    plastic = [k for k, p in enumerate(network.projections) if p.plastic]
    chosen = plastic if projections is None else list(projections)
    for k in chosen:
        if (
            not (isinstance(k, (int, np.integer)) and 0 <= k < len(network.projections))
            or not network.projections[k].plastic
        ):
            raise InputError("is not a plastic projection of the network", "projections", f"projections[{k}]")
        if k not in sensors:
            raise InputError(
                "no sensor readings for it in the observables (run the network with it plastic first)",
                "observables",
                f"projections[{k}]",
            )
    for k in chosen:
        new = apply_rule(rule, sensors[k], network.projections[k].codes, modulator, f"projections[{k}]")
        network = network.with_codes(k, new)
    return network


def chip_sensor_params(
    chip: Chip, rows: np.ndarray | slice | Sequence[int], columns: np.ndarray | slice | Sequence[int]
) -> SensorParams:
    """The TRUE sensor parameters of the chip's synapses ``rows`` x ``columns`` (chip time)."""
    return SensorParams(**{n: chip.hidden[f"tstdp.{n}"][rows][:, columns] for n in NAMES})


def network_sensors(
    chip: Chip, network: ChipNetwork, inputs: SpikeEvents, spikes: SpikeEvents, per_sample: bool = False
) -> dict[int, Sensors]:
    """Exact sensors of every plastic projection of ``network`` after a run (emulators, tests).

    ``inputs`` are the run's input events, ``spikes`` its output spikes (chip neuron
    indices); projection ``k`` uses synapse rows ``network.rows(k)`` of its target neurons.
    The samples of the batch are summed (they run one after another on the same synapses)
    unless ``per_sample``.
    """
    from anamorph.models.network import INPUT

    out = {}
    offsets = network.offsets
    for k, p in enumerate(network.projections):
        if not p.plastic:
            continue
        rows, cols = network.rows(k), network.slice(p.target)
        n_src, n_tgt = network.n_source(k), cols.stop - cols.start
        pre = inputs if p.source == INPUT else spikes.select(offsets[p.source], n_src)
        post = spikes.select(offsets[p.target], n_tgt)
        params = chip_sensor_params(chip, slice(rows.start, rows.stop), cols)
        out[k] = correlate(pre, post, params, n_src, n_tgt, per_sample)
    return out


def network_readings(
    chip: Chip,
    network: ChipNetwork,
    inputs: SpikeEvents,
    spikes: SpikeEvents,
    adc: SensorADC = SENSOR_ADC,
    per_sample: bool = False,
    every_sample: bool = False,
) -> dict[int, SensorReadings]:
    """What the chip's plasticity processor reads: :func:`network_sensors` through the ADC.

    ``per_sample`` keeps every sample's readings apart (n_samples, n_source, n_target).
    ``every_sample`` models a processor that reads and resets the sensors after every
    sample of the batch and adds the digital readings up: the same sum as one reading
    after the run, but each analog accumulation spans one sample, so it reaches the ADC's
    full scale far less often (``saturated`` counts the clipped per-sample readings); the
    price is one ADC rounding per sample instead of one per run.
    """
    out = {}
    for k, s in network_sensors(chip, network, inputs, spikes, per_sample or every_sample).items():
        cols = network.slice(network.projections[k].target)
        offsets = (
            chip.hidden["tstdp.adc_offset_causal_lsb"][cols],
            chip.hidden["tstdp.adc_offset_acausal_lsb"][cols],
        )
        r = read_sensors(s, adc, offsets)
        if every_sample and not per_sample:
            r = SensorReadings(r.causal.sum(axis=0), r.acausal.sum(axis=0), r.lsb, r.saturated)
        out[k] = r
    return out
