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
