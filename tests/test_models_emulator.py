"""The Brian2 chip emulator against the numpy reference and against analytic solutions."""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.errors import InputError
from anamorph.models.backend import SpikeEvents, Stimulus
from anamorph.models.chip import sample_chip
from anamorph.models.emulator import ChipEmulator
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.process_model import ProcessModel
from anamorph.models.reference import simulate_reference

DT = 0.5e-6


def _random_inputs(rng, n_samples, n_in, t_max_s):
    """Latency spikes plus a few extra spikes per channel (several spikes per channel)."""
    lat = rng.uniform(0, t_max_s, (n_samples, n_in))
    lat[rng.random((n_samples, n_in)) < 0.3] = np.inf
    first = SpikeEvents.from_latencies(lat)
    n_extra = 3 * n_samples
    t = np.concatenate([first.times_s, rng.uniform(0, t_max_s, n_extra)])
    u = np.concatenate([first.units, rng.integers(0, n_in, n_extra)])
    s = np.concatenate([first.samples, rng.integers(0, n_samples, n_extra)])
    return SpikeEvents(t, u, s, n_samples)


def _sorted(spikes):
    order = np.lexsort((spikes.units, spikes.samples, spikes.times_s))
    return spikes.times_s[order], spikes.units[order], spikes.samples[order]


def _compare(obs, ref):
    t_e, u_e, s_e = _sorted(obs.spikes)
    t_r, u_r, s_r = _sorted(ref.spikes)
    assert t_e.size == t_r.size and t_e.size > 20
    assert np.array_equal(u_e, u_r) and np.array_equal(s_e, s_r)
    assert np.array_equal(np.rint(t_e / DT), np.rint(t_r / DT))  # identical spike steps
    steps = np.rint(obs.adc_t_s / DT).astype(int)
    np.testing.assert_allclose(obs.adc_v, ref.adc_v[:, steps, :], rtol=1e-6, atol=0)


def _reference(chip, inputs, weights):
    """The numpy reference of ``weights`` on ``chip`` for 60 µs, every membrane recorded."""
    cur = ChipEmulator(chip).synaptic_currents(weights)
    return simulate_reference(
        chip.true_params(), inputs, cur, 60e-6, DT, record="all", weights_in_amperes=True
    )


def _emulator_and_reference(emu, chip, rng, sizes, n_samples):
    """A random network of layer ``sizes`` run 60 µs on ``emu`` and on the numpy reference,
    every membrane recorded."""
    weights = [rng.integers(-25, 64, sizes[k : k + 2]) for k in range(len(sizes) - 1)]
    inputs = _random_inputs(rng, n_samples, sizes[0], 40e-6)
    return emu.run(inputs, weights, 60e-6, record="all"), _reference(chip, inputs, weights)


@pytest.mark.parametrize("mismatch", [False, True])
def test_emulator_matches_numpy_reference(mismatch):
    process = ProcessModel.default()
    chip = sample_chip(process if mismatch else process.without_mismatch(), seed=5)
    emu = ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=1.7e-6)
    rng = np.random.default_rng(7)
    sizes = (40, 18, 12, 6)
    for repeat in range(2):  # the second batch reuses the built network, with new codes
        if repeat:
            codes = {p: rng.integers(c - 60, c + 60) for p, c in chip.codes.items()}
            chip = chip.with_codes(codes)
            emu.reconfigure(chip)
        obs, ref = _emulator_and_reference(emu, chip, rng, sizes, 3)
        _compare(obs, ref)
        if not mismatch:  # an ideal chip: the current per code unit is the target (1 DAC step)
            assert np.allclose(chip.true_params().w_unit_a, DEFAULT_TARGETS.w_unit_a, rtol=3e-3)


def test_threads_share_the_batch_without_changing_it():
    """Several OpenMP threads, each running a share of the copies: equal to the numpy
    reference with the noise off, and with the noise on, equal to one thread (bit for bit)
    when the copies do not split evenly (7 samples, 3 threads)."""
    chip = sample_chip(ProcessModel.default(), seed=5)
    emu = ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=1.7e-6, threads=2)
    _compare(*_emulator_and_reference(emu, chip, np.random.default_rng(9), (40, 18, 12, 6), 3))
    runs = []
    for threads in (1, 3):
        emu = ChipEmulator(chip, dt_s=DT, noise=True, seed=4, ideal_adc=True, threads=threads)
        runs.append(_emulator_and_reference(emu, chip, np.random.default_rng(10), (40, 18, 12, 6), 7)[0])
    assert runs[0].spikes.times_s.size > 50
    for name in ("times_s", "units", "samples"):
        assert np.array_equal(getattr(runs[0].spikes, name), getattr(runs[1].spikes, name))
    assert np.array_equal(runs[0].adc_v, runs[1].adc_v)


def test_weights_changed_in_place_take_effect_in_the_next_batch():
    """The emulator reuses the last batch's synaptic currents while the codes are equal:
    codes changed in place in the caller's array must still reach the next batch."""
    chip = sample_chip(ProcessModel.default(), seed=5)
    emu = ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=1.7e-6)
    rng = np.random.default_rng(11)
    weights = [rng.integers(-25, 64, (40, 18)), rng.integers(-25, 64, (18, 12))]
    inputs = _random_inputs(rng, 3, 40, 40e-6)
    for change in (None, 0, 1):
        if change is not None:
            weights[change][:] = rng.integers(-25, 64, weights[change].shape)
        _compare(emu.run(inputs, weights, 60e-6, record="all"), _reference(chip, inputs, weights))


def test_float32_emulator_stays_within_rounding_of_the_reference():
    """float32 against the float64 reference, noise off: every membrane within 1e-5 V
    (about 100 float32 rounding steps of a 1 V membrane; the chip's noise is 2 mV rms),
    and the same spikes, but for the rare step where a membrane sits within rounding of
    its threshold."""
    chip = sample_chip(ProcessModel.default(), seed=5)
    emu = ChipEmulator(chip, dt_s=DT, noise=False, ideal_adc=True, adc_period_s=DT, dtype="float32")
    rng = np.random.default_rng(8)
    obs, ref = _emulator_and_reference(emu, chip, rng, (60, 40, 10), 10)
    spikes = [
        set(zip(np.rint(x.spikes.times_s / DT).astype(int), x.spikes.units, x.spikes.samples))
        for x in (obs, ref)
    ]
    assert len(spikes[1]) > 200 and len(spikes[0] & spikes[1]) >= 0.99 * len(spikes[1])
    same = np.ones((10, obs.adc_v.shape[2]), bool)  # (sample, neuron) with identical spike trains
    for _, unit, sample in spikes[0] ^ spikes[1]:
        same[sample, unit] = False
    dv = np.abs(obs.adc_v - ref.adc_v[:, : obs.adc_v.shape[1]]).transpose(0, 2, 1)[same]
    assert 0 < dv.max() < 1e-5 and np.all(chip.hidden["noise_v_rms"] > 100 * 1e-5)


def test_reference_matches_analytic_psp_and_current_step():
    """tau_m == tau_syn: V(t) = v_leak + (q/c) t exp(-t/tau); a step: V = v_inf (1 - e^(-t/tau))."""
    p = DEFAULT_TARGETS
    inputs = SpikeEvents([0.0], [0], [0], 1)
    ref = simulate_reference(p, inputs, [np.array([[20]])], 40e-6, DT, record="all")
    t = ref.adc_t_s - DT  # the jump is delivered at the end of step 0
    i0 = 20 * p.w_unit_a
    expect = p.v_leak_v + np.where(t > 0, i0 / p.c_mem_f * t * np.exp(-t / p.tau_m_s), 0.0)
    np.testing.assert_allclose(ref.adc_v[0, :, 0], expect, rtol=1e-9, atol=1e-12)
    stim = Stimulus(np.full(4, 5e-9), 2e-6, 30e-6)
    ref = simulate_reference(
        p, SpikeEvents([], [], [], 1), [], 40e-6, DT, record=[0], stimulus=stim, n_neurons=4
    )
    t = ref.adc_t_s
    on = np.clip(t, stim.t_on_s, stim.t_off_s) - stim.t_on_s
    v_on = 5e-9 * p.tau_m_s / p.c_mem_f * (1 - np.exp(-on / p.tau_m_s))
    expect = p.v_leak_v + v_on * np.exp(-np.clip(t - stim.t_off_s, 0, None) / p.tau_m_s)
    np.testing.assert_allclose(ref.adc_v[0, :, 0], expect, rtol=1e-9)


def test_stimulus_on_all_neurons_and_adc():
    """Zero-layer network (calibration): a current step on all 512 neurons, ADC readout."""
    chip = sample_chip(ProcessModel.default(), seed=2)
    p = chip.true_params()
    emu = ChipEmulator(chip, dt_s=DT, noise=False)
    i_a = np.linspace(0.0, 4e-9, 512)
    stim = Stimulus(i_a, 5e-6, 60e-6)
    obs = emu.run(SpikeEvents([], [], [], 1), [], 60e-6, record="all", stimulus=stim)
    assert obs.adc_v.shape[2] == 512 and np.array_equal(obs.adc_neurons, np.arange(512))
    t = obs.adc_t_s
    v_inf = p.v_leak_v + i_a * p.tau_m_s / p.c_mem_f
    v = p.v_leak_v[None, :] + (v_inf - p.v_leak_v)[None, :] * (
        1 - np.exp(-np.clip(t[:, None] - stim.t_on_s, 0, None) / p.tau_m_s[None, :])
    )
    sub = v_inf < p.v_th_v - 0.01  # these never spike: the analytic curve holds
    assert sub.sum() > 100
    a = chip.process.data["adc"]
    lsb = (a["v_hi"] - a["v_lo"]) / (2 ** a["bits"] - 1)
    measured = v * chip.hidden["adc_gain"] + chip.hidden["adc_offset_v"]
    err = obs.adc_v[0][:, sub] - measured[:, sub]
    assert np.max(np.abs(err)) <= lsb / 2 + 1e-12
    spiking = v_inf > p.v_th_v + 0.02
    counts = obs.spikes.counts(512)[0]
    assert np.all(counts[spiking] > 0) and np.all(counts[sub] == 0)


def test_membrane_noise_level_and_seed():
    """Stationary membrane fluctuations equal the chip's noise level; the seed fixes them."""
    chip = sample_chip(ProcessModel.default(), seed=4)
    emu = ChipEmulator(chip, dt_s=DT, noise=True, seed=11, ideal_adc=True, adc_period_s=DT)
    obs = emu.run(SpikeEvents([], [], [], 1), [], 200e-6, record="all")
    v = obs.adc_v[0][60:]  # after 30 µs (5 tau_m) of burn-in
    p = chip.true_params()
    # an Ornstein-Uhlenbeck membrane around v_leak with stationary sd noise_v_rms
    dev = (v - p.v_leak_v[None, :]) / chip.hidden["noise_v_rms"][None, :]
    assert abs(np.sqrt(np.mean(dev**2)) - 1) < 0.05
    assert abs(np.mean(dev)) < 0.1
    # independent neurons: neighbours (consecutive counters of the generator) uncorrelated
    neighbour = np.mean([np.corrcoef(dev[:, k], dev[:, k + 1])[0, 1] for k in range(0, 510, 2)])
    assert abs(neighbour) < 0.03
    again = ChipEmulator(chip, dt_s=DT, noise=True, seed=11, ideal_adc=True, adc_period_s=DT)
    obs2 = again.run(SpikeEvents([], [], [], 1), [], 200e-6, record="all")
    assert np.array_equal(obs.adc_v, obs2.adc_v)
    obs3 = emu.run(SpikeEvents([], [], [], 1), [], 200e-6, record="all")
    assert not np.array_equal(obs.adc_v, obs3.adc_v)


def _hash_noise(key: int, counters: np.ndarray) -> np.ndarray:
    """The emulator's noise numbers from their definition (two multiply-xorshift rounds of
    ``key + counter``, four 16-bit fields summed, centred and scaled), in plain uint64 numpy."""
    z = (np.uint64(key) + counters) * np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(32))) * np.uint64(0xD6E8FEB86659FD93)
    z = z ^ (z >> np.uint64(32))
    fields = [(z >> np.uint64(s)) & np.uint64(0xFFFF) for s in (0, 16, 32, 48)]
    return (sum(f.astype(np.float64) for f in fields) - 131070.0) / np.sqrt(4 * (2**32 - 1) / 12)


def test_membrane_noise_equals_its_generator_definition():
    """Each step's increment is sig * n with n the hash of (key + step * N + neuron): the
    vectorised arrangement of the generated code draws exactly the defined numbers."""
    from anamorph.models.brian_network import noise_key

    chip = sample_chip(ProcessModel.default(), seed=4)
    emu = ChipEmulator(chip, dt_s=DT, noise=True, seed=11, ideal_adc=True, adc_period_s=DT)
    obs = emu.run(SpikeEvents([], [], [], 1), [], 3 * DT, record="all")
    prop, sig = emu._constants(512)
    v0, v1, v2 = obs.adc_v[0][:3] - prop.v_leak_v  # from rest: v1 = sig * n0
    drawn = np.stack([v1, v2 - v1 * prop.e_m]) / sig
    counters = np.arange(1024, dtype=np.uint64).reshape(2, 512)  # step * N + neuron
    expected = _hash_noise(noise_key(11, 0), counters)
    assert np.all(v0 == 0) and np.std(expected) > 0.9
    np.testing.assert_allclose(drawn, expected, rtol=0, atol=1e-9)


def test_networks_of_one_structure_share_their_compiled_code():
    """Networks of one structure alive at the same time (two batch sizes of one emulator,
    a second emulator) run the same compiled modules: the generated code names arrays
    after their objects, and with names of their own each network compiled its own
    modules, about 30 s per network on a fresh cache."""
    chip = sample_chip(ProcessModel.default(), seed=5)
    rng = np.random.default_rng(12)
    weights = [rng.integers(-25, 64, (10, 6)), rng.integers(-25, 64, (6, 4))]
    first, second = ChipEmulator(chip, noise=False), ChipEmulator(chip, noise=False)
    for emu, n_samples in ((first, 2), (first, 3), (second, 2)):
        emu.run(_random_inputs(rng, n_samples, 10, 20e-6), weights, 30e-6)
    networks = [*first._cache.values(), *second._cache.values()]
    modules = [
        [code.compiled_code["run"] for obj in built.net.sorted_objects for code in obj._code_objects]
        for built in networks
    ]
    assert len(networks) == 3 and len(modules[0]) >= 5
    assert all(m == modules[0] for m in modules[1:])


def test_a_failed_compilation_is_an_error(monkeypatch):
    """Brian2 logs a failed Cython compilation and runs without the block; the emulator
    refuses to (it would run without its neuron update: no error, no spikes)."""
    import anamorph.models.brian_network as bn

    def broken(b2, key, counters, dtype):
        code = "cdef inline double vnoise(long row, size_t i) noexcept nogil:\n    return undefined_name\n"
        return bn._per_neuron_function(b2, "vnoise", code, {}, n_args=1)

    monkeypatch.setattr(bn, "_noise_function", broken)
    emu = ChipEmulator(sample_chip(ProcessModel.default(), seed=0))
    with pytest.raises(RuntimeError, match="could not compile the 'run' block"):
        emu.run(SpikeEvents([1e-6], [0], [0], 1), [np.ones((4, 3), int)], 10e-6)


@pytest.mark.parametrize(
    "weights, message",
    [
        ([np.full((4, 3), 64)], "outside -63..63"),
        ([np.array([[1.0, np.nan]])], "NaN"),
        ([np.ones((257, 2), int)], "fan-in"),
        ([np.ones((10, 250), int), np.ones((250, 263), int)], "chip has 512"),
        ([np.ones((4, 3), int), np.ones((4, 2), int)], "rows"),
        ([np.full((2, 2), 1.5)], "integers"),
    ],
)
def test_bad_networks_are_refused(weights, message):
    emu = ChipEmulator(sample_chip(ProcessModel.default(), seed=0))
    inputs = SpikeEvents([1e-6], [0], [0], 1)
    with pytest.raises(InputError, match=message):
        emu.run(inputs, weights, 10e-6)


def test_bad_run_arguments_are_refused():
    from anamorph.models.backend import Backend

    emu = ChipEmulator(sample_chip(ProcessModel.default(), seed=0))
    assert isinstance(emu, Backend) and emu.n_neurons == 512 and emu.max_fan_in == 256
    with pytest.raises(InputError, match="'float64' or 'float32'"):
        ChipEmulator(emu.chip, dtype="float16")
    for threads in (0, 1.5, True):
        with pytest.raises(InputError, match="threads"):
            ChipEmulator(emu.chip, threads=threads)
    w = [np.ones((4, 3), int)]
    with pytest.raises(InputError, match="finite"):
        emu.run(SpikeEvents([np.nan], [0], [0], 1), w, 10e-6)
    with pytest.raises(InputError, match="input units"):
        emu.run(SpikeEvents([1e-6], [4], [0], 1), w, 10e-6)
    with pytest.raises(InputError, match="record"):
        emu.run(SpikeEvents([1e-6], [0], [0], 1), w, 10e-6, record=[3])
    with pytest.raises(InputError, match="duration"):
        emu.run(SpikeEvents([1e-6], [0], [0], 1), w, float("nan"))
    with pytest.raises(InputError, match="stimulus"):
        emu.run(SpikeEvents([], [], [], 1), [], 10e-6, stimulus=Stimulus(np.full(512, np.nan), 0, 1e-6))
