"""The checkpoint of a conversion run (``RUN_DIR/checkpoint.npz``, written atomically).

Phase ``software``: after every software epoch, the float weights, Adam's state and the
generator's state. Phase ``finetune``: after the mapping and after every in-the-loop
iteration, the float weights, the fine-tuning Adam's state, the history of iterations and
the results of the software phase. Chip runs draw their noise by a fixed id per run and
each iteration seeds its own generator (:mod:`.finetune`), so this is all a resumed run
needs to end bit-identical to an uninterrupted one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from anamorph.io import write_with
from anamorph.training.optim import Adam
from anamorph.training.trainer import CHECKPOINT, read_checkpoint


def save(run_dir: Path, identity: dict, phase: str, weights, opt: Adam, *, rng=None, state=None) -> None:
    """Write the checkpoint of ``phase`` (``software`` with ``rng``; ``finetune`` with ``state``)."""
    arrays = {f"w{k}": w for k, w in enumerate(weights)}
    arrays.update(opt.state_arrays())
    arrays["lr"] = np.array(opt.lr)
    arrays["phase"] = np.array(phase)
    arrays["state"] = np.array(json.dumps(state or {}))
    if rng is not None:
        arrays["rng_state"] = np.array(json.dumps(rng.bit_generator.state))
    arrays["config"] = np.array(json.dumps(identity, sort_keys=True))

    def write(tmp):
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)

    write_with(run_dir / CHECKPOINT, write)


def load(run_dir: Path, identity: dict, n_layers: int) -> dict | None:
    """The checkpoint of ``run_dir`` (None if there is none): ``phase``, ``weights``, ``opt``,
    ``rng`` (software phase) and ``state``; InputError if it has other settings."""
    if not (run_dir / CHECKPOINT).is_file():
        return None
    a = read_checkpoint(run_dir, identity)
    opt = Adam(lr=float(a["lr"]))
    opt.load_arrays(a, n_layers)
    rng = None
    if "rng_state" in a:
        rng = np.random.default_rng()
        rng.bit_generator.state = json.loads(str(a["rng_state"]))
    return {
        "phase": str(a["phase"]),
        "weights": [np.array(a[f"w{k}"]) for k in range(n_layers)],
        "opt": opt,
        "rng": rng,
        "state": json.loads(str(a["state"])),
    }
