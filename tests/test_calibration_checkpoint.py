"""The calibration's mid-run checkpoint (:mod:`anamorph.calibration.checkpoint`).

The file must give back exactly what was saved (the reference is the saved object
itself: every array bit for bit, every dtype, NaN, -0.0, tuples against lists, integer
keys), and a damaged or foreign file must read as no checkpoint, so that the calibration
starts over. Resuming a killed calibration is ``test_kills.py``; here a calibration that
finds its checkpoint truncated starts over and ends as the uninterrupted one.
"""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.calibration import calibrate
from anamorph.calibration import checkpoint as ck
from anamorph.calibration.checkpoint import Checkpoint, checkpoint_path


def _state():
    rng = np.random.default_rng(7)
    return {
        "log": [
            ("leak", rng.normal(size=5)),
            ("step_response", (rng.normal(size=5), np.array([np.nan, -0.0, 5e-324, np.inf, 0.1 + 0.2]))),
            ("threshold", np.arange(5, dtype=np.float32)),
        ],
        "runner": {"n_runs": 3, "codes": {"v_leak": np.array([0, 1023, 7, 8, 9], dtype=np.int64)}},
        "mask": np.array([True, False, True, True, False]),
        "reasons": {3: "beyond", 10: "no spikes"},
        "scalar": np.float64(1.5),
        "noise_next": None,
        "wall_s": 0.1 + 0.7,
        "empty": [],
    }


def _same(a, b) -> bool:
    if isinstance(a, np.ndarray | np.generic):
        return (
            type(a) is type(b)
            and a.dtype == b.dtype
            and np.shape(a) == np.shape(b)
            and np.asarray(a).tobytes() == np.asarray(b).tobytes()
        )
    if isinstance(a, dict):
        return type(b) is dict and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(map(_same, a, b))
    return type(a) is type(b) and a == b


def test_round_trip_is_exact(tmp_path):
    c = Checkpoint(checkpoint_path(tmp_path, "k1"), "k1")
    state = _state()
    c.save(3, state)
    done, back = c.load()
    assert done == 3
    assert _same(state, back)
    assert _same(back, _state())  # saving left the state untouched


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "other_key"])
def test_damaged_or_foreign_checkpoint_reads_as_none(tmp_path, damage):
    path = checkpoint_path(tmp_path, "k1")
    Checkpoint(path, "k1").save(3, _state())
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(data[:100] + bytes(range(256)) * 4 + data[100 + 1024 :])
    elif damage == "empty":
        path.write_bytes(b"")
    assert Checkpoint(path, "k2" if damage == "other_key" else "k1").load() is None
    assert Checkpoint(checkpoint_path(tmp_path, "absent"), "absent").load() is None


@pytest.mark.slow
@pytest.mark.brian2
def test_truncated_checkpoint_is_ignored_and_removed(tmp_path, monkeypatch):
    """A calibration interrupted after some runs leaves a checkpoint; truncated, it is
    ignored: the calibration starts over (replays nothing), ends as the uninterrupted run
    and removes the checkpoint once its result is written."""
    from anamorph.calibration.runner import ChipRunner
    from anamorph.models.chip import sample_chip
    from anamorph.models.emulator import ChipEmulator
    from anamorph.models.process_model import ProcessModel

    chip = sample_chip(ProcessModel.default(), 2)

    def run(folder):
        backend = ChipEmulator(chip, seed=0, noise=True)
        return calibrate(chip, backend=backend, params=("v_leak",), measure_before=False, cache_dir=folder)

    reference = run(tmp_path / "reference")

    class Interrupted(Exception):
        pass

    save = Checkpoint.save

    def save_then_stop(self, done, state):
        save(self, done, state)
        if done == 5:
            raise Interrupted

    monkeypatch.setattr(ck, "EVERY_S", 0.0)
    monkeypatch.setattr(Checkpoint, "save", save_then_stop)
    with pytest.raises(Interrupted):
        run(tmp_path / "cut")
    monkeypatch.setattr(Checkpoint, "save", save)
    (path,) = (tmp_path / "cut").glob("*.checkpoint.npz")
    assert path.name == f"{reference.key}.checkpoint.npz"
    path.write_bytes(path.read_bytes()[:-200])
    replayed = []
    replay = ChipRunner.replay
    monkeypatch.setattr(
        ChipRunner, "replay", lambda self, log, then: (replayed.append(len(log)), replay(self, log, then))
    )
    cal = run(tmp_path / "cut")
    assert replayed == []
    assert not path.exists() and (tmp_path / "cut" / f"{reference.key}.json").is_file()
    assert cal.n_runs == reference.n_runs
    for p in reference.codes:
        np.testing.assert_array_equal(cal.codes[p], reference.codes[p])
        np.testing.assert_array_equal(cal.achieved[p], reference.achieved[p])
