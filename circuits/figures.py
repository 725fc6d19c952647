"""Sweep figures: histograms of every measured parameter, DAC transfer curves.

Matplotlib with the Agg backend; PNGs written atomically through :mod:`anamorph.io`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from anamorph import io
from anamorph.circuits.sweep import META_COLUMNS

PANELS_PER_PAGE = 12
_UNITS = {
    "_v": "V",
    "_s": "s",
    "_f": "F",
    "_a": "A",
    "_c": "C",
    "_hz": "Hz",
    "_lsb": "LSB",
    "_j": "J",
    "_w": "W",
}


def unit_of(column: str) -> str:
    """The SI unit named by a column's suffix (``"tau_m_s@512"`` -> ``"s"``)."""
    base = column.split("@")[0]
    for suffix, unit in sorted(_UNITS.items(), key=lambda kv: -len(kv[0])):
        if base.endswith(suffix):
            return unit
    return "1"


def pyplot():
    """matplotlib.pyplot on the non-interactive Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save(fig, path) -> Path:
    """Write ``fig`` as a PNG atomically and close it."""
    io.write_with(path, lambda p: fig.savefig(p, dpi=90, format="png"), suffix=".png")
    pyplot().close(fig)
    return Path(path)


def histograms(table: pd.DataFrame, out_dir, columns=None) -> list[Path]:
    """One histogram per measured column of the ``"ok"`` rows, 12 panels per PNG page.

    Pages are ``histograms-<n>.png``; returns their paths.
    """
    plt = pyplot()
    ok = table[table["status"] == "ok"]
    cols = [
        c
        for c in (columns or table.columns)
        if c not in META_COLUMNS and pd.api.types.is_float_dtype(table[c])
    ]
    paths = []
    for page, start in enumerate(range(0, len(cols), PANELS_PER_PAGE), 1):
        chunk = cols[start : start + PANELS_PER_PAGE]
        nrow = int(np.ceil(len(chunk) / 4))
        fig, axes = plt.subplots(nrow, 4, figsize=(14, 2.8 * nrow), squeeze=False)
        for ax, col in zip(axes.flat, chunk):
            values = ok[col].to_numpy(float)
            values = values[np.isfinite(values)]
            if values.size:
                ax.hist(values, bins=max(5, min(30, values.size // 2)), color="tab:blue")
            ax.set_xlabel(f"{col} [{unit_of(col)}]")
            ax.set_ylabel("instances")
        for ax in list(axes.flat)[len(chunk) :]:
            ax.set_visible(False)
        fig.suptitle(f"{len(ok)} of {len(table)} instances ok")
        fig.tight_layout()
        paths.append(save(fig, Path(out_dir) / f"histograms-{page}.png"))
        plt.close(fig)
    return paths


def transfer_curves(table: pd.DataFrame, out_dir, name: str = "dac") -> list[Path]:
    """For each ``"<param>@<x>"`` family, every instance's value against ``x`` (one PNG each)."""
    plt = pyplot()
    ok = table[table["status"] == "ok"]
    families: dict[str, list[tuple[float, str]]] = {}
    for col in table.columns:
        m = re.fullmatch(r"(.+)@([-+0-9.eE]+)", str(col))
        if m:
            families.setdefault(m.group(1), []).append((float(m.group(2)), col))
    paths = []
    for param, points in families.items():
        points.sort()
        x = np.array([p[0] for p in points])
        y = ok[[p[1] for p in points]].to_numpy(float)
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(x, y.T, color="tab:blue", alpha=0.3, lw=0.8, marker=".")
        xlabel = {"rate_hz": "input current [nA]"}.get(param, "code")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{param} [{unit_of(param)}]")
        ax.set_title(f"{name}: {param}, {len(ok)} instances")
        fig.tight_layout()
        safe = re.sub(r"[^A-Za-z0-9_]+", "_", param)
        paths.append(save(fig, Path(out_dir) / f"transfer-{safe}.png"))
        plt.close(fig)
    return paths
