"""The demo report's side-by-side section: surrogate gradients and EqSpike on the same chips.

Read from the demo folder only: the stage records ``stages/train.json`` and
``stages/train_eqspike.json`` (test accuracy after every epoch), both runs' ``metrics.json``
and the two deployments on chip B (``deploy_B.json``, ``deploy_eqspike_B.json``). The figure
``algorithms.png`` draws the recorded curves; nothing is recomputed.
"""

from __future__ import annotations

from pathlib import Path

from anamorph.io import read_json, write_with

#: (stage, run folder, deployment file, label) of each algorithm
ALGORITHMS = (
    ("train", "train", "deploy_B.json", "surrogate gradients (software update)"),
    ("train_eqspike", "train_eqspike", "deploy_eqspike_B.json", "EqSpike (on-chip update)"),
)


def curves_figure(curves: list[tuple[str, list[float]]], path: Path) -> Path:
    """Test accuracy (%) on chip A against epoch, one line per algorithm."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.6))
    for label, acc in curves:
        ax.plot(range(1, len(acc) + 1), [100 * a for a in acc], "o-", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy on chip A (%)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110), suffix=".png")
    plt.close(fig)
    return Path(path)


def algorithms_section(out: Path):
    """The report's "Two ways of learning on chip A" section, or None before EqSpike ran."""
    from anamorph.report import Fact, Section

    out = Path(out)
    present = [a for a in ALGORITHMS if (out / a[1] / "metrics.json").is_file() and (out / a[2]).is_file()]
    if len(present) < len(ALGORITHMS):
        return None
    facts, curves = [], []
    for stage, run, deployed, label in ALGORITHMS:
        m, dep = read_json(out / run / "metrics.json"), read_json(out / deployed)
        facts.append(
            Fact(
                f"{label}: test accuracy on chip A / on chip B",
                f"{100 * m['test_accuracy']:.1f} / {100 * dep['test_accuracy']:.1f}",
                "%",
            )
        )
        facts.append(Fact(f"{label}: epochs", str(m["epochs"])))
        record = out / "stages" / f"{stage}.json"
        acc = read_json(record).get("test_accuracy_per_epoch") if record.is_file() else None
        if acc:
            curves.append((label, acc))
    figures = []
    if curves:
        figures.append(
            (curves_figure(curves, out / "algorithms.png"), "Test accuracy on chip A after each epoch")
        )
    stdp = out / "train_eqspike" / "stdp.png"
    if stdp.is_file():
        figures.append(
            (stdp, "EqSpike on chip A: measured weight updates against the pre/post spike-time difference")
        )
    text = (
        "The same Yin-Yang task learnt twice on chip A. Surrogate gradients (Cramer et al. 2022): "
        "the chip runs the forward pass, software computes the gradient from its spikes and membrane "
        "samples and writes new 6-bit codes. EqSpike (Martin et al. 2021): a free phase and a phase "
        "in which teaching currents nudge the output neurons; each plastic synapse's correlation "
        "sensors compare the two phases and the chip changes its own codes (no float weights in "
        "software). Both sets of codes are then written to chip B, calibrated to the same targets."
    )
    return Section("Two ways of learning on chip A", text, facts, figures)
