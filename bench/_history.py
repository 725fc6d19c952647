"""What the training benchmarks read from a run's per-epoch history (``progress`` entries)."""

from __future__ import annotations

import numpy as np


def time_to(history: list[dict], accuracy: float, steady: bool = False) -> float:
    """Cumulative wall time until the first epoch at or above ``accuracy`` (inf: never).

    ``steady``: the first epoch counted at the median of the others' wall times (the first
    includes building and compiling the run's Brian2 networks, which later runs reuse).
    """
    walls = [h["wall_s"] for h in history]
    if steady and len(walls) > 1:
        walls[0] = float(np.median(walls[1:]))
    total = 0.0
    for h, wall in zip(history, walls):
        total += wall
        if h["test_accuracy"] >= accuracy:
            return total
    return float("inf")


def print_comparison(histories: dict[str, list[dict]], dataset: str, accuracy: float) -> None:
    """Per algorithm: each epoch's test accuracy and wall time, the mean epoch, the time to
    ``accuracy`` (as measured and steady); then the first algorithm's time over the second's."""
    pct = f"{100 * accuracy:.0f}_percent"
    for algo, hist in histories.items():
        for h in hist:
            print(
                f"{algo}_{dataset}_epoch_{h['epoch']}: test {100 * h['test_accuracy']:.1f} %, "
                f"wall {h['wall_s']:.1f} s (chip runs {h['chip_s']:.1f} s, software {h['software_s']:.1f} s)"
            )
        print(f"{algo}_{dataset}_wall_time_per_epoch: {sum(h['wall_s'] for h in hist) / len(hist):.1f} s")
        print(f"{algo}_{dataset}_time_to_{pct}: {time_to(hist, accuracy):.1f} s")
        print(f"{algo}_{dataset}_time_to_{pct}_steady: {time_to(hist, accuracy, steady=True):.1f} s")
    (a, ha), (b, hb) = histories.items()
    for tag, steady in (("", False), ("_steady", True)):
        ta, tb = time_to(ha, accuracy, steady), time_to(hb, accuracy, steady)
        if np.isfinite(ta) and np.isfinite(tb):
            print(f"{a}_over_{b}_time_to_{pct}{tag}: {ta / tb:.2f} x")
        else:
            print(f"{a}_over_{b}_time_to_{pct}{tag}: not reached by both in these epochs")
