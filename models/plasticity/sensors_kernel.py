"""The sensors' accumulation as one compiled pass over a run's spikes (numba).

For one side of :func:`anamorph.models.plasticity.sensors.correlate` (the causal sensor:
own = post, cross = pre; the acausal one: own = pre, cross = post) every own spike at
``t`` of neuron ``u`` adds, to each synapse ``(u, c)`` whose cross neuron ``c`` spiked
strictly before ``t`` in the same sample,

    exp(-(t - t_c) / tau_cross[u, c]) * (A2[u, c] + A3[u, c] exp(-(t - t_u) / tau_own[u, c]))

(the second term only if ``u`` spiked before, at ``t_u``). Walking both spike lists in
time order, the last spike of every neuron is all the state there is; the cost is one
pass over the own spikes times the cross neurons. The whole-array numpy form,
:mod:`.sensors_numpy`, is the tests' reference.

Numba: Lam, Pitrou & Seibert 2015, LLVM-Workshop in SC15, doi:10.1145/2833157.2833162.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, nogil=True)
def side_loop(
    o_sample,
    o_unit,
    o_t,
    c_sample,
    c_unit,
    c_t,
    n_own,
    n_cross,
    n_rows,
    amp2,
    amp3,
    rate_cross,
    rate_own,
    per_sample,
):  # pragma: no cover - compiled
    """Sensor sums ``(n_rows * n_own, n_cross)``; events sorted by sample, then time, no repeats.

    ``rate_*`` are the reciprocal time constants (n_own, n_cross); ``n_rows`` is the number
    of samples with ``per_sample``, else 1 (all samples summed).
    """
    out = np.zeros((n_rows * n_own, n_cross))
    last_c = np.zeros(n_cross)
    seen_c = np.zeros(n_cross, dtype=np.bool_)
    last_o = np.zeros(n_own)
    seen_o = np.zeros(n_own, dtype=np.bool_)
    j, current = 0, -1
    for i in range(o_t.size):
        s, u, t = o_sample[i], o_unit[i], o_t[i]
        if s != current:  # a new sample: traces start at zero
            current = s
            seen_c[:] = False
            seen_o[:] = False
            while j < c_t.size and c_sample[j] < s:
                j += 1
        while j < c_t.size and c_sample[j] == s and c_t[j] < t:  # cross spikes strictly before t
            last_c[c_unit[j]] = c_t[j]
            seen_c[c_unit[j]] = True
            j += 1
        row = s * n_own + u if per_sample else u
        again = seen_o[u]
        dt_own = t - last_o[u]
        for c in range(n_cross):
            if seen_c[c]:
                term = np.exp(-((t - last_c[c]) * rate_cross[u, c]))
                factor = amp2[u, c]
                if again:
                    factor += amp3[u, c] * np.exp(-dt_own * rate_own[u, c])
                out[row, c] += term * factor
        last_o[u] = t
        seen_o[u] = True
    return out
