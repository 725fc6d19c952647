"""Gated-synapse weight memory: behavioural model vs ODE and ngspice, fit, process section, array."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from anamorph.errors import InputError
from anamorph.models.plasticity.gated_device import (
    GatedDeviceParams,
    GatePulse,
    pulse_step,
    run_train,
    validate_params,
)

pytestmark = pytest.mark.spice  # runs ngspice

SWEEP = Path(__file__).parents[1] / "models" / "data" / "sweeps" / "gated-synapse" / "sweep.parquet"
# Held out from the fit: other amplitudes (between and beside the sweep's), other order, rests.
HELD = (
    [1.05] * 10 + [-0.88] * 10 + [1.5] * 10 + [-1.2] * 10 + [1.25] * 10 + [-1.02] * 10 + [0.0] * 3 + [1.4] * 5
)


def _section(**log_mean):
    from anamorph.models.process_model import ProcessModel

    sec = json.loads(json.dumps(ProcessModel.default().gated_synapse))
    for name, value in log_mean.items():
        sec["log_mean"][sec["names"].index(name)] = float(np.log(value))
    return sec


def test_pulse_step_solves_the_device_ode_for_a_trapezoidal_pulse():
    """Against scipy: the ODE of the Verilog-A device (drive, state nonlinearity, retention)."""
    p = replace(GatedDeviceParams(), tau_ret_s=1e-3)
    pulse = GatePulse(width_s=0.5e-6, edge_s=50e-9, period_s=2e-6)
    for amp, s0, xi in [
        (1.3, 0.1, 0.0),
        (1.6, 0.7, 1.5),
        (-1.0, 0.8, -0.7),
        (-1.4, 0.3, 0.0),
        (0.5, 0.4, 0.0),
    ]:
        pts = [(0.0, 0.0), (pulse.edge_s, amp), (pulse.width_s, amp), (pulse.width_s + pulse.edge_s, 0.0)]
        t_pts, v_pts = np.array(pts).T

        def rhs(t, y):
            vg = np.interp(t, t_pts, v_pts)
            m = np.exp(p.sigma_c2c * xi)
            fp = (vg / p.v_th_p_v - 1) ** p.a_p if vg > p.v_th_p_v else 0.0
            fd = (-vg / p.v_th_d_v - 1) ** p.a_d if -vg > p.v_th_d_v else 0.0
            s = y[0]
            return [m * (fp * (1 - s) ** p.gamma_p / p.t_p_s - fd * s**p.gamma_d / p.t_d_s) - s / p.tau_ret_s]

        ref = solve_ivp(
            rhs, (0, pulse.period_s), [s0], method="LSODA", rtol=1e-11, atol=1e-13, max_step=5e-9
        ).y[0, -1]
        assert pulse_step(s0, amp, p, xi, pulse) == pytest.approx(
            ref, abs=2e-4
        )  # splitting error ~ width/tau_ret


@pytest.mark.spice
@pytest.mark.parametrize("instance", [3, 17])
def test_fitted_model_predicts_the_verilog_a_device_on_held_out_trains(instance):
    """Fit one device of the shipped sweep; simulate it in ngspice on trains the fit never saw,
    with cycle-to-cycle draws of another seed given to both: within 3 % of g_max - g_min."""
    import pandas as pd

    from anamorph.circuits.gated_synapse.device import simulate, train
    from anamorph.circuits.gated_synapse.sweep import SWEEP_BENCH, device_and_noise
    from anamorph.models.plasticity.gated_fit import fit_instance

    row = pd.read_parquet(SWEEP).set_index("instance", drop=False).loc[instance]
    fitted, _ = fit_instance(row)
    device, _ = device_and_noise(int(row["seed"]), instance, json.loads(row["settings"]), 1)
    noise = np.random.default_rng([2024, instance]).standard_normal(len(HELD))
    pulse = GatePulse(float(row["width_s"]), float(row["edge_s"]), float(row["period_s"]))
    out = simulate(
        device,
        train(HELD, pulse.period_s, pulse.period_s, pulse.width_s),
        (len(HELD) + 1.05) * pulse.period_s,
        SWEEP_BENCH,
        noise,
    )
    g_spice = np.interp(pulse.period_s * np.arange(2, len(HELD) + 2), out["t_s"], out["g_s"])
    g_model = run_train(HELD, fitted, noise, pulse=pulse)
    span = device.g_max_s - device.g_min_s
    assert np.max(np.abs(g_model - g_spice)) < 0.03 * span
    assert np.ptp(g_spice) > 0.4 * span  # the trains really move the device


def test_process_section_recovers_the_swept_population():
    """The shipped section's medians of the well-identified parameters equal the sweep's nominal device."""
    from anamorph.circuits.gated_synapse.device import GatedSynapseParams
    from anamorph.models.plasticity.gated_fit import nominal

    med, truth = nominal(_section()), GatedSynapseParams()
    for name, rel in [("g_min_s", 0.05), ("g_max_s", 0.05), ("tau_ret_s", 0.1), ("sigma_c2c", 0.15)]:
        assert getattr(med, name) == pytest.approx(getattr(truth, name), rel=rel), name


@pytest.mark.parametrize(
    "field,value", [("gamma_p", 0.5), ("t_d_s", -1e-6), ("sigma_c2c", 2.0), ("a_d", np.nan)]
)
def test_out_of_range_parameter_is_an_input_error_naming_it(field, value):
    with pytest.raises(InputError, match=f"{field}.*outside its declared range") as info:
        validate_params(
            replace(GatedDeviceParams(), **{field: np.array([1.0, value]) if field == "gamma_p" else value})
        )
    assert info.value.field == field


def test_bad_process_section_is_rejected_with_its_field():
    from anamorph.models.process_model import ProcessModel

    d = ProcessModel.default().to_dict()
    d["gated_synapse"]["log_sd"][2] = -0.1
    with pytest.raises(InputError) as info:
        ProcessModel(d)
    assert info.value.field == "gated_synapse.log_sd"
    d = ProcessModel.default().to_dict()
    d["gated_synapse"]["log_mean"][d["gated_synapse"]["names"].index("t_p_s")] = 5.0  # e^5 s
    with pytest.raises(InputError, match="t_p_s"):
        ProcessModel(d)


def test_array_steps_follow_the_pulse_direction_saturate_and_depend_on_state():
    from anamorph.models.plasticity.gated_array import GatedSynapseArray

    arr = GatedSynapseArray.sample(_section(sigma_c2c=1e-9), np.ones((3, 4), dtype=int), seed=4)
    w = [arr.code_equivalent()]
    for _ in range(12):
        arr = arr.apply_pulses(np.full((3, 4), 2))
        w.append(arr.code_equivalent())
    up = np.diff(np.array(w), axis=0)
    assert np.all(up > 0) and np.all(up[-1] < 0.3 * up[0])  # potentiation, shrinking steps
    assert np.all(np.array(w)[-1] < 63 * 1.5)
    w = [arr.code_equivalent()]
    for _ in range(12):
        arr = arr.apply_pulses(np.full((3, 4), -2))
        w.append(arr.code_equivalent())
    down = np.diff(np.array(w), axis=0)
    assert np.all(down < 0) and np.all(np.abs(down[-1]) < 0.5 * np.abs(down[0]))
    assert np.all(np.array(w) >= 0)
    # state dependence: the same pulse from a higher state is a smaller potentiation
    lo, hi = arr, arr.apply_pulses(np.full((3, 4), 8))
    d_lo = lo.apply_pulses(np.full((3, 4), 1)).code_equivalent() - lo.code_equivalent()
    d_hi = hi.apply_pulses(np.full((3, 4), 1)).code_equivalent() - hi.code_equivalent()
    assert np.all(d_hi < d_lo)
    # device-to-device variation: the same pulses give different weights
    assert np.std(arr.code_equivalent()) > 0


def test_plasticity_rule_moves_signed_weights_with_the_sensors():
    from anamorph.models.plasticity.gated_array import GatedSynapseArray, TripletPulses, gated_plasticity_step
    from anamorph.models.plasticity.processor import SensorReadings

    sign = np.array([[1, -1], [1, -1]])
    arr = GatedSynapseArray.from_codes(sign * 30, _section(), seed=5)
    readings = SensorReadings(
        causal=np.array([[0.3, 0.3], [0.0, 0.0]]), acausal=np.array([[0.0, 0.0], [0.3, 0.3]]), lsb=1 / 255
    )
    new = gated_plasticity_step(arr, readings, TripletPulses(eta_pulses=20, seed=1))
    dw = new.code_equivalent() - arr.code_equivalent()
    assert np.all(dw[0] > 0.5) and np.all(dw[1] < -0.5)  # a+ > a-: signed weight up, else down
    assert np.all(np.sign(new.code_equivalent()) == sign)
    with pytest.raises(InputError, match="counts"):
        arr.apply_pulses(np.ones((3, 3), dtype=int))


def test_gated_projection_currents_match_the_code_path_at_equal_weights():
    """Devices set to integer code-equivalents give the 6-bit synapses' currents (linear table)."""
    from anamorph.models.chip import sample_chip
    from anamorph.models.network import ChipNetwork, Projection, projection_currents
    from anamorph.models.plasticity.gated_array import GatedProjection, GatedSynapseArray, with_devices
    from anamorph.models.process_model import ProcessModel, provisional

    d = provisional()
    d["gated_synapse"] = _section()
    chip = sample_chip(ProcessModel(d), 3)
    rng = np.random.default_rng(0)
    codes = [rng.integers(-50, 51, (5, 4)), rng.integers(-50, 51, (4, 3))]
    plain = ChipNetwork(
        5, (("a", 4), ("b", 3)), (Projection("input", "a", codes[0]), Projection("a", "b", codes[1]))
    )
    devices = GatedSynapseArray.from_codes(codes[1], d["gated_synapse"], seed=9)
    assert np.allclose(devices.code_equivalent()[codes[1] != 0], codes[1][codes[1] != 0], atol=1e-9)
    gated = ChipNetwork(
        5, (("a", 4), ("b", 3)), (Projection("input", "a", codes[0]), GatedProjection.of("a", "b", devices))
    ).validate()
    ref, got = projection_currents(chip, plain.validate()), projection_currents(chip, gated)
    mask = codes[1] != 0
    assert np.allclose(got[0], ref[0]) and np.allclose(got[1][mask], ref[1][mask], rtol=1e-9)
    moved = with_devices(gated, 1, devices.apply_pulses(np.full((4, 3), 2)))
    assert np.all(np.abs(projection_currents(chip, moved)[1]) > np.abs(got[1]) - 1e-18)


def test_anamorph_fit_adds_the_section_from_a_gated_sweep(tmp_path):
    import pandas as pd

    from anamorph.models.fit import fit_process

    pd.read_parquet(SWEEP).head(4).to_parquet(tmp_path / "sweep.parquet")
    pm = fit_process([tmp_path], transients=False)
    sec = pm.gated_synapse
    assert sec["n_instances"] == 4 and len(pm.data["instances"]["gated_synapse"]) == 4
    assert [s["kind"] for s in pm.data["source"]["sweeps"]] == ["gated-synapse"]
    assert all(r["rms_step"] < 0.01 for r in pm.data["instances"]["gated_synapse"])


def test_reference_backend_runs_a_network_with_a_gated_projection():
    """Same spikes as the 6-bit network when the devices hold the same (integer) weights; more
    output spikes after potentiating pulses."""
    from anamorph.models.backend import SpikeEvents
    from anamorph.models.chip import sample_chip
    from anamorph.models.network import ChipNetwork, Projection
    from anamorph.models.plasticity.gated_array import GatedProjection, GatedSynapseArray, with_devices
    from anamorph.models.process_model import ProcessModel, provisional
    from anamorph.models.reference_backend import ReferenceChip

    d = provisional()
    d["gated_synapse"] = _section()
    chip = sample_chip(ProcessModel(d), 1)
    codes = np.full((8, 2), 25)
    rng = np.random.default_rng(1)
    inputs = SpikeEvents.from_latencies(rng.uniform(1e-6, 30e-6, (3, 8)))
    devices = GatedSynapseArray.from_codes(codes, d["gated_synapse"], seed=2)
    plain = ChipNetwork(8, (("out", 2),), (Projection("input", "out", codes),))
    gated = ChipNetwork(8, (("out", 2),), (GatedProjection.of("input", "out", devices),))
    backend = ReferenceChip(chip)
    a, b = (backend.run(inputs, net, 60e-6).spikes for net in (plain, gated))
    assert a.times_s.size > 0
    assert np.array_equal(a.units, b.units) and np.allclose(a.times_s, b.times_s)
    stronger = with_devices(gated, 0, devices.apply_pulses(np.full((8, 2), 6)))
    assert backend.run(inputs, stronger, 60e-6).spikes.times_s.size > a.times_s.size


def test_gated_network_step_pulses_plastic_projections_and_codes_cannot_be_written():
    from anamorph.models.backend import Observables, SpikeEvents
    from anamorph.models.network import ChipNetwork
    from anamorph.models.plasticity.gated_array import (
        GatedProjection,
        GatedSynapseArray,
        TripletPulses,
        gated_network_step,
    )
    from anamorph.models.plasticity.processor import SensorReadings

    devices = GatedSynapseArray.from_codes(np.full((3, 2), 20), _section(), seed=6)
    net = ChipNetwork(
        3, (("out", 2),), (GatedProjection.of("input", "out", devices, plastic=True),)
    ).validate()
    readings = SensorReadings(causal=np.full((3, 2), 0.4), acausal=np.zeros((3, 2)), lsb=1 / 255)
    obs = Observables(
        spikes=SpikeEvents(np.zeros(0), np.zeros(0, int), np.zeros(0, int), 1), sensors={0: readings}
    )
    new = gated_network_step(net, obs, TripletPulses(seed=2), run_s=50e-6)
    assert np.all(new.projections[0].devices.code_equivalent() > devices.code_equivalent() + 0.5)
    with pytest.raises(InputError, match="gate pulses"):
        new.with_codes(0, np.full((3, 2), 40))


@pytest.mark.spice
def test_process_section_population_predicts_new_monte_carlo_devices():
    """40 fresh devices (another seed than the shipped sweep) in ngspice on the held-out trains
    vs 4000 devices sampled from the process section: mean conductance within 3 % of the
    nominal range at every pulse, spread within a factor 1.5."""
    from anamorph.circuits.gated_synapse.device import GatedSynapseParams, simulate, train
    from anamorph.circuits.gated_synapse.sweep import SWEEP_BENCH, SWEEPABLE, device_and_noise
    from anamorph.models.plasticity.gated_fit import pulse_of, sample_devices

    sec = _section()
    pulse = pulse_of(sec)
    spice = []
    for instance in range(40):
        device, noise = device_and_noise(77, instance, dict(SWEEPABLE.default_settings), len(HELD))
        out = simulate(
            device,
            train(HELD, pulse.period_s, pulse.period_s, pulse.width_s),
            (len(HELD) + 1.05) * pulse.period_s,
            SWEEP_BENCH,
            noise,
        )
        spice.append(np.interp(pulse.period_s * np.arange(2, len(HELD) + 2), out["t_s"], out["g_s"]))
    spice = np.array(spice)
    params, rng = sample_devices(sec, (4000,), np.random.default_rng(0)), np.random.default_rng(1)
    s, model = np.zeros(4000), []
    for amp in HELD:
        s = pulse_step(s, amp, params, rng.standard_normal(4000), pulse)
        model.append(params.g_min_s + (params.g_max_s - params.g_min_s) * s)
    model = np.array(model).T
    span = GatedSynapseParams().g_max_s - GatedSynapseParams().g_min_s
    assert np.max(np.abs(model.mean(axis=0) - spice.mean(axis=0))) < 0.03 * span
    ratio = model.std(axis=0)[4:] / spice.std(axis=0, ddof=1)[4:]
    assert np.all((ratio > 1 / 1.5) & (ratio < 1.5))
