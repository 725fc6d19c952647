"""The compiled kernels' recurrences in their plain form: one numpy statement per time step.

These are the loops of :mod:`.kernels` written over the whole batch at once, as the
equations of :mod:`.snn` and :mod:`.backprop` state them. They are the reference the
kernels are tested against bit for bit (``tests/test_training_kernels.py``) and timed
against (``bench/backward.py``); training uses the kernels.
"""

from __future__ import annotations

import numpy as np


def driven_membrane_steps(drive, s_own, keep, decay_m, decay_s):
    """:func:`.kernels.driven_membrane_loop`, one numpy statement per step."""
    B, T, n = drive.shape
    v = np.empty_like(drive)
    vt, it = np.zeros((B, n)), np.zeros((B, n))
    for t in range(T):
        v[:, t] = vt
        vt = (decay_m * vt * (1.0 - s_own[:, t]) + it) * keep[:, t]
        it = decay_s * it + drive[:, t]
    return v


def backward_layer_steps(keep, v, s, sg, g_s, g_v, decay_m, decay_s, hidden, detach_reset):
    """:func:`.kernels.backward_layer_loop` (with ``g_s`` = gS[t] summed), one statement per step."""
    B, T, n = keep.shape
    out = np.zeros((B, T, n))
    gv_next, gi_next = np.zeros((B, n)), np.zeros((B, n))
    for t in range(T - 1, -1, -1):
        out[:, t] = gi_next
        gv_next = keep[:, t] * gv_next
        gi = gv_next + decay_s * gi_next
        gv = decay_m * gv_next
        if hidden:
            gs = g_s[:, t]
            if not detach_reset:
                gs = gs - decay_m * v[:, t] * gv_next
            gv = gv * (1.0 - s[:, t]) + sg[:, t] * gs
        else:
            gv = gv + g_v[:, t]
        gv_next, gi_next = gv, gi
    return out
