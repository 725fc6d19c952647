"""Atomic file writes, hashing and run manifests.

Every result file is written to a temporary file in the same directory and then renamed
over its final name, so a killed command never leaves a half-written file that a later
command would read as valid.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from anamorph.errors import InputError

_UMASK = os.umask(0o022)
os.umask(_UMASK)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are ordinary files
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_bytes(path, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path, text: str) -> Path:
    return write_bytes(path, text.encode())


def _json_default(obj):
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def write_json(path, obj: Any) -> Path:
    return write_text(path, json.dumps(obj, indent=2, default=_json_default, allow_nan=False) + "\n")


def read_json(path) -> Any:
    """Read a JSON file; a missing or malformed file is an :class:`InputError`."""
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except IsADirectoryError:
        raise InputError("is a directory, expected a JSON file", path) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(f"not valid JSON ({e})", path) from None


#: keys naming a file's schema version: ``schema_version`` (written today) and ``version``
#: (older calibration and targets files), both read
VERSION_KEYS = ("schema_version", "version")


def check_schema(
    d, schema: str, version: int, path=None, *, what: str = "file", optional: bool = False
) -> dict:
    """Check that ``d`` is a JSON object of ``schema`` at ``version``; return ``d``.

    Files name their version under ``schema_version`` (or, older ones, ``version``). With
    ``optional`` (hand-written input files) a missing schema or version is accepted; a
    present one must still match. Raises :class:`InputError` naming the bad field.
    """
    if not isinstance(d, dict):
        raise InputError(f"not a {what} (expected a JSON object, got {type(d).__name__})", path)
    got = d.get("schema", schema if optional else None)
    if got != schema:
        raise InputError(f"not a {what} (schema {got!r}, expected {schema!r})", path, "schema")
    key = next((k for k in VERSION_KEYS if k in d), VERSION_KEYS[0])
    got = d.get(key, version if optional else None)
    if isinstance(got, bool) or got != version:
        raise InputError(
            f"unsupported schema version {got!r} (this anamorph reads version {version})", path, key
        )
    return d


def write_with(path, writer: Callable[[Path], None], suffix: str = "") -> Path:
    """Atomically write ``path`` with ``writer(tmp_path)`` (for savefig, to_parquet, np.savez)."""
    with atomic_path(path, suffix=suffix) as tmp:
        writer(tmp)
    return Path(path)


def file_sha256(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(
    run_dir,
    *,
    seeds: Mapping[str, int] | None = None,
    inputs: Mapping[str, str | os.PathLike] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``run_dir/manifest.json``: command, seeds, package version, input hashes."""
    from anamorph import __version__

    manifest = {
        "command": sys.argv,
        "anamorph_version": __version__,
        "python": sys.version.split()[0],
        "created_unix_s": time.time(),
        "seeds": dict(seeds or {}),
        "inputs": {
            name: {"path": str(p), "sha256": file_sha256(p)}
            for name, p in (inputs or {}).items()
            if p is not None and Path(p).is_file()
        },
    }
    if extra:
        manifest.update(extra)
    return write_json(Path(run_dir) / "manifest.json", manifest)


def ensure_writable_dir(path, option: str = "--out") -> Path:
    """Create ``path`` if needed and check it is a writable directory."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError("exists and is not a directory", path, option)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise InputError(f"cannot create directory ({e.strerror})", path, option) from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise InputError("directory is not writable", path, option)
    return path
