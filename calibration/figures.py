"""Before/after figures: the spread of each parameter across the chip's neurons."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anamorph.io import write_with

from .targets import FIELD_OF

if TYPE_CHECKING:
    from .result import Calibration

#: Display unit per DAC parameter: (scale, label).
UNITS = {
    "v_leak": (1e3, "mV"),
    "v_th": (1e3, "mV"),
    "v_reset": (1e3, "mV"),
    "tau_m": (1e6, "µs"),
    "tau_syn": (1e6, "µs"),
    "t_ref": (1e6, "µs"),
    "syn_gain": (1e12, "pA per code"),
}

TITLES = {
    "v_leak": "leak potential",
    "v_th": "threshold",
    "v_reset": "reset potential",
    "tau_m": "membrane time constant",
    "tau_syn": "synaptic time constant",
    "t_ref": "refractory time",
    "syn_gain": "synaptic current per weight unit",
}


def spread(values: np.ndarray, param: str) -> float:
    """Across-neuron spread: std for potentials, coefficient of variation otherwise."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    if FIELD_OF[param].endswith("_v"):
        return float(np.std(v))
    return float(np.std(v) / abs(np.mean(v)))


def spread_figure(
    cal: Calibration,
    path: str | Path,
    truth_before: Mapping[str, np.ndarray] | None = None,
    truth_after: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Histograms of each parameter before and after calibration, measured through the chip.

    ``truth_before``/``truth_after`` (dicts param -> per-neuron true values) may be given by
    tests and benchmarks to overlay the chip's hidden true values, for illustration only.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params = [p for p in FIELD_OF if p in cal.achieved]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, p in zip(axes.flat, params):
        scale, unit = UNITS[p]
        series = [
            ("before", cal.before.get(p), "tab:red", "stepfilled", 0.35),
            ("after", cal.achieved.get(p), "tab:blue", "stepfilled", 0.5),
        ]
        if truth_before is not None and p in truth_before:
            series.append(("before (true)", truth_before[p], "darkred", "step", 1.0))
        if truth_after is not None and p in truth_after:
            series.append(("after (true)", truth_after[p], "navy", "step", 1.0))
        finite = [np.asarray(v, float)[np.isfinite(v)] * scale for _, v, *_ in series if v is not None]
        allv = np.concatenate(finite) if finite else np.zeros(1)
        bins = np.linspace(allv.min(), allv.max(), 60) if allv.size and np.ptp(allv) > 0 else 10
        for label, v, color, kind, alpha in series:
            if v is None:
                continue
            v = np.asarray(v, float)
            s = spread(v, p)
            what = "std" if FIELD_OF[p].endswith("_v") else "CV"
            s_txt = f"{s * scale:.3g} {unit}" if what == "std" else f"{100 * s:.2g} %"
            ax.hist(
                v[np.isfinite(v)] * scale,
                bins=bins,
                histtype=kind,
                color=color,
                alpha=alpha,
                label=f"{label}: {what} {s_txt}",
            )
        ax.axvline(cal.targets.value(p) * scale, color="k", ls="--", lw=1, label="target")
        ax.set_xlabel(f"{TITLES[p]} ({unit})")
        ax.set_ylabel("neurons")
        ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(params) :]:
        ax.axis("off")
    fig.suptitle("Across-neuron spread before and after calibration (measured through the chip)")
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, dpi=90, format="png"), suffix=".png")
    plt.close(fig)
    return Path(path)
