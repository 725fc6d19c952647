"""What every algorithm's mismatch experiment shares: the detuned chips and the outputs.

Cramer et al. 2022, Fig. 4B: chip ``seed`` of the shipped process model is calibrated once
without detuning; for each spread sigma_d the same chip (same process mismatch) with every
neuron's tau_m, tau_syn and (v_th - v_leak) multiplied by ``1 + sigma_d N(0, 1)``
(:func:`anamorph.models.chip.sample_chip` ``detune``) runs with those calibrated codes, so
each neuron deviates from its calibrated target by its detune factors. The experiments
(:mod:`.experiment` for surrogate gradients, :mod:`.eqprop.mismatch`,
:mod:`.eventprop.mismatch`) train on these chips; this module owns the chips, the reuse of
finished runs and the table, figure and manifest they write.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from anamorph.errors import InputError
from anamorph.io import read_json, write_json, write_manifest, write_text, write_with


def check_sigmas(sigmas) -> list[float]:
    """The spreads as floats; InputError unless each lies in [0, 5)."""
    sigmas = [float(s) for s in sigmas]
    if not sigmas or any(not (0.0 <= s < 5.0) for s in sigmas):
        raise InputError("spreads must be fractions in [0, 5) (e.g. 0,0.1,0.3)", str(sigmas), "sigmas")
    return sigmas


@dataclass(frozen=True)
class DetunedChips:
    """Chip ``seed`` calibrated once; :meth:`chip` gives it detuned with the calibrated codes."""

    seed: int
    base: object  # Chip, undetuned and uncalibrated
    cal: object  # its calibration result
    nominal: object  # NeuronParams of the calibration targets

    @classmethod
    def calibrate(cls, seed: int) -> DetunedChips:
        from anamorph.calibration import calibrate
        from anamorph.models.chip import sample_chip
        from anamorph.models.process_model import ProcessModel
        from anamorph.training.prepare import nominal_from_targets

        base = sample_chip(ProcessModel.default(), seed)
        cal = calibrate(base)
        return cls(seed, base, cal, nominal_from_targets(cal.targets))

    def chip(self, sigma: float):
        from anamorph.models.chip import sample_chip
        from anamorph.models.process_model import ProcessModel

        return sample_chip(ProcessModel.default(), self.seed, detune=sigma).with_codes(self.cal.codes)


def run_dir(out, sigma: float) -> str:
    """The run directory of the in-the-loop training at spread ``sigma``."""
    return str(Path(out) / f"in_the_loop_sd{round(100 * sigma):02d}")


def finished(c, marker: str = "config.json") -> dict | None:
    """The metrics of run ``c.out`` if it finished with ``c``'s settings and epochs, else None."""
    out = Path(c.out)
    if not (
        (out / "metrics.json").is_file() and (out / marker).is_file() and (out / "config.json").is_file()
    ):
        return None
    saved = read_json(out / "config.json")
    if saved.get("epochs") == c.epochs and {k: saved.get(k) for k in c.identity()} == c.identity():
        return read_json(out / "metrics.json")
    return None


def in_the_loop_rows(
    c,
    out,
    sigmas: Sequence[float],
    train: Callable,
    extra: Callable[[dict], dict] | None = None,
    progress=None,
):
    """Train ``c`` in the loop on chip ``c.seed`` detuned by each spread; the table rows.

    ``train(run_config, resume=True, chip=..., nominal=..., progress=progress)`` returns a
    run's metrics; finished runs are reused. Each row has the spread, the test accuracy and
    hidden spikes per neuron and sample, and ``extra(metrics)``.
    """
    chips = DetunedChips.calibrate(c.seed)
    rows = []
    for s in sigmas:
        run = replace(c, out=run_dir(out, s), chip=None, calibration=None)
        m = finished(run) or train(
            run, resume=True, chip=chips.chip(s), nominal=chips.nominal, progress=progress
        )
        rows.append(
            {
                "sigma_d": s,
                "in_the_loop_test_accuracy": m["test_accuracy"],
                "in_the_loop_spikes_per_hidden_neuron": m["spikes_per_hidden_neuron"],
                **({} if extra is None else extra(m)),
            }
        )
    return rows


def write_outputs(
    out: Path,
    rows: list[dict],
    meta: dict,
    c,
    sigmas: Sequence[float],
    series: Sequence[tuple[str, str, str]],
    title: str,
    reference: Callable[[list[dict]], float] | None = None,
) -> None:
    """``mismatch.csv``, ``mismatch.json`` (``meta`` + rows), ``mismatch.png``, the manifest.

    ``series``: (row key, line style, label) of each curve of test accuracy against
    sigma_d; ``reference``: a horizontal line (the ideal software model), or None.
    """
    cols = list(rows[0])
    write_text(
        out / "mismatch.csv",
        ",".join(cols) + "\n" + "".join(",".join(f"{r[k]:.6g}" for k in cols) + "\n" for r in rows),
    )
    write_json(
        out / "mismatch.json",
        {**meta, "dataset": c.dataset, "seed": c.seed, "epochs": c.epochs, "rows": rows},
    )
    _figure(rows, out / "mismatch.png", series, title, None if reference is None else reference(rows))
    write_manifest(out, seeds={"seed": c.seed}, extra={"config": c.identity(), "sigmas": list(sigmas)})


def _figure(rows, path: Path, series, title: str, reference: float | None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sd = [100 * r["sigma_d"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    for key, style, label in series:
        ax.plot(sd, [100 * r[key] for r in rows], style, label=label)
    if reference is not None:
        ax.axhline(100 * reference, color="gray", lw=0.8, label="software model (ideal)")
    ax.set_xlabel("detuning spread sigma_d (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
