"""ProcessModel files, DAC transfers, and the population fit on synthetic sweep tables."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from anamorph.errors import InputError
from anamorph.models.dac import Transfer, fit_transfer
from anamorph.models.lif_fit import rate_hz
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import DAC_PARAMS, MISMATCH_NAMES, PARAM_FIELD, ProcessModel


def test_default_reaches_targets_and_inverse_round_trips():
    pm = ProcessModel.default()
    for p in DAC_PARAMS:
        lo, hi = pm.dac_range(p)
        target = getattr(DEFAULT_TARGETS, PARAM_FIELD[p])
        assert lo < target < hi
        codes = np.arange(0, 1024, 31)
        np.testing.assert_allclose(pm.dac_inverse(p, pm.dac_nominal(p, codes)), codes, atol=1e-6)
        assert pm.dac_nominal(PARAM_FIELD[p], 100) == pm.dac_nominal(p, 100)  # both spellings


@pytest.mark.parametrize("kind, coef", [("linear", (0.1, 1.7, -0.2)), ("reciprocal", (2e4, 3e5, 5e4))])
def test_fit_transfer_recovers_known_curve(kind, coef):
    t = Transfer(kind, *coef)
    codes = np.array([100, 300, 500, 700, 900])
    fitted = fit_transfer(kind, codes, t.value(codes))
    np.testing.assert_allclose([fitted.a, fitted.b, fitted.q], coef, rtol=1e-8, atol=1e-9 * abs(coef[1]))
    two = fit_transfer(kind, codes[:3], Transfer(kind, coef[0], coef[1]).value(codes[:3]))
    np.testing.assert_allclose(
        [two.a, two.b, two.q], [coef[0], coef[1], 0.0], rtol=1e-8, atol=1e-9 * abs(coef[1])
    )


def test_process_file_round_trip_and_bad_files(tmp_path):
    pm = ProcessModel.default()
    pm.save(tmp_path / "p.json")
    assert ProcessModel.load(tmp_path / "p.json").fingerprint() == pm.fingerprint()
    cases = [
        (lambda d: d.update(schema_version=2), "schema_version"),
        (lambda d: d["dac"].pop("t_ref"), "dac.t_ref"),
        (lambda d: d["c_mem_f"].pop("sd"), "c_mem_f.sd"),
        (lambda d: d["dac"]["v_th"].update(offset_sd=float("nan")), "dac.v_th.offset_sd"),
        (lambda d: d["dac"]["v_th"].update(coef=[0.0, 0.0, 0.0]), "dac.v_th.coef"),
        (lambda d: d["mismatch"].update(corr=[[2.0]]), "mismatch.corr"),
        (lambda d: d["synapse"].update(table_exc=[1.0] * 64), "synapse.table_exc"),
    ]
    for change, field in cases:
        d = pm.to_dict()
        change(d)
        path = tmp_path / "bad.json"
        path.write_text(json.dumps(d))  # NaN is written as the token NaN
        with pytest.raises(InputError) as e:
            ProcessModel.load(path)
        assert e.value.field == field, field
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        ProcessModel.load(tmp_path / "broken.json")


# --------------------------------------------------------------------------- synthetic sweeps
N = 300
TRUE = {  # population of the synthetic circuits: mean [a, b], offset sd, gain sd
    "v_leak": ("linear", (0.0, 1.8), 0.01, 0.02),
    "v_th": ("linear", (0.02, 1.75), 0.012, 0.01),
    "v_reset": ("linear", (0.0, 1.8), 0.008, 0.02),
    "tau_m": ("reciprocal", (8e4, 1.4e5), 4e3, 0.05),
    "t_ref": ("reciprocal", (2e4, 9e5), 3e3, 0.04),
    "tau_syn": ("reciprocal", (1.2e5, 3e5), 5e3, 0.06),
}
RHO = 0.6  # correlation of the v_leak and v_th offsets


def _synthetic_sweeps(tmp_path):
    rng = np.random.default_rng(0)
    lif, syn = [], []
    z = rng.standard_normal((N, 2))
    z[:, 1] = RHO * z[:, 0] + np.sqrt(1 - RHO**2) * z[:, 1]
    for k in range(N):
        row = {"instance": k, "seed": 1, "corner": "tt", "status": "ok", "error": ""}
        srow = dict(row)
        for p, (kind, (a, b), sd_a, sd_g) in TRUE.items():
            da = sd_a * (
                z[k, {"v_leak": 0, "v_th": 1}[p]] if p in ("v_leak", "v_th") else rng.standard_normal()
            )
            t = Transfer(kind, a + da, b * (1 + sd_g * rng.standard_normal()))
            col = p + ("_s" if p.startswith("t") else "_v")
            target = srow if p == "tau_syn" else row
            for code in (256, 512, 768):
                target[f"{col}@{code}"] = float(t.value(code))
            target[col] = float(t.value(512))
        row["c_mem_f"] = 2e-12 * (1 + 0.02 * rng.standard_normal())
        row["g_leak_s"] = row["c_mem_f"] / row["tau_m_s"]
        for i_na in (100, 150, 250, 400):  # rates of an exact LIF: the f-I fit has nothing to change
            row[f"rate_hz@{i_na}"] = float(rate_hz(i_na * 1e-9, row))
        gain = 1 + 0.03 * rng.standard_normal()
        gain_inh = 1 + 0.05 * rng.standard_normal()
        for code in (8, 16, 32, 63):
            shape = code + 0.4 * np.sin(code / 9.0)
            srow[f"q_exc_c@{code}"] = 1e-15 * gain * shape
            srow[f"q_inh_c@{code}"] = -1.1e-15 * gain_inh * code
        srow["syn_gain"] = gain
        lif.append(row)
        syn.append(srow)
    for name, rows in (("lif", lif), ("synapse", syn)):
        (tmp_path / name).mkdir()
        pd.DataFrame(rows).to_parquet(tmp_path / name / "sweep.parquet")
    return tmp_path / "lif", tmp_path / "synapse"


def test_fit_recovers_synthetic_population(tmp_path, cli):
    lif_dir, syn_dir = _synthetic_sweeps(tmp_path)
    out = tmp_path / "process.json"
    r = cli("fit", lif_dir, syn_dir, "--out", out, "--no-transients")
    assert r.returncode == 0, r.stderr
    pm = ProcessModel.load(out)
    tol_sd = 5 / np.sqrt(2 * (N - 1))
    for p, (kind, (a, b), sd_a, sd_g) in TRUE.items():
        t = pm.transfers[p]
        assert t.kind == kind
        assert abs(t.a - a) < 5 * sd_a / np.sqrt(N) and abs(t.b / b - 1) < 5 * sd_g / np.sqrt(N)
        assert abs(pm.offset_sd[p] / sd_a - 1) < tol_sd and abs(pm.gain_sd[p] / sd_g - 1) < tol_sd
    i, j = MISMATCH_NAMES.index("v_leak.offset"), MISMATCH_NAMES.index("v_th.offset")
    assert abs(pm.corr[i, j] - RHO) < 5 * (1 - RHO**2) / np.sqrt(N)
    assert abs(pm.data["c_mem_f"]["mean"] / 2e-12 - 1) < 5 * 0.02 / np.sqrt(N)
    assert abs(pm.data["synapse"]["gain_sd_exc"] / 0.03 - 1) < tol_sd
    assert abs(pm.data["synapse"]["gain_sd_inh"] / 0.05 - 1) < tol_sd
    table = np.asarray(pm.data["synapse"]["table_exc"])
    for code in (8, 16, 32, 63):  # the population's INL shape, relative to the mean slope
        codes = np.array([8, 16, 32, 63.0])
        shape = codes + 0.4 * np.sin(codes / 9.0)
        slope = codes @ shape / (codes @ codes)
        assert abs(table[code] - (code + 0.4 * np.sin(code / 9.0)) / slope) < 1e-9
    i, j = MISMATCH_NAMES.index("tau_syn.offset"), MISMATCH_NAMES.index("v_leak.offset")
    assert pm.corr[i, j] == 0.0  # different circuits: unknown, set to 0
    chip_path = tmp_path / "chip.json"
    r = cli("chip", "--process", out, "--seed", "5", "--out", chip_path, "--detune", "0.1")
    assert r.returncode == 0, r.stderr
    assert json.loads(chip_path.read_text())["detune"] == 0.1


def test_cli_bad_input_writes_nothing(tmp_path, cli):
    out = tmp_path / "p.json"
    r = cli("fit", tmp_path, "--out", out)
    assert r.returncode == 2 and "sweep.parquet" in r.stderr and not out.exists()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"schema": "anamorph.process_model", "schema_version": 7}))
    r = cli("chip", "--process", bad, "--seed", "1", "--out", out)
    assert r.returncode == 2 and "schema_version" in r.stderr and not out.exists()
    r = cli("chip", "--seed", "1", "--out", out, "--detune", "nan")
    assert r.returncode == 2 and not out.exists()


def test_code_for_is_the_nearest_code_and_extremes_are_the_ends():
    """``code_for`` picks, among all 1024 codes, the one whose nominal value is nearest the
    target (checked by brute force over every code), clips out-of-range targets to an end,
    maps NaN to 0; ``code_at_extreme`` is the end with the highest / lowest value."""
    pm = ProcessModel.default()
    codes = np.arange(1024)
    for p in DAC_PARAMS:
        values = pm.dac_nominal(p, codes)
        lo, hi = np.min(values), np.max(values)
        targets = np.linspace(lo, hi, 7)[1:-1]
        got = pm.code_for(p, targets)
        assert got.dtype == np.int64
        for t, c in zip(targets, got):
            # nearest in code space (the rounded inverse), so within half a step of the value
            assert abs(int(c) - float(pm.dac_inverse(p, t))) <= 0.5
        assert pm.code_at_extreme(p, high=True) == int(codes[np.argmax(values)])
        assert pm.code_at_extreme(p, high=False) == int(codes[np.argmin(values)])
        beyond = hi + (hi - lo) if pm.transfers[p].kind == "linear" else hi * 10
        assert int(pm.code_for(p, beyond)) == pm.code_at_extreme(p, high=True)
    assert int(pm.code_for("v_th", np.nan)) == 0
