"""The mismatch experiment with EqSpike: in-the-loop EqSpike on detuned chips.

``anamorph experiment mismatch --algo eqspike``. The detuned chips are those
of :mod:`anamorph.training.mismatch_table` (Cramer et al. 2022, Fig. 4B). EqSpike trains in the loop on each
(:func:`anamorph.training.eqprop.loop.train_eqspike`, one run directory per spread,
``in_the_loop_sdNN``). EqSpike has no software model to deploy, so the table has the
in-the-loop column only.

Measured (digits, seed 0, the software-update defaults: symmetric estimator, targets
0.60 / 0.05, 12 epochs): 96.7 % at sigma_d = 0 and 95.8 % at sigma_d = 30 %, 4.7 and 3.8
hidden spikes per neuron and sample (13 and 9 min on a shared 2-core machine; with the
random-sign estimator and targets 0.45 / 0.10 it was 92.4 % and 84.4 %). On the detuned
chip a neuron's field in its own rheobases is ``g h``, ``g`` the product of its detune
factors of tau_syn and tau_m divided by that of (v_th - v_leak). A per-neuron gain keeps
EP's energy picture (``s_j = f_j(g_j h_j)`` is a stationary point of an energy whose
per-neuron term is the integral of ``f_j^-1`` divided by ``g_j``, with the couplings still
symmetric), but neurons of small ``g`` never reach threshold: after training 37 of the
100 hidden neurons stayed silent on 150 test images at sigma_d = 30 % (15 of the 16 with
``g < 0.5``) against 14 at sigma_d = 0.

Outputs in DIR: ``mismatch.csv``, ``mismatch.json``, ``mismatch.png``, the run
directories and ``manifest.json``. Finished runs are reused and interrupted ones resumed
when the command is run again.
"""

from __future__ import annotations

from anamorph.io import ensure_writable_dir
from anamorph.training.eqprop.settings import EqSpikeConfig, validate
from anamorph.training.mismatch_table import check_sigmas, in_the_loop_rows, write_outputs


def eqspike_mismatch_experiment(c: EqSpikeConfig, out, sigmas, progress=None) -> list[dict]:
    """Train EqSpike in the loop on the chip detuned by each spread; returns the table rows."""
    from anamorph.training.eqprop.loop import train_eqspike

    c = validate(c)
    sigmas = check_sigmas(sigmas)
    out = ensure_writable_dir(out)
    rows = in_the_loop_rows(c, out, sigmas, train_eqspike, progress=progress)
    series = (("in_the_loop_test_accuracy", "o-", "EqSpike, trained in the loop"),)
    write_outputs(out, rows, {"algo": "eqspike"}, c, sigmas, series, f"{c.dataset}: mismatch, EqSpike")
    return rows
