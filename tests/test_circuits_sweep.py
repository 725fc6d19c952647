"""The Monte Carlo sweep engine: Dask == local, killed + resumed == uninterrupted, failures.

The swept circuit here is the LIF neuron's leak OTA (a real ngspice operating point per
instance, so the tests stay fast); the engine is the same for every circuit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from anamorph.circuits import sweep
from anamorph.circuits.lif.circuit import leak_potentials_v
from anamorph.circuits.sweep import SweepableCircuit, run_sweep
from anamorph.errors import InputError

pytestmark = pytest.mark.spice  # runs ngspice

HERE = Path(__file__).resolve().parent


def measure_leak(seed: int, instance: int, settings: dict) -> dict:
    log = os.environ.get("ANAMORPH_TEST_SWEEP_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{instance}\n")
    if instance in settings["fail"]:
        # a corner the process does not know: ngspice is never reached, the row fails
        settings = {**settings, "corner": "no-such-corner"}
    if instance in settings["hang"]:
        time.sleep(60)
    time.sleep(settings["delay_s"])
    v = leak_potentials_v(seed, [instance], {"corner": settings["corner"]})[0]
    return {"v_leak_v": v, "v_leak_v@228": v}


LEAK = SweepableCircuit("leak-ota", measure_leak, {"fail": [], "hang": [], "delay_s": 0.0}, timeout_s=10.0)


def test_local_sweep_table_rows_failures_and_timeouts(tmp_path):
    table = run_sweep(LEAK, 6, 3, tmp_path, workers=2, settings={"fail": [2], "hang": [4]})
    assert list(table["instance"]) == list(range(6)) and set(table["seed"]) == {3}
    assert list(table["status"]) == ["ok", "ok", "failed", "ok", "timeout", "ok"]
    assert "unknown corner" in table.loc[2, "error"] and table.loc[4, "error"]
    assert np.isnan(table.loc[2, "v_leak_v"]) and np.isfinite(table.loc[5, "v_leak_v"])
    # instance k depends only on (seed, k): the same value computed directly
    assert table.loc[5, "v_leak_v"] == leak_potentials_v(3, [5])[0]
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "sweep.parquet"), table)
    assert (tmp_path / "manifest.json").is_file() and list(tmp_path.glob("histograms-*.png"))
    assert not (tmp_path / sweep.JOURNAL).exists()


def test_dask_local_cluster_gives_the_same_table(tmp_path, loopback_cluster):

    local = run_sweep(LEAK, 5, 8, tmp_path / "local", workers=2, settings={"fail": [1]}, figures=False)
    with loopback_cluster() as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1")
        remote = run_sweep(
            LEAK,
            5,
            8,
            tmp_path / "dask",
            scheduler=cluster.scheduler_address,
            settings={"fail": [1]},
            figures=False,
        )
    pd.testing.assert_frame_equal(remote, local, check_exact=True)


def test_killed_sweep_resumes_without_repeating_or_losing_rows(tmp_path):
    n, settings = 10, {"delay_s": 0.4}
    reference = run_sweep(LEAK, n, 4, tmp_path / "ref", workers=1, settings=settings, figures=False)
    out, log = tmp_path / "killed", tmp_path / "measured.log"
    script = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {str(HERE)!r})
        from anamorph.circuits import sweep
        import test_circuits_sweep as t
        sweep.FLUSH_EVERY_S = 0.0
        sweep.run_sweep(t.LEAK, {n}, 4, {str(out)!r}, workers=1, settings={settings!r}, figures=False)
    """)
    env = {**os.environ, "ANAMORPH_TEST_SWEEP_LOG": str(log)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env, start_new_session=True)
    journal = out / sweep.JOURNAL
    deadline = time.monotonic() + 120
    while len(list(journal.glob("rows-*.parquet"))) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker, mid-run
    proc.wait()
    assert not (out / "sweep.parquet").exists()
    journaled = set(pd.concat(pd.read_parquet(p) for p in journal.glob("rows-*.parquet"))["instance"])
    assert 3 <= len(journaled) < n
    before = log.read_text().split()
    os.environ["ANAMORPH_TEST_SWEEP_LOG"] = str(log)
    try:
        resumed = run_sweep(LEAK, n, 4, out, workers=1, settings=settings, resume=True, figures=False)
    finally:
        del os.environ["ANAMORPH_TEST_SWEEP_LOG"]
    after = [int(k) for k in log.read_text().split()[len(before) :]]
    assert not journaled & set(after)  # finished rows are not measured again
    pd.testing.assert_frame_equal(resumed, reference, check_exact=True)


def test_resume_with_other_settings_is_refused(tmp_path):
    (tmp_path / sweep.JOURNAL).mkdir()
    (tmp_path / sweep.JOURNAL / "spec.json").write_text(
        '{"circuit": "leak-ota", "seed": 1, "instances": 3, "settings": {}}'
    )
    with pytest.raises(InputError, match="resuming with different"):
        run_sweep(LEAK, 3, 1, tmp_path, resume=True)


def test_bad_arguments_write_nothing(tmp_path):
    out = tmp_path / "never"
    for kwargs in ({"instances": 0}, {"instances": -1}, {"instances": 2, "settings": {"nope": 1}}):
        n = kwargs.pop("instances")
        with pytest.raises(InputError):
            run_sweep(LEAK, n, 1, out, **kwargs)
    assert not out.exists()
