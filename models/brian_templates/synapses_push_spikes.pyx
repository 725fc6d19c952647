{# Without a spike queue there is nothing to push: the delivery (synapses.pyx) reads the
   source's spike space itself (anamorph.models.brian_simd). #}
{% import 'simd_common.pyx' as common with context %}
{% macro run() %}
{{ common.header() }}

def main(_namespace):
    pass
{% endmacro %}
