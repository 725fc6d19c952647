"""`anamorph demo --quick` end to end: every stage's outputs, their agreement, the report in a browser."""

from __future__ import annotations

import html
import os
import re

import numpy as np
import pandas as pd
import pytest
from browser import chromium, probe_page

from anamorph.io import read_json

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def demo(tmp_path_factory, request):
    out = tmp_path_factory.mktemp("demo")
    from conftest import run_cli

    proc = run_cli("demo", "--quick", "--out", out, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def _fact(page: str, what: str) -> str:
    found = re.search(rf"data-fact='{re.escape(html.escape(what))}'>([^<]*)<", page)
    assert found, f"the report states no '{what}'"
    return found.group(1).strip()


def test_every_stage_leaves_its_outputs(demo):
    out, proc = demo
    for name in (
        "sweep_lif/sweep.parquet",
        "sweep_synapse/sweep.parquet",
        "process.json",
        "fit_overlay.png",
        "chip_A.json",
        "chip_B.json",
        "calibration_A.json",
        "calibration_B.json",
        "calibration_A.png",
        "train/metrics.json",
        "train/weights.npz",
        "train/learning_curve.png",
        "train/raster.png",
        "train/confusion.png",
        "deploy_B.json",
        "report.html",
        "manifest.json",
        "sweep_tstdp/sweep.parquet",
        "sweep_gated-synapse/sweep.parquet",
        "plasticity.json",
        "plasticity.png",
        "train_eqspike/metrics.json",
        "train_eqspike/weights.npz",
        "train_eqspike/stdp.png",
        "deploy_eqspike_B.json",
        "algorithms.png",
    ):
        assert (out / name).is_file(), name
    assert proc.stdout.strip().endswith("report.html")
    lif = pd.read_parquet(out / "sweep_lif" / "sweep.parquet")
    assert (lif["status"] == "ok").all()
    # the demo's own process model carries the plasticity sections, fitted to its own sweeps
    process = read_json(out / "process.json")
    for section, sweep in (("tstdp", "sweep_tstdp"), ("gated_synapse", "sweep_gated-synapse")):
        table = pd.read_parquet(out / sweep / "sweep.parquet")
        assert section in process, section
        assert len(process["instances"][section]) == (table["status"] == "ok").sum() >= 3
    chip_a = read_json(out / "chip_A.json")
    assert chip_a["process"]["tstdp"] == process["tstdp"]


def test_chip_plastic_synapses_agree_with_the_circuit(demo):
    """The chip's 256 plastic synapses against ngspice, the published data and the ideal rule.

    The chip's synapse population is fitted to the demo's Monte Carlo instances of the
    circuit (ngspice): its mean is within 15 % of theirs where |dw| >= 0.1. Against the
    nominal circuit (recomputed here in ngspice) the chip's mean is within 15 % plus the
    uncertainty of a population mean estimated from n instances (3 sd / sqrt(n)).
    """
    from anamorph.circuits.tstdp.circuit import FITTED_PATH, load_fitted
    from anamorph.circuits.tstdp.data import HIPPOCAMPAL
    from anamorph.circuits.tstdp.fit import circuit_predictions
    from anamorph.circuits.tstdp.protocols import for_datum
    from anamorph.circuits.tstdp.rule import TripletParams, weight_change
    from anamorph.circuits.tstdp.sweep import column

    out, _ = demo
    result = read_json(out / "plasticity.json")
    rows = result["protocols"]
    assert [(r["label"], r["data"], r["sem"]) for r in rows] == [(d.label, d.dw, d.sem) for d in HIPPOCAMPAL]
    assert result["n_synapses"] == 256
    assert result["post_spikes"]["observed"] == result["post_spikes"]["requested"] > 0
    rule = TripletParams(**read_json(FITTED_PATH)["rule_fit"])
    assert [r["rule"] for r in rows] == pytest.approx(
        [weight_change(*for_datum(d).trains(), rule) for d in HIPPOCAMPAL], rel=1e-9
    )
    chip = np.array([r["chip_mean"] for r in rows])
    assert np.all(np.array([r["chip_sd"] for r in rows]) > 0)  # mismatched synapses differ

    table = pd.read_parquet(out / "sweep_tstdp" / "sweep.parquet")
    ok = table[table["status"] == "ok"]
    instances = np.array([ok[column(d)].to_numpy(dtype=float) for d in HIPPOCAMPAL])  # (protocols, n)
    mc = instances.mean(axis=1)
    clear = np.abs(mc) >= 0.1
    assert clear.sum() >= 4
    assert np.all(np.abs(chip[clear] - mc[clear]) <= 0.15 * np.abs(mc[clear])), list(
        zip(chip.round(3), mc.round(3))
    )

    nominal = circuit_predictions(load_fitted())
    assert [r["circuit"] for r in rows] == pytest.approx(nominal, rel=1e-3, abs=1e-4)
    clear = np.abs(nominal) >= 0.1
    allowed = 0.15 * np.abs(nominal) + 3 * instances.std(axis=1, ddof=1) / np.sqrt(instances.shape[1])
    assert np.all(np.abs(chip - nominal)[clear] <= allowed[clear]), list(zip(chip.round(3), nominal.round(3)))


def test_report_agrees_with_the_stage_outputs(demo):
    from anamorph.calibration.result import hardware_fingerprint
    from anamorph.models.chip import Chip

    out, _ = demo
    page = (out / "report.html").read_text()
    metrics = read_json(out / "train" / "metrics.json")
    deploy = read_json(out / "deploy_B.json")
    assert _fact(page, "test accuracy on chip A") == f"{100 * metrics['test_accuracy']:.1f} %"
    assert _fact(page, "test accuracy on chip B") == f"{100 * deploy['test_accuracy']:.1f} %"
    # the chip that was trained on is the chip that was calibrated
    chip_a = Chip.load(out / "chip_A.json")
    cal = read_json(out / "calibration_A.json")
    assert cal["chip_fingerprint"] == hardware_fingerprint(chip_a)
    assert _fact(page, "chip A hardware fingerprint (first 16 hex digits)") == cal["chip_fingerprint"][:16]
    assert metrics["chip"]["calibration"].endswith("calibration_A.json")
    assert np.sum(metrics["confusion_matrix"]) == metrics["n_test"]
    # the plastic synapses: one row per protocol, the chip's mean and spread as in plasticity.json
    plastic = read_json(out / "plasticity.json")
    assert "Plastic synapses</h2>" in page
    for r in plastic["protocols"]:
        what = next(
            w
            for w in map(html.unescape, re.findall(r"data-fact='([^']*)'", page))
            if w.startswith(f"{r['label']}: ")
        )
        shown = _fact(page, what).split(" / ")[-1]
        assert shown == f"{100 * r['chip_mean']:+.1f} ± {100 * r['chip_sd']:.1f} %"
    # both algorithms side by side, as their runs and deployments recorded them
    assert "Two ways of learning on chip A</h2>" in page
    for run, deployed, label in (
        ("train", "deploy_B.json", "surrogate gradients (software update)"),
        ("train_eqspike", "deploy_eqspike_B.json", "EqSpike (on-chip update)"),
    ):
        a, b = (
            read_json(out / run / "metrics.json")["test_accuracy"],
            read_json(out / deployed)["test_accuracy"],
        )
        shown = _fact(page, f"{label}: test accuracy on chip A / on chip B")
        assert shown == f"{100 * a:.1f} / {100 * b:.1f} %"


def test_eqspike_learns_on_chip_a_with_its_own_plasticity(demo):
    """On-chip updates only (no float weights): after one quick epoch chip A classifies Yin-Yang
    well above chance (1/3 for three classes; s.e. of 500 test points about 2 points)."""
    out, _ = demo
    m = read_json(out / "train_eqspike" / "metrics.json")
    assert m["update"] == "on-chip" and m["chip"]["calibration"].endswith("calibration_A.json")
    assert m["test_accuracy"] > 0.5
    assert read_json(out / "deploy_eqspike_B.json")["test_accuracy"] > 0.5


def test_report_opens_in_a_real_browser(demo, tmp_path):
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/setup.sh --browser installs it")
        pytest.skip("no chromium on this machine (scripts/setup.sh --browser installs it)")
    out, _ = demo
    result = probe_page(out / "report.html", tmp_path)
    assert result["errors"] == []
    assert result["broken"] == 0 and result["images"] >= 9
    assert any(h.endswith("Plastic synapses") for h in result["headings"]), result["headings"]


def test_interrupted_demo_continues_from_finished_stages(demo):
    from conftest import run_cli

    out, _ = demo
    # As if the run had died during deployment: the last two stages have no marker.
    sweep_mtime = (out / "sweep_lif" / "sweep.parquet").stat().st_mtime_ns
    for name in ("deploy", "report"):
        (out / "stages" / f"{name}.json").unlink()
    (out / "report.html").unlink()
    proc = run_cli("demo", "--quick", "--out", out, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-2000:]
    from anamorph.demo import QUICK, stages

    assert proc.stderr.count("done earlier") == len(stages(QUICK)) - 2
    assert (out / "report.html").is_file()
    assert (out / "sweep_lif" / "sweep.parquet").stat().st_mtime_ns == sweep_mtime
