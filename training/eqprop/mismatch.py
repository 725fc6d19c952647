"""The mismatch experiment with EqSpike: in-the-loop EqSpike on detuned chips.

``anamorph experiment mismatch --algo eqspike``. The chips are those of
:mod:`anamorph.training.experiment` (Cramer et al. 2022, Fig. 4B): chip ``seed`` of the
shipped process model is calibrated once without detuning, and for each spread sigma_d the
same chip with every neuron's tau_m, tau_syn and (v_th - v_leak) multiplied by
``1 + sigma_d N(0, 1)`` runs with those calibrated codes. EqSpike trains in the loop on each
(:func:`anamorph.training.eqprop.loop.train_eqspike`, one run directory per spread,
``in_the_loop_sdNN``). EqSpike has no software model to deploy, so the table has the
in-the-loop column only.

Outputs in DIR: ``mismatch.csv``, ``mismatch.json``, ``mismatch.png``, the run
directories and ``manifest.json``. Finished runs are reused and interrupted ones resumed
when the command is run again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, read_json, write_json, write_manifest, write_text, write_with
from anamorph.training.eqprop.settings import EqSpikeConfig, validate


def _run(c: EqSpikeConfig, chip, nominal, progress) -> dict:
    from anamorph.training.eqprop.loop import train_eqspike

    done = Path(c.out) / "metrics.json"
    if done.is_file() and (Path(c.out) / "config.json").is_file():
        saved = read_json(Path(c.out) / "config.json")
        if saved.get("epochs") == c.epochs and {k: saved.get(k) for k in c.identity()} == c.identity():
            return read_json(done)
    return train_eqspike(c, resume=True, chip=chip, nominal=nominal, progress=progress)


def eqspike_mismatch_experiment(c: EqSpikeConfig, out, sigmas, progress=None) -> list[dict]:
    """Train EqSpike in the loop on the chip detuned by each spread; returns the table rows."""
    from anamorph.calibration import calibrate
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.prepare import nominal_from_targets

    c = validate(c)
    sigmas = [float(s) for s in sigmas]
    if not sigmas or any(not (0.0 <= s < 5.0) for s in sigmas):
        raise InputError("spreads must be fractions in [0, 5) (e.g. 0,0.1,0.3)", str(sigmas), "sigmas")
    out = ensure_writable_dir(out)
    process = ProcessModel.default()
    cal = calibrate(sample_chip(process, c.seed))
    nominal = nominal_from_targets(cal.targets)
    rows = []
    for s in sigmas:
        chip = sample_chip(process, c.seed, detune=s).with_codes(cal.codes)
        run = replace(c, out=str(out / f"in_the_loop_sd{round(100 * s):02d}"), chip=None, calibration=None)
        m = _run(run, chip, nominal, progress)
        rows.append(
            {
                "sigma_d": s,
                "in_the_loop_test_accuracy": m["test_accuracy"],
                "in_the_loop_spikes_per_hidden_neuron": m["spikes_per_hidden_neuron"],
            }
        )
    cols = list(rows[0])
    write_text(
        out / "mismatch.csv",
        ",".join(cols) + "\n" + "".join(",".join(f"{r[k]:.6g}" for k in cols) + "\n" for r in rows),
    )
    write_json(
        out / "mismatch.json",
        {"algo": "eqspike", "dataset": c.dataset, "seed": c.seed, "epochs": c.epochs, "rows": rows},
    )
    _figure(rows, out / "mismatch.png", c.dataset)
    write_manifest(out, seeds={"seed": c.seed}, extra={"config": c.identity(), "sigmas": sigmas})
    return rows


def _figure(rows, path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(
        [100 * r["sigma_d"] for r in rows],
        [100 * r["in_the_loop_test_accuracy"] for r in rows],
        "o-",
        label="EqSpike, trained in the loop",
    )
    ax.set_xlabel("detuning spread sigma_d (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{dataset}: mismatch, EqSpike")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
