"""The compiled per-neuron event loop and adjoint against their whole-array numpy forms.

Two implementations of the same exact event-based LIF layer and of its EventProp adjoint
(training/eventprop): the kernels run each neuron through its events in scalar code, the
references advance every neuron together with numpy. Random layers over a range of time
constants (equal and unequal), refractory times, resets, spike caps and input spike counts
must give the same spikes, at the same times, and the same gradients, to rounding.
"""

import numpy as np
import pytest

from anamorph.training.eventprop.events import EventParams, events_from_spikes, simulate_layer
from anamorph.training.eventprop.events_numpy import simulate_layer_numpy


def _random_layer(rng, equal_taus: bool, max_spikes: int, inputs_per_channel: int, w_mean: float):
    """(EventParams, sorted input events (times, units), weights) of a random layer."""
    tm = rng.uniform(3e-6, 12e-6)
    p = EventParams(
        tau_m_s=tm,
        tau_syn_s=tm if equal_taus else rng.uniform(3e-6, 12e-6),
        t_ref_s=rng.uniform(0.0, 4e-6),
        v_reset=rng.uniform(-0.3, 0.2),
        duration_s=40e-6,
        max_spikes=max_spikes,
        grazing_vdot=0.2,
    )
    B, n_in, S = 6, int(rng.integers(2, 30)), inputs_per_channel
    t_in = np.sort(rng.uniform(0.0, 35e-6, (B, n_in, S)), axis=2)
    t_in[rng.random((B, n_in, S)) < 0.3] = np.inf
    et, eu, _ = events_from_spikes(t_in)
    return p, et, eu, rng.normal(w_mean, 1.0, (n_in, 9))


@pytest.mark.parametrize("seed", range(6))
def test_kernel_layer_equals_the_whole_array_loop(seed):
    rng = np.random.default_rng(seed)
    n_spikes = 0
    for trial in range(8):
        p, et, eu, w = _random_layer(
            rng, trial % 3 == 0, int(rng.integers(1, 6)), int(rng.integers(1, 4)), rng.uniform(-0.2, 1.0)
        )
        want = simulate_layer_numpy(et, eu, w, p)
        got = simulate_layer(et, eu, w, p)
        assert got.shape == want.shape
        fired = np.isfinite(want)
        assert np.array_equal(np.isfinite(got), fired)
        np.testing.assert_allclose(got[fired], want[fired], rtol=1e-12, atol=0.0)
        n_spikes += int(fired.sum())
    assert n_spikes > 100  # the layers fire: the comparison is not of empty rasters


@pytest.mark.parametrize("seed", range(4))
def test_kernel_adjoint_equals_the_whole_array_adjoint(seed):
    """Random layers as above, with random dL/dt of each output spike: the same gradients."""
    from anamorph.training.eventprop.adjoint import layer_backward
    from anamorph.training.eventprop.adjoint_numpy import layer_backward_numpy

    rng = np.random.default_rng(100 + seed)
    for trial in range(6):
        p, et, eu, w = _random_layer(rng, trial % 2 == 0, int(rng.integers(1, 5)), 1, 0.6)
        out = simulate_layer(et, eu, w, p)
        g = np.where(np.isfinite(out), rng.normal(0.0, 1.0, out.shape), 0.0)
        assert np.isfinite(out).any()
        dw, g_in = layer_backward(et, eu, w, out, g, p)
        dw_ref, g_in_ref = layer_backward_numpy(et, eu, w, out, g, p)
        np.testing.assert_allclose(dw, dw_ref, rtol=1e-10, atol=1e-12 * np.abs(dw_ref).max())
        np.testing.assert_allclose(g_in, g_in_ref, rtol=1e-10, atol=1e-12 * np.abs(g_in_ref).max())
