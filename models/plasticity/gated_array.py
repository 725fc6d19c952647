r"""A synapse array of gated-synapse devices: analog weight memory instead of 6-bit codes.

Each synapse (source row ``k``, target neuron ``j``) is one device with its own parameters,
drawn (correlated log-normal) from the ProcessModel's ``"gated_synapse"`` section
(:func:`~anamorph.models.plasticity.gated_fit.sample_devices`), and a state
``s[k, j] in [0, 1]``. The synapse current jump is the device's conductance mapped onto the
range of the 6-bit path, so a device at the population's ``g_max`` equals code 63:

.. math::

    x = 63 \, \max(0, (g - g_{min,nom}) / (g_{max,nom} - g_{min,nom})), \qquad
    I_{jump} = \mathrm{sign} \cdot x \cdot w_{unit}[j] \cdot gain_{row}[k, j]

with the population medians ``g_min,nom, g_max,nom`` as the readout reference (a device
with a larger ``g_max`` gives more than 63, device-to-device variation shows as weight
variation), ``sign`` fixed per synapse (excitatory or inhibitory row) and the same
per-row gain as the 6-bit synapses (:meth:`anamorph.models.chip.Chip.synapse_current_a`).

Weights change only by gate pulses: a plasticity step asks a rule for signed per-synapse
pulse counts (``+n``: ``n`` potentiating pulses of ``amplitude_p_v``, ``-n``: depressing
pulses of ``amplitude_d_v``; :meth:`GatedSynapseArray.apply_pulses`). All synapses are
programmed in parallel, one pulse slot (``pulse.period_s``) per round, so every device also
decays for ``max |n|`` slots. Each pulse's cycle-to-cycle draw comes from
``default_rng([seed, NOISE_STREAM, cycle])``, ``cycle`` counting the array's programming
rounds, so a sequence of steps is reproducible.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.models.network import ChipNetwork, Projection
from anamorph.models.plasticity.gated_device import (
    GatedDeviceParams,
    GatePulse,
    conductance,
    pulse_step,
    retain,
)

if TYPE_CHECKING:
    from anamorph.models.backend import Observables
    from anamorph.models.chip import Chip
    from anamorph.models.neuron import NeuronParams
    from anamorph.models.plasticity.processor import SensorReadings

CODE_FULL = 63
NOISE_STREAM = 11
DEVICE_STREAM = 10


@dataclass(frozen=True, eq=False)
class GatedSynapseArray:
    """Device states, per-device parameters and signs of one projection (n_source, n_target)."""

    state: np.ndarray
    sign: np.ndarray
    params: GatedDeviceParams
    g_ref_s: tuple[float, float]
    pulse: GatePulse = GatePulse()
    amplitude_p_v: float = 1.3
    amplitude_d_v: float = -1.1
    seed: int = 0
    cycle: int = 0

    @classmethod
    def sample(
        cls, section: dict, sign: np.ndarray, seed: int, stream: int = 0, **kw: float | GatePulse
    ) -> GatedSynapseArray:
        """Reset devices (``s = 0``) of ``sign`` (n_source, n_target, each +1 or -1), parameters
        drawn from ``section`` with ``default_rng([seed, DEVICE_STREAM, stream])``."""
        from anamorph.models.plasticity.gated_fit import nominal, pulse_of, sample_devices, validate_section

        validate_section(section)
        sign = np.asarray(sign)
        if sign.ndim != 2 or not np.all(np.isin(sign, (-1, 1))):
            raise InputError("must be a 2-D array of +1 / -1", "gated synapse array", "sign")
        params = sample_devices(section, sign.shape, np.random.default_rng([seed, DEVICE_STREAM, stream]))
        nom = nominal(section)
        kw.setdefault("pulse", pulse_of(section))
        return cls(
            np.zeros(sign.shape),
            sign.astype(np.int8),
            params,
            (float(nom.g_min_s), float(nom.g_max_s)),
            seed=int(seed),
            **kw,
        )

    @classmethod
    def from_codes(
        cls, codes: np.ndarray, section: dict, seed: int, stream: int = 0, **kw: float | GatePulse
    ) -> GatedSynapseArray:
        """Devices set to the code-equivalent of ``codes`` (signed 6-bit codes; 0 -> excitatory, reset)."""
        codes = np.asarray(codes, dtype=np.float64)
        arr = cls.sample(section, np.where(codes < 0, -1, 1), seed, stream, **kw)
        g_lo, g_hi = arr.g_ref_s
        g = g_lo + (g_hi - g_lo) * np.abs(codes) / CODE_FULL
        p = arr.params
        return replace(arr, state=np.clip((g - p.g_min_s) / (p.g_max_s - p.g_min_s), 0.0, 1.0))

    # ----------------------------------------------------------------- readout
    def conductance_s(self) -> np.ndarray:
        return conductance(self.state, self.params)

    def code_equivalent(self) -> np.ndarray:
        """Signed float weight in code units (module docstring); 63 = a device at ``g_max,nom``."""
        g_lo, g_hi = self.g_ref_s
        return self.sign * CODE_FULL * np.maximum(0.0, (self.conductance_s() - g_lo) / (g_hi - g_lo))

    def codes(self) -> np.ndarray:
        """The nearest 6-bit codes (for tools that expect codes; the currents use the float value)."""
        return np.clip(np.rint(self.code_equivalent()), -CODE_FULL, CODE_FULL).astype(np.int64)

    def currents_a(
        self, chip: Chip, first_post: int, params: NeuronParams | None = None, first_row: int = 0
    ) -> np.ndarray:
        """TRUE current jump (A) of each synapse: rows ``first_row ..`` of chip neurons ``first_post ..``."""
        n_pre, n_post = self.state.shape
        post, rows = slice(first_post, first_post + n_post), slice(first_row, first_row + n_pre)
        w_unit = (params or chip.true_params()).w_unit_a[post]
        gain = np.where(
            self.sign > 0, chip.hidden["syn_gain_exc"][rows, post], chip.hidden["syn_gain_inh"][rows, post]
        )
        return np.abs(self.code_equivalent()) * gain * self.sign * w_unit[None, :]

    # ----------------------------------------------------------------- programming
    def apply_pulses(self, counts: np.ndarray) -> GatedSynapseArray:
        """The array after signed pulse ``counts`` (n_source, n_target) (module docstring)."""
        counts = np.asarray(counts)
        if counts.shape != self.state.shape or not np.issubdtype(counts.dtype, np.integer):
            raise InputError(
                f"must be integer pulse counts of shape {self.state.shape}", "gated synapse array", "counts"
            )
        n_rounds = int(np.abs(counts).max(initial=0))
        rng = np.random.default_rng([self.seed, NOISE_STREAM, self.cycle])
        s = self.state
        for r in range(n_rounds):
            amp = np.where(counts > r, self.amplitude_p_v, np.where(-counts > r, self.amplitude_d_v, 0.0))
            s = pulse_step(s, amp, self.params, rng.standard_normal(s.shape), self.pulse)
        return replace(self, state=s, cycle=self.cycle + 1)

    def elapse(self, dt_s: float) -> GatedSynapseArray:
        """Retention decay over ``dt_s`` without pulses (e.g. the duration of a run)."""
        return replace(self, state=retain(self.state, dt_s, self.params))

    def take(
        self, rows: np.ndarray | slice | Sequence[int], cols: np.ndarray | slice | Sequence[int]
    ) -> GatedSynapseArray:
        """The sub-array ``[rows][:, cols]``."""
        ix = np.ix_(np.atleast_1d(rows), np.atleast_1d(cols))
        sub = GatedDeviceParams(
            **{f.name: np.asarray(getattr(self.params, f.name))[ix] for f in fields(self.params)}
        )
        return replace(self, state=self.state[ix], sign=self.sign[ix], params=sub)


@dataclass
class TripletPulses:
    """Rule: ``n = floor(eta (a+ - a-) m + U)`` signed-weight pulses, clipped to ``+-max_pulses``.

    ``a+``/``a-`` are a projection's sensor readings (:class:`~anamorph.models.plasticity.
    processor.SensorReadings`), ``m`` the modulator (1 if None), ``U`` uniform from
    ``default_rng([seed, 12, call])`` (stochastic rounding). The count is multiplied by each
    synapse's sign, so the signed weight moves with ``a+ - a-`` (an inhibitory synapse is
    depressed to weaken its inhibition).
    """

    eta_pulses: float = 20.0
    max_pulses: int = 8
    seed: int = 0
    calls: int = 0

    def __call__(
        self, readings: SensorReadings, array: GatedSynapseArray, modulator: object = None
    ) -> np.ndarray:
        rng = np.random.default_rng([self.seed, 12, self.calls])
        self.calls += 1
        x = self.eta_pulses * (np.asarray(readings.causal) - np.asarray(readings.acausal))
        x = x * (1.0 if modulator is None else modulator)
        n = np.clip(np.floor(x + rng.random(x.shape)), -self.max_pulses, self.max_pulses).astype(np.int64)
        return n * array.sign


def gated_plasticity_step(
    array: GatedSynapseArray,
    readings: SensorReadings,
    rule: Callable[[SensorReadings, GatedSynapseArray, object], np.ndarray],
    modulator: object = None,
) -> GatedSynapseArray:
    """One plasticity step: ``counts = rule(readings, array, modulator)``, then the gate pulses."""
    counts = np.asarray(rule(readings, array, modulator))
    if counts.shape != array.state.shape:
        raise InputError(
            f"rule returned shape {counts.shape}, expected {array.state.shape}", "rule", "counts"
        )
    return array.apply_pulses(counts.astype(np.int64))


@dataclass(frozen=True, eq=False)
class GatedProjection(Projection):
    """A projection whose synapses are gated-synapse ``devices``; ``codes`` mirrors
    ``devices.codes()`` (validation, tools); the emulator's currents come from the devices
    (:func:`anamorph.models.network.projection_currents`)."""

    devices: GatedSynapseArray | None = None

    def __post_init__(self) -> None:
        codes = np.asarray(self.codes)  # (float arrays: a backend's per-synapse currents, not codes)
        if (
            self.devices is not None
            and np.issubdtype(codes.dtype, np.integer)
            and not np.array_equal(codes, self.devices.codes())
        ):
            raise InputError(
                "the weights of a gated-synapse projection change only through gate pulses "
                "(gated_network_step / with_devices), not by writing codes",
                "network",
                "codes",
            )

    @classmethod
    def of(
        cls, source: str, target: str, devices: GatedSynapseArray, plastic: bool = True
    ) -> GatedProjection:
        return cls(source, target, devices.codes(), plastic, devices)


def with_devices(network: ChipNetwork, index: int, devices: GatedSynapseArray) -> ChipNetwork:
    """A copy of ``network`` whose projection ``index`` (a GatedProjection) holds ``devices``."""
    projs = list(network.projections)
    if not isinstance(projs[index], GatedProjection):
        raise InputError("is not a gated-synapse projection", "network", f"projections[{index}]")
    projs[index] = replace(projs[index], devices=devices, codes=devices.codes())
    return replace(network, projections=tuple(projs))


def gated_network_step(
    network: ChipNetwork,
    observables: Observables,
    rule: Callable[[SensorReadings, GatedSynapseArray, object], np.ndarray],
    modulator: object = None,
    run_s: float = 0.0,
) -> ChipNetwork:
    """The plasticity step for gated projections: after a run of ``run_s`` seconds, every
    plastic :class:`GatedProjection` ``k`` decays for ``run_s``, then receives the gate
    pulses ``rule(observables.sensors[k], devices, modulator)`` (e.g. :class:`TripletPulses`)."""
    sensors = getattr(observables, "sensors", None) or {}
    for k, p in enumerate(network.projections):
        if isinstance(p, GatedProjection) and p.plastic:
            if k not in sensors:
                raise InputError(
                    "no sensor readings for it in the observables", "observables", f"projections[{k}]"
                )
            network = with_devices(
                network, k, gated_plasticity_step(p.devices.elapse(run_s), sensors[k], rule, modulator)
            )
    return network
