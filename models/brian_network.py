"""The compiled Brian2 network behind :class:`anamorph.models.emulator.ChipEmulator`.

One NeuronGroup of ``batch x n_used`` neurons (copy ``s`` owns neurons ``s*n_used ..
(s+1)*n_used-1``) integrates the exact one-step propagator of
:mod:`anamorph.models.neuron` as generated Cython code (``run_regularly`` in the
``groups`` slot), Brian2's threshold and reset code handle spikes (the update and the
threshold condition in loops the compiler vectorises, :mod:`anamorph.models.brian_simd`),
and Brian2 Synapses carry spikes between chip neurons (``I_syn_post += w``, delivered from
the spike space without a queue), one Synapses object per neuron-to-neuron projection of
any direction (forward, lateral/recurrent, feedback). The input projections' synaptic
current jumps arrive through a per-neuron buffer (``drive``) into which
:meth:`BuiltNetwork.run` writes, before each step, only the rows of the samples with input
spikes in that step (and clears them after), the teaching current (when the network is
built with one) through a per-step table (``teach``), the membrane noise from a
counter-based generator in the generated code.
Brian2: Stimberg, Brette & Goodman 2019, eLife 8:e47314.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

import numpy as np

from anamorph.models.brian_simd import THREADS, UNIT_PERIOD, simd_code_object

if TYPE_CHECKING:
    from types import ModuleType

    from anamorph.models.neuron import Propagator

_NEURON_MODEL = """
v : 1
I_syn : 1
refr : integer
v_leak : 1 (constant)
v_th : 1 (constant)
v_reset : 1 (constant)
e_m : 1 (constant)
e_s : 1 (constant)
p_syn : 1 (constant)
p_stim : 1 (constant)
sig : 1 (constant)
i_stim : 1 (constant)
n_ref : integer (constant)
t_on : second (shared)
t_off : second (shared)
"""

# ``row`` and ``stim_on`` are scalar (computed once per step); a refractory neuron keeps its
# membrane through ``where`` (a select, as the numpy reference's ``np.where``: one vector
# blend, where ``active*a + (1 - active)*v`` cost an integer-to-float conversion and three
# products per neuron) and ``refr`` counts down by ``int(refr != 0)``. No floating-point
# literal in the per-neuron code: the generated code writes one as a double, which in
# float32 would turn the whole update into double arithmetic.
_UPDATE = """
row = int(t/dt + 0.5)*N
stim_on = int(t >= t_on)*int(t < t_off)
v = where(refr == 0, v_leak + (v - v_leak)*e_m + I_syn*p_syn + i_stim*p_stim*stim_on + sig*vnoise(row), v)
refr = refr - int(refr != 0)
I_syn = I_syn*e_s + drive()
"""

# With a teaching current: the same update, the stimulus and teaching currents summed
# before the propagator (the numpy reference's order of operations).
_UPDATE_TEACH = _UPDATE.replace("i_stim*p_stim*stim_on", "(i_stim*stim_on + teach(row))*p_stim")
assert _UPDATE_TEACH != _UPDATE

# The C type of the generated code's floating-point values, per network dtype.
_C_TYPE = {np.float64: "double", np.float32: "float"}


def noise_key(seed: int, run: int) -> int:
    """The 64-bit key of the membrane noise of run ``run`` of an emulator seeded ``seed``
    (drawn from ``default_rng([seed, run])``; :func:`_noise_function` hashes it)."""
    return int(np.random.default_rng([seed, run]).integers(0, 2**63, dtype=np.uint64))


def _generated_only(name: str):
    def python_version(*args):
        raise NotImplementedError(f"{name} runs only inside the emulator's generated code")

    return python_version


def _per_neuron_function(b2: ModuleType, name: str, code: str, namespace: dict, n_args: int):
    """A Brian2 function ``name(a, ...)`` of ``n_args`` integers, implemented in Cython by
    ``code``, whose implementation receives the neuron index as a last argument.

    ``auto_vectorise``: Brian2 passes ``_vectorisation_idx``, the loop counter, which the
    compiler sees as such, so a read at ``row + index`` is a contiguous vector load rather
    than a gather through the group's ``i`` array. Not stateless: Brian2 must not hoist a
    call whose visible arguments are the same for every neuron out of the neuron loop.
    """
    f = b2.Function(
        _generated_only(name),
        arg_units=[1] * n_args,
        return_unit=1,
        arg_types=["integer"] * n_args,
        return_type="float",
        stateless=False,
        auto_vectorise=True,
    )
    f.implementations.add_implementation("cython", code, namespace=namespace, name=name)
    return f


def _step_table(b2: ModuleType, name: str, values: np.ndarray, per_step: bool):
    """A Brian2 function returning ``values.flat[row + i]`` for neuron ``i``, read in place.

    ``per_step``: ``name(row)`` with ``row = step * N`` (a per-step table); else ``name()``
    (a per-neuron buffer rewritten before each step). Unlike a TimedArray, the code does
    not contain the table's shape, so one compiled module serves every batch size and
    duration; ``values`` is read through a pointer, so writing into it between runs or
    steps needs no recompilation.
    """
    row = "long row, " if per_step else ""
    code = f"""
cdef inline {_C_TYPE[values.dtype.type]} {name}({row}size_t i) noexcept nogil:
    return _namespace_{name}_values[{"row + " if per_step else ""}i]
"""
    namespace = {f"_{name}_values": values.reshape(-1)}
    return _per_neuron_function(b2, name, code, namespace, n_args=int(per_step))


def _where_function(b2: ModuleType, dtype: type):
    """A Brian2 function ``where(condition, a, b)``: ``a`` where ``condition`` holds, else
    ``b``, as ``np.where`` (stateless; a select the compiler turns into a vector blend)."""
    real = _C_TYPE[dtype]
    f = b2.Function(
        np.where,
        arg_units=[1, 1, 1],
        return_unit=1,
        arg_types=["boolean", "float", "float"],
        return_type="float",
    )
    code = f"""
cdef inline {real} where(bint condition, {real} a, {real} b) noexcept nogil:
    return a if condition else b
"""
    f.implementations.add_implementation("cython", code, name="where")
    return f


_HASH_MUL = (0x9E3779B97F4A7C15, 0xD6E8FEB86659FD93)  # the two rounds' odd multipliers
# The sum of the four fields, 0 <= s < 2^18, placed in the mantissa of 2^52 (double) or
# 2^23 (float): ``bits(s | exponent) - (2^k + 131070)`` is ``s - 131070`` exactly.
_MANTISSA = {
    np.float64: ("uint64_t", "0x4330000000000000", "4503599627370496.0 + 131070.0"),
    np.float32: ("unsigned int", "0x4B000000", "8388608.0 + 131070.0"),
}


def noise_counters(n: int) -> np.ndarray:
    """``i * _HASH_MUL[0]`` modulo 2^64 for neurons ``i < n``: :func:`_noise_function`'s
    first multiply, distributed over the sum ``(key + row + i) * m``, read from a table."""
    return np.arange(n, dtype=np.uint64) * np.uint64(_HASH_MUL[0])


def _noise_function(b2: ModuleType, key: np.ndarray, counters: np.ndarray, dtype: type):
    """A Brian2 function ``vnoise(row)``: approximately standard-normal numbers, one per
    neuron ``i`` and step (``row = step * N``), fast.

    Counter-based: a multiply-xorshift hash (two rounds, in the style of the splitmix64
    finaliser of Steele, Lea & Flood 2014, OOPSLA) of ``key[0] + row + i`` (``key``: a
    64-bit number drawn per run from the recorded seed); the 64-bit result is split into
    four 16-bit uniforms whose centred, scaled sum (Irwin-Hall, n = 4) has mean 0 and
    variance 1. The membrane sums many such increments (its time constant spans 6-12
    steps), so its fluctuations are Gaussian to a good approximation.

    The arithmetic is arranged for the vector units, and every step is exact, so the
    numbers do not depend on it: the first round's product ``(key + row + i) * m`` as
    ``(key + row) * m`` (once per step) plus ``counters[i] = i * m`` (a table, see
    :func:`noise_counters`: AVX2 has no 64-bit multiply); the four fields summed in two
    32-bit lanes, then the lanes; the sum (below 2^18) converted to float by placing it in
    the mantissa of 2^52 (exact, and no 64-bit-integer conversion instruction either).
    With ``dtype`` float32 the sum goes into the mantissa of 2^23 and the number is
    computed in float: the float64 number rounded to float32.
    """
    m0, m1 = (hex(m) for m in _HASH_MUL)
    real, (bits, exponent, offset) = _C_TYPE[dtype], _MANTISSA[dtype]
    code = f'''
cdef extern from *:
    """
    static inline {real} _vn_mantissa({bits} b) {{ {real} x; memcpy(&x, &b, sizeof(x)); return x; }}
    """
    {real} _vn_mantissa({bits} b) noexcept nogil

cdef inline {real} vnoise(long row, size_t i) noexcept nogil:
    cdef uint64_t z = (_namespace_vn_key[0] + <uint64_t>row) * <uint64_t>{m0} + _namespace_vn_counters[i]
    z = (z ^ (z >> 32)) * <uint64_t>{m1}
    z = z ^ (z >> 32)
    z = (z & <uint64_t>0x0000FFFF0000FFFF) + ((z >> 16) & <uint64_t>0x0000FFFF0000FFFF)
    z = (z & <uint64_t>0xFFFFFFFF) + (z >> 32)
    return (_vn_mantissa(<{bits}>z | <{bits}>{exponent}) - <{real}>({offset})) * <{real}>2.6428997918226276e-05
'''
    namespace = {"_vn_key": key, "_vn_counters": counters}
    return _per_neuron_function(b2, "vnoise", code, namespace, n_args=1)


def _check_compiled(code) -> None:
    """Raise if a block of a code object has code but no compiled module: Brian2's Cython
    target logs a failed compilation and leaves the block out, which would run the
    network without, say, its update (no error, no spikes)."""
    for block, compiled in code.compiled_code.items():
        source = getattr(code.code, block, "").strip()
        if compiled is None and source and "EMPTY_CODE_BLOCK" not in source:
            raise RuntimeError(
                f"Brian2 could not compile the {block!r} block of {code.name} "
                "(the Cython or C compiler's error is logged above)"
            )


class BuiltNetwork:
    """One compiled Brian2 network for a fixed batch size, network structure and length.

    ``links`` lists the neuron-to-neuron projections as (first source neuron, n_source,
    first target neuron, n_target); each becomes one all-to-all Synapses object per copy,
    whose weights ``w[k]`` are ordered (copy, source, target) and equal in every copy (the
    delivery reads copy 0's). ``teaching``: build with the
    per-step teaching table ``teach`` (n_steps, batch * n_used). ``drive`` (batch * n_used)
    is the input current jump of the current step (zeroed at the start of each run).
    ``dtype``: the floating-point type of every state, parameter, table and temporary of
    the generated code (float64, or float32 for speed; the clock stays float64).
    ``threads``: OpenMP threads of the neuron loops (the results do not depend on it).
    """

    def __init__(
        self,
        b2: ModuleType,
        batch: int,
        links: tuple[tuple[int, int, int, int], ...],
        n_used: int,
        n_steps: int,
        dt_s: float,
        prop: Propagator,
        sig: np.ndarray,
        teaching: bool = False,
        dtype: type = np.float64,
        threads: int = 1,
    ) -> None:
        self.batch, self.n_used, self.n_steps = batch, n_used, n_steps
        n_total = batch * n_used
        # Fixed names: the generated code names the arrays after their objects, so every
        # network of the same structure shares one set of compiled modules (Brian2's
        # default names, ``neurongroup_1``, ... of the networks alive at the same time, made
        # each one compile its own, about 30 s on a fresh cache).
        self.clock = b2.Clock(dt=dt_s * b2.second, name="chip_clock")
        self.drive = np.zeros(n_total, dtype=dtype)
        self.teach = np.zeros((n_steps, n_total), dtype=dtype) if teaching else None
        self.noise_key = np.zeros(1, dtype=np.uint64)
        namespace = {
            "drive": _step_table(b2, "drive", self.drive, per_step=False),
            "vnoise": _noise_function(b2, self.noise_key, noise_counters(n_total), dtype),
            "where": _where_function(b2, dtype),
        }
        if teaching:
            namespace["teach"] = _step_table(b2, "teach", self.teach, per_step=True)
        g = b2.NeuronGroup(
            n_total,
            _NEURON_MODEL,
            threshold="v >= v_th and refr == 0",
            reset="v = v_reset; refr = n_ref",
            clock=self.clock,
            namespace=namespace,
            codeobj_class=simd_code_object(),  # the update and the threshold, vectorised
            dtype=dtype,
            name="chip",
        )
        g.run_regularly(_UPDATE_TEACH if teaching else _UPDATE, when="groups", clock=self.clock)
        self.group = g
        self.set_params(prop, sig)
        self.synapses = []
        objects = [g]
        base = (np.arange(batch) * n_used)[:, None, None]
        for k, (first_pre, n_pre, first_post, n_post) in enumerate(links):
            s = b2.Synapses(
                g,
                g,
                "w : 1 (constant)",  # written between runs; copy 0's are read (brian_simd)
                on_pre="I_syn_post += w",
                delay={"pre": 0 * b2.second},
                clock=self.clock,
                codeobj_class=simd_code_object(),  # delivered from the spike space, no queue
                dtype=dtype,
                name=f"chip_link_{k}",
            )
            pre = (base + first_pre + np.arange(n_pre)[None, :, None]) + 0 * np.arange(n_post)[None, None, :]
            post = (base + first_post + np.arange(n_post)[None, None, :]) + 0 * np.arange(n_pre)[
                None, :, None
            ]
            s.connect(i=pre.ravel(), j=post.ravel())
            self.synapses.append(s)
            objects.append(s)
        self.net = b2.Network(*objects)
        prefs = b2.prefs.codegen.target, b2.prefs.core.default_float_dtype
        try:  # the generated code's temporaries (``active``) in ``dtype`` too
            b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = "cython", dtype
            self.net.run(0 * b2.second, namespace={})  # compiles and creates the code objects
        finally:
            b2.prefs.codegen.target, b2.prefs.core.default_float_dtype = prefs
        self.vars = {k: g.variables[k].get_value() for k in ("v", "I_syn", "refr", "i_stim")}
        self.t_on = g.variables["t_on"].get_value()
        self.t_off = g.variables["t_off"].get_value()
        self.spikespace = g.variables["_spikespace"].get_value()
        self._calls = []  # the objects' code objects in schedule order, called by run()
        for obj in self.net.sorted_objects:
            for code in obj._code_objects if obj.active else ():
                _check_compiled(code)
                if isinstance(code, simd_code_object()):  # constants and weights tiled per copy
                    code.namespace[UNIT_PERIOD] = n_used
                    code.namespace[THREADS] = threads
                code.update_namespace()  # the synapses' dynamic arrays: fixed once connected
                if code.compiled_code["run"] is not None:
                    self._calls.append(partial(code.compiled_code["run"].main, code.namespace))
        self.w = [s.variables["w"].get_value() for s in self.synapses]
        self.w_currents = None  # the currents (emulator's list) last written into ``w``

    def set_params(self, prop: Propagator, sig: np.ndarray) -> None:
        """Write the per-neuron constants (every copy) into the group's arrays in place."""
        g, batch = self.group, self.batch
        tile = lambda a: np.tile(np.asarray(a, dtype=np.float64), batch)
        self.v0 = tile(prop.v_leak_v)
        for name, value in (
            ("v_leak", prop.v_leak_v),
            ("v_th", prop.v_th_v),
            ("v_reset", prop.v_reset_v),
            ("e_m", prop.e_m),
            ("e_s", prop.e_s),
            ("p_syn", prop.p_syn_ohm),
            ("p_stim", prop.p_stim_ohm),
            ("sig", sig),
        ):
            g.variables[name].get_value()[:] = tile(value)
        g.variables["n_ref"].get_value()[:] = np.tile(prop.n_ref, batch)

    def run(
        self,
        adc_steps: np.ndarray | None = None,
        neurons: np.ndarray | None = None,
        drive: tuple[np.ndarray, slice, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Reset the state, then step every object ``n_steps`` times.

        ``drive = (rows, cols, values)``: the input current jumps, nonzero only in the
        (step, sample) rows ``rows = step * batch + sample`` (increasing) and the neurons
        ``cols`` (a slice of each copy's ``n_used``), ``values`` (len(rows), len(cols));
        before step ``n`` its rows are written into ``self.drive`` (and cleared before the
        next step; the buffer is zeroed when a run starts). At the start of each step in
        ``adc_steps`` (before its update, where Brian2's StateMonitor would record) the
        membranes of ``neurons`` of every copy are copied, as (batch, len(adc_steps),
        len(neurons)). After each step the threshold's spike space (the neurons that fired,
        in increasing order; what Brian2's SpikeMonitor records) is copied. Returns (neuron, time, trace): the spikes'
        neuron indices and times ``step * dt`` in step order, and the membranes (or None).
        """
        self.vars["v"][:] = self.v0
        self.vars["I_syn"][:] = 0.0
        self.vars["refr"][:] = 0
        timestep = self.clock.variables["timestep"].get_value()
        t = self.clock.variables["t"].get_value()
        dt = float(self.clock.variables["dt"].get_value()[0])
        timestep[0] = 0
        t[0] = 0.0
        calls = self._calls
        v = self.vars["v"].reshape(self.batch, self.n_used)
        trace = None
        if adc_steps is not None:
            trace = np.empty((self.batch, len(adc_steps), len(neurons)))
            sample_at = np.full(self.n_steps, -1)
            sample_at[adc_steps] = np.arange(len(adc_steps))
            whole = len(neurons) == self.n_used and np.array_equal(neurons, np.arange(self.n_used))
        buf = self.drive.reshape(self.batch, self.n_used)
        buf[:] = 0.0  # a run starts without input; only the rows written per step are cleared
        if drive is None:
            bounds = [0] * (self.n_steps + 1)
        else:
            rows, cols, values = drive
            samples = rows % self.batch
            bounds = np.searchsorted(rows // self.batch, np.arange(self.n_steps + 1)).tolist()
        written = None
        spikespace, fired, fired_steps = self.spikespace, [], []
        for n in range(self.n_steps):
            if written is not None:
                buf[written, cols] = 0.0
                written = None
            lo, hi = bounds[n], bounds[n + 1]
            if hi > lo:
                written = samples[lo:hi]
                buf[written, cols] = values[lo:hi]
            if trace is not None and sample_at[n] >= 0:
                trace[:, sample_at[n]] = v if whole else v[:, neurons]
            for call in calls:
                call()
            if spikespace[-1]:
                fired.append(spikespace[: spikespace[-1]].copy())
                fired_steps.append(n)
            timestep[0] = n + 1
            t[0] = (n + 1) * dt
        counts = [f.size for f in fired]
        neuron = np.concatenate(fired).astype(np.int64) if fired else np.zeros(0, dtype=np.int64)
        return neuron, np.repeat(np.asarray(fired_steps, dtype=np.int64), counts) * dt, trace
