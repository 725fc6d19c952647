"""The accelerated LIF neuron circuit: netlist (:mod:`.netlist`) and testbenches (:mod:`.circuit`)."""
