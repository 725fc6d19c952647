"""The mismatch experiment with EventProp: in-the-loop EventProp on detuned chips.

``anamorph experiment mismatch --algo eventprop``. The detuned chips are those of
:mod:`anamorph.training.mismatch_table` (Cramer et al. 2022, Fig. 4B). EventProp trains in the loop on
each (:func:`anamorph.training.eventprop.run.train_eventprop`, Wunderlich & Pehle 2021,
Sci. Rep. 11:12829, as on BrainScaleS-2 in Pehle et al. 2023, arXiv:2302.07141; one run
directory per spread, ``in_the_loop_sdNN``): the chip's spike times drive the exact
adjoint of the nominal event model, so the detuning enters the gradient only through the
spike times. The table also lists the accuracy of the same weights in the ideal event
model (what the weights would do on a chip without mismatch).

Outputs in DIR: ``mismatch.csv``, ``mismatch.json``, ``mismatch.png``, the run
directories and ``manifest.json``. Finished runs are reused and interrupted ones resumed
when the command is run again.
"""

from __future__ import annotations

from anamorph.errors import InputError
from anamorph.io import ensure_writable_dir
from anamorph.training.eventprop.run import EventPropConfig, train_eventprop
from anamorph.training.mismatch_table import check_sigmas, in_the_loop_rows, write_outputs


def eventprop_mismatch_experiment(c: EventPropConfig, out, sigmas, progress=None) -> list[dict]:
    """Train EventProp in the loop on the chip detuned by each spread; returns the table rows."""
    if c.mode != "chip":
        raise InputError("the mismatch experiment trains in the loop (mode chip)", c.mode, "mode")
    sigmas = check_sigmas(sigmas)
    out = ensure_writable_dir(out)
    rows = in_the_loop_rows(
        c,
        out,
        sigmas,
        train_eventprop,
        lambda m: {"ideal_model_test_accuracy": m["software_test_accuracy"]},
        progress,
    )
    series = (
        ("in_the_loop_test_accuracy", "o-", "EventProp in the loop, on the chip"),
        ("ideal_model_test_accuracy", "s--", "same weights, ideal event model"),
    )
    write_outputs(out, rows, {"algo": "eventprop"}, c, sigmas, series, f"{c.dataset}: mismatch, EventProp")
    return rows
