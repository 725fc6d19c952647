"""The sparse input drive (``input_drive_rows``) against dense tables built in the test.

The emulator feeds only the nonzero (step, sample) rows of the input current table into
the network; they must equal, bit for bit, the dense table that the sparse product over
all rows gives (built here with its own scipy product), and every other row of that table
must be zero. A plain loop over the events, binned by Brian2's convention for spike
generators (``n dt <= t + dt/1000 < (n+1) dt``, found by a search over the step grid),
checks the values independently of scipy.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from anamorph.models.backend import SpikeEvents
from anamorph.models.reference import input_drive_rows

DT = 0.5e-6


def _events(rng, n_samples, n_in, n_steps):
    """Latency spikes, extra spikes, exact duplicates and spikes outside the run."""
    lat = rng.uniform(0, n_steps * DT, (n_samples, n_in))
    lat[rng.random(lat.shape) < 0.4] = np.inf
    first = SpikeEvents.from_latencies(lat)
    k = 2 * n_samples
    t = np.concatenate(
        [
            first.times_s,
            rng.uniform(0, n_steps * DT, k),
            first.times_s[:k],  # duplicates: same sample, unit and time
            [-3 * DT, (n_steps + 2) * DT],  # before and after the run
            np.arange(3) * DT,  # exactly on step boundaries
        ]
    )
    u = np.concatenate([first.units, rng.integers(0, n_in, k), first.units[:k], [0, 1], [2, 3, 4]])
    s = np.concatenate([first.samples, rng.integers(0, n_samples, k), first.samples[:k], [0, 0], [1, 1, 1]])
    return SpikeEvents(t, u, s, n_samples)


def _dense_scipy(inputs, w, n_steps):
    """The dense table (n_steps * n_samples, n_out) as one sparse product over all rows."""
    steps = np.floor(inputs.times_s / DT + 1e-3).astype(np.int64)
    ok = (steps >= 0) & (steps < n_steps)
    rows = steps[ok] * inputs.n_samples + inputs.samples[ok]
    raster = sparse.csr_matrix(
        (np.ones(rows.size), (rows, inputs.units[ok])), shape=(n_steps * inputs.n_samples, w.shape[0])
    )
    return np.asarray(raster @ w)


def _dense_loop(inputs, w, n_steps):
    """The same table from a loop over events, each binned by a search over the step grid."""
    grid = np.arange(n_steps + 1) * DT
    out = np.zeros((n_steps * inputs.n_samples, w.shape[1]))
    for t, u, s in zip(inputs.times_s, inputs.units, inputs.samples):
        n = np.searchsorted(grid, t + DT / 1000, side="right") - 1
        if 0 <= n < n_steps:
            out[n * inputs.n_samples + s] += w[u]
    return out


def test_input_rows_equal_dense_table():
    rng = np.random.default_rng(4)
    n_samples, n_in, n_out, n_steps = 5, 30, 12, 80
    w = rng.normal(0, 1e-9, (n_in, n_out))
    inputs = _events(rng, n_samples, n_in, n_steps)
    rows, values = input_drive_rows(inputs, w, DT, n_steps)
    dense = _dense_scipy(inputs, w, n_steps)
    assert rows.size > 20 and np.all(np.diff(rows) > 0)
    assert np.array_equal(values, dense[rows])  # bit for bit
    rest = np.ones(dense.shape[0], dtype=bool)
    rest[rows] = False
    assert not np.any(dense[rest])
    np.testing.assert_allclose(values, _dense_loop(inputs, w, n_steps)[rows], rtol=1e-12, atol=1e-24)
    assert set(rows.tolist()) == set(np.flatnonzero(np.any(_dense_loop(inputs, w, n_steps) != 0, axis=1)))


def test_input_rows_without_events():
    inputs = SpikeEvents(np.array([-1e-6, 1.0]), np.array([0, 1]), np.array([0, 1]), 2)
    rows, values = input_drive_rows(inputs, np.ones((3, 4)), DT, 10)
    assert rows.size == 0 and values.shape == (0, 4)
