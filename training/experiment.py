"""The mismatch experiment of Cramer et al. 2022 (their Fig. 4B).

For each spread sigma_d (default 0, 10, 20, 30, 50 %) the chip of the run's seed is
detuned on top of its calibration (:class:`anamorph.training.mismatch_table.DetunedChips`:
every neuron's tau_m, tau_syn and (v_th - v_leak) multiplied by 1 + sigma_d N(0, 1), the
calibrated codes kept). Then

(a) the network is trained in the loop on each detuned chip, and
(b) one network trained on the ideal software model only is deployed on each of them.

Outputs in DIR: ``mismatch.csv``, ``mismatch.json``, ``mismatch.png`` (test accuracy vs
sigma_d for both), one run directory per training, ``manifest.json``. Finished runs are
reused and interrupted ones resumed when the command is run again.
"""

from __future__ import annotations

from dataclasses import replace

from anamorph.io import ensure_writable_dir
from anamorph.training.config import TrainConfig
from anamorph.training.mismatch_table import DetunedChips, check_sigmas, finished, run_dir, write_outputs
from anamorph.training.prepare import prepare_data

SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.5)


def _run(c: TrainConfig, chip, nominal, progress):
    from anamorph.training.run import train_run

    done = finished(c, marker="weights.npz")
    if done is not None:
        return done
    return train_run(c, resume=True, chip=chip, nominal=nominal, progress=progress).metrics


def _sigma_row(
    c: TrainConfig, s: float, chips: DetunedChips, sw_out: str, sw_ideal: float, progress=None
) -> dict:
    """One spread ``s``: train in the loop on the detuned chip, deploy the software run on it."""
    from anamorph.training.run import evaluate_run

    chip = chips.chip(s)
    loop = replace(c, mode="chip", out=run_dir(c.out, s), chip=None, calibration=None)
    m = _run(loop, chip, chips.nominal, progress)
    dep = evaluate_run(sw_out, chip, nominal=chips.nominal)
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
    from anamorph.circuits.sweep import check_scheduler

    sigmas = check_sigmas(sigmas)
    check_scheduler(scheduler)
    prepare_data(c)  # bad data set or a network that does not fit: before anything is written
    out = ensure_writable_dir(out).resolve()  # the same folders for every worker
    c = replace(c, out=str(out))
    chips = DetunedChips.calibrate(c.seed)
    sw = replace(c, mode="software", out=str(out / "software"), chip=None, calibration=None)
    sw_ideal = _run(sw, chips.cal.apply(chips.base), chips.nominal, progress)["software_test_accuracy"]
    if scheduler is None:
        rows = [_sigma_row(c, s, chips, sw.out, sw_ideal, progress) for s in sigmas]
    else:
        from anamorph.circuits.sweep import dask_client
        from anamorph.training.population import brian2_on_workers

        with dask_client(scheduler) as client:
            brian2_on_workers(client)
            futures = [client.submit(_sigma_row, c, s, chips, sw.out, sw_ideal, pure=False) for s in sigmas]
            rows = client.gather(futures)
    series = (
        ("in_the_loop_test_accuracy", "o-", "trained in the loop"),
        ("software_deployed_test_accuracy", "s--", "trained in software, deployed"),
    )
    title = f"{c.dataset}: mismatch (Cramer et al. 2022, Fig. 4B)"
    write_outputs(out, rows, {}, c, sigmas, series, title, lambda r: r[0]["software_ideal_test_accuracy"])
    return rows
