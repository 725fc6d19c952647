"""Bytes read from the chip: the accounting of models/readout.py on hand-counted batches."""

import numpy as np

from anamorph.models.backend import Observables, SpikeEvents
from anamorph.models.readout import bytes_read


def test_events_and_adc_samples_are_counted_per_sample():
    spikes = SpikeEvents(
        np.array([1e-6, 2e-6, 3e-6, 4e-6, 5e-6]), np.array([0, 1, 2, 0, 1]), np.array([0, 0, 1, 2, 2]), 3
    )
    spikes_only = Observables(spikes)
    assert bytes_read(spikes_only, 8) == {"events": 5 * 8 / 3, "adc": 0.0, "total": 5 * 8 / 3}
    # 3 samples x 4 sample times x 2 recorded neurons; one byte per 8-bit reading, two per 10-bit
    traced = Observables(
        spikes, adc_t_s=np.arange(4) * 1.7e-6, adc_v=np.zeros((3, 4, 2)), adc_neurons=np.array([0, 1])
    )
    assert bytes_read(traced, 8)["adc"] == 8.0
    assert bytes_read(traced, 10)["adc"] == 16.0
    assert bytes_read(traced, 8)["total"] == 8.0 + 5 * 8 / 3
