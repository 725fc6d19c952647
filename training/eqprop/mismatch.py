"""The mismatch experiment with EqSpike: in-the-loop EqSpike on detuned chips.

``anamorph experiment mismatch --algo eqspike``. The detuned chips are those
of :mod:`anamorph.training.mismatch_table` (Cramer et al. 2022, Fig. 4B). EqSpike trains in the loop on each
(:func:`anamorph.training.eqprop.loop.train_eqspike`, one run directory per spread,
``in_the_loop_sdNN``). EqSpike has no software model to deploy, so the table has the
in-the-loop column only.

Outputs in DIR: ``mismatch.csv``, ``mismatch.json``, ``mismatch.png``, the run
directories and ``manifest.json``. Finished runs are reused and interrupted ones resumed
when the command is run again.
"""

from __future__ import annotations

from dataclasses import replace

from anamorph.io import ensure_writable_dir
from anamorph.training.eqprop.settings import EqSpikeConfig, validate
from anamorph.training.mismatch_table import DetunedChips, check_sigmas, finished, run_dir, write_outputs


def eqspike_mismatch_experiment(c: EqSpikeConfig, out, sigmas, progress=None) -> list[dict]:
    """Train EqSpike in the loop on the chip detuned by each spread; returns the table rows."""
    from anamorph.training.eqprop.loop import train_eqspike

    c = validate(c)
    sigmas = check_sigmas(sigmas)
    out = ensure_writable_dir(out)
    chips = DetunedChips.calibrate(c.seed)
    rows = []
    for s in sigmas:
        run = replace(c, out=run_dir(out, s), chip=None, calibration=None)
        m = finished(run) or train_eqspike(
            run, resume=True, chip=chips.chip(s), nominal=chips.nominal, progress=progress
        )
        rows.append(
            {
                "sigma_d": s,
                "in_the_loop_test_accuracy": m["test_accuracy"],
                "in_the_loop_spikes_per_hidden_neuron": m["spikes_per_hidden_neuron"],
            }
        )
    series = (("in_the_loop_test_accuracy", "o-", "EqSpike, trained in the loop"),)
    write_outputs(out, rows, {"algo": "eqspike"}, c, sigmas, series, f"{c.dataset}: mismatch, EqSpike")
    return rows
