"""Accuracy against in-the-loop iteration: the figure of a conversion run (Schmitt et al. 2017, Fig. 5)."""

from __future__ import annotations

from pathlib import Path


def accuracy_curves(curves: list[tuple[str, dict]], path, title: str = "") -> Path:
    """One curve per ``(label, metrics)``: the chip's test accuracy (%) right after mapping
    (iteration 0) and after every fine-tuning iteration, and the software network's test
    accuracy as a dashed line of the same colour."""
    from anamorph.circuits.figures import pyplot, save

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.0, 3.8))
    for k, (label, m) in enumerate(curves):
        colour = f"C{k}"
        it = [0] + [h["iteration"] for h in m["finetune"]]
        acc = [100 * m["mapped_test_accuracy"]] + [100 * h["accuracy"] for h in m["finetune"]]
        ax.plot(it, acc, "o-", ms=3, color=colour, label=f"{label}: on the chip")
        ax.axhline(100 * m["software_test_accuracy"], ls="--", color=colour, label=f"{label}: software")
    ax.set_xlabel("in-the-loop iteration (0: right after mapping)")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save(fig, path)
