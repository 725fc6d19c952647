"""In-the-loop machinery: weight/membrane mapping to the chip, and --resume == uninterrupted."""

import numpy as np
import pytest

from anamorph.models.backend import SpikeEvents
from anamorph.models.neuron import DEFAULT_TARGETS
from anamorph.models.reference import simulate_reference
from anamorph.training.chip_loop import interpolate_traces
from anamorph.training.mapping import codes_per_unit, membrane_to_model, to_codes
from anamorph.training.snn import NetParams, forward


def test_weight_scale_reproduces_the_chip_neuron_psp():
    """A code-w synapse on the nominal chip neuron (the models' numpy reference, in volts)
    gives the same dimensionless PSP as the software weight w / codes_per_unit."""
    dt = 1e-6
    scale = codes_per_unit(DEFAULT_TARGETS, dt)
    code = 40
    obs = simulate_reference(
        DEFAULT_TARGETS, SpikeEvents([0.0], [0], [0], 1), [np.array([[code]])], 30e-6, dt, record="all"
    )
    v_ref = membrane_to_model(obs.adc_v[0, :, 0], DEFAULT_TARGETS)
    x = np.zeros((1, 30, 1))
    x[0, 0, 0] = 1.0
    p = NetParams(dt_s=dt, tau_m_s=DEFAULT_TARGETS.tau_m_s, tau_syn_s=DEFAULT_TARGETS.tau_syn_s)
    v_model = forward(x, [np.array([[code / scale]])], p).v[0][0, :, 0]
    assert v_model.max() == pytest.approx(v_ref.max(), rel=1e-9)
    # same shape up to the one-step delivery offset of the two schemes
    k = int(np.argmax(v_model)) - int(np.argmax(v_ref))
    np.testing.assert_allclose(v_model[k : k + 20], v_ref[:20], rtol=1e-9, atol=1e-12)
    assert to_codes(np.array([code / scale, 10.0, -10.0]), scale).tolist() == [code, 63, -63]


def test_adc_traces_are_interpolated_onto_the_model_grid():
    t = np.arange(6) * 1.7e-6
    v = np.stack([np.sin(t * 1e5), 2 * t * 1e5], axis=-1)[None]  # (1, 6, 2)
    out = interpolate_traces(t, v, 1e-6, 8)
    grid = np.arange(8) * 1e-6
    np.testing.assert_allclose(out[0, :, 1], 2 * grid * 1e5)  # linear: exact
    np.testing.assert_allclose(out[0, :, 0], np.interp(grid, t, v[0, :, 0]))


def _chip():
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    return sample_chip(ProcessModel.default(), 0)


@pytest.mark.slow  # two short training runs each
@pytest.mark.brian2
@pytest.mark.parametrize("dataset", ["digits", "yinyang"])  # yinyang: with a validation split
def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(tmp_path, dataset):
    from anamorph.training.config import make_config
    from anamorph.training.run import train_run

    chip = _chip()
    kw = dict(
        epochs=3, n_train=120, n_test=40, batch_size=40, n_hidden=20, dropout=0.2, input_dropout=0.1, seed=5
    )
    full = train_run(
        make_config(dataset, out=str(tmp_path / "full"), **kw),
        chip=chip,
        nominal=DEFAULT_TARGETS,
        progress=None,
    )
    if dataset == "yinyang":  # the epoch of the best validation accuracy is the one kept
        val = [h["val_accuracy"] for h in full.history]
        assert full.metrics["selected_epoch"] == 1 + int(np.argmax(val))

    class Killed(Exception):
        pass

    def kill_after_first_epoch(h):
        if h["epoch"] == 1:
            raise Killed

    c = make_config(dataset, out=str(tmp_path / "cut"), **kw)
    with pytest.raises(Killed):
        train_run(c, chip=chip, nominal=DEFAULT_TARGETS, progress=kill_after_first_epoch)
    assert not (tmp_path / "cut" / "weights.npz").exists()
    resumed = train_run(c, resume=True, chip=chip, nominal=DEFAULT_TARGETS, progress=None)
    assert len(resumed.history) == 3
    for a, b in zip(full.weights, resumed.weights):
        np.testing.assert_array_equal(a, b)
    assert resumed.metrics["test_accuracy"] == full.metrics["test_accuracy"]
    for name in ("metrics.json", "weights.npz", "learning_curve.png", "raster.png", "manifest.json"):
        assert (tmp_path / "cut" / name).is_file()
    # a resume with other settings is refused
    from anamorph.errors import InputError

    with pytest.raises(InputError, match="different settings"):
        train_run(
            make_config(dataset, out=str(tmp_path / "cut"), **{**kw, "n_hidden": 21}),
            resume=True,
            chip=chip,
            nominal=DEFAULT_TARGETS,
            progress=None,
        )


def test_driven_membrane_is_the_model_given_its_own_spikes():
    """Driven by the spikes the model itself emits, the reconstruction is the model's V."""
    from anamorph.training.chip_loop import driven_membrane

    rng = np.random.default_rng(4)
    p = NetParams(dt_s=0.5e-6, tau_m_s=6e-6, tau_syn_s=6e-6, refractory_steps=4)
    x = (rng.random((3, 60, 8)) < 0.1).astype(np.float64)
    w = [rng.normal(0.3, 0.3, (8, 10)), rng.normal(0.0, 0.3, (10, 2))]
    tr = forward(x, w, p)
    assert tr.s[0].sum() > 5
    np.testing.assert_allclose(driven_membrane(x, tr.s[0], w[0], p), tr.v[0], rtol=0, atol=1e-12)


def test_assimilated_trace_passes_through_the_adc_samples():
    """At the ADC's sample times the result is what the ADC read; a model that already
    agrees with the samples is left as it is."""
    from anamorph.training.chip_loop import assimilate

    dt, T = 0.5e-6, 40
    grid = np.arange(T) * dt
    t_adc = np.arange(0, T * dt - 1e-12, 1.5e-6)  # every third grid point
    model = np.sin(grid * 3e5)[None, :, None] * np.ones((2, 1, 3))
    adc = model[:, ::3] + np.array([0.1, -0.2, 0.05])
    out = assimilate(model, t_adc, adc, dt)
    np.testing.assert_allclose(out[:, ::3], adc, atol=1e-12)
    np.testing.assert_allclose(assimilate(model, t_adc, model[:, ::3], dt), model, atol=1e-12)
