"""The circuits that ``anamorph sweep`` knows, by name.

Each entry names a module that defines ``SWEEPABLE``, a
:class:`~anamorph.circuits.sweep.SweepableCircuit`. Modules are imported only when their
circuit is swept, so a sweep worker loads just what it simulates.
"""

from __future__ import annotations

import importlib

CIRCUITS: dict[str, str] = {
    "lif": "anamorph.circuits.lif.circuit",
    "synapse": "anamorph.circuits.synapse.circuit",
    "tstdp": "anamorph.circuits.tstdp.sweep",
    "gated-synapse": "anamorph.circuits.gated_synapse.sweep",
}


def get_circuit(name: str):
    """Return the ``SWEEPABLE`` object of circuit ``name`` (a KeyError if unknown)."""
    return importlib.import_module(CIRCUITS[name]).SWEEPABLE
