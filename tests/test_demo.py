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
    for name in ("sweep_lif/sweep.parquet", "sweep_synapse/sweep.parquet", "process.json", "fit_overlay.png",
                 "chip_A.json", "chip_B.json", "calibration_A.json", "calibration_B.json",
                 "calibration_A.png", "train/metrics.json", "train/weights.npz", "train/learning_curve.png",
                 "train/raster.png", "train/confusion.png", "deploy_B.json", "report.html", "manifest.json"):
        assert (out / name).is_file(), name
    assert proc.stdout.strip().endswith("report.html")
    lif = pd.read_parquet(out / "sweep_lif" / "sweep.parquet")
    assert (lif["status"] == "ok").all()


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


def test_report_opens_in_a_real_browser(demo, tmp_path):
    if chromium() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is missing: scripts/setup.sh --browser installs it")
        pytest.skip("no chromium on this machine (scripts/setup.sh --browser installs it)")
    out, _ = demo
    result = probe_page(out / "report.html", tmp_path)
    assert result["errors"] == []
    assert result["broken"] == 0 and result["images"] >= 8


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
    assert proc.stderr.count("done earlier") == 6
    assert (out / "report.html").is_file()
    assert (out / "sweep_lif" / "sweep.parquet").stat().st_mtime_ns == sweep_mtime
