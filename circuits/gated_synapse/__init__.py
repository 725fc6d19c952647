"""The gated-synapse compact model (Verilog-A, compiled by OpenVAF) and its testbench (:mod:`.device`)."""
