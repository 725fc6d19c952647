{# The threshold of anamorph's emulator (anamorph.models.brian_simd): the condition of every
   neuron is evaluated in a vectorised loop into a byte mask (a C function taking every
   array as a restrict pointer argument), then the indices of the set bytes are written to
   the event space in increasing order, skipping 8 zero bytes at a time (spikes are rare).
   Groups with Brian2's own refractoriness are not supported (the emulator counts its
   refractory steps itself). #}
{# USES_VARIABLES { N } #}
{% import 'simd_common.pyx' as common with context %}
{% set _eventspace = get_array_name(eventspace_variable) %}
{% macro run() %}
{{ common.header() }}
from libc.stdlib cimport realloc
from libc.string cimport memset

{{ support_code_lines | autoindent }}

cdef char * _mask = NULL  # N bytes, zero-padded to whole 8-byte words; grown as needed
cdef size_t _mask_words = 0

{% set k = kernel(load_namespace, scalar_code, vector_code, per_unit_arrays(variables, get_array_name)) %}
{% call common.neuron_loop('_condition_loop', k, ', _restrict_char_ptr _fired', ', _fired') %}
{{ k.vector_code }}
_fired[_idx] = _cond
{% endcall %}

def main(_namespace):
    global _mask, _mask_words
    cdef size_t _idx
    cdef size_t _vectorisation_idx
    {{ load_namespace | autoindent }}
    {{ common.period() | autoindent }}

    _vectorisation_idx = 1
    {{ scalar_code | autoindent }}

    cdef size_t _words = (<size_t>N + 7) // 8
    if _words > _mask_words:
        _mask = <char *> realloc(_mask, _words * 8)
        if _mask == NULL:
            _mask_words = 0
            raise MemoryError()
        memset(_mask, 0, _words * 8)
        _mask_words = _words
    _condition_loop({{ k.args }}, _mask, _period, _threads)
    cdef uint64_t * _mask64 = <uint64_t *> _mask
    cdef size_t _w, _j, _end
    cdef int32_t _n_events = 0
    for _w in range(_words):
        if _mask64[_w]:
            _end = min(_w * 8 + 8, <size_t>N)
            for _j in range(_w * 8, _end):
                if _mask[_j]:
                    {{ _eventspace }}[_n_events] = _j
                    _n_events += 1
    {{ _eventspace }}[N] = _n_events
{% endmacro %}

{% macro after_run() %}
{{ common.header() }}

def main(_namespace):
    {{ load_namespace | autoindent }}
    {{ _eventspace }}[N] = 0  # the array has N + 1 elements: no off-by-one
{% endmacro %}
