"""EventProp: exact gradients of a spiking network from its spike times (Wunderlich & Pehle
2021, Sci. Rep. 11:12829), in the loop with the chip as on BrainScaleS-2 (Pehle et al. 2023).

:mod:`.events` exact event-based forward model, :mod:`.adjoint` the backward pass,
:mod:`.loss` spike-time losses, :mod:`.loop` chip-in-the-loop steps, :mod:`.run` the CLI run.
"""
