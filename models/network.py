"""ChipNetwork: populations of chip neurons and the projections between them.

A network is placed on the chip's neurons in order: the first population on neurons
``0 .. n_1-1``, the next on the following ``n_2`` neurons, and so on. The source name
``"input"`` stands for the external input channels (``0 .. n_inputs-1``), which are not
chip neurons. A projection may run in any direction between populations: forward,
lateral/recurrent (a population onto itself) or feedback (a later population onto an
earlier one), as in the recurrent networks that equilibrium propagation trains (Scellier
& Bengio 2017, Front. Comput. Neurosci. 11:24).

Synapse rows: each chip neuron has ``MAX_FAN_IN`` (256) synapse rows, each with its own
mismatched gain. The projections onto one target population occupy consecutive row ranges
in declaration order, so source unit ``k`` of the ``p``-th such projection drives row
``sum(n_source of the earlier ones) + k``. The feed-forward short form
(:meth:`ChipNetwork.from_layers`) therefore uses rows ``0 .. n_pre-1`` of every layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.models.chip import MAX_FAN_IN, N_NEURONS, WEIGHT_MAX

if TYPE_CHECKING:
    from anamorph.models.chip import Chip
    from anamorph.models.neuron import NeuronParams

INPUT = "input"


@dataclass(frozen=True, eq=False)
class Projection:
    """All-to-all synapses from population ``source`` onto population ``target``.

    ``codes[k, j]`` is the signed 6-bit weight code (-63..63; positive: excitatory row,
    negative: inhibitory row) of the synapse from source unit ``k`` to target unit ``j``;
    0 means no current. ``plastic`` marks projections whose weights a learning rule changes
    on chip (read by the plasticity sensors; the dynamics do not depend on it).
    """

    source: str
    target: str
    codes: np.ndarray
    plastic: bool = False


@dataclass(frozen=True, eq=False)
class ChipNetwork:
    """``n_inputs`` external channels, ``populations`` ((name, size), ...) and ``projections``."""

    n_inputs: int
    populations: tuple[tuple[str, int], ...]
    projections: tuple[Projection, ...]

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "populations", tuple(tuple(p) for p in self.populations))
            object.__setattr__(self, "projections", tuple(self.projections))
        except TypeError:
            pass  # validate() names what is wrong

    @classmethod
    def from_layers(cls, weights: Sequence[np.ndarray], n_neurons: int = N_NEURONS) -> ChipNetwork:
        """The feed-forward network of ``weights[l]`` (n_l, n_{l+1}): "layer1" .. "layerL".

        ``input -> layer1`` and ``layer l -> layer l+1``. Without layers: one population
        ``"neurons"`` of ``n_neurons`` neurons and no projections (stimulus-only runs).
        """
        if len(weights) == 0:
            return cls(0, (("neurons", int(n_neurons)),), ())
        shapes = []
        for layer, w in enumerate(weights):
            shape = np.shape(w)
            if len(shape) != 2 or 0 in shape:
                raise InputError("must be a non-empty 2-D array (n_pre, n_post)", f"weights[{layer}]")
            shapes.append(shape)
        pops = tuple((f"layer{l + 1}", int(s[1])) for l, s in enumerate(shapes))
        projs = tuple(
            Projection(INPUT if l == 0 else f"layer{l}", f"layer{l + 1}", w) for l, w in enumerate(weights)
        )
        return cls(int(shapes[0][0]), pops, projs)

    # ----------------------------------------------------------------- layout
    @property
    def sizes(self) -> dict[str, int]:
        return {name: int(n) for name, n in self.populations}

    @property
    def offsets(self) -> dict[str, int]:
        """First chip neuron of each population."""
        out, first = {}, 0
        for name, n in self.populations:
            out[name] = first
            first += int(n)
        return out

    @property
    def n_used(self) -> int:
        return int(sum(n for _, n in self.populations))

    def slice(self, population: str) -> slice:
        """The chip neurons of ``population``."""
        first = self.offsets[population]
        return slice(first, first + self.sizes[population])

    def n_source(self, index: int) -> int:
        src = self.projections[index].source
        return int(self.n_inputs) if src == INPUT else self.sizes[src]

    def rows(self, index: int) -> range:
        """Synapse rows that projection ``index`` occupies on its target neurons."""
        target = self.projections[index].target
        first = sum(self.n_source(k) for k in range(index) if self.projections[k].target == target)
        return range(first, first + self.n_source(index))

    def fan_in(self, population: str) -> int:
        """Synapse rows used on the neurons of ``population``."""
        return sum(self.n_source(k) for k, p in enumerate(self.projections) if p.target == population)

    @property
    def key(self) -> tuple:
        """The structure (everything but the codes): what a compiled network depends on."""
        return (int(self.n_inputs), self.populations, tuple((p.source, p.target) for p in self.projections))

    def with_codes(self, index: int, codes: np.ndarray) -> ChipNetwork:
        """A copy with the codes of projection ``index`` replaced."""
        projs = list(self.projections)
        projs[index] = replace(projs[index], codes=codes)
        return replace(self, projections=tuple(projs))

    # ----------------------------------------------------------------- checks
    def validate(self, path: str | None = None) -> ChipNetwork:
        """Check the network; return it with int64 codes. Raises InputError naming the field."""
        if (
            isinstance(self.n_inputs, bool)
            or not isinstance(self.n_inputs, (int, np.integer))
            or self.n_inputs < 0
        ):
            raise InputError("must be an integer >= 0", path, "n_inputs")
        if not isinstance(self.populations, tuple) or not isinstance(self.projections, tuple):
            raise InputError("populations and projections must be sequences", path, "populations")
        names = []
        for k, pop in enumerate(self.populations):
            if (
                not isinstance(pop, tuple)
                or len(pop) != 2
                or not isinstance(pop[0], str)
                or isinstance(pop[1], bool)
                or not isinstance(pop[1], (int, np.integer))
                or pop[1] < 1
            ):
                raise InputError("must be (name, size >= 1)", path, f"populations[{k}]")
            if pop[0] == INPUT or pop[0] in names:
                raise InputError(
                    f"population name {pop[0]!r} is reserved or used twice", path, f"populations[{k}]"
                )
            names.append(pop[0])
        if self.n_used > N_NEURONS:
            raise InputError(
                f"network needs {self.n_used} neurons, the chip has {N_NEURONS}", path, "populations"
            )
        projs = []
        for k, p in enumerate(self.projections):
            where = f"projections[{k}]"
            if not isinstance(p, Projection):
                raise InputError("must be a Projection", path, where)
            if p.source != INPUT and p.source not in names:
                raise InputError(
                    f"source {p.source!r} is not a population (nor 'input')", path, f"{where}.source"
                )
            if p.target not in names:
                raise InputError(f"target {p.target!r} is not a population", path, f"{where}.target")
            projs.append(replace(p, codes=self._checked_codes(k, path)))
        for k, p in enumerate(self.projections):
            if self.rows(k).stop > MAX_FAN_IN:  # the first projection beyond the last row
                raise InputError(
                    f"fan-in {self.fan_in(p.target)} of population {p.target!r} exceeds the "
                    f"chip's {MAX_FAN_IN} synapse rows",
                    path,
                    f"projections[{k}]",
                )
        return replace(self, projections=tuple(projs))

    def _checked_codes(self, k: int, path: str | None) -> np.ndarray:
        p, where = self.projections[k], f"projections[{k}].codes"
        try:
            w = np.asarray(p.codes)
        except (TypeError, ValueError):
            raise InputError("must be a 2-D array of weight codes", path, where) from None
        if w.ndim != 2 or w.size == 0:
            raise InputError("must be a non-empty 2-D array (n_source, n_target)", path, where)
        if not np.issubdtype(w.dtype, np.number) or np.issubdtype(w.dtype, np.complexfloating):
            raise InputError("must be numeric weight codes", path, where)
        if not np.issubdtype(w.dtype, np.integer):  # integer arrays pass both by their type
            if not np.all(np.isfinite(w)):
                raise InputError("contains NaN or infinite values", path, where)
            if np.any(w != np.round(w)):
                raise InputError("weight codes must be integers", path, where)
        if np.abs(w).max() > WEIGHT_MAX:
            raise InputError(f"weight code outside -{WEIGHT_MAX}..{WEIGHT_MAX}", path, where)
        if w.shape[0] > MAX_FAN_IN:
            raise InputError(f"fan-in {w.shape[0]} exceeds the chip's {MAX_FAN_IN} synapse rows", path, where)
        n_src, n_tgt = self.n_source(k), self.sizes[p.target]
        if w.shape[0] != n_src:
            raise InputError(f"has {w.shape[0]} rows but source {p.source!r} has {n_src} units", path, where)
        if w.shape[1] != n_tgt:
            raise InputError(
                f"has {w.shape[1]} columns but target {p.target!r} has {n_tgt} neurons", path, where
            )
        return w.astype(np.int64)


def projection_currents(
    chip: Chip, network: ChipNetwork, params: NeuronParams | None = None
) -> list[np.ndarray]:
    """TRUE current jump (A) of every synapse of every projection (emulators and tests only).

    Projection ``k`` uses synapse rows ``network.rows(k)`` of its target neurons, each with
    its own mismatched gain (:meth:`anamorph.models.chip.Chip.synapse_current_a`).
    """
    params = params or chip.true_params()
    out = []
    for k, p in enumerate(network.projections):
        rows = network.rows(k)
        devices = getattr(
            p, "devices", None
        )  # gated-synapse devices instead of codes (plasticity.gated_array)
        if devices is not None:
            out.append(devices.currents_a(chip, network.offsets[p.target], params, first_row=rows.start))
            continue
        codes = np.zeros((rows.stop, np.shape(p.codes)[1]), dtype=np.int64)
        codes[rows.start :] = p.codes  # rows before this projection's: code 0, dropped
        out.append(chip.synapse_current_a(codes, network.offsets[p.target], params)[rows.start :])
    return out
