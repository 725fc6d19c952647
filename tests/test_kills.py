"""Killed with SIGKILL at random points and resumed: the end is the uninterrupted run's.

A driver process sets a run up once (imports, the chip, Brian2's compiled code, a
reference run without interruption), then forks children that resume the run from its
folder and kills each with SIGKILL at a point drawn from a seeded generator: after the
child's ``n``-th new checkpoint (``n`` in {0, 1}) plus a random fraction of a checkpoint
interval, so kills land in the middle of a step, while a checkpoint is written, before
the first one or in the final evaluation (a finished run resumed again only re-evaluates).
A last child finishes. The result must equal the reference bit for
bit (the sweep's kill test, ``test_circuits_sweep``, is the model).
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.brian2, pytest.mark.slow]

HERE = Path(__file__).resolve().parent
N_KILLS = 10

# The fork-and-kill loop, shared by both drivers. ``work(folder)`` runs (or resumes) the job
# in ``folder`` and returns a result dict; ``marks(folder)`` counts its checkpoints so far.
HARNESS = textwrap.dedent("""
    import json, os, signal, sys, time
    import numpy as np

    def fork_and_kill(work, marks, folder, rng, n_kills, interval_s):
        log = []
        while len([e for e in log if e["killed"]]) < n_kills and len(log) < 4 * n_kills:
            start = marks(folder)
            advance = int(rng.integers(0, 2)) if start >= 0 else 0
            extra_s = float(rng.uniform(0.0, 1.0)) * interval_s
            pid = os.fork()
            if pid == 0:
                try:
                    work(folder)
                    os._exit(0)
                except BaseException:
                    import traceback; traceback.print_exc()
                    os._exit(3)
            deadline = time.monotonic() + 120
            done = False
            while marks(folder) < start + advance and time.monotonic() < deadline:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    done = True
                    break
                time.sleep(0.002)
            if not done:
                time.sleep(extra_s)
                os.kill(pid, signal.SIGKILL)
                _, status = os.waitpid(pid, 0)
            killed = not done and os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            log.append({"from": start, "advance": advance, "extra_s": extra_s, "killed": killed,
                        "marks_after": marks(folder)})
        return log, work(folder)  # the last resume runs to the end
""")

TRAIN_DRIVER = textwrap.dedent("""
    import shutil
    from anamorph.training.config import make_config
    from anamorph.training.prepare import load_chip
    from anamorph.training.run import train_run
    from anamorph.training.trainer import CHECKPOINT

    out = sys.argv[1]
    chip, nominal, _ = load_chip(None, None, 0, calibrate_chip=False)
    def config(folder):
        return make_config("yinyang", out=str(folder), n_hidden=8, epochs=12, n_train=20,
                           batch_size=10, n_test=10, seed=0)
    def work(folder):
        r = train_run(config(folder), resume=True, chip=chip, nominal=nominal, progress=None)
        return {"weights": [w.tolist() for w in r.weights], "history": [
            {k: v for k, v in h.items() if not k.endswith("_s")} for h in r.history],
            "test_accuracy": r.metrics["test_accuracy"], "wall_s": r.history}
    def marks(folder):
        p = os.path.join(folder, CHECKPOINT)
        try:
            with np.load(p, allow_pickle=False) as f:
                return int(f["epoch"])
        except Exception:
            return 0
    reference = work(os.path.join(out, "reference"))
    interval_s = float(np.median([h["wall_s"] for h in reference.pop("wall_s")]))
    log, resumed = fork_and_kill(work, marks, os.path.join(out, "killed"),
                                 np.random.default_rng([20, 5]), N_KILLS, interval_s)
    json.dump({"reference": reference, "resumed": resumed, "log": log}, open(os.path.join(out, "r.json"), "w"))
""")


CALIBRATION_DRIVER = textwrap.dedent("""
    import glob
    from anamorph.calibration import calibrate, checkpoint
    from anamorph.calibration.result import Calibration
    from anamorph.calibration.runner import ChipRunner
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel
    from anamorph.models.reference_backend import ReferenceChip

    out = sys.argv[1]
    chip = sample_chip(ProcessModel.default(), 1)
    checkpoint.EVERY_S = 0.0  # a checkpoint after every run
    replayed = []  # runs replayed from a checkpoint by this process's calibrations
    _replay = ChipRunner.replay
    def replay(self, log, then):
        replayed.append(len(log))
        return _replay(self, log, then)
    ChipRunner.replay = replay
    def work(folder):
        replayed.clear()
        cal = calibrate(chip, backend=ReferenceChip(chip, seed=0, noise=True), params=("v_leak", "v_th"),
                        measure_before=False, cache_dir=folder, seed=0)
        for p in os.listdir(folder):  # whatever a killed run left must be complete or ignorable
            if p.endswith(".json"):
                Calibration.load(os.path.join(folder, p))
        return {"codes": {p: c.tolist() for p, c in cal.codes.items()},
                "achieved": {p: np.nan_to_num(a).tolist() for p, a in cal.achieved.items()},
                "n_runs": cal.n_runs, "key": cal.key, "replayed": list(replayed)}
    def marks(folder):  # runs in the checkpoint; once the result is written, more than any
        if glob.glob(os.path.join(folder, "*.json")):
            return 10**9
        for p in glob.glob(os.path.join(folder, "*.checkpoint.npz")):
            try:
                with np.load(p, allow_pickle=False) as f:
                    return int(json.loads(str(f["meta"]))["done"])
            except Exception:
                return 0
        return 0
    t0 = time.monotonic()
    reference = work(os.path.join(out, "reference"))
    per_run_s = (time.monotonic() - t0) / reference["n_runs"]
    log, resumed = fork_and_kill(work, marks, os.path.join(out, "killed"),
                                 np.random.default_rng([20, 6]), N_KILLS, per_run_s)
    json.dump({"reference": reference, "resumed": resumed, "log": log}, open(os.path.join(out, "r.json"), "w"))
""")


def _drive(driver: str, tmp_path: Path) -> dict:
    script = f"N_KILLS = {N_KILLS}\n" + HARNESS + driver
    proc = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads((tmp_path / "r.json").read_text())


def _check_kills(log: list[dict]) -> None:
    killed = [e for e in log if e["killed"]]
    assert len(killed) >= N_KILLS, log
    # kills landed at different stages: before a new checkpoint and after one
    assert {e["advance"] for e in killed} == {0, 1}, log
    assert any(0 < e["marks_after"] for e in killed), log


def test_training_killed_ten_times_ends_as_the_uninterrupted_run(tmp_path):
    r = _drive(TRAIN_DRIVER, tmp_path)
    _check_kills(r["log"])
    assert r["resumed"]["history"] == r["reference"]["history"]
    assert r["resumed"]["weights"] == r["reference"]["weights"]  # bit for bit (JSON floats round-trip)
    assert r["resumed"]["test_accuracy"] == r["reference"]["test_accuracy"]


def test_calibration_killed_ten_times_ends_as_the_uninterrupted_run(tmp_path):
    """A calibration (leak and threshold, on the numpy reference backend with noise) writes
    its checkpoint after every run (the results of its runs so far, the codes last written,
    the backend's run counter, which names the next run's noise draw). Killed ten times,
    before and after a child's new checkpoint, it resumes each time: the checkpoint only
    grows (no child started over), the last killed child's checkpoint is the one the final
    run replays, and the end equals the uninterrupted run's codes, achieved values and
    number of runs bit for bit."""
    r = _drive(CALIBRATION_DRIVER, tmp_path)
    log = r["log"]
    _check_kills(log)
    assert all(e["marks_after"] >= e["from"] for e in log), log
    assert r["reference"].pop("replayed") == []
    assert r["resumed"].pop("replayed") == [log[-1]["marks_after"]] and log[-1]["marks_after"] > 0, log
    assert r["resumed"] == r["reference"]
