"""Reading a NIR file and taking it apart into the layers a chip run can hold.

:func:`read_graph` turns every way a file can fail to be NIR (missing, not HDF5, truncated,
no graph, a node NIR does not know) into one :class:`~anamorph.errors.InputError`.
:func:`layers` accepts a feed-forward chain ``Input -> (Linear | Affine -> neuron)+ ->
Output`` whose neurons are CubaLIF, LIF, CubaLI or LI, and refuses anything else naming
the node: other node types, nested graphs (how snnTorch writes recurrent layers), recurrent
or branching edges, biases.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anamorph.errors import InputError

NEURON_TYPES = ("CubaLIF", "LIF", "CubaLI", "LI")
WEIGHT_TYPES = ("Linear", "Affine")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def read_graph(path):
    """The NIRGraph in ``path``; InputError naming the file for anything that is not one."""
    import h5py
    import nir

    path = Path(path)
    if not path.is_file():
        raise InputError("NIR file not found", path)
    try:
        with h5py.File(path, "r") as f:
            if "node" not in f:
                raise InputError("not a NIR file (HDF5 without a 'node' group)", path)
    except OSError as e:
        raise InputError(f"not a NIR file (not readable as HDF5: {_first_line(e)})", path) from None
    errors = (ValueError, KeyError, TypeError, AssertionError, AttributeError, OSError)
    try:
        graph = nir.read(path)
    except errors:
        try:  # graphs written by older NIR versions may fail the type check only
            graph = nir.read(path, type_check=False)
        except errors as e:
            raise InputError(f"not a valid NIR graph ({_first_line(e)})", path) from None
    if not isinstance(graph, nir.NIRGraph):
        raise InputError(f"the file holds a single {type(graph).__name__} node, not a NIR graph", path)
    return graph


@dataclass
class Layer:
    """One weight node and the neuron node it feeds."""

    weight_name: str
    weight: np.ndarray  # (n_out, n_in), NIR's orientation
    neuron_name: str
    neuron: object

    @property
    def kind(self) -> str:
        return type(self.neuron).__name__


def _chain(graph, path) -> list[str]:
    """Node names from the Input to the Output; refuses anything that is not one simple path."""
    kind = {name: type(node).__name__ for name, node in graph.nodes.items()}
    for name, k in kind.items():
        if k == "NIRGraph":
            raise InputError(
                "is a nested graph (a recurrent layer?); the chip runs feed-forward chains", path, name
            )
    inputs = [n for n, k in kind.items() if k == "Input"]
    if len(inputs) != 1 or sum(k == "Output" for k in kind.values()) != 1:
        raise InputError("the graph needs exactly one Input and one Output node", path, "nodes")
    succ: dict[str, list[str]] = {n: [] for n in kind}
    for a, b in graph.edges:
        if a not in kind or b not in kind:
            raise InputError("edge to or from a node that does not exist", path, f"{a} -> {b}")
        succ[a].append(b)
    order, node = [inputs[0]], inputs[0]
    while kind[node] != "Output":
        if len(succ[node]) != 1:
            raise InputError(
                f"has {len(succ[node])} outgoing edges; the chip runs a single chain", path, node
            )
        node = succ[node][0]
        if node in order:
            raise InputError("recurrent edge (the chip runs feed-forward networks)", path, node)
        order.append(node)
    rest = sorted(set(kind) - set(order))
    if rest:
        raise InputError("is not on the chain from Input to Output", path, rest[0])
    if len(graph.edges) != len(order) - 1:
        raise InputError("duplicate or extra edges (recurrent or branching)", path, "edges")
    return order


def layers(graph, path) -> tuple[str, str, list[Layer]]:
    """(input node name, output node name, the weight/neuron layers in order)."""
    order = _chain(graph, path)
    inner, out = order[1:-1], []
    for k in range(0, len(inner), 2):
        w_name = inner[k]
        w_node = graph.nodes[w_name]
        if type(w_node).__name__ not in WEIGHT_TYPES:
            raise InputError(
                f"is a {type(w_node).__name__} where a Linear/Affine weight node must be "
                f"(the chip maps {' / '.join(WEIGHT_TYPES)} -> {' / '.join(NEURON_TYPES)} pairs)",
                path,
                w_name,
            )
        if type(w_node).__name__ == "Affine" and np.any(np.asarray(w_node.bias) != 0):
            raise InputError("has a bias; the chip's synapses have none", path, w_name)
        if k + 1 >= len(inner):
            raise InputError("is not followed by a neuron node", path, w_name)
        n_name = inner[k + 1]
        n_node = graph.nodes[n_name]
        if type(n_node).__name__ not in NEURON_TYPES:
            raise InputError(
                f"is a {type(n_node).__name__}; the chip's neurons are {', '.join(NEURON_TYPES)}",
                path,
                n_name,
            )
        weight = np.asarray(w_node.weight, dtype=np.float64)
        if weight.ndim != 2:
            raise InputError(f"weight of shape {weight.shape} is not a matrix", path, w_name)
        out.append(Layer(w_name, weight, n_name, n_node))
    for prev, nxt in zip(out[:-1], out[1:]):
        if nxt.weight.shape[1] != prev.weight.shape[0]:
            raise InputError(
                f"takes {nxt.weight.shape[1]} inputs from {prev.weight.shape[0]} neurons",
                path,
                nxt.weight_name,
            )
    return order[0], order[-1], out


def neuron_params(layer: Layer, path) -> dict[str, np.ndarray]:
    """The node's parameters as float arrays of one entry per neuron (NIR's field names)."""
    n = layer.weight.shape[0]
    node = layer.neuron
    names = {
        "CubaLIF": ("tau_mem", "tau_syn", "r", "w_in", "v_leak", "v_threshold", "v_reset"),
        "CubaLI": ("tau_mem", "tau_syn", "r", "w_in", "v_leak"),
        "LIF": ("tau", "r", "v_leak", "v_threshold", "v_reset"),
        "LI": ("tau", "r", "v_leak"),
    }[layer.kind]
    out = {}
    for name in names:
        try:
            out[name] = np.broadcast_to(
                np.asarray(getattr(node, name), dtype=np.float64).ravel(), (n,)
            ).copy()
        except ValueError:
            raise InputError(
                f"{name} does not match the {n} neurons its weights feed", path, layer.neuron_name
            ) from None
    return out
