"""Training: in-the-loop surrogate-gradient learning on the (emulated) chip.

After Cramer et al. 2022 (PNAS 119(4)): the forward pass of every batch runs on the chip;
its spikes and ADC membrane traces replace the software model's values in an explicit
BPTT backward pass with the SuperSpike surrogate; Adam updates float weights that are
written to the chip as signed 6-bit codes.

Public API (what the CLI and the demo call)::

    from anamorph.training import make_config, train_run, evaluate_run, mismatch_experiment

    config = make_config("yinyang", out="runs/yy", epochs=20, seed=0)   # -> TrainConfig
    result = train_run(config)            # -> RunResult(run_dir, metrics, weights, history)
    result.metrics["test_accuracy"]       # on the chip; also spikes_per_sample, ...
    evaluate_run("runs/yy", chip_path="other_chip.json")   # -> dict (test_accuracy, ...)
    mismatch_experiment(make_config("digits"), "runs/mismatch")   # -> table rows

Modules: :mod:`.datasets` and :mod:`.idx` (data), :mod:`.encoding` (latency code),
:mod:`.snn` (software model), :mod:`.backprop` (loss and backward pass), :mod:`.optim`
(Adam), :mod:`.mapping` (weights <-> codes), :mod:`.chip_loop` (forward on the chip),
:mod:`.trainer` (epochs, checkpoints), :mod:`.run` (run directories),
:mod:`.experiment` (mismatch experiment), :mod:`.plots`, :mod:`.commands` (CLI).
"""

from .config import TrainConfig, make_config
from .experiment import mismatch_experiment
from .run import RunResult, evaluate_run, train_run

__all__ = ["RunResult", "TrainConfig", "evaluate_run", "make_config", "mismatch_experiment", "train_run"]
