"""The mismatch experiment of Cramer et al. 2022 (their Fig. 4B).

For each spread sigma_d (default 0, 10, 20, 30, 50 %) a chip of the shipped process model
is detuned: every neuron's tau_m, tau_syn and (v_th - v_leak) are multiplied by
(1 + sigma_d N(0, 1)) (:func:`anamorph.models.chip.sample_chip` ``detune``). The detuning
sits on top of a calibration: the chip is calibrated once without detuning, and the
detuned chips of the same seed (same process mismatch) run with those calibrated codes,
so each neuron deviates from its calibrated target by the detune factors, as in the
paper. Then

(a) the network is trained in the loop on each detuned chip, and
(b) one network trained on the ideal software model only is deployed on each of them.

Outputs in DIR: ``mismatch.csv``, ``mismatch.json``, ``mismatch.png`` (test accuracy vs
sigma_d for both), one run directory per training, ``manifest.json``. Finished runs are
reused and interrupted ones resumed when the command is run again.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir, read_json, write_json, write_manifest, write_text, write_with
from anamorph.training.config import TrainConfig
from anamorph.training.prepare import nominal_from_targets, prepare_data

SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.5)


def _run(c: TrainConfig, chip, nominal, progress):
    from anamorph.training.run import train_run

    done = Path(c.out) / "metrics.json"
    if done.is_file() and (Path(c.out) / "weights.npz").is_file():
        saved = read_json(Path(c.out) / "config.json")
        if saved.get("epochs") == c.epochs and {k: saved.get(k) for k in c.identity()} == c.identity():
            return read_json(done)
    return train_run(c, resume=True, chip=chip, nominal=nominal, progress=progress).metrics


def _sigma_row(c: TrainConfig, s: float, codes, nominal, sw_out: str, sw_ideal: float, progress=None) -> dict:
    """One spread ``s``: train in the loop on the detuned chip, deploy the software run on it."""
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel
    from anamorph.training.run import evaluate_run

    chip = sample_chip(ProcessModel.default(), c.seed, detune=s).with_codes(codes)
    loop = replace(
        c,
        mode="chip",
        out=str(Path(c.out) / f"in_the_loop_sd{round(100 * s):02d}"),
        chip=None,
        calibration=None,
    )
    m = _run(loop, chip, nominal, progress)
    dep = evaluate_run(sw_out, chip, nominal=nominal)
    return {
        "sigma_d": s,
        "in_the_loop_test_accuracy": m["test_accuracy"],
        "in_the_loop_spikes_per_hidden_neuron": m["spikes_per_hidden_neuron"],
        "software_deployed_test_accuracy": dep["test_accuracy"],
        "software_deployed_spikes_per_hidden_neuron": dep["spikes_per_hidden_neuron"],
        "software_ideal_test_accuracy": sw_ideal,
    }


def mismatch_experiment(c: TrainConfig, out, sigmas=SIGMAS, progress=None, scheduler=None) -> list[dict]:
    """Run the experiment for base config ``c`` (its mode is ignored); returns the table rows.

    With ``scheduler`` (a Dask address or Client) each spread is one task on that cluster
    (:func:`anamorph.circuits.sweep.dask_client`; the output directory must be shared with
    its workers); the rows are the same as when run here.
    """
    from anamorph.calibration import calibrate
    from anamorph.circuits.sweep import check_scheduler
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    sigmas = [float(s) for s in sigmas]
    if not sigmas or any(not (0.0 <= s < 5.0) for s in sigmas):
        raise InputError("spreads must be fractions in [0, 5) (e.g. 0,0.1,0.3)", str(sigmas), "sigmas")
    check_scheduler(scheduler)
    prepare_data(c)  # bad data set or a network that does not fit: before anything is written
    out = ensure_writable_dir(out).resolve()  # the same folders for every worker
    c = replace(c, out=str(out))
    process = ProcessModel.default()
    base = sample_chip(process, c.seed)
    cal = calibrate(base)
    nominal = nominal_from_targets(cal.targets)
    sw = replace(c, mode="software", out=str(out / "software"), chip=None, calibration=None)
    sw_ideal = _run(sw, cal.apply(base), nominal, progress)["software_test_accuracy"]
    if scheduler is None:
        rows = [_sigma_row(c, s, cal.codes, nominal, sw.out, sw_ideal, progress) for s in sigmas]
    else:
        from anamorph.circuits.sweep import dask_client
        from anamorph.training.population import brian2_on_workers

        with dask_client(scheduler) as client:
            brian2_on_workers(client)
            futures = [
                client.submit(_sigma_row, c, s, cal.codes, nominal, sw.out, sw_ideal, pure=False)
                for s in sigmas
            ]
            rows = client.gather(futures)
    cols = list(rows[0])
    write_text(
        out / "mismatch.csv",
        ",".join(cols) + "\n" + "".join(",".join(f"{r[k]:.6g}" for k in cols) + "\n" for r in rows),
    )
    write_json(
        out / "mismatch.json", {"dataset": c.dataset, "seed": c.seed, "epochs": c.epochs, "rows": rows}
    )
    _figure(rows, out / "mismatch.png", c.dataset)
    write_manifest(out, seeds={"seed": c.seed}, extra={"config": c.identity(), "sigmas": sigmas})
    return rows


def _figure(rows, path, dataset: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sd = [100 * r["sigma_d"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.6))
    ax.plot(sd, [100 * r["in_the_loop_test_accuracy"] for r in rows], "o-", label="trained in the loop")
    ax.plot(
        sd,
        [100 * r["software_deployed_test_accuracy"] for r in rows],
        "s--",
        label="trained in software, deployed",
    )
    ax.axhline(
        100 * rows[0]["software_ideal_test_accuracy"], color="gray", lw=0.8, label="software model (ideal)"
    )
    ax.set_xlabel("detuning spread sigma_d (%)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{dataset}: mismatch (Cramer et al. 2022, Fig. 4B)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
