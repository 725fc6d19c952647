{# Synaptic delivery of anamorph's emulator without Brian2's spike queue
   (anamorph.models.brian_simd): every synapse of each neuron in the source's spike space
   applies its on_pre statement in the step the neuron fired (zero delay), in the order
   Brian2's queue would (spikes in increasing neuron order, each neuron's synapses in
   increasing index). A neuron's synapses are a contiguous range of indices, given by the
   offsets that before_run() computes (the synapses must be stored sorted by source).
   With the copy size in the namespace, the synapses of copy c are the block c of N /
   n_copies indices, and the constant per-synapse arrays are read in block 0. #}
{# USES_VARIABLES { _spikespace, _synaptic_pre, delay, N } #}
{% import 'simd_common.pyx' as common with context %}
{% set _spikes = get_array_name(variables['_spikespace']) %}
{% macro before_run() %}
{{ common.header() }}
from anamorph.models.brian_simd import source_offsets

def main(_namespace):
    {% if pathway.prepost != 'pre' or pathway.event != 'spike' %}
    raise NotImplementedError("the queue-free delivery handles on_pre spikes only")
    {% endif %}
    if _numpy.any(_namespace["{{ get_array_name(variables['delay']) }}"] != 0):
        raise NotImplementedError("the queue-free delivery handles zero delays only")
    _namespace["{{ offsets_key }}"] = source_offsets(
        _namespace["{{ get_array_name(variables['_synaptic_pre']) }}"], len(_namespace["{{ _spikes }}"]) - 1
    )
{% endmacro %}

{% macro run() %}
{{ common.header() }}

{{ support_code_lines | autoindent }}

def main(_namespace):
    cdef size_t _idx
    cdef size_t _vectorisation_idx
    {{ load_namespace | autoindent }}
    cdef _numpy.ndarray _offsets_array = _namespace["{{ offsets_key }}"]
    cdef int64_t * _offsets = <int64_t *> _offsets_array.data
    cdef int32_t _n_spikes = {{ _spikes }}[_num{{ _spikes }} - 1]
    cdef int32_t _k
    cdef int32_t _source
    cdef size_t _unit, _first
    cdef size_t _n_source = _num{{ _spikes }} - 1
    cdef size_t _period = _namespace.get("{{ unit_period }}", 0)  # source neurons per copy
    cdef size_t _block = N  # synapses per copy
    if _period != 0 and _n_source % _period == 0 and N % (_n_source // _period) == 0:
        _block = N // (_n_source // _period)
    else:  # one copy: every array read at _idx
        _period = max(_n_source, 1)

    _vectorisation_idx = 1
    {{ scalar_code | autoindent }}

    for _k in range(_n_spikes):
        _source = {{ _spikes }}[_k]
        _first = (_source // _period) * _block
        for _idx in range(<size_t>_offsets[_source], <size_t>_offsets[_source + 1]):
            _vectorisation_idx = _idx
            _unit = _idx - _first
            {{ at_unit(vector_code, per_unit_arrays(variables, get_array_name)) | autoindent }}
{% endmacro %}
