"""The settings of one training run (a frozen dataclass that goes into every checkpoint).

Defaults follow Cramer et al. 2022 (tau_m = tau_s = 6 µs on the chip, latency code with
tau_in = 8 µs and theta_in = 0.2, SuperSpike beta = 50, Adam, 3 %/epoch learning-rate
decay, rho_b = 5e-4, batch 100) with per-data-set adjustments in :data:`DATASET_DEFAULTS`
(Yin-Yang: each of its 4 inputs and the bias repeated 5 times so that a hidden neuron can
reach threshold with 6-bit weights; tau_in = 30 µs, because the log code compresses
features near 1 -- at 8-16 µs the points x = 0.8 .. 1 share one or two time steps).
The model's time step is the emulator's (0.5 µs): at 1 µs the model's spike timing differs
from the chip's by up to a step, and weights trained in software lost 8-10 points on an
ideal (mismatch-free) chip; at 0.5 µs about 2. Yin-Yang decays the learning rate by 7 % per
epoch (its last epochs otherwise swing by +-2 points) and keeps the epoch with the best
validation accuracy. digits, which has no validation split and overfits its 1347 training
images (train 99.8 %, test 93 % without regularisation), uses 200 hidden neurons, 40 %
dropout and 50 epochs. mnist5k is the paper's network, 256-246-10, with its time constants,
code and loss; its hidden weights start centred on zero (init mean 0 instead of 0.1 w_max):
with 256 inputs the 0.1 start made every hidden neuron fire about once per image, which
drove the readouts into the top of the ADC range, where several classes tie and the loss
stalled (65 % after 6 epochs in the loop); centred, the hidden layer starts near 0.2
spikes per neuron and sample. ``mnist:DIR`` goes through the same 16x16 features (256
inputs, the same code), so it starts centred too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields

from anamorph.errors import InputError

ALGORITHMS = ("surrogate", "eventprop", "eqspike", "convert")
MODES = ("chip", "software")
MEMBRANES = ("assimilated", "interpolated")
N_NEURONS, MAX_FAN_IN = 512, 256  # the chip's size (anamorph.models.chip)


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a run; equal configs and seeds give equal weights.

        ``mode`` is ``"chip"`` (in the loop: forward on the chip, gradients in software) or
        ``"software"`` (the ideal model only; the result is then deployed on the chip).
        ``n_train``/``n_test`` take the first samples of each split (None: all). ``dropout``
    silences hidden neurons, ``input_dropout`` removes input spikes (training batches only).
        ``membrane`` says how the chip's hidden membranes enter the backward pass: the ADC
        samples with the model's dynamics between them (``"assimilated"``, see
        :func:`~anamorph.training.chip_loop.assimilate`) or the samples interpolated linearly.
        ``augment_shift_px`` > 0 moves every training image by a random whole number of
        pixels up to that many along each axis (square images only; 0: no augmentation).
        Times in seconds; weights' init spreads in units of the largest chip weight.
    """

    dataset: str = "yinyang"
    out: str | None = None
    algo: str = "surrogate"
    mode: str = "chip"
    chip: str | None = None
    calibration: str | None = None
    epochs: int = 30
    seed: int = 0
    batch_size: int = 100
    lr: float = 2e-3
    lr_decay: float = 0.97
    n_hidden: int = 120
    input_repeat: int = 1
    tau_in_s: float = 8e-6
    theta_in: float = 0.2
    t_max_s: float = 30e-6
    bias_time_s: float | None = None
    duration_s: float = 40e-6
    dt_s: float = 0.5e-6
    surrogate_beta: float = 50.0
    rho_a: float = 1e-3
    rho_b: float = 5e-4
    logit_scale: float = 3.0
    init_mean: tuple[float, float] = (0.1, 0.1)
    init_sd: tuple[float, float] = (0.4, 0.3)
    dropout: float = 0.0
    input_dropout: float = 0.0
    n_train: int | None = None
    n_test: int | None = None
    noise: bool = True
    membrane: str = "assimilated"
    augment_shift_px: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        names = {f.name for f in fields(cls)}
        d = {k: (tuple(v) if isinstance(v, list) else v) for k, v in d.items() if k in names}
        return cls(**d)

    def identity(self) -> dict:
        """The settings a resumed run must share with its checkpoint (all but out/epochs)."""
        d = asdict(self)
        d.pop("out")
        d.pop("epochs")
        if not d["augment_shift_px"]:  # added later: checkpoints without it stay resumable
            d.pop("augment_shift_px")
        return json.loads(json.dumps(d))


DATASET_DEFAULTS = {
    "yinyang": dict(
        input_repeat=5,
        bias_time_s=0.0,
        tau_in_s=30e-6,
        t_max_s=45e-6,
        duration_s=60e-6,
        n_hidden=120,
        epochs=40,
        lr_decay=0.93,
        init_mean=(0.3, 0.1),
    ),
    "digits": dict(n_hidden=200, epochs=50, lr_decay=0.93, dropout=0.4),
    "mnist": dict(n_hidden=246, epochs=20, init_mean=(0.0, 0.1)),
    "mnist5k": dict(n_hidden=246, epochs=12, init_mean=(0.0, 0.1)),
    "npz": dict(),
}


def make_config(dataset: str, **overrides) -> TrainConfig:
    """A config with the data set's defaults, then ``overrides`` (None values are ignored)."""
    kind = str(dataset).partition(":")[0].strip().lower()
    base = dict(DATASET_DEFAULTS.get(kind, {}))
    base.update({k: v for k, v in overrides.items() if v is not None})
    return validate(TrainConfig(dataset=dataset, **base))


def validate(c: TrainConfig) -> TrainConfig:
    """Reject settings that cannot run (before anything is written)."""
    if c.algo not in ALGORITHMS:
        raise InputError(f"unknown algorithm (expected one of {', '.join(ALGORITHMS)})", c.algo, "algo")
    if c.algo != "surrogate":
        raise InputError(
            f"algorithm {c.algo!r} is not implemented yet (only 'surrogate' is, after Cramer et al. 2022)",
            c.algo,
            "algo",
        )
    if c.mode not in MODES:
        raise InputError(f"mode must be one of {', '.join(MODES)}", c.mode, "mode")
    if c.membrane not in MEMBRANES:
        raise InputError(f"membrane must be one of {', '.join(MEMBRANES)}", c.membrane, "membrane")
    if (
        isinstance(c.augment_shift_px, bool)
        or not isinstance(c.augment_shift_px, int)
        or c.augment_shift_px < 0
    ):
        raise InputError("must be a non-negative integer (pixels)", c.augment_shift_px, "augment_shift_px")
    for name in ("epochs", "batch_size", "n_hidden", "input_repeat"):
        v = getattr(c, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < (0 if name == "epochs" else 1):
            raise InputError("must be a positive integer", v, name)
    if isinstance(c.seed, bool) or not isinstance(c.seed, int) or c.seed < 0:
        raise InputError("must be a non-negative integer", c.seed, "seed")
    for name in ("dropout", "input_dropout"):
        if not 0.0 <= getattr(c, name) < 1.0:
            raise InputError("must be in [0, 1)", getattr(c, name), name)
    for name in ("dt_s", "duration_s", "tau_in_s", "t_max_s", "lr"):
        if not getattr(c, name) > 0:
            raise InputError("must be > 0", getattr(c, name), name)
    if c.duration_s < 4 * c.dt_s:
        raise InputError("a sample must last at least 4 time steps", c.duration_s, "duration_s")
    return c


def check_fits_chip(n_inputs: int, n_hidden: int, n_classes: int) -> None:
    """A network that the chip cannot hold is bad input (fan-in 256, 512 neurons)."""
    if n_inputs > MAX_FAN_IN:
        raise InputError(
            f"{n_inputs} input channels exceed the chip's fan-in of {MAX_FAN_IN} synapse rows",
            None,
            "dataset",
        )
    if n_hidden > MAX_FAN_IN:
        raise InputError(
            f"{n_hidden} hidden neurons exceed the readout's fan-in of {MAX_FAN_IN}", None, "n_hidden"
        )
    if n_hidden + n_classes > N_NEURONS:
        raise InputError(
            f"network needs {n_hidden + n_classes} neurons, the chip has {N_NEURONS}", None, "n_hidden"
        )
