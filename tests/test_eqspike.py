"""EqSpike (spiking equilibrium propagation) on the emulated chip.

References: the LIF's analytic rate for a constant current (mean-field fixed point of the
network), the rate-EP update of training/eqprop/rate.py, the arithmetic of regular spike
trains, and an uninterrupted run for --resume.
"""

from __future__ import annotations

import numpy as np
import pytest
from eqspike_runs import tiny_config

from anamorph.models.chip import sample_chip
from anamorph.models.network import projection_currents
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference_backend import ReferenceChip
from anamorph.training.eqprop.rate import RateNet
from anamorph.training.eqprop.spiking import Phases, SpikingEP, Units, chip_network, ep_update, input_trains


@pytest.fixture(scope="module")
def ideal_chip():
    return sample_chip(ProcessModel.default().without_mismatch(), 3)


def _tables(chip):
    return chip.process.weight_table_exc, chip.process.weight_table_inh


def _small_problem(seed=1, n_in=16, n_h=12, n_o=4, B=8):
    rng = np.random.default_rng(seed)
    X = rng.random((B, n_in))
    net = RateNet(
        (rng.uniform(-1, 1, (n_in, n_h)) * 1.5, rng.uniform(-1, 1, (n_h, n_o)) * 6 / np.sqrt(n_h)),
        (np.full(n_h, 1.3), np.full(n_o, 1.5)),
    )
    target = np.full((B, n_o), 0.05)
    target[np.arange(B), rng.integers(0, n_o, B)] = 0.35
    return X, net, target


def _lif_rate(i_a, p, sl, t_ref_unit, dt_s):
    """s = t_ref_nominal / (t_ref + T_th + dt/2): LIF driven by a constant current from reset.

    T_th = tau_m ln((v_inf - v_reset) / (v_inf - v_th)), v_inf = v_leak + I tau_m / c_mem; the
    spike is detected at the end of its step (half a step late on average).
    """
    v_inf = p.v_leak_v[sl] + i_a * p.tau_m_s[sl] / p.c_mem_f[sl]
    ok = v_inf > p.v_th_v[sl]
    ratio = np.where(ok, v_inf - p.v_reset_v[sl], 1.0) / np.where(ok, v_inf - p.v_th_v[sl], 1.0)
    t_th = p.tau_m_s[sl] * np.log(ratio)
    return np.where(ok, t_ref_unit / (p.t_ref_s[sl] + t_th + 0.5 * dt_s), 0.0)


def _mean_field(chip, net, X, units, teach_a=None, dt_s=0.5e-6):
    """Fixed point of s_h = f(I_h), s_o = f(I_o) with the mean synaptic currents (damped iteration)."""
    p = chip.true_params()
    network = chip_network(net, units, _tables(chip))
    cur = projection_currents(chip, network, p)  # current jumps (A) per synapse
    n_h, n_o = net.weights[0].shape[1], net.weights[1].shape[1]
    xs = np.concatenate([X, np.ones((len(X), 1))], axis=1)
    q = p.tau_syn_s[0] / units.t_ref_s  # mean current per jump at rate s / t_ref
    sh, so = np.zeros((len(X), n_h)), np.zeros((len(X), n_o))
    for _ in range(3000):
        i_h = (xs @ cur[0] + so @ cur[2]) * q
        i_o = (sh @ cur[1] + xs @ cur[3]) * q + (0.0 if teach_a is None else teach_a)
        sh = 0.5 * sh + 0.5 * _lif_rate(i_h, p, slice(0, n_h), units.t_ref_s, dt_s)
        so = 0.5 * so + 0.5 * _lif_rate(i_o, p, slice(n_h, n_h + n_o), units.t_ref_s, dt_s)
    return [sh, so]


def _cos(a, b):
    a = np.concatenate([x.ravel() for x in a])
    b = np.concatenate([x.ravel() for x in b])
    return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))


def test_spiking_update_approaches_rate_ep_update_as_phases_lengthen(ideal_chip):
    """Spike-count EP update -> the rate-EP update at the LIF network's mean-field fixed points."""
    units = Units.from_nominal(DEFAULT_TARGETS)
    X, net, target = _small_problem()
    beta = 2.0
    free = _mean_field(ideal_chip, net, X, units)
    nudged = _mean_field(ideal_chip, net, X, units, beta * (target - free[1]) * units.i_rheobase_a)
    reference = ep_update(X, free, nudged, beta)
    cos = []
    for window_s in (10e-6, 40e-6, 320e-6):
        sp = SpikingEP(
            ReferenceChip(ideal_chip, noise=False), units, Phases(30e-6, window_s), _tables(ideal_chip)
        )
        update, *_ = sp.step(X, target, net, beta, np.random.default_rng(5), 0)
        cos.append(_cos(update, reference))
    assert cos[0] < cos[1] < cos[2], cos
    assert cos[2] > 0.95, cos


def _symmetric_rate_reference(chip, net, X, target, beta, units):
    """(free mean-field rates, the symmetric rate-EP update (Laborieux et al. 2021)) of a batch."""
    free = _mean_field(chip, net, X, units)
    teach = beta * (target - free[1]) * units.i_rheobase_a
    plus = _mean_field(chip, net, X, units, teach)
    minus = _mean_field(chip, net, X, units, -teach)
    return free, [
        (a - b) / 2 for a, b in zip(ep_update(X, free, plus, beta), ep_update(X, free, minus, beta))
    ]


def test_symmetric_spiking_update_approaches_the_symmetric_rate_ep_update(ideal_chip):
    """(phi(s^+beta) - phi(s^-beta)) / (2 beta) from spike counts -> the same estimate at the
    LIF network's mean-field fixed points (Laborieux et al. 2021), for a long window."""
    units = Units.from_nominal(DEFAULT_TARGETS)
    X, net, target = _small_problem()
    beta = 2.0
    free, reference = _symmetric_rate_reference(ideal_chip, net, X, target, beta, units)
    sp = SpikingEP(ReferenceChip(ideal_chip, noise=False), units, Phases(30e-6, 320e-6), _tables(ideal_chip))
    update, free_s, _, obs, _ = sp.step_symmetric(X, target, net, beta, np.random.default_rng(5))
    assert len(obs) == 3
    assert _cos(update, reference) > 0.95
    assert _cos(free_s, free) > 0.95


def test_on_chip_symmetric_update_follows_the_symmetric_rate_ep_update(ideal_chip):
    """Sensor readings of the +beta run minus those of the -beta run, scaled by eta / (2 beta)
    and written to the codes (``update="on-chip", estimator="symmetric"``) -> the symmetric
    rate-EP estimate at the LIF network's mean-field fixed points (Laborieux et al. 2021).
    The sensors measure ``r_post g(r_pre)`` with a saturating ``g`` (nearest-spike pairing), so
    the input -> hidden agreement is looser than that of the spike counts; the phases are
    the training defaults (longer runs fill the sensor ADC's full scale)."""
    from types import SimpleNamespace

    from anamorph.training.eqprop import onchip
    from anamorph.training.eqprop.loop import make_eqspike_config, spiking_ep
    from anamorph.training.mapping import to_codes

    units = Units.from_nominal(DEFAULT_TARGETS)
    X, net, target = _small_problem(B=5)
    beta = 4.0
    _, reference = _symmetric_rate_reference(ideal_chip, net, X, target, beta, units)
    c = make_eqspike_config(
        "digits", update="on-chip", estimator="symmetric", eta_codes=200.0, t_settle_s=20e-6, t_window_s=60e-6
    )
    sp = spiking_ep(c, ideal_chip, DEFAULT_TARGETS, ReferenceChip(ideal_chip, noise=False))
    codes = [to_codes(w, units.codes_per_unit, _tables(ideal_chip)).astype(np.float64) for w in net.weights]
    biases = [to_codes(b, units.codes_per_unit, _tables(ideal_chip)).astype(np.float64) for b in net.biases]
    st = SimpleNamespace(
        net=RateNet(tuple(w.copy() for w in codes), tuple(biases)), opt=SimpleNamespace(lr=c.lr)
    )
    onchip.step(sp, st, X, target, beta, np.random.default_rng(5), 0, c)
    change = [new - old for new, old in zip(st.net.weights, codes)]
    assert _cos([change[1]], [reference[1]]) > 0.9
    assert _cos([change[0]], [reference[0]]) > 0.8


def test_input_trains_are_regular_with_the_coded_rate():
    units = Units(2e-6, 5e-8, 20.0)
    X = np.array([[0.0, 0.25, 1.0], [0.5, 0.1, 0.0]])
    window_s = 100e-6
    ev = input_trains(X, units, window_s, np.random.default_rng(0))
    counts = ev.counts(4)
    expected = np.concatenate([X, np.ones((2, 1))], axis=1) * window_s / units.t_ref_s
    assert np.all(np.abs(counts - expected) <= 1)
    assert np.all((ev.times_s >= 0) & (ev.times_s < window_s))
    t = ev.times_s[(ev.samples == 0) & (ev.units == 1)]
    np.testing.assert_allclose(np.diff(t), units.t_ref_s / 0.25)


def test_feedback_carries_the_transpose_of_the_forward_codes(ideal_chip):
    units = Units.from_nominal(DEFAULT_TARGETS)
    _, net, _ = _small_problem()
    network = chip_network(net, units, _tables(ideal_chip)).validate()
    fwd, back = network.projections[1], network.projections[2]
    assert (fwd.source, fwd.target, back.source, back.target) == ("hidden", "output", "output", "hidden")
    np.testing.assert_array_equal(back.codes, fwd.codes.T)
    bias = network.projections[3].codes
    assert np.all(bias[:-1] == 0)


@pytest.mark.parametrize("update", ["software", "on-chip"])
def test_resume_ends_bit_identical(tmp_path, update):
    from anamorph.training.eqprop.loop import train_eqspike

    chip = sample_chip(ProcessModel.default(), 2)

    def backend():
        return ReferenceChip(chip, noise=True, seed=4)

    full = train_eqspike(
        tiny_config(tmp_path / "full", 2, update),
        chip=chip,
        nominal=DEFAULT_TARGETS,
        backend=backend(),
        progress=None,
    )
    train_eqspike(
        tiny_config(tmp_path / "part", 1, update),
        chip=chip,
        nominal=DEFAULT_TARGETS,
        backend=backend(),
        progress=None,
    )
    part = train_eqspike(
        tiny_config(tmp_path / "part", 2, update),
        resume=True,
        chip=chip,
        nominal=DEFAULT_TARGETS,
        backend=backend(),
        progress=None,
    )
    with np.load(tmp_path / "full" / "weights.npz") as a, np.load(tmp_path / "part" / "weights.npz") as b:
        assert sorted(a.files) == sorted(b.files)
        for k in a.files:
            np.testing.assert_array_equal(a[k], b[k])
    assert full["test_accuracy"] == part["test_accuracy"]
    assert (tmp_path / "full" / "stdp.png").is_file()


def test_input_repeat_puts_every_feature_on_its_own_channels(tmp_path):
    """Yin-Yang's 4 features, each on 3 channels: 12 feature channels plus the bias channel."""
    from anamorph.training.eqprop.loop import make_eqspike_config, train_eqspike
    from anamorph.training.eqprop.settings import repeat_inputs

    c = make_eqspike_config(
        "yinyang",
        out=str(tmp_path / "rep"),
        epochs=1,
        n_train=20,
        n_test=10,
        batch_size=10,
        n_hidden=6,
        input_repeat=3,
        t_settle_s=10e-6,
        t_window_s=20e-6,
    )
    np.testing.assert_array_equal(repeat_inputs(c, np.array([[0.1, 0.7]])), [[0.1, 0.1, 0.1, 0.7, 0.7, 0.7]])
    chip = sample_chip(ProcessModel.default(), 2)
    train_eqspike(c, chip=chip, nominal=DEFAULT_TARGETS, backend=ReferenceChip(chip, seed=4), progress=None)
    with np.load(tmp_path / "rep" / "weights.npz") as w:
        assert w["w0"].shape == (12, 6)
        assert w["codes0"].shape == (13, 6)


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--algo", "eqspike", "--update", "hebbian"], "--update"),
        (["--update", "software"], "--update"),
        (["--algo", "eqspike", "--mode", "software"], "--mode"),
        (["--algo", "eqspike", "--dropout", "0.2"], "--dropout"),
        (["--algo", "eqspike", "--lr", "-1"], "--lr"),
        (["--algo", "eqspike", "--hidden", "200"], "--hidden"),  # 200 + 64 + 1 rows > 256
    ],
)
def test_bad_options_one_line_exit_2(tmp_path, capsys, argv, word):
    from anamorph.cli import main

    out = tmp_path / "run"
    code = main(["train", "--dataset", "digits", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and word in err
    assert not out.exists()


@pytest.mark.parametrize(
    "argv, word",
    [
        (["--algo", "eqspike", "--update", "hebbian"], "--update"),
        (["--algo", "eqspike", "--dropout", "0.2"], "--dropout"),
        (["--algo", "hebbian"], "--algo"),
        (["--update", "on-chip"], "--update"),
    ],
)
def test_mismatch_experiment_bad_options_one_line_exit_2(tmp_path, capsys, argv, word):
    from anamorph.cli import main

    out = tmp_path / "mm"
    code = main(["experiment", "mismatch", "--dataset", "digits", "--out", str(out), *argv])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and word in err
    assert not out.exists()


@pytest.mark.slow
def test_digits_in_the_loop_software_95_percent_and_on_chip_within_3_points(tmp_path):
    """The acceptance figures on digits (450 test images), on a calibrated chip sampled from
    the shipped process model, default settings: the software update (12 epochs, symmetric
    estimator) reaches at least 95 %, and the on-chip update (the sensors compute it, the
    codes are the only weights; 20 epochs) ends within 3 points of it. Chance is 10 %."""
    from accuracy import accuracy_target

    from anamorph.training.eqprop.loop import make_eqspike_config, train_eqspike

    runs = {
        update: train_eqspike(
            make_eqspike_config("digits", out=str(tmp_path / update), update=update), progress=None
        )
        for update in ("software", "on-chip")
    }
    soft, chip = runs["software"], runs["on-chip"]
    print(
        f"EqSpike digits: software {soft['test_accuracy']:.4f} ({soft['spikes_per_hidden_neuron']:.2f} "
        f"hidden spikes), on-chip {chip['test_accuracy']:.4f} ({chip['spikes_per_hidden_neuron']:.2f})"
    )
    accuracy_target(soft["test_accuracy"])
    assert chip["test_accuracy"] >= soft["test_accuracy"] - 0.03
    for m in runs.values():
        assert 0 < m["spikes_per_hidden_neuron"] < 40


def test_evaluation_energy_counts_every_spike_and_the_symmetric_feedback(ideal_chip):
    """Energy bookkeeping of an EqSpike evaluation (:mod:`anamorph.models.energy`): every
    input spike drives its row onto the hidden and output layers (bias row), every hidden
    spike its row onto the outputs and every output spike its feedback row onto the hidden
    layer; the inputs are regenerated here from the evaluation's seeds."""
    from anamorph.models.energy import EnergyParams
    from anamorph.training.eqprop.loop import evaluate

    X, net, _ = _small_problem(B=6)
    units = Units.from_nominal(DEFAULT_TARGETS)
    phases = Phases(10e-6, 20e-6)
    sp = SpikingEP(ReferenceChip(ideal_chip, noise=False, seed=0), units, phases, _tables(ideal_chip))
    params = EnergyParams.from_process(ideal_chip.process)
    ev = evaluate(sp, net, X, np.zeros(6, dtype=int), 3, 7, energy=params)
    e = ev["energy_per_sample"]
    n_h, n_o = 12, 4
    inputs = sum(
        input_trains(X[s : s + 3], units, phases.duration_s, np.random.default_rng([7, 6, j])).times_s.size
        for j, s in enumerate((0, 3))
    ) / len(X)
    hidden, output = ev["spikes_per_hidden_neuron"] * n_h, ev["spikes_per_output_neuron"] * n_o
    assert hidden > 0 and output > 0
    assert e["spikes"] == pytest.approx(hidden + output, rel=1e-12)
    assert e["synaptic_events"] == pytest.approx(
        inputs * (n_h + n_o) + hidden * n_o + output * n_h, rel=1e-12
    )
    assert e["static_uj"] == pytest.approx(
        1e6 * params.p_static_w * (n_h + n_o) * phases.duration_s, rel=1e-12
    )
    assert e["adc_uj"] == 0.0
