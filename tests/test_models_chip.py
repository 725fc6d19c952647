"""Chips sampled from a ProcessModel: statistics, determinism, files, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest

from anamorph.errors import InputError
from anamorph.models.chip import DAC_PARAMS, N_NEURONS, Chip, sample_chip
from anamorph.models.dac import CODE_MAX
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import MISMATCH_NAMES, ProcessModel, provisional


def _correlated_process():
    """A process model with known spreads and correlations (set here, not fitted)."""
    d = provisional()
    corr = np.eye(len(MISMATCH_NAMES))
    pairs = {
        ("v_leak.offset", "v_th.offset"): 0.6,
        ("tau_m.gain", "t_ref.gain"): -0.5,
        ("tau_m.offset", "tau_m.gain"): -0.7,
        ("c_mem", "v_reset.offset"): 0.3,
    }
    for (a, b), r in pairs.items():
        i, j = MISMATCH_NAMES.index(a), MISMATCH_NAMES.index(b)
        corr[i, j] = corr[j, i] = r
    d["mismatch"]["corr"] = corr.tolist()
    return ProcessModel(d), pairs


def test_chips_reproduce_spreads_and_correlations():
    process, pairs = _correlated_process()
    chips = [sample_chip(process, seed) for seed in range(8)]  # 4096 neurons
    sample = np.concatenate(
        [
            np.stack([c.hidden[n] if n != "c_mem" else c.hidden["c_mem_f"] for n in MISMATCH_NAMES], axis=1)
            for c in chips
        ]
    )
    n = sample.shape[0]
    sd = sample.std(axis=0, ddof=1)
    want = process.spreads
    live = want > 0
    # the sd of a normal sd estimate is sd / sqrt(2 (n - 1)): 5 of those is a safe bound
    assert np.all(np.abs(sd[live] / want[live] - 1) < 5 / np.sqrt(2 * (n - 1)))
    assert np.all(sd[~live] == 0)
    r = np.corrcoef(sample[:, live], rowvar=False)
    names = [m for m, ok in zip(MISMATCH_NAMES, live) if ok]
    for (a, b), rho in pairs.items():
        got = r[names.index(a), names.index(b)]
        assert abs(got - rho) < 5 * (1 - rho**2) / np.sqrt(n)
    # the true parameters at the default codes scatter as the transfers predict (linear DACs:
    # sd(v) = sqrt(sd_a^2 + (b x sd_g)^2 + 2 rho ...) with rho = 0 for v_th here)
    t = process.transfers["v_th"]
    x = chips[0].codes["v_th"][0] / CODE_MAX
    v_th = np.concatenate([c.true_params().v_th_v for c in chips])
    expect = np.hypot(process.offset_sd["v_th"], t.b * x * process.gain_sd["v_th"])
    assert abs(v_th.std(ddof=1) / expect - 1) < 5 / np.sqrt(2 * (n - 1))


def test_detune_spreads_time_constants_and_threshold_distance():
    process = ProcessModel.default().without_mismatch()
    base = sample_chip(process, 3)
    det = sample_chip(process, 3, detune=0.2)
    p0, p1 = base.true_params(), det.true_params()
    for a, b in (
        (p0.tau_m_s, p1.tau_m_s),
        (p0.tau_syn_s, p1.tau_syn_s),
        (p0.v_th_v - p0.v_leak_v, p1.v_th_v - p1.v_leak_v),
    ):
        ratio = b / a
        assert abs(ratio.std() - 0.2) < 5 * 0.2 / np.sqrt(2 * N_NEURONS)
        assert abs(ratio.mean() - 1) < 5 * 0.2 / np.sqrt(N_NEURONS)
    np.testing.assert_array_equal(p0.v_leak_v, p1.v_leak_v)


def test_same_seed_same_chip_bit_for_bit(tmp_path):
    process = ProcessModel.default()
    a, b, c = sample_chip(process, 42), sample_chip(process, 42), sample_chip(process, 43)
    for name in a.hidden:
        assert a.hidden[name].tobytes() == b.hidden[name].tobytes()
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()
    a.save(tmp_path / "chip.json")
    loaded = Chip.load(tmp_path / "chip.json")
    assert loaded.fingerprint() == a.fingerprint()
    for name in a.hidden:
        assert loaded.hidden[name].tobytes() == a.hidden[name].tobytes()


def test_uncalibrated_codes_hit_the_targets_on_an_ideal_chip():
    """Without mismatch the default codes give DEFAULT_TARGETS to within one DAC step."""
    process = ProcessModel.default()
    chip = sample_chip(process.without_mismatch(), 0)
    p = chip.true_params()
    for param, field in (
        ("v_leak", "v_leak_v"),
        ("v_th", "v_th_v"),
        ("v_reset", "v_reset_v"),
        ("tau_m", "tau_m_s"),
        ("tau_syn", "tau_syn_s"),
        ("t_ref", "t_ref_s"),
        ("syn_gain", "w_unit_a"),
    ):
        code = chip.codes[param][0]
        step = abs(process.dac_nominal(param, code + 1) - process.dac_nominal(param, code))
        assert np.all(np.abs(getattr(p, field) - getattr(DEFAULT_TARGETS, field)) <= step)


def test_with_codes_validates_and_changes_true_parameters():
    chip = sample_chip(ProcessModel.default(), 1)
    codes = {p: c.copy() for p, c in chip.codes.items()}
    codes["v_th"][:] = 400
    higher = chip.with_codes(codes)
    assert np.all(higher.true_params().v_th_v > chip.true_params().v_th_v)
    assert higher.fingerprint() != chip.fingerprint()
    for bad, msg in ((1024, "outside"), (-1, "outside"), (np.nan, "NaN"), (3.5, "integers")):
        c = {p: v.astype(float) for p, v in chip.codes.items()}
        c["tau_m"][7] = bad
        with pytest.raises(InputError, match=msg):
            chip.with_codes(c)
    with pytest.raises(InputError, match="512"):
        chip.with_codes({"v_th": np.zeros(10, int)})


def _mutate(tmp_path, chip, change):
    d = chip.to_dict()
    change(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    return path


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d.update(schema_version=99), "schema_version"),
        (lambda d: d.pop("codes"), "codes"),
        (lambda d: d["hidden"].pop("syn_gain_exc"), "hidden.syn_gain_exc"),
        (lambda d: d["codes"].update(t_ref=[5000] * 512), "codes.t_ref"),
        (lambda d: d["process"].update(schema_version=0), "schema_version"),
        (lambda d: d["process"]["dac"]["tau_m"].pop("coef"), "dac.tau_m.coef"),
    ],
)
def test_bad_chip_files(tmp_path, change, field):
    chip = sample_chip(ProcessModel.default(), 0)
    path = _mutate(tmp_path, chip, change)
    with pytest.raises(InputError) as e:
        Chip.load(path)
    assert e.value.field == field and str(path) in str(e.value)


def test_dac_params_contract():
    assert DAC_PARAMS == ("v_leak", "v_th", "v_reset", "tau_m", "tau_syn", "t_ref", "syn_gain")
