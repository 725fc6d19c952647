"""The result of a calibration: per-neuron codes, success mask, achieved values; cached.

A :class:`Calibration` is named by a hash of the chip (its hardware, not its codes), the
targets, the calibration settings and the package version (:func:`cache_key`). Saved as
schema-versioned JSON; :func:`load_cached` reads a previous result back instead of
measuring again.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.io import check_schema, read_json, write_json
from anamorph.models.dac import CODE_MAX

from .targets import FIELD_OF, Targets

if TYPE_CHECKING:
    from anamorph.models.chip import Chip

SCHEMA = "anamorph.calibration"
VERSION = 1


def hardware_fingerprint(chip: Chip) -> str:
    """Fingerprint of a chip's hardware alone, independent of its configured codes.

    ``Chip.fingerprint()`` covers the codes too; the chip with every code set to 0 has the
    same hardware and a fixed configuration, so its fingerprint names the hardware.
    """
    zeros = {p: np.zeros_like(np.asarray(c, dtype=np.int64)) for p, c in chip.codes.items()}
    return chip.with_codes(zeros).fingerprint()


#: Changes whenever the calibration's protocols change what it finds, so that a cache
#: written by an earlier flow of the same package version is not read back.
FLOW_REVISION = 4


def cache_key(hw_fingerprint: str, targets: Targets, settings: dict) -> str:
    """sha256 of the hardware fingerprint, the targets, the settings, the package version
    and the flow's revision."""
    from anamorph import __version__

    blob = json.dumps(
        {
            "chip": hw_fingerprint,
            "targets": targets.to_dict(),
            "settings": settings,
            "anamorph": __version__,
            "flow": FLOW_REVISION,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()


def default_cache_dir() -> Path:
    """``$ANAMORPH_CACHE/calibration`` or ``~/.cache/anamorph/calibration``."""
    root = os.environ.get("ANAMORPH_CACHE")
    return (Path(root) if root else Path.home() / ".cache" / "anamorph") / "calibration"


@dataclass
class Calibration:
    """Per-neuron DAC codes that bring a chip to its targets.

    Attributes
    ----------
    codes : dict[str, (n,) int64]
        DAC parameter -> calibrated code per neuron.
    success : dict[str, (n,) bool]
        DAC parameter -> whether the neuron reached its target.
    achieved : dict[str, (n,) float64]
        DAC parameter -> value measured through the chip at the calibrated code (SI).
    targets : Targets
    chip_fingerprint : str
        :func:`hardware_fingerprint` of the calibrated chip.
    reasons : dict[str, dict[int, str]]
        DAC parameter -> {neuron: why it failed}.
    before : dict[str, (n,) float64]
        DAC parameter -> value measured at the uncalibrated codes.
    key : str
        The cache key (:func:`cache_key`).
    n_runs : int
        Emulator runs the calibration took.
    from_cache : bool
        True when this object was read from the cache rather than measured.
    """

    codes: dict
    success: dict
    achieved: dict
    targets: Targets
    chip_fingerprint: str
    reasons: dict = field(default_factory=dict)
    before: dict = field(default_factory=dict)
    key: str = ""
    n_runs: int = 0
    settings: dict = field(default_factory=dict)
    from_cache: bool = False

    def apply(self, chip: Chip) -> Chip:
        """``chip`` configured with the calibrated codes (a new Chip).

        Raises
        ------
        InputError
            if ``chip`` is not the chip this calibration was made for.
        """
        fp = hardware_fingerprint(chip)
        if fp != self.chip_fingerprint:
            raise InputError(
                f"calibration was made for chip {self.chip_fingerprint[:12]}, not for this chip ({fp[:12]})",
                None,
                "chip_fingerprint",
            )
        return chip.with_codes({p: np.asarray(c, dtype=np.int64) for p, c in self.codes.items()})

    @property
    def all_success(self) -> np.ndarray:
        """(n,) bool: neurons that reached every target."""
        return np.logical_and.reduce([np.asarray(s, dtype=bool) for s in self.success.values()])

    def to_dict(self) -> dict:
        arr = lambda d, conv: {p: conv(np.asarray(v)).tolist() for p, v in d.items()}  # noqa: E731
        nan_none = lambda a: np.where(np.isfinite(a), a, None)  # noqa: E731
        return {
            "schema": SCHEMA,
            "schema_version": VERSION,
            "key": self.key,
            "chip_fingerprint": self.chip_fingerprint,
            "targets": self.targets.to_dict(),
            "settings": self.settings,
            "n_runs": int(self.n_runs),
            "codes": arr(self.codes, lambda a: a.astype(np.int64)),
            "success": arr(self.success, lambda a: a.astype(bool)),
            "achieved": arr(self.achieved, lambda a: nan_none(a.astype(np.float64))),
            "before": arr(self.before, lambda a: nan_none(a.astype(np.float64))),
            "reasons": {p: {str(k): r for k, r in d.items()} for p, d in self.reasons.items()},
        }

    def save(self, path: str | Path) -> Path:
        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, d: dict, path: str | Path | None = None) -> Calibration:
        check_schema(d, SCHEMA, VERSION, path, what="calibration file")
        try:

            def floats(m):
                return {
                    p: np.array([np.nan if x is None else x for x in v], dtype=np.float64)
                    for p, v in m.items()
                }

            cal = cls(
                codes={p: np.asarray(v, dtype=np.int64) for p, v in d["codes"].items()},
                success={p: np.asarray(v, dtype=bool) for p, v in d["success"].items()},
                achieved=floats(d["achieved"]),
                before=floats(d.get("before", {})),
                targets=Targets.from_dict(d["targets"], path),
                chip_fingerprint=str(d["chip_fingerprint"]),
                key=str(d.get("key", "")),
                n_runs=int(d.get("n_runs", 0)),
                settings=dict(d.get("settings", {})),
                reasons={p: {int(k): str(r) for k, r in m.items()} for p, m in d.get("reasons", {}).items()},
            )
        except KeyError as e:
            raise InputError("missing field", path, str(e.args[0])) from None
        except (TypeError, ValueError, AttributeError, OverflowError) as e:
            raise InputError(f"malformed calibration ({e})", path) from None
        missing = sorted(set(FIELD_OF) - set(cal.codes))
        if missing:
            raise InputError(f"no codes for {', '.join(missing)}", path, "codes")
        for p, c in cal.codes.items():
            if c.ndim != 1 or np.any(c < 0) or np.any(c > CODE_MAX):
                raise InputError(f"codes must be a list of integers in 0..{CODE_MAX}", path, f"codes.{p}")
        return cal

    @classmethod
    def load(cls, path: str | Path) -> Calibration:
        return cls.from_dict(read_json(path), Path(path))


def load_cached(cache_dir: str | Path, key: str) -> Calibration | None:
    """The cached calibration named ``key``, or None (an unreadable entry is ignored)."""
    path = Path(cache_dir) / f"{key}.json"
    if not path.is_file():
        return None
    try:
        cal = Calibration.load(path)
    except InputError:
        return None
    if cal.key != key:
        return None
    cal.from_cache = True
    return cal


def store_cached(cache_dir: str | Path, cal: Calibration) -> Path:
    return cal.save(Path(cache_dir) / f"{cal.key}.json")
