{# Shared by anamorph's vectorising templates (anamorph.models.brian_simd). #}
{% macro header() %}
#cython: language_level=3
#cython: boundscheck=False
#cython: wraparound=False
#cython: cdivision=False
#cython: infer_types=True
import numpy as _numpy
cimport numpy as _numpy
from libcpp cimport bool

_numpy.import_array()

from cython.parallel cimport prange

cdef extern from "stdint_compat.h" nogil:
    ctypedef signed int int32_t
    ctypedef signed long int64_t
    ctypedef unsigned long uint64_t
    cdef int int_(bool)
    cdef int int_(int)
    cdef int int_(long)
    cdef int int_(double)

cdef extern from *:
    {% for t in restrict_types %}
    ctypedef {{ t }}* _restrict_{{ t }}_ptr "{{ t }} * __restrict__"
    {% endfor %}
{% endmacro %}

{# The neuron loop: copies of ``_period`` units each; per-unit arrays are read at ``_unit``
   (anamorph.models.brian_simd.kernel), every other array at ``_idx``. ``_threads`` OpenMP
   threads run one contiguous range of copies each; the range's loop is a function of its
   own, which keeps its restrict arguments (and so its vector code) when OpenMP outlines
   the parallel region. #}
{% macro neuron_loop(name, k, extra_params='', extra_args='') %}
cdef void {{ name }}_copies({{ k.params }}{{ extra_params }}, size_t _period, size_t _first, size_t _stop) noexcept nogil:
    cdef size_t _idx
    cdef size_t _vectorisation_idx
    cdef size_t _copy
    cdef size_t _unit
    {% for line in k.locals %}
    {{ line }}
    {% endfor %}
    for _copy in range(_first, _stop):
        for _unit in range(_period):
            _idx = _copy * _period + _unit
            _vectorisation_idx = _idx
            {{ caller() | autoindent }}

cdef void {{ name }}({{ k.params }}{{ extra_params }}, size_t _period, int _threads) noexcept nogil:
    cdef size_t _n = <size_t>N // _period
    cdef Py_ssize_t _t
    if _threads <= 1 or _n < 2:
        {{ name }}_copies({{ k.args }}{{ extra_args }}, _period, 0, _n)
        return
    for _t in prange(_threads, num_threads=_threads, schedule="static", chunksize=1):
        {{ name }}_copies({{ k.args }}{{ extra_args }}, _period, _n * _t // _threads, _n * (_t + 1) // _threads)
{% endmacro %}

{# The period of the per-unit arrays, from the code object's namespace (0 or absent: no
   copies, every array read at ``_idx``), and the number of threads (absent: one). #}
{% macro period() %}
cdef size_t _period = _namespace.get("{{ unit_period }}", 0)
if _period == 0 or N % _period != 0:
    _period = max(N, 1)
cdef int _threads = _namespace.get("{{ threads_key }}", 1)
{% endmacro %}
