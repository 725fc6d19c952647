"""The triplet-STDP synapse circuit and the rule it implements.

:mod:`.rule` the ideal triplet rule (Pfister & Gerstner 2006), :mod:`.data` published
experiments and parameter sets, :mod:`.protocols` spike-pair and triplet protocols,
:mod:`.circuit` the transistor-level circuit in ngspice, :mod:`.bias` biases <-> rule
parameters, :mod:`.fit` the fits of rule and circuit to the data, :mod:`.sweep` the Monte
Carlo sweep, :mod:`.figures` its figures.
"""
