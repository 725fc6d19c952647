"""Figures of a run: learning curve and a raster of hidden spikes with the readout traces."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.io import write_with


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def learning_curve(history: list[dict], path: Path, title: str = "") -> Path:
    """Train, validation (if any) and test accuracy (%) and train loss against epoch."""
    plt = _plt()
    ep = [h["epoch"] for h in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(9, 3.5))
    a1.plot(ep, [100 * h["train_accuracy"] for h in history], "o-", label="train (running)")
    if all("val_accuracy" in h for h in history):
        a1.plot(ep, [100 * h["val_accuracy"] for h in history], "^-", label="validation")
    a1.plot(ep, [100 * h["test_accuracy"] for h in history], "s-", label="test")
    a1.set_xlabel("epoch")
    a1.set_ylabel("accuracy (%)")
    a1.legend()
    a2.plot(ep, [h["train_loss"] for h in history], "o-")
    a2.set_xlabel("epoch")
    a2.set_ylabel("training loss (NLL + regularisers)")
    fig.suptitle(title)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)


def raster(traces, dt_s: float, labels: np.ndarray, path: Path, n_samples: int = 3) -> Path:
    """For a few samples: hidden spike raster and readout membranes (dimensionless) vs time (µs)."""
    plt = _plt()
    n = min(n_samples, traces.v[-1].shape[0])
    fig, axes = plt.subplots(2, n, figsize=(3.6 * n, 5.5), squeeze=False, sharex=True)
    t_us = np.arange(traces.v[-1].shape[1]) * dt_s * 1e6
    for k in range(n):
        s = traces.s[0][k]
        steps, units = np.nonzero(s)
        axes[0, k].plot(t_us[steps], units, "|", ms=4)
        axes[0, k].set_title(f"sample {k} (label {int(labels[k])})")
        axes[0, k].set_ylabel("hidden neuron")
        for c in range(traces.v[-1].shape[2]):
            axes[1, k].plot(
                t_us, traces.v[-1][k, :, c], lw=2.0 if c == labels[k] else 0.8, label=f"class {c}"
            )
        axes[1, k].set_xlabel("time (µs)")
        axes[1, k].set_ylabel("readout V (1 = threshold)")
    if traces.v[-1].shape[2] <= 10:
        axes[1, 0].legend(fontsize=6)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    """``C[i, j]``: test samples of class i classified as j."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(counts, (np.asarray(y_true), np.asarray(y_pred)), 1)
    return counts


def confusion(counts: np.ndarray, path: Path, title: str = "") -> Path:
    """The confusion matrix as an image, each row normalised to its class's sample count."""
    plt = _plt()
    rate = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    fig, ax = plt.subplots(figsize=(4.2, 3.6))
    im = ax.imshow(100 * rate, cmap="Blues", vmin=0, vmax=100)
    for (i, j), n in np.ndenumerate(counts):
        if len(counts) <= 10:
            ax.text(
                j,
                i,
                str(n),
                ha="center",
                va="center",
                fontsize=7,
                color="white" if rate[i, j] > 0.5 else "black",
            )
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ticks = np.arange(len(counts)) if len(counts) <= 10 else np.arange(0, len(counts), -(-len(counts) // 10))
    ax.set_xticks(ticks)
    ax.set_yticks(ticks)
    fig.colorbar(im, ax=ax, label="share of the true class (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return Path(path)
