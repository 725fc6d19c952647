"""Equilibrium Propagation: the rate-based numpy reference.

Equilibrium Propagation (Scellier & Bengio 2017, Front. Comput. Neurosci. 11:24) trains an
energy-based network with two relaxations per example: a free phase to a fixed point of
the energy, and a phase weakly nudged towards the target. The difference of a local
quantity (pre- times post-synaptic activity) between the two phases, divided by the
nudging strength, estimates the negative gradient of the loss. Laborieux et al. 2021
(Front. Neurosci. 15:633674) remove the estimate's first-order bias with a symmetric
(+beta, -beta) pair of nudged phases or a random sign of beta. EqSpike (Martin et al.
2021, iScience 24:102222) realises the same rule with spiking neurons and a local,
STDP-like synaptic update; this rate-based version is its software reference.

Modules: :mod:`.rate` (energy, relaxation, phases, EP update), :mod:`.rbp` (the exact
gradient by recurrent backpropagation, for checks), :mod:`.train` (the trainer).
"""

from .rate import (
    ESTIMATORS,
    EPStep,
    RateNet,
    Relaxation,
    cost,
    energy,
    ep_update,
    field,
    init_net,
    one_hot,
    phi_grads,
    relax,
    residual,
    rho,
    total_energy,
)
from .rbp import loss_at_fixed_point, rbp_gradient
from .train import EPConfig, predict, train_rate_ep

__all__ = [
    "ESTIMATORS",
    "EPConfig",
    "EPStep",
    "RateNet",
    "Relaxation",
    "cost",
    "energy",
    "ep_update",
    "field",
    "init_net",
    "loss_at_fixed_point",
    "one_hot",
    "phi_grads",
    "predict",
    "rbp_gradient",
    "relax",
    "residual",
    "rho",
    "total_energy",
    "train_rate_ep",
]
