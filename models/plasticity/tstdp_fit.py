r"""The process model's ``"tstdp"`` section: the population of triplet-STDP synapses.

Input: a table of ``anamorph sweep tstdp`` (:mod:`anamorph.circuits.tstdp.sweep`), one row
per Monte Carlo instance of the transistor-level circuit, with the triplet rule
(Pfister & Gerstner, J. Neurosci. 26(38), 2006) that instance implements in the columns
``names`` below (amplitudes per spike, time constants in biological seconds).

Every parameter is positive, and Pelgrom mismatch acts on them multiplicatively (a
threshold shift scales a subthreshold current by :math:`e^{\Delta V_T / n U_T}`), so the
population is a correlated log-normal::

    ln p = log_mean + log_sd * z,   z ~ N(0, corr)

``log_mean``, ``log_sd`` are the mean and sample standard deviation (ddof 1) of
:math:`\ln p` over the instances, ``corr`` the correlation matrix of those logs. An
amplitude that is 0 in every instance (its term switched off by its bias) is listed in
``"off"`` (sampled as exactly 0; its ``log_mean``, ``log_sd`` are 0 and its ``corr`` row and
column those of the identity), as is the row of any parameter with ``log_sd == 0``. An
amplitude that is 0 in some instances only is an error: the population is not log-normal.

Section layout (validated by :func:`validate_section`)::

    {"names": NAMES, "log_mean": [8], "log_sd": [8], "corr": [[8x8]], "off": [...],
     "interaction": "nearest", "n_instances": N, "source": {...}}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

SECTION = "tstdp"
NAMES = ("a2p", "a3p", "a2m", "a3m", "tau_x_s", "tau_y_s", "tau_plus_s", "tau_minus_s")
AMPLITUDES = NAMES[:4]
INTERACTIONS = ("nearest", "all-to-all")


def is_tstdp_table(columns: Iterable[str]) -> bool:
    """Whether a sweep table has the TSTDP columns (the rule's parameters and ``dw_*``)."""
    cols = set(map(str, columns))
    return set(NAMES) <= cols and any(c.startswith("dw_") for c in cols)


def instance_values(rows: pd.DataFrame, path: str | Path | None = None) -> tuple[np.ndarray, list[str]]:
    """``(values (n_instances, 8), off names)`` of a table's rows; InputError on bad values."""
    missing = [n for n in NAMES if n not in rows.columns]
    if missing:
        raise InputError("missing column (not a TSTDP sweep with rule parameters)", path, missing[0])
    x = rows[list(NAMES)].to_numpy(dtype=np.float64)
    off = []
    for k, name in enumerate(NAMES):
        col = x[:, k]
        if not np.all(np.isfinite(col)) or np.any(col < 0):
            raise InputError("must be finite and >= 0 in every instance", path, name)
        if np.all(col == 0) and name in AMPLITUDES:
            off.append(name)
        elif np.any(col == 0):
            raise InputError(
                "0 in some instances only (an amplitude is either off everywhere or on)", path, name
            )
    return x, off


def fit_section(
    rows: pd.DataFrame,
    source: dict | None = None,
    path: str | Path | None = None,
    interaction: str = "nearest",
) -> dict:
    """The ``"tstdp"`` section of a sweep table's ok rows (module docstring)."""
    if len(rows) < 3:
        raise InputError(f"needs at least 3 instances, has {len(rows)}", path, "status")
    x, off = instance_values(rows, path)
    live = np.array([n not in off for n in NAMES])
    logs = np.log(np.where(live, x, 1.0))
    mean = np.where(live, logs.mean(axis=0), 0.0)
    sd = np.where(live, logs.std(axis=0, ddof=1), 0.0)
    corr = np.eye(len(NAMES))
    var = sd > 0
    if var.sum() > 1:
        corr[np.ix_(var, var)] = np.corrcoef(logs[:, var], rowvar=False)
    corr = (corr + corr.T) / 2
    np.fill_diagonal(corr, 1.0)
    return {
        "names": list(NAMES),
        "log_mean": mean.tolist(),
        "log_sd": sd.tolist(),
        "corr": corr.tolist(),
        "off": off,
        "interaction": interaction,
        "n_instances": int(len(rows)),
        "source": dict(source or {}),
    }


def validate_section(sec: dict, path: str | Path | None = None) -> dict:
    """Check a ``"tstdp"`` section; InputError naming the bad field (``tstdp.<key>``)."""

    def bad(message, key):
        return InputError(message, path, f"{SECTION}.{key}" if key else SECTION)

    if not isinstance(sec, dict):
        raise bad("must be an object", None)
    for key in ("names", "log_mean", "log_sd", "corr", "n_instances"):
        if key not in sec:
            raise bad("missing field", key)
    if list(sec["names"]) != list(NAMES):
        raise bad(f"must list {list(NAMES)}", "names")
    n = len(NAMES)
    for key in ("log_mean", "log_sd"):
        try:
            v = np.asarray(sec[key], dtype=np.float64)
        except (TypeError, ValueError):
            raise bad(f"must be {n} numbers", key) from None
        if v.shape != (n,) or not np.all(np.isfinite(v)):
            raise bad(f"must be {n} finite numbers", key)
        if key == "log_sd" and np.any(v < 0):
            raise bad("must be >= 0", key)
    try:
        corr = np.asarray(sec["corr"], dtype=np.float64)
    except (TypeError, ValueError):
        raise bad("must be a square matrix of numbers", "corr") from None
    if (
        corr.shape != (n, n)
        or not np.all(np.isfinite(corr))
        or not np.allclose(corr, corr.T)
        or not np.allclose(np.diag(corr), 1.0)
        or np.min(np.linalg.eigvalsh(corr)) < -1e-9
    ):
        raise bad(f"must be a symmetric positive semi-definite {n}x{n} correlation matrix", "corr")
    off = sec.get("off", [])
    if not isinstance(off, list) or not set(off) <= set(AMPLITUDES):
        raise bad(f"must be a list of amplitude names from {list(AMPLITUDES)}", "off")
    if sec.get("interaction", "nearest") not in INTERACTIONS:
        raise bad(f"must be one of {INTERACTIONS}", "interaction")
    count = sec["n_instances"]
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise bad("must be a non-negative integer", "n_instances")
    if not isinstance(sec.get("source", {}), dict):
        raise bad("must be an object", "source")
    return sec


def median_params(sec: dict) -> dict[str, float]:
    """The median synapse ``exp(log_mean)`` (0 for an ``off`` amplitude), by name."""
    off = set(sec.get("off", []))
    return {n: 0.0 if n in off else float(np.exp(m)) for n, m in zip(sec["names"], sec["log_mean"])}
