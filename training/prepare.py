"""Everything a run needs before its first step: data, input code, chip, nominal scale.

Chip selection (every default is runnable: a run given neither a chip nor a calibration
still works): ``--chip`` loads a chip file,
otherwise the shipped ProcessModel is sampled with the run's seed; ``--calibration``
applies a calibration to it, otherwise the chip is calibrated (calibration caches its
result, so only the first run pays) unless ``calibrate=False`` (the chip's codes as they
are, nominal parameters DEFAULT_TARGETS). The readout neurons are set
up as leaky integrators (:func:`chip_loop.readout_as_integrators`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anamorph.errors import InputError
from anamorph.training.config import TrainConfig, check_fits_chip
from anamorph.training.datasets import Dataset, load_dataset
from anamorph.training.encoding import LatencyCode


@dataclass
class Prepared:
    """A data set already cut to the run's sizes and expanded for its input code."""

    data: Dataset
    code: LatencyCode
    n_inputs: int

    def features(self, X: np.ndarray, repeat: int) -> np.ndarray:
        return np.repeat(X, repeat, axis=1) if repeat > 1 else X


def prepare_data(c: TrainConfig) -> Prepared:
    """Load the data set, apply n_train/n_test, build the code; check the network fits the chip."""
    data = load_dataset(c.dataset, seed=c.seed)
    if c.n_train is not None or c.n_test is not None:
        ntr = c.n_train or len(data.y_train)
        nte = c.n_test or len(data.y_test)
        nva = c.n_test or (0 if data.y_val is None else len(data.y_val))
        data = Dataset(
            data.name,
            data.X_train[:ntr],
            data.y_train[:ntr],
            data.X_test[:nte],
            data.y_test[:nte],
            data.n_classes,
            None if data.X_val is None else data.X_val[:nva],
            None if data.y_val is None else data.y_val[:nva],
        )
    if data.n_classes < 2:
        raise InputError("a data set needs at least two classes", c.dataset, "dataset")

    code = LatencyCode(c.tau_in_s, c.theta_in, c.t_max_s, c.bias_time_s)
    n_inputs = code.n_channels(data.n_features * c.input_repeat)
    check_fits_chip(n_inputs, c.n_hidden, data.n_classes)
    return Prepared(data, code, n_inputs)


def nominal_from_targets(targets):
    """NeuronParams of the calibration targets (c_mem from the models' DEFAULT_TARGETS)."""
    from anamorph.models.neuron import DEFAULT_TARGETS

    return DEFAULT_TARGETS.replace(
        v_leak_v=targets.v_leak_v,
        v_th_v=targets.v_th_v,
        v_reset_v=targets.v_reset_v,
        tau_m_s=targets.tau_m_s,
        tau_syn_s=targets.tau_syn_s,
        t_ref_s=targets.t_ref_s,
        w_unit_a=targets.w_unit_a,
    )


def load_chip(chip_path: str | None, calibration_path: str | None, seed: int, calibrate_chip: bool = True):
    """(chip, nominal params, provenance dict) following the module docstring."""
    from anamorph.calibration import Calibration, calibrate
    from anamorph.models.chip import Chip, sample_chip
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import ProcessModel

    if chip_path is not None:
        if not Path(chip_path).is_file():
            raise InputError("chip file not found", chip_path, "chip")
        chip = Chip.load(chip_path)
        info = {"chip": str(chip_path)}
    else:
        chip = sample_chip(ProcessModel.default(), seed)
        info = {"chip": f"sample_chip(ProcessModel.default(), {seed})"}
    if calibration_path is not None:
        if not Path(calibration_path).is_file():
            raise InputError("calibration file not found", calibration_path, "calibration")
        cal = Calibration.load(calibration_path)
        info["calibration"] = str(calibration_path)
    elif calibrate_chip:
        cal = calibrate(chip)
        info["calibration"] = "calibrate(chip) (cached)"
    else:
        return chip, DEFAULT_TARGETS, info
    return cal.apply(chip), nominal_from_targets(cal.targets), info


def make_emulator(chip, nominal, n_hidden: int, n_classes: int, seed: int, noise: bool = True):
    """A ChipEmulator of ``chip`` whose readout neurons do not spike."""
    from anamorph.models.emulator import ChipEmulator
    from anamorph.training.chip_loop import readout_as_integrators

    emulator = ChipEmulator(chip, seed=seed, noise=noise, nominal=nominal)
    emulator.configure(readout_as_integrators(chip.codes, chip.process, n_hidden, n_classes))
    return emulator
