{# The per-neuron update of anamorph's emulator in a loop that the C compiler vectorises
   (anamorph.models.brian_simd): the scalar code runs in main(), the neuron loop in a C
   function that takes every array as a restrict pointer argument. #}
{# USES_VARIABLES { N } #}
{# ITERATE_ALL { _idx } #}
{# ALLOWS_SCALAR_WRITE #}
{% import 'simd_common.pyx' as common with context %}
{% macro run() %}
{{ common.header() }}

{{ support_code_lines | autoindent }}

{% set k = kernel(load_namespace, scalar_code, vector_code, per_unit_arrays(variables, get_array_name)) %}
{% call common.neuron_loop('_neuron_loop', k) %}
{{ k.vector_code }}
{% endcall %}

def main(_namespace):
    cdef size_t _idx
    cdef size_t _vectorisation_idx
    {{ load_namespace | autoindent }}
    {{ common.period() | autoindent }}

    _vectorisation_idx = 1
    {{ scalar_code | autoindent }}

    _neuron_loop({{ k.args }}, _period, _threads)
{% endmacro %}
