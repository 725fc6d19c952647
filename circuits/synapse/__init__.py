"""The synapse circuit with its 6-bit weight DAC: netlist (:mod:`.netlist`) and testbenches (:mod:`.circuit`)."""
