"""How many bytes a host reads from the chip for one batch: spike events and ADC samples.

Training in the loop reads what it needs from the chip after every batch, and the volume
differs by algorithm: surrogate gradients (Cramer et al. 2022) read every hidden and
output membrane through the ADC besides the spikes; EventProp on BrainScaleS-2 (Pehle et
al. 2023, arXiv:2302.07141) reads spike times only, which is where its advantage in
information per read byte comes from. The count here is our accounting, not a transfer
protocol:

* a spike event is one 64-bit word (``EVENT_BYTES``): a timestamp and a neuron address;
* an ADC sample is ``ceil(bits / 8)`` bytes, one per recorded neuron and sample time
  (8-bit ADC: one byte).
"""

from __future__ import annotations

import math

EVENT_BYTES = 8


def bytes_read(obs, adc_bits: int) -> dict[str, float]:
    """Bytes per sample of :class:`~anamorph.models.backend.Observables` ``obs``.

    Returns ``{"events": ..., "adc": ..., "total": ...}``, each averaged over the batch's
    samples (``obs.spikes.n_samples``); ``adc`` is 0 when no membrane was recorded.
    """
    n = max(int(obs.spikes.n_samples), 1)
    events = EVENT_BYTES * len(obs.spikes.times_s) / n
    adc = 0.0 if obs.adc_v is None else math.ceil(adc_bits / 8) * obs.adc_v.size / n
    return {"events": events, "adc": adc, "total": events + adc}
