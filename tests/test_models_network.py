"""Recurrent and feedback networks, teaching currents, and the ReferenceChip backend.

The Brian2 emulator is checked against the numpy reference (a second simulator), the
teaching current against the analytic membrane of a current step, the synapse rows
against the chip's per-synapse gains.
"""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.errors import InputError
from anamorph.models.backend import Backend, SpikeEvents, Teaching
from anamorph.models.chip import sample_chip
from anamorph.models.network import ChipNetwork, Projection, projection_currents
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference import simulate_reference
from anamorph.models.reference_backend import ReferenceChip

DT = 0.5e-6
DURATION = 60e-6


def _inputs(rng, n_samples, n_in, t_max_s):
    lat = rng.uniform(0, t_max_s, (n_samples, n_in))
    lat[rng.random((n_samples, n_in)) < 0.3] = np.inf
    first = SpikeEvents.from_latencies(lat)
    n_extra = 4 * n_samples
    return SpikeEvents(
        np.concatenate([first.times_s, rng.uniform(0, t_max_s, n_extra)]),
        np.concatenate([first.units, rng.integers(0, n_in, n_extra)]),
        np.concatenate([first.samples, rng.integers(0, n_samples, n_extra)]),
        n_samples,
    )


def _recurrent(rng, n_in=20, n_a=24, n_b=10) -> ChipNetwork:
    """input -> A, A -> A (lateral, mixed signs), A -> B, B -> A (feedback), and two more
    input projections (onto B, and a second one onto A, which sums with the first)."""
    return ChipNetwork(
        n_in,
        (("A", n_a), ("B", n_b)),
        (
            Projection("input", "A", rng.integers(-20, 64, (n_in, n_a))),
            Projection("A", "A", rng.integers(-40, 41, (n_a, n_a)), plastic=True),
            Projection("A", "B", rng.integers(-20, 64, (n_a, n_b))),
            Projection("B", "A", rng.integers(-40, 41, (n_b, n_a))),
            Projection("input", "B", rng.integers(-10, 20, (n_in, n_b))),
            Projection("input", "A", rng.integers(-20, 30, (n_in, n_a))),
        ),
    )


def _steps(spikes):
    """(step, unit, sample) of every spike, sorted."""
    k = np.rint(spikes.times_s / DT).astype(np.int64)
    assert np.allclose(k * DT, spikes.times_s, rtol=0, atol=1e-12)
    order = np.lexsort((spikes.units, spikes.samples, k))
    return np.stack([k[order], spikes.units[order], spikes.samples[order]])


def _teaching(rng, n_samples, net, population):
    """Per-sample piecewise-constant currents on ``population`` (zero elsewhere)."""
    t_s = np.array([0.0, 10e-6, 25.3e-6, 40e-6])
    i_a = np.zeros((n_samples, t_s.size, net.n_used))
    i_a[:, 1:3, net.slice(population)] = rng.uniform(-3e-9, 6e-9, (n_samples, 2, net.sizes[population]))
    return Teaching(t_s, i_a)


# ---------------------------------------------------------------- layout (no Brian2)
def test_layout_rows_and_currents_follow_the_chip_gains():
    net = _recurrent(np.random.default_rng(0))
    assert net.offsets == {"A": 0, "B": 24} and net.n_used == 34 and net.slice("B") == slice(24, 34)
    # projections onto A take consecutive rows in declaration order; B's start at 0
    assert [net.rows(k) for k in range(6)] == [
        range(0, 20),
        range(20, 44),
        range(0, 24),
        range(44, 54),
        range(24, 44),
        range(54, 74),
    ]
    assert net.fan_in("A") == 74 and net.fan_in("B") == 44
    chip = sample_chip(ProcessModel.default(), seed=3)
    p = chip.true_params()
    cur = projection_currents(chip, net.validate(), p)
    codes = net.projections[3].codes  # B -> A: rows 44..53 of neurons 0..23
    k, j = np.nonzero(codes)
    mag = np.abs(codes[k, j])
    table = np.where(codes[k, j] > 0, chip.process.weight_table_exc[mag], chip.process.weight_table_inh[mag])
    h = chip.hidden
    gain = np.where(codes[k, j] > 0, h["syn_gain_exc"][44 + k, j], h["syn_gain_inh"][44 + k, j])
    expect = np.sign(codes[k, j]) * table * gain * p.w_unit_a[j]
    np.testing.assert_allclose(cur[3][k, j], expect, rtol=1e-12)
    assert np.all(cur[3][codes == 0] == 0)
    # the short form keeps rows 0..n_pre-1 (the layer layout)
    ff = ChipNetwork.from_layers([np.ones((5, 4), int), np.ones((4, 3), int)])
    assert ff.populations == (("layer1", 4), ("layer2", 3)) and ff.rows(1) == range(0, 4)
    assert ff.slice("layer2") == slice(4, 7)
    changed = net.with_codes(1, np.zeros((24, 24), int))
    assert np.all(changed.projections[1].codes == 0) and changed.projections[1].plastic
    assert np.any(net.projections[1].codes != 0)


def _bad(kind):
    z = lambda a, b: np.zeros((a, b), int)
    if kind == "fan-in":
        return ChipNetwork(
            200, (("A", 60),), (Projection("input", "A", z(200, 60)), Projection("A", "A", z(60, 60)))
        )
    if kind == "missing":
        return ChipNetwork(3, (("A", 4),), (Projection("input", "A", z(3, 4)), Projection("A", "C", z(4, 2))))
    if kind == "missing-source":
        return ChipNetwork(3, (("A", 4),), (Projection("input", "A", z(3, 4)), Projection("X", "A", z(4, 4))))
    if kind == "code 64":
        return ChipNetwork(3, (("A", 4),), (Projection("input", "A", np.full((3, 4), 64)),))
    if kind == "nan":
        w = np.zeros((3, 4))
        w[1, 2] = np.nan
        return ChipNetwork(
            3,
            (("A", 4), ("B", 2)),
            (Projection("input", "A", z(3, 4)), Projection("A", "B", z(4, 2)), Projection("B", "A", w[:2])),
        )
    if kind == "shape":
        return ChipNetwork(3, (("A", 4),), (Projection("input", "A", z(3, 5)),))
    if kind == "too many":
        return ChipNetwork(3, (("A", 300), ("B", 213)), (Projection("input", "A", z(3, 300)),))
    if kind == "non-integer":
        return ChipNetwork(3, (("A", 4),), (Projection("input", "A", np.full((3, 4), 1.5)),))
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind, field, message",
    [
        ("fan-in", "projections[1]", "fan-in 260"),
        ("missing", "projections[1].target", "'C' is not a population"),
        ("missing-source", "projections[1].source", "'X'"),
        ("code 64", "projections[0].codes", "outside -63..63"),
        ("nan", "projections[2].codes", "NaN"),
        ("shape", "projections[0].codes", "columns"),
        ("too many", "populations", "chip has 512"),
        ("non-integer", "projections[0].codes", "integers"),
    ],
)
def test_bad_networks_name_the_field(kind, field, message):
    with pytest.raises(InputError, match=message) as err:
        _bad(kind).validate("net.json")
    assert err.value.field == field and err.value.path == "net.json"
    # a backend refuses it before running anything
    chip = sample_chip(ProcessModel.default(), seed=0)
    with pytest.raises(InputError, match=message) as err:
        ReferenceChip(chip).run(SpikeEvents([1e-6], [0], [0], 1), _bad(kind), 10e-6)
    assert err.value.field == field


def test_bad_teaching_is_refused():
    from anamorph.models.emulator import ChipEmulator

    net = ChipNetwork(2, (("A", 3),), (Projection("input", "A", np.ones((2, 3), int)),))
    chip = sample_chip(ProcessModel.default(), seed=0)
    inputs = SpikeEvents([1e-6], [0], [0], 2)
    for backend, (teaching, field) in zip(
        [ReferenceChip(chip), ChipEmulator(chip)] * 3,
        [
            (Teaching([0.0, 1e-6], np.zeros((2, 2, 4))), "i_a"),  # 4 neurons, network has 3
            (Teaching([0.0, 1e-6], np.zeros((1, 2, 3))), "i_a"),  # 1 sample, batch has 2
            (Teaching([0.0, 1e-6], np.full((2, 2, 3), np.nan)), "i_a"),
            (Teaching([1e-6, 2e-6], np.zeros((2, 2, 3))), "t_s"),  # must start at 0
            (Teaching([0.0, 2e-6, 1e-6], np.zeros((2, 3, 3))), "t_s"),  # not increasing
        ],
    ):
        with pytest.raises(InputError) as err:
            backend.run(inputs, net, 10e-6, teaching=teaching)
        assert err.value.field == field and err.value.path == "teaching"


def test_reference_chip_noise_level_and_seed():
    """With noise on, the membranes fluctuate around v_leak with the chip's noise level."""
    chip = sample_chip(ProcessModel.default(), seed=4)
    backend = ReferenceChip(chip, noise=True, seed=9, ideal_adc=True, adc_period_s=DT)
    none = SpikeEvents([], [], [], 1)
    obs = backend.run(none, [], 200e-6, record="all")
    v = obs.adc_v[0][60:]  # after 30 µs (5 tau_m) of burn-in
    p = chip.true_params()
    # Ornstein-Uhlenbeck membrane: stationary sd noise_v_rms around v_leak
    dev = (v - p.v_leak_v[None, :]) / chip.hidden["noise_v_rms"][None, :]
    assert abs(np.sqrt(np.mean(dev**2)) - 1) < 0.05 and abs(np.mean(dev)) < 0.1
    again = ReferenceChip(chip, noise=True, seed=9, ideal_adc=True, adc_period_s=DT)
    assert np.array_equal(again.run(none, [], 200e-6, record="all").adc_v, obs.adc_v)
    assert not np.array_equal(backend.run(none, [], 200e-6, record="all").adc_v, obs.adc_v)
    assert backend.n_runs == 2


# ---------------------------------------------------------------- the emulator (Brian2)
@pytest.mark.brian2
def test_recurrent_network_emulator_matches_reference_spike_for_spike():
    from anamorph.models.emulator import ChipEmulator

    chip = sample_chip(ProcessModel.default(), seed=3)  # mismatch on
    emu = ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=1.7e-6)
    ref_chip = ReferenceChip(chip, dt_s=DT, adc_period_s=1.7e-6, ideal_adc=True)
    assert isinstance(ref_chip, Backend)
    rng = np.random.default_rng(11)
    net = _recurrent(rng)
    inputs = _inputs(rng, 4, net.n_inputs, 40e-6)
    p = chip.true_params()
    currents = emu.synaptic_currents(net)
    in_amperes = ChipNetwork(
        net.n_inputs,
        net.populations,
        tuple(Projection(q.source, q.target, c) for q, c in zip(net.projections, currents)),
    )
    for teaching in (None, _teaching(rng, 4, net, "B")):
        obs = emu.run(inputs, net, DURATION, record="all", teaching=teaching)
        ref = simulate_reference(
            p, inputs, in_amperes, DURATION, DT, record="all", teaching=teaching, weights_in_amperes=True
        )
        got, want = _steps(obs.spikes), _steps(ref.spikes)
        assert want.shape[1] > 100 and np.any(want[1] < 24) and np.any(want[1] >= 24)  # A and B spike
        assert np.array_equal(got, want)
        steps = np.rint(obs.adc_t_s / DT).astype(int)
        np.testing.assert_allclose(obs.adc_v, ref.adc_v[:, steps, :], rtol=1e-9, atol=0)
        other = ref_chip.run(inputs, net, DURATION, record="all", teaching=teaching)
        assert np.array_equal(_steps(other.spikes), got)
        np.testing.assert_allclose(other.adc_v, obs.adc_v, rtol=1e-9, atol=0)
        np.testing.assert_array_equal(other.adc_t_s, obs.adc_t_s)
        if teaching is None:
            no_teach = got
    assert not np.array_equal(no_teach, got)  # the teaching current changed the spikes
    # new codes, same structure: the compiled network is reused (one per teaching on/off)
    flipped = net.with_codes(1, -net.projections[1].codes)
    obs = emu.run(inputs, flipped, DURATION)
    assert len(emu._cache) == 2
    assert np.array_equal(_steps(obs.spikes), _steps(ref_chip.run(inputs, flipped, DURATION).spikes))
    assert not np.array_equal(_steps(obs.spikes), no_teach)
    # the lateral and feedback projections matter (without them other spikes)
    cut = (
        in_amperes.with_codes(1, 0 * currents[1])
        .with_codes(3, 0 * currents[3])
        .with_codes(4, 0 * currents[4])
    )
    ff = simulate_reference(p, inputs, cut, DURATION, DT, weights_in_amperes=True)
    assert not np.array_equal(_steps(ff.spikes), no_teach)


@pytest.mark.brian2
def test_feed_forward_short_form_is_unchanged():
    """The list of layers and the same network spelled out give identical results."""
    from anamorph.models.emulator import ChipEmulator

    chip = sample_chip(ProcessModel.default(), seed=1)
    emu = ChipEmulator(chip, dt_s=DT, noise=True, seed=4, adc_period_s=1.7e-6)
    rng = np.random.default_rng(2)
    weights = [rng.integers(-25, 64, (30, 16)), rng.integers(-25, 64, (16, 6))]
    inputs = _inputs(rng, 3, 30, 40e-6)
    net = ChipNetwork(
        30,
        (("hidden", 16), ("out", 6)),
        (Projection("input", "hidden", weights[0]), Projection("hidden", "out", weights[1])),
    )
    results = []
    for network in (weights, ChipNetwork.from_layers(weights), net):
        emu.n_runs = 0  # the same noise draw each time
        results.append(emu.run(inputs, network, DURATION, record="all"))
    for obs in results[1:]:
        assert np.array_equal(_steps(obs.spikes), _steps(results[0].spikes))
        assert np.array_equal(obs.adc_v, results[0].adc_v)
    assert results[0].spikes.times_s.size > 20


@pytest.mark.brian2
def test_teaching_current_follows_the_analytic_membrane():
    """One neuron, no synapses: V = v_leak + I R (1 - exp(-(t - t_on)/tau_m)), R = tau_m / c_mem."""
    from anamorph.models.emulator import ChipEmulator

    chip = sample_chip(ProcessModel.default(), seed=6)
    p = chip.true_params()
    net = ChipNetwork(0, (("A", 1),), ())
    r_ohm = p.tau_m_s[0] / p.c_mem_f[0]
    i_a = np.array([0.3, 0.7]) * (p.v_th_v[0] - p.v_leak_v[0]) / r_ohm  # stays below threshold
    t_on, t_off = 5e-6, 30e-6
    teaching = Teaching(np.array([0.0, t_on, t_off]), np.zeros((2, 3, 1)))
    teaching.i_a[:, 1, 0] = i_a
    none = SpikeEvents([], [], [], 2)
    for backend in (
        ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=DT),
        ReferenceChip(chip, dt_s=DT, ideal_adc=True, adc_period_s=DT),
    ):
        obs = backend.run(none, net, 50e-6, record="all", teaching=teaching)
        t = obs.adc_t_s
        assert t.size == 100 and obs.spikes.times_s.size == 0
        on = np.clip(t, t_on, t_off) - t_on
        rise = 1 - np.exp(-on / p.tau_m_s[0])
        expect = (
            p.v_leak_v[0]
            + (i_a[:, None] * r_ohm)
            * rise[None, :]
            * np.exp(-np.clip(t - t_off, 0, None) / p.tau_m_s[0])[None, :]
        )
        np.testing.assert_allclose(obs.adc_v[:, :, 0], expect, rtol=0, atol=1e-9)
