"""An EqSpike run's weights on another chip: ``anamorph evaluate RUN_DIR --chip B.json``.

The run folder's ``config.json`` gives the settings (phases, update kind, data set) and
``weights.npz`` the weights ``w0, w1, b0, b1`` (rheobases with ``update="software"``, the
6-bit codes themselves with ``update="on-chip"``). They are written to the other chip the
way training wrote them to its own (:func:`.loop.spiking_ep`), and the free phase of every
test sample runs there: test accuracy, spikes per neuron and energy per sample, the same
evaluation as at the end of training.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.io import read_json
from anamorph.training.eqprop.rate import RateNet
from anamorph.training.eqprop.settings import EqSpikeConfig, validate


def is_eqspike_run(run_dir) -> bool:
    """Whether ``run_dir`` holds an EqSpike run (its ``config.json`` says so)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return False
    d = read_json(path)
    return isinstance(d, dict) and d.get("algo") == "eqspike"


def load_eqspike_run(run_dir) -> tuple[EqSpikeConfig, RateNet]:
    """The settings and weights of a finished EqSpike run; InputError naming the bad file."""
    run_dir = Path(run_dir)
    try:
        c = validate(EqSpikeConfig.from_dict(read_json(run_dir / "config.json")))
    except InputError as e:
        raise InputError(e.message, run_dir / "config.json", e.field) from None
    except (TypeError, ValueError) as e:
        raise InputError(f"malformed config ({e})", run_dir / "config.json") from None
    path = run_dir / "weights.npz"
    if not path.is_file():
        raise InputError("no weights.npz (is the run finished?)", run_dir, "weights.npz")
    names = ("w0", "w1", "b0", "b1")
    try:
        with np.load(path, allow_pickle=False) as f:
            w0, w1, b0, b1 = (np.array(f[k], dtype=np.float64) for k in names)
    except Exception as e:  # not a zip/npy file, a missing or pickled array, a non-number
        raise InputError(f"unreadable weights ({e})", path) from None
    for name, a, ndim in zip(names, (w0, w1, b0, b1), (2, 2, 1, 1)):
        if a.ndim != ndim or not np.all(np.isfinite(a)):
            raise InputError(f"must be a finite {ndim}-d array", path, name)
    if w0.shape[1] != c.n_hidden or w1.shape[0] != c.n_hidden or b0.shape != (c.n_hidden,):
        raise InputError(f"shapes do not match the run's {c.n_hidden} hidden neurons", path, "w0")
    if b1.shape != (w1.shape[1],):
        raise InputError("shape does not match w1's outputs", path, "b1")
    return c, RateNet((w0, w1), (b0, b1))


def deploy_eqspike(
    run_dir,
    *,
    chip_path: str | None = None,
    calibration_path: str | None = None,
    calibrate_chip: bool = True,
    chip=None,
    nominal=None,
) -> dict:
    """Evaluate the run's weights on ``chip`` (with ``nominal``) or on the chip in ``chip_path``
    (+ ``calibration_path``; without it calibrated unless ``calibrate_chip`` is False)."""
    from threadpoolctl import threadpool_limits

    from anamorph.models.energy import EnergyParams
    from anamorph.training.datasets import load_dataset
    from anamorph.training.eqprop.loop import evaluate, spiking_ep
    from anamorph.training.eqprop.settings import repeat_inputs
    from anamorph.training.prepare import load_chip

    c, net = load_eqspike_run(run_dir)
    data = load_dataset(c.dataset, seed=c.seed)
    n_in = data.n_features * c.input_repeat
    if net.weights[0].shape[0] != n_in or net.weights[1].shape[1] != data.n_classes:
        raise InputError(f"shapes do not match the data set {c.dataset}", Path(run_dir) / "weights.npz", "w0")
    X, y = repeat_inputs(c, data.X_test[: c.n_test]), data.y_test[: c.n_test]
    if chip is None:
        chip, nominal, _ = load_chip(chip_path, calibration_path, c.seed, calibrate_chip)
    sp = spiking_ep(c, chip, nominal)
    with threadpool_limits(limits=1, user_api="blas"):
        ev = evaluate(
            sp,
            net,
            X,
            y,
            c.batch_size,
            c.seed,
            run_base=1 << 30,
            energy=EnergyParams.from_process(chip.process),
        )
    return {
        "algo": "eqspike",
        "test_accuracy": ev["accuracy"],
        "spikes_per_hidden_neuron": ev["spikes_per_hidden_neuron"],
        "spikes_per_output_neuron": ev["spikes_per_output_neuron"],
        "energy_per_sample": ev.get("energy_per_sample"),
        "run_dir": str(run_dir),
        "chip_fingerprint": chip.fingerprint(),
    }
