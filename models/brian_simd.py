"""A Brian2 code object whose per-neuron loops the C compiler vectorises.

Brian2's Cython target declares every state and parameter array as a plain ``double *``
local variable. The compiler must then assume that a store to one array (``v``) may change
another (``I_syn``, ``e_m``, ...), and it keeps the neuron loop scalar, one neuron per
iteration. :class:`SIMDCythonCodeObject` renders two templates of its own
(``brian_templates/``): ``stateupdate`` (the one ``run_regularly`` uses) and
``threshold``. Their scalar code runs in ``main`` as before; the neuron loop moves into a C
function that receives every array as a ``restrict`` pointer argument (GCC honours
``restrict`` on arguments, not on local variables). That promise holds for Brian2's
arrays, one per variable, and it lets GCC (``-O3 -march=native``, Brian2's default flags)
update 4 neurons per AVX2 instruction. The threshold's loop writes a byte mask, from
which the spike space is filled in increasing order.

A batch of identical copies of a network repeats every parameter in each copy. When the
code object's namespace holds the copy size under :data:`UNIT_PERIOD`, the loops run over
(copy, unit) and read the group's constant arrays (:func:`per_unit_arrays`) at the unit:
a table that stays in the L1 cache, so that only the state is streamed. The arithmetic per
neuron is unchanged, and so are the results. Every template of this code object, Brian2's
own included, reads its arrays without typed-buffer checks (:func:`untyped_buffers`),
which cost microseconds per call, that is per step.

Synapses with this code object deliver spikes without Brian2's spike queue
(``synapses`` and ``synapses_push_spikes`` templates). The queue copies every spiking
neuron's synapse indices into a Python-managed structure in each step, and the delivery
reads them back: 60-70 ns per synaptic event. For zero delays it is not needed: the
delivery reads the source group's spike space and runs through each spiking neuron's
synapses, a contiguous index range when the synapses are stored sorted by source
(:func:`source_offsets`, computed once before a run), in the order the queue would
deliver them. With :data:`UNIT_PERIOD` set, the copies' synapses form equal blocks and
their constant variables (the weights) are read in the first block: a spike's weights
then come from a table that stays in the cache, not from a copy of it that the neuron
loops have evicted. Reset keeps Brian2's own template.

The neuron loops of the update and the threshold split the copies among OpenMP threads
(the code object compiles with ``-fopenmp``): :data:`THREADS` in the namespace, one
contiguous range of copies per thread. Every neuron's arithmetic is the same whichever
thread runs it, so the results do not depend on the number of threads. With one thread
the loop is called directly, without OpenMP.
Brian2: Stimberg, Brette & Goodman 2019, eLife 8:e47314.
"""

from __future__ import annotations

import math
import os
import re
from functools import cache
from pathlib import Path
from typing import NamedTuple

import numpy as np

# The pointer types the template declares a restrict alias for (``_restrict_<type>_ptr``).
RESTRICT_TYPES = ("double", "float", "int32_t", "int64_t", "char")
_POINTER = re.compile(r"cdef (\w+) \* (\w+) = ")
_SCALAR = re.compile(r"cdef (\w+) (\w+)\b")


# The key of a code object's namespace that holds the period of the per-unit arrays.
UNIT_PERIOD = "_unit_period"
# The key that holds a Synapses object's first synapse of each source neuron.
SOURCE_OFFSETS = "_source_offsets"
# The key that holds the number of OpenMP threads of the neuron loops (absent: one).
THREADS = "_threads"


def default_threads(cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """OpenMP's default number of threads: ``OMP_NUM_THREADS`` when it is set (Dask's
    workers set it to 1), otherwise every CPU this process may run on, capped by its
    cgroup's CPU quota (``cpu_max``: a container's ``--cpus``), which the CPU mask does
    not show: threads beyond the quota wait for each other at every step."""
    value = os.environ.get("OMP_NUM_THREADS", "").split(",")[0].strip()
    if value.isdigit() and int(value) > 0:
        return int(value)
    n = len(os.sched_getaffinity(0))
    try:
        quota, period = Path(cpu_max).read_text().split()[:2]
        if quota != "max":
            n = min(n, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):  # no cgroup v2 quota file, or not readable
        pass
    return n


class Kernel(NamedTuple):
    """The neuron loop's C function: its parameters, its own locals, the call's arguments,
    and the vector code with the per-unit arrays read at the unit index."""

    params: str
    locals: list[str]
    args: str
    vector_code: str


def per_unit_arrays(variables: dict, get_array_name) -> list[str]:
    """The array names of the group's constant, non-scalar, non-unique variables.

    In a batch of identical copies these hold the same ``n_unit`` values in every copy
    (the parameters of the chip's neurons); the index ``i`` (unique) is not one of them.
    """
    return [
        get_array_name(var)
        for var in variables.values()
        if getattr(var, "constant", False)
        and not getattr(var, "scalar", True)
        and not getattr(var, "unique", False)
        and hasattr(var, "size")
        and not var.name.startswith("_")  # Brian2's own: a Synapses object's indices
    ]


def at_unit(vector_code: str, per_unit: list[str]) -> str:
    """``vector_code`` with the reads of the ``per_unit`` arrays at ``_unit``, not ``_idx``."""
    for name in per_unit:
        vector_code = vector_code.replace(f"{name}[_idx]", f"{name}[_unit]")
    return vector_code


def kernel(load_namespace: str, scalar_code: str, vector_code: str, per_unit: list[str]) -> Kernel:
    """Split the variables that ``load_namespace`` declares between the loop function's
    arguments and its locals, and point the reads of the ``per_unit`` arrays at the unit.

    Arrays become ``restrict`` pointer arguments; scalars that come from the namespace or
    that the scalar code assigns (``N``, ``row``) become value arguments; the rest are the
    per-neuron values the vector code loads, computes and stores, declared in the function.
    """
    params, args, local = [], [], []
    for line in load_namespace.splitlines():
        line = line.strip()
        if m := _POINTER.match(line):
            ctype, name = m.groups()
            if ctype not in RESTRICT_TYPES:
                raise TypeError(f"no restrict pointer type for arrays of {ctype} ({name})")
            params.append(f"_restrict_{ctype}_ptr {name}")
            args.append(name)
        elif (m := _SCALAR.match(line)) and not m.group(1).startswith("_numpy"):
            ctype, name = m.groups()
            from_namespace = "_namespace[" in line
            if from_namespace or re.search(rf"^\s*{name}\s*=", scalar_code, re.M):
                params.append(f"{ctype} {name}")
                args.append(name)
            else:
                local.append(f"cdef {ctype} {name}")
    return Kernel(", ".join(params), local, ", ".join(args), at_unit(vector_code, per_unit))


_TYPED_BUFFER = re.compile(r"_numpy\.ndarray\[[^\]]*\]")


def untyped_buffers(load_namespace: str) -> str:
    """``load_namespace`` with its arrays declared ``_numpy.ndarray`` rather than as typed
    buffers (``_numpy.ndarray[double, ndim=1, mode='c']``).

    A typed buffer is acquired and its format string checked on every call: about 0.2 µs
    per array, 3-6 µs per step for the update's 20 arrays, 0.6-1.2 ms per batch. The
    pointers come from ``.data`` either way; Brian2 allocates the group's arrays, and the
    emulator its functions' tables, with the dtype the generated code declares.
    """
    return _TYPED_BUFFER.sub("_numpy.ndarray", load_namespace)


def source_offsets(pre: np.ndarray, n_source: int) -> np.ndarray:
    """``offsets`` (n_source + 1, int64) such that the synapses of source neuron ``j`` are
    ``offsets[j] .. offsets[j + 1] - 1``: the delivery template's index of a Synapses
    object whose synapses are stored in increasing order of their source (``pre``)."""
    pre = np.asarray(pre)
    if np.any(np.diff(pre) < 0):
        raise ValueError("the synapses must be stored in increasing order of their source")
    return np.searchsorted(pre, np.arange(n_source + 1)).astype(np.int64)


@cache
def simd_code_object() -> type:
    """The code-object class (defined on first use: importing this module does not import
    Brian2). Pass it as a NeuronGroup's or a Synapses object's ``codeobj_class``."""
    from brian2.codegen.generators.cython_generator import CythonCodeGenerator
    from brian2.codegen.runtime.cython_rt.cython_rt import CythonCodeObject

    class UntypedBufferGenerator(CythonCodeGenerator):
        def determine_keywords(self):
            keywords = super().determine_keywords()
            keywords["load_namespace"] = untyped_buffers(keywords["load_namespace"])
            return keywords

    class SIMDCythonCodeObject(CythonCodeObject):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.extra_compile_args = [*self.extra_compile_args, "-fopenmp"]
            self.extra_link_args = [*self.extra_link_args, "-fopenmp"]

        generator_class = UntypedBufferGenerator  # in every template, Brian2's too
        templater = CythonCodeObject.templater.derive(
            "anamorph.models",
            templates_dir="brian_templates",
            env_globals={
                "kernel": kernel,
                "at_unit": at_unit,
                "per_unit_arrays": per_unit_arrays,
                "restrict_types": RESTRICT_TYPES,
                "unit_period": UNIT_PERIOD,
                "offsets_key": SOURCE_OFFSETS,
                "threads_key": THREADS,
            },
        )

    return SIMDCythonCodeObject
