"""The mid-run checkpoint of a calibration (``CACHE_DIR/KEY.checkpoint.npz``, atomic).

A calibration's flow is a deterministic function of what its runs measure: the searches
seed their generators per row (``[seed, k]``), and each run of the emulator draws its
noise from ``[seed, run]``. So the checkpoint holds the log of every run's result so far
(:attr:`.runner.ChipRunner.log`: the measurement's name and the per-neuron values it
returned, e.g. a tau_m fit), the run count and the DAC codes last written, and the
backend's run counter (the next noise-draw id) with its value when the calibration began.
A resumed calibration replays the log (:meth:`.runner.ChipRunner.replay`): the flow
retraces every search, fit and stage on the logged values without running the chip, then
restores the codes and the run counter and runs on; it ends bit-identical to an
uninterrupted run (codes, achieved values, ``n_runs``). The codes found so far, the
per-parameter results and what later measurements learned are recomputed by the replay,
not stored.

It is written after a run once :data:`EVERY_S` seconds have passed since the last write,
through :func:`anamorph.io.write_with` (a temporary file renamed over the old one): a
killed calibration leaves the previous checkpoint or the new one, never half of one, and
loses at most those seconds and one run. The file is named by the final result's cache
key (:func:`.result.cache_key`: the chip's hardware, the targets, the settings, the
package version and the flow's revision) and records the key inside, so that another chip
or configuration never resumes from it; nor does a backend whose run counter did not start
where the checkpointed run's did.

The state is a tree of dicts, lists and tuples whose leaves are numpy arrays and JSON
scalars. The arrays are stored bit for bit, stacked by dtype and shape (few ``.npy``
members however many runs); the tree, each array replaced by its place, is one JSON
string (floats written by ``repr``, which reads back to the same double). Nothing is
pickled. A checkpoint that cannot be read (truncated, corrupt, another schema or key) is
ignored and the calibration starts over. The final result file stays the owner of the
finished result; :func:`.flow.calibrate` removes the checkpoint once that is written.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from anamorph.io import write_with

SCHEMA = "anamorph.calibration.checkpoint"
VERSION = 1
#: seconds between two writes (a killed calibration loses at most these and one run)
EVERY_S = 2.0


def checkpoint_path(cache_dir: str | Path, key: str) -> Path:
    """The checkpoint of the calibration named ``key`` (beside its result ``KEY.json``)."""
    return Path(cache_dir) / f"{key}.checkpoint.npz"


def _pack(obj: Any, groups: dict) -> Any:
    """``obj`` as JSON, its arrays moved into ``groups`` ((dtype, shape) -> list of arrays;
    each group is stored as one stacked member, so thousands of runs make few members)."""
    if isinstance(obj, (np.ndarray, np.generic)):
        a = np.asarray(obj)
        group = groups.setdefault((a.dtype.str, a.shape), [])
        group.append(a)
        return {"array": [list(groups).index((a.dtype.str, a.shape)), len(group) - 1], "scalar": a is not obj}
    if isinstance(obj, dict):  # keys: str or int (JSON keeps their type inside a list)
        if not all(isinstance(k, (str, int)) for k in obj):
            raise TypeError("checkpoint dict keys must be str or int")
        return {"dict": [[k, _pack(v, groups)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return {type(obj).__name__: [_pack(v, groups) for v in obj]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return {"value": obj}
    raise TypeError(f"cannot checkpoint {type(obj).__name__}")


def _unpack(node: dict, groups: list[np.ndarray]) -> Any:
    """The inverse of :func:`_pack` (``groups``: the stacked members, in order)."""
    kind = next(iter(node))
    body = node[kind]
    if kind == "array":
        a = np.array(groups[body[0]][body[1]])
        return a[()] if node["scalar"] else a
    if kind == "dict":
        return {k: _unpack(v, groups) for k, v in body}
    if kind == "list":
        return [_unpack(v, groups) for v in body]
    if kind == "tuple":
        return tuple(_unpack(v, groups) for v in body)
    if kind == "value":
        return body
    raise ValueError(f"unknown checkpoint node {kind!r}")


@dataclass
class Checkpoint:
    """The checkpoint file ``path`` of the calibration named ``key``.

    Attributes
    ----------
    path : Path
        ``CACHE_DIR/KEY.checkpoint.npz`` (:func:`checkpoint_path`).
    key : str
        The calibration's cache key; a file recording another key is not resumed from.
    last_s : float
        ``time.monotonic()`` of the last write (or of the creation).
    """

    path: Path
    key: str
    last_s: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        """Whether :data:`EVERY_S` seconds have passed since the last write."""
        return time.monotonic() - self.last_s >= EVERY_S

    def save(self, done: int, state: dict) -> None:
        """Atomically write ``state`` after ``done`` runs."""
        groups: dict[tuple, list[np.ndarray]] = {}
        tree = _pack(state, groups)
        arrays = {f"g{j}": np.stack(group) for j, group in enumerate(groups.values())}
        meta = {
            "schema": SCHEMA,
            "schema_version": VERSION,
            "key": self.key,
            "done": int(done),
            "n_groups": len(groups),
            "state": tree,
        }
        arrays["meta"] = np.array(json.dumps(meta))

        def write(tmp: Path) -> None:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)

        write_with(self.path, write)
        self.last_s = time.monotonic()

    def load(self) -> tuple[int, dict] | None:
        """``(done, state)`` as last saved, or None: no file, or one that is unreadable,
        of another schema version or of another key (then the calibration starts over)."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as arrays:
                meta = json.loads(str(arrays["meta"]))
                if (meta["schema"], meta["schema_version"], meta["key"]) != (SCHEMA, VERSION, self.key):
                    return None
                groups = [arrays[f"g{j}"] for j in range(int(meta["n_groups"]))]
                return int(meta["done"]), _unpack(meta["state"], groups)
        except Exception:  # damaged in any way (zip, npy header, JSON, tree): start over
            return None

    def remove(self) -> None:
        """Delete the checkpoint (the finished result has been written)."""
        self.path.unlink(missing_ok=True)
