"""The compiled per-neuron event loop against the whole-array numpy event loop.

Two implementations of the same exact event-based LIF layer (training/eventprop): the
kernel runs each neuron through its input events in scalar code, the reference advances
every neuron together with numpy. Random layers over a range of time constants (equal and
unequal), refractory times, resets, spike caps and input spike counts must give the same
spikes, at the same times to rounding.
"""

import numpy as np
import pytest

from anamorph.training.eventprop.events import EventParams, events_from_spikes, simulate_layer
from anamorph.training.eventprop.events_numpy import simulate_layer_numpy


@pytest.mark.parametrize("seed", range(6))
def test_kernel_layer_equals_the_whole_array_loop(seed):
    rng = np.random.default_rng(seed)
    for trial in range(8):
        tm = rng.uniform(3e-6, 12e-6)
        ts = tm if trial % 3 == 0 else rng.uniform(3e-6, 12e-6)
        p = EventParams(
            tau_m_s=tm,
            tau_syn_s=ts,
            t_ref_s=rng.uniform(0.0, 4e-6),
            v_reset=rng.uniform(-0.3, 0.2),
            duration_s=40e-6,
            max_spikes=int(rng.integers(1, 6)),
        )
        B, n_in, N, S = 6, int(rng.integers(2, 30)), 9, int(rng.integers(1, 4))
        t_in = np.sort(rng.uniform(0.0, 35e-6, (B, n_in, S)), axis=2)
        t_in[rng.random((B, n_in, S)) < 0.3] = np.inf
        w = rng.normal(rng.uniform(-0.2, 1.0), 1.0, (n_in, N))
        et, eu, _ = events_from_spikes(t_in)
        want = simulate_layer_numpy(et, eu, w, p)
        got = simulate_layer(et, eu, w, p)
        assert got.shape == want.shape
        fired = np.isfinite(want)
        assert np.array_equal(np.isfinite(got), fired)
        np.testing.assert_allclose(got[fired], want[fired], rtol=1e-12, atol=0.0)
