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

cdef extern from "stdint_compat.h":
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
   (anamorph.models.brian_simd.kernel), every other array at ``_idx``. #}
{% macro neuron_loop(name, k, extra_params='') %}
cdef void {{ name }}({{ k.params }}{{ extra_params }}, size_t _period) noexcept:
    cdef size_t _idx
    cdef size_t _vectorisation_idx
    cdef size_t _copy
    cdef size_t _unit
    {% for line in k.locals %}
    {{ line }}
    {% endfor %}
    for _copy in range(<size_t>N // _period):
        for _unit in range(_period):
            _idx = _copy * _period + _unit
            _vectorisation_idx = _idx
            {{ caller() | autoindent }}
{% endmacro %}

{# The period of the per-unit arrays, from the code object's namespace (0 or absent: no
   copies, every array read at ``_idx``). #}
{% macro period() %}
cdef size_t _period = _namespace.get("{{ unit_period }}", 0)
if _period == 0 or N % _period != 0:
    _period = max(N, 1)
{% endmacro %}
