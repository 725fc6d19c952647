"""On-chip triplet-STDP sensors and the plasticity step, against the exact rule, the data and the circuit."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from anamorph.circuits.tstdp import protocols as sp
from anamorph.circuits.tstdp.data import HIPPOCAMPAL
from anamorph.circuits.tstdp.rule import TripletParams, weight_change
from anamorph.errors import InputError
from anamorph.models.backend import Observables, SpikeEvents, Teaching
from anamorph.models.chip import Chip, sample_chip
from anamorph.models.network import ChipNetwork, Projection
from anamorph.models.plasticity.adc import SENSOR_ADC
from anamorph.models.plasticity.processor import SensorReadings, plasticity_step
from anamorph.models.plasticity.rules import TripletSTDP
from anamorph.models.plasticity.sensors import NAMES, SensorParams, correlate
from anamorph.models.plasticity.synapse_params import section_of
from anamorph.models.process_model import ProcessModel

DATA_DW = np.array([d.dw for d in HIPPOCAMPAL])
DATA_SEM = np.array([d.sem for d in HIPPOCAMPAL])


def _events(trains):
    """SpikeEvents from {(sample, unit): times}."""
    t, u, s = [], [], []
    for (sample, unit), times in trains.items():
        t += list(times)
        u += [unit] * len(times)
        s += [sample] * len(times)
    n = 1 + max(k[0] for k in trains)
    return SpikeEvents(np.array(t, float), np.array(u, int), np.array(s, int), n)


@pytest.mark.parametrize(
    "numpy_form,grid,blocks,sparse",
    [
        (False, False, False, None),
        (False, True, False, None),
        (True, False, False, None),
        (True, True, False, None),
        (True, True, True, 2.0),
        (True, True, True, -1.0),
    ],
)
def test_sensors_match_the_exact_rule_on_random_trains(numpy_form, grid, blocks, sparse, monkeypatch):
    """a+ and a- of every synapse (own parameters) equal the rule's potentiation and depression,
    for the compiled loop and for its whole-array numpy form (``numpy_form``).

    With ``grid`` the spike times lie on a coarse grid, so pre and post spikes often coincide;
    with ``blocks`` the numpy form runs in many small blocks of time points and events, with
    only the pairs that saw a spike (``sparse`` 2) or all pairs (-1) evaluated.
    """
    from anamorph.models.plasticity import sensors, sensors_numpy

    if numpy_form:
        monkeypatch.setattr(sensors, "_side", sensors_numpy.side)
    if blocks:
        monkeypatch.setattr(sensors_numpy, "_TABLE", 7)
        monkeypatch.setattr(sensors_numpy, "_CHUNK", 5)
    if sparse is not None:
        monkeypatch.setattr(sensors_numpy, "_SPARSE", sparse)
    rng = np.random.default_rng(7)
    n_samples, n_pre, n_post = 3, 4, 3
    draw = lambda: np.round(rng.uniform(0, 0.5, rng.poisson(25)), 2 if grid else 12)
    pre = {(s, k): np.unique(draw()) for s in range(n_samples) for k in range(n_pre)}
    post = {(s, j): np.unique(draw()) for s in range(n_samples) for j in range(n_post)}
    lo = dict(
        a2p=1e-3,
        a3p=1e-3,
        a2m=1e-3,
        a3m=1e-3,
        tau_x_s=5e-3,
        tau_y_s=20e-3,
        tau_plus_s=5e-3,
        tau_minus_s=10e-3,
    )
    values = {n: lo[n] * rng.uniform(1, 20, (n_pre, n_post)) for n in NAMES}
    sens = correlate(_events(pre), _events(post), SensorParams(**values), n_pre, n_post, per_sample=True)
    for s in range(n_samples):
        for k in range(n_pre):
            for j in range(n_post):
                p = {n: values[n][k, j] for n in NAMES}
                only_plus = TripletParams(**{**p, "a2m": 0.0, "a3m": 0.0})
                only_minus = TripletParams(**{**p, "a2p": 0.0, "a3p": 0.0})
                a_plus = weight_change(pre[s, k], post[s, j], only_plus)
                a_minus = -weight_change(pre[s, k], post[s, j], only_minus)
                assert sens.causal[s, k, j] == pytest.approx(a_plus, rel=1e-12, abs=1e-300)
                assert sens.acausal[s, k, j] == pytest.approx(a_minus, rel=1e-12, abs=1e-300)
                assert sens.dw[s, k, j] == pytest.approx(
                    weight_change(pre[s, k], post[s, j], TripletParams(**p)), rel=1e-12, abs=1e-15
                )
    summed = correlate(_events(pre), _events(post), SensorParams(**values), n_pre, n_post)
    np.testing.assert_allclose(summed.causal, sens.causal.sum(0), rtol=1e-12)


def test_chip_time_is_biology_a_thousand_times_faster():
    params = TripletParams(7e-3, 3.5e-3, 2.3e-3, 1.6e-2, 7.3e-3, 0.2)
    pre, post = sp.post_pre_post(5e-3, 5e-3, repetitions=5).trains()
    sens = correlate(
        _events({(0, 0): pre * 1e-3}), _events({(0, 0): post * 1e-3}), SensorParams.from_rule(params), 1, 1
    )
    assert sens.dw[0, 0] == pytest.approx(weight_change(pre, post, params), rel=1e-12)


# ------------------------------------------------------------------------------ chip
@pytest.fixture(scope="module")
def chip():
    return sample_chip(ProcessModel.default(), 0)


@pytest.fixture(scope="module")
def hippocampal_run(chip):
    from anamorph.models.emulator import ChipEmulator
    from anamorph.models.plasticity.chip_protocol import run_protocols

    return run_protocols(ChipEmulator(chip, seed=1), [sp.for_datum(d) for d in HIPPOCAMPAL], 256)


def test_chip_tstdp_parameters_round_trip_and_follow_the_section(chip, tmp_path):
    path = chip.save(tmp_path / "chip.json")
    assert "tstdp.a2p" not in json.loads(path.read_text())["hidden"]  # re-drawn, not stored
    loaded = Chip.load(path)
    for name in NAMES:
        assert loaded.hidden[f"tstdp.{name}"].tobytes() == chip.hidden[f"tstdp.{name}"].tobytes()
    section = section_of(chip.process)
    for k, name in enumerate(section["names"]):
        if name in section["off"]:
            assert not np.any(chip.hidden[f"tstdp.{name}"])
            continue
        logs = np.log(chip.hidden[f"tstdp.{name}"])
        scale = np.log(1e-3) if name.startswith("tau_") else 0.0  # chip time
        n = logs.size
        assert abs(logs.mean() - scale - section["log_mean"][k]) < 5 * section["log_sd"][k] / np.sqrt(n)
        assert logs.std() == pytest.approx(section["log_sd"][k], rel=5 * np.sqrt(2 / n))


@pytest.mark.brian2
def test_chip_forces_every_post_spike(hippocampal_run):
    assert hippocampal_run.post_observed == hippocampal_run.post_requested
    assert hippocampal_run.saturated == 0


@pytest.mark.brian2
def test_chip_mean_follows_the_hippocampal_data(hippocampal_run):
    """As the circuit does: signs of the clear data, and most protocols within 2 s.e.m."""
    mean = hippocampal_run.dw.mean(axis=1)
    clear = np.abs(DATA_DW) > DATA_SEM
    assert np.all(np.sign(mean[clear]) == np.sign(DATA_DW[clear])), list(zip(mean.round(3), DATA_DW))
    assert np.sum(np.abs(mean - DATA_DW) <= 2 * DATA_SEM) >= 8, list(zip(mean.round(3), DATA_DW))


@pytest.mark.brian2
@pytest.mark.spice
def test_chip_mean_matches_the_nominal_circuit_in_ngspice(hippocampal_run):
    """Within 15 % for every protocol with a clear weight change, like the circuit vs the rule."""
    from anamorph.circuits.tstdp.circuit import load_fitted
    from anamorph.circuits.tstdp.fit import circuit_predictions

    circuit = circuit_predictions(load_fitted())
    mean = hippocampal_run.dw.mean(axis=1)
    clear = np.abs(circuit) >= 0.1
    assert clear.sum() >= 6
    assert np.all(np.abs(mean[clear] - circuit[clear]) <= 0.15 * np.abs(circuit[clear])), list(
        zip(mean, circuit)
    )


@pytest.mark.brian2
def test_chip_spread_matches_the_process_section(chip, hippocampal_run):
    """The spread across 256 synapses is that of synapses drawn afresh from the section.

    The prediction draws 400 synapses from the section's log-normal (own Cholesky code) and
    evaluates the exact rule for each protocol. Brown-Forsythe test of equal spread (robust
    to the skew of log-normal parameters; the chip's column offset shifts all its synapses
    alike), p > 0.001 for each protocol; the variance ratio (chip over prediction, ADC
    rounding 2 lsb^2 / 12 added) within the 0.1 % F bounds.
    """
    section = section_of(chip.process)
    rng = np.random.default_rng(12345)
    chol = np.linalg.cholesky(np.asarray(section["corr"]) + 1e-12 * np.eye(8))
    m = 400
    logs = np.asarray(section["log_mean"]) + np.asarray(section["log_sd"]) * (
        rng.standard_normal((m, 8)) @ chol.T
    )
    on = np.array([name not in section["off"] for name in section["names"]])
    draws = [TripletParams(**dict(zip(section["names"], np.exp(row) * on))) for row in logs]
    predicted = np.array([[weight_change(*sp.for_datum(d).trains(), p) for p in draws] for d in HIPPOCAMPAL])
    chip_dw = hippocampal_run.dw
    p_values = [stats.levene(c, q, center="median").pvalue for c, q in zip(chip_dw, predicted)]
    ratio = chip_dw.var(axis=1, ddof=1) / (predicted.var(axis=1, ddof=1) + 2 * SENSOR_ADC.lsb**2 / 12)
    lo, hi = stats.f.ppf([0.0005, 0.9995], chip_dw.shape[1] - 1, m - 1)
    assert min(p_values) > 1e-3, (np.round(p_values, 4), ratio.round(3))
    assert np.all((ratio > lo) & (ratio < hi)), (ratio.round(3), lo, hi)


@pytest.mark.brian2
def test_readings_differ_from_the_exact_sensors_by_the_adc_only(chip, hippocampal_run):
    off = abs(chip.hidden["tstdp.adc_offset_causal_lsb"][0]) + abs(
        chip.hidden["tstdp.adc_offset_acausal_lsb"][0]
    )
    err = np.abs(hippocampal_run.dw - hippocampal_run.dw_exact)
    assert err.max() <= (off + 1.0) * SENSOR_ADC.lsb + 1e-12


@pytest.mark.brian2
def test_emulator_reports_the_sensors_of_plastic_projections(chip):
    """Both backends report the same readings; each synapse's exact sensors are the rule's
    weight change with that synapse's own parameters (its row and column on the chip)."""
    from anamorph.models.emulator import ChipEmulator
    from anamorph.models.plasticity.processor import network_sensors
    from anamorph.models.reference_backend import ReferenceChip

    rng = np.random.default_rng(3)
    n_in, n_a, n_b = 12, 10, 4
    net = ChipNetwork(
        n_in,
        (("A", n_a), ("B", n_b)),
        (
            Projection("input", "A", rng.integers(0, 40, (n_in, n_a))),
            Projection("input", "A", rng.integers(0, 40, (n_in, n_a)), plastic=True),  # rows 12..23
            Projection("A", "A", rng.integers(-20, 21, (n_a, n_a)), plastic=True),  # recurrent
            Projection("A", "B", rng.integers(0, 64, (n_a, n_b)), plastic=True),
        ),
    )
    n_samples, t_max = 3, 60e-6
    n_ev = 40 * n_samples
    inputs = SpikeEvents(
        rng.uniform(0, t_max, n_ev), rng.integers(0, n_in, n_ev), rng.integers(0, n_samples, n_ev), n_samples
    )
    emu = ChipEmulator(chip, noise=False).run(inputs, net, t_max + 20e-6)
    ref = ReferenceChip(chip, noise=False).run(inputs, net, t_max + 20e-6)
    assert set(emu.sensors) == set(ref.sensors) == {1, 2, 3}
    for k in emu.sensors:
        np.testing.assert_array_equal(emu.sensors[k].causal, ref.sensors[k].causal)
        np.testing.assert_array_equal(emu.sensors[k].acausal, ref.sensors[k].acausal)
    assert emu.spikes.times_s.size > 20
    exact = network_sensors(chip, net, inputs, emu.spikes)
    offsets = net.offsets
    totals = []
    for k, (src, tgt) in {1: (None, "A"), 2: ("A", "A"), 3: ("A", "B")}.items():
        rows = net.rows(k)
        for i, j in ((0, 0), (3, 2), (net.n_source(k) - 1, net.sizes[tgt] - 1)):
            params = TripletParams(
                **{n: chip.hidden[f"tstdp.{n}"][rows.start + i, offsets[tgt] + j] for n in NAMES}
            )
            total = 0.0
            for s in range(n_samples):
                if src is None:
                    pre = inputs.times_s[(inputs.units == i) & (inputs.samples == s)]
                else:
                    pre = emu.spikes.times_s[
                        (emu.spikes.units == offsets[src] + i) & (emu.spikes.samples == s)
                    ]
                post = emu.spikes.times_s[(emu.spikes.units == offsets[tgt] + j) & (emu.spikes.samples == s)]
                total += weight_change(np.unique(pre), post, params)
            totals.append(total)
            assert exact[k].dw[i, j] == pytest.approx(total, rel=1e-12, abs=1e-15)
            off = abs(chip.hidden["tstdp.adc_offset_causal_lsb"][offsets[tgt] + j]) + abs(
                chip.hidden["tstdp.adc_offset_acausal_lsb"][offsets[tgt] + j]
            )
            read = emu.sensors[k].causal[i, j] - emu.sensors[k].acausal[i, j]
            assert abs(read - total) <= (off + 1.0) * SENSOR_ADC.lsb + 1e-12
    assert np.count_nonzero(totals) >= 6, totals


def test_reading_after_every_sample_sums_the_samples_below_full_scale(chip):
    """Pre-post pairings at +5 µs, 40 per sample, 10 samples: one reading after the run
    clips at the ADC's full scale; reading (and resetting) after every sample and adding
    the readings up recovers the exact total of the rule (each sample's sum within its ADC
    rounding and column offsets), with no reading clipped."""
    from anamorph.models.plasticity.processor import network_readings

    net = ChipNetwork(1, (("A", 1),), (Projection("input", "A", np.array([[30]]), plastic=True),))
    n_samples, pairs = 10, 40
    t_pre = np.arange(pairs) * 50e-6
    pre = SpikeEvents(
        np.tile(t_pre, n_samples),
        np.zeros(n_samples * pairs, int),
        np.repeat(np.arange(n_samples), pairs),
        n_samples,
    )
    post = SpikeEvents(pre.times_s + 5e-6, pre.units, pre.samples, n_samples)
    params = TripletParams(**{n: chip.hidden[f"tstdp.{n}"][net.rows(0).start, 0] for n in NAMES})
    total = n_samples * weight_change(t_pre, t_pre + 5e-6, params)
    off = abs(chip.hidden["tstdp.adc_offset_causal_lsb"][0]) + abs(
        chip.hidden["tstdp.adc_offset_acausal_lsb"][0]
    )
    assert total > 1.5 * SENSOR_ADC.full_scale  # the run's sum lies beyond full scale

    once = network_readings(chip, net, pre, post)[0]
    every = network_readings(chip, net, pre, post, every_sample=True)[0]
    assert once.saturated >= 1 and once.causal[0, 0] == pytest.approx(SENSOR_ADC.full_scale)
    assert every.saturated == 0
    read = every.causal[0, 0] - every.acausal[0, 0]
    assert abs(read - total) <= n_samples * (off + 1.0) * SENSOR_ADC.lsb + 1e-12


# ------------------------------------------------------------------------------ plasticity step
def _network(codes, plastic=True):
    return ChipNetwork(
        codes.shape[0], (("post", codes.shape[1]),), (Projection("input", "post", codes, plastic),)
    )


def _observables(shape, value=0.1):
    reading = SensorReadings(np.full(shape, value), np.zeros(shape), SENSOR_ADC.lsb)
    return Observables(SpikeEvents([], [], [], 1), sensors={0: reading})


def test_sensor_adc_resolution_offsets_and_saturation():
    """8 bit over 0..full scale: readings on the lsb grid, within half an lsb plus the column
    offset of the value, clipped (and counted) above full scale."""
    from anamorph.models.plasticity.processor import read_sensors
    from anamorph.models.plasticity.sensors import Sensors

    rng = np.random.default_rng(0)
    values = rng.uniform(0, 1.2 * SENSOR_ADC.full_scale, (50, 8))
    off = (rng.normal(0, 1, 8), rng.normal(0, 1, 8))
    r = read_sensors(Sensors(values, values / 2), SENSOR_ADC, off)
    lsb = SENSOR_ADC.full_scale / 255
    assert r.lsb == pytest.approx(lsb)
    np.testing.assert_allclose(r.causal / lsb, np.rint(r.causal / lsb), atol=1e-9)
    inside = values < SENSOR_ADC.full_scale - 3 * lsb
    assert np.all(
        np.abs(r.causal - values)[inside]
        <= ((np.abs(off[0]) + 0.5) * lsb + 1e-12)[None, :].repeat(50, 0)[inside]
    )
    assert r.causal.max() <= SENSOR_ADC.full_scale + 1e-12
    assert r.saturated == np.count_nonzero(np.rint(values / lsb + off[0]) >= 255) + np.count_nonzero(
        np.rint(values / 2 / lsb + off[1]) >= 255
    )
    ideal = read_sensors(Sensors(values, values), SENSOR_ADC)
    assert np.all(np.abs(ideal.causal - values)[inside] <= 0.5 * lsb + 1e-12)


@pytest.mark.parametrize(
    "rule,message",
    [
        (lambda r, c, m: c + 0.5, "non-integer"),
        (lambda r, c, m: c + 64, "outside"),
        (lambda r, c, m: c[:1], "shape"),
        (lambda r, c, m: np.full(c.shape, np.nan), "non-integer"),
    ],
)
def test_plasticity_step_refuses_bad_codes_from_the_rule(rule, message):
    net = _network(np.zeros((4, 2), np.int64))
    with pytest.raises(InputError, match=message) as e:
        plasticity_step(net, _observables((4, 2)), rule)
    assert "projections[0]" in str(e.value)


def test_plasticity_step_refuses_static_or_unread_projections():
    net = _network(np.zeros((4, 2), np.int64), plastic=False)
    with pytest.raises(InputError, match="projections\\[0\\]"):
        plasticity_step(net, _observables((4, 2)), TripletSTDP(), projections=[0])
    net = _network(np.zeros((4, 2), np.int64))
    with pytest.raises(InputError, match="no sensor readings"):
        plasticity_step(net, Observables(SpikeEvents([], [], [], 1)), TripletSTDP())


def test_triplet_stdp_rounds_stochastically_without_bias():
    """Expected code change eta (a+ - a-): 0.3 codes per step on average over many synapses."""
    net = _network(np.zeros((200, 50), np.int64))
    rule = TripletSTDP(eta_codes=3.0, seed=4)
    new = plasticity_step(net, _observables((200, 50), value=0.1), rule).projections[0].codes
    assert set(np.unique(new)) <= {0, 1}
    assert new.mean() == pytest.approx(0.3, abs=5 * np.sqrt(0.21 / new.size))


@pytest.mark.brian2
@pytest.mark.parametrize("order", ["pre-post", "post-pre"])
def test_repeated_pairings_move_the_codes(chip, order):
    """pre 10 ms before post raises the codes step after step; post before pre lowers them."""
    from anamorph.models.emulator import ChipEmulator

    em = ChipEmulator(chip, seed=2)
    n_in, start = 4, 20
    net = _network(np.full((n_in, 2), start, np.int64))
    reps, period = 20, 1e-3
    pre_t = 10e-6 + np.arange(reps) * period + (0.0 if order == "pre-post" else 10e-6)
    post_k = np.rint((10e-6 + np.arange(reps) * period + (10e-6 if order == "pre-post" else 0.0)) / em.dt_s)
    steps = np.unique(np.concatenate([[0], post_k, post_k + 1])).astype(int)
    current = np.where(np.isin(steps, post_k), 10e-6, 0.0)[None, :, None] * np.ones((1, 1, 2))
    inputs = SpikeEvents(
        np.repeat(pre_t, n_in), np.tile(np.arange(n_in), reps), np.zeros(reps * n_in, int), 1
    )
    rule = TripletSTDP(eta_codes=63.0, seed=0)
    history = [net.projections[0].codes.mean()]
    for _ in range(3):
        obs = em.run(inputs, net, reps * period + 20e-6, teaching=Teaching(steps * em.dt_s, current))
        assert set(obs.sensors) == {0}
        net = plasticity_step(net, obs, rule)
        history.append(net.projections[0].codes.mean())
    sign = 1 if order == "pre-post" else -1
    assert np.all(sign * np.diff(history) > 0), history


# ------------------------------------------------------------------------------ command line
@pytest.mark.parametrize(
    "option,value",
    [("--pre", "0,abc"), ("--pre", "-5"), ("--post", "10,5"), ("--post", ""), ("--post", "3,3")],
)
def test_stdp_command_refuses_bad_spike_lists(cli, option, value):
    args = {"--pre": "0", "--post": "10", option: value}
    result = cli("stdp", "--pre", args["--pre"], "--post", args["--post"], "--no-circuit")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and option in lines[0], result.stderr


@pytest.mark.brian2
@pytest.mark.spice
def test_stdp_command_reports_rule_circuit_and_chip(cli, chip, tmp_path):
    from anamorph.circuits.tstdp.circuit import FITTED_PATH
    from anamorph.io import read_json

    path = chip.save(tmp_path / "chip.json")
    result = cli("stdp", "--pre", "0", "--post", "10", "--chip", path, "--synapses", "64", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    params = TripletParams(**read_json(FITTED_PATH)["rule_fit"])
    rule = weight_change(*sp.pair(10e-3).trains(), params)
    assert out["rule"]["dw"] == pytest.approx(rule, rel=1e-12)
    assert out["circuit"]["dw"] == pytest.approx(rule, rel=0.15)  # the circuit implements the rule
    assert out["chip"]["mean"] == pytest.approx(out["circuit"]["dw"], rel=0.15)
    assert out["chip"]["sd"] > 0 and out["chip"]["synapses"] == 64
    assert out["chip"]["post_spikes"]["observed"] == out["chip"]["post_spikes"]["requested"] == 60
