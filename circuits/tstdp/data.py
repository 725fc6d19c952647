"""Published STDP experiments and the triplet rule's published parameter sets.

- :data:`HIPPOCAMPAL`: pair and triplet data of Wang, Gerkin, Nauen & Bi, Nat. Neurosci.
  8:187-193, 2005 (hippocampal cultures, 60 repetitions at 1 Hz) as tabulated by Pfister &
  Gerstner, J. Neurosci. 26(38):9673-9682, 2006 (Table 3); the data the rule is fitted to.
- :data:`QUADRUPLET_CELLS` / :func:`quadruplet_bins`: the quadruplet experiments of Wang
  et al. 2005 (their Fig. 7; Pfister & Gerstner 2006, Fig. 6), one value per cell.
- :data:`SJOSTROM`: weight change against pairing frequency, visual cortex L5 (Sjöström,
  Turrigiano & Nelson, Neuron 32:1149-1164, 2001) as tabulated by Pfister & Gerstner 2006
  (Table 1).
- :data:`PARAMETER_SETS`: Pfister & Gerstner 2006, Table 2 (visual cortex) and Table 4
  (hippocampus), all-to-all and nearest-spike, full and minimal models.

Weight changes are normalised (0.25 = +25 %), s.e.m. likewise. Triplet intervals are
positive durations: a pre-post-pre ``(dt1, dt2)`` is a pre spike, the post spike ``dt1``
later and the second pre spike ``dt2`` after the post spike; a post-pre-post ``(dt1, dt2)``
is post, pre ``dt1`` later, post ``dt2`` after that. A pair ``dt`` is ``t_post - t_pre``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from anamorph.circuits.tstdp.rule import TripletParams

CITATION = (
    "Pfister & Gerstner, J. Neurosci. 26(38), 2006; data of Wang et al., Nat. Neurosci. 8, 2005 and "
    "Sjöström et al., Neuron 32, 2001; circuit after Azghadi et al., Neural Networks 45, 2013"
)


@dataclass(frozen=True)
class Datum:
    """One hippocampal measurement: protocol kind, intervals (s), normalised weight change and s.e.m."""

    kind: str  # "pair" | "pre-post-pre" | "post-pre-post"
    dt1_s: float
    dt2_s: float  # unused (0) for pairs
    dw: float
    sem: float

    @property
    def label(self) -> str:
        if self.kind == "pair":
            return f"pair {self.dt1_s * 1e3:+.0f} ms"
        return f"{self.kind} ({self.dt1_s * 1e3:.0f},{self.dt2_s * 1e3:.0f}) ms"


HIPPOCAMPAL: tuple[Datum, ...] = (
    Datum("pair", 10e-3, 0.0, 0.25, 0.05),
    Datum("pair", -10e-3, 0.0, -0.17, 0.05),
    Datum("pre-post-pre", 5e-3, 5e-3, -0.01, 0.04),
    Datum("pre-post-pre", 10e-3, 10e-3, 0.03, 0.04),
    Datum("pre-post-pre", 15e-3, 5e-3, 0.01, 0.03),
    Datum("pre-post-pre", 5e-3, 15e-3, 0.24, 0.06),
    Datum("post-pre-post", 5e-3, 5e-3, 0.33, 0.04),
    Datum("post-pre-post", 10e-3, 10e-3, 0.34, 0.04),
    Datum("post-pre-post", 5e-3, 15e-3, 0.22, 0.08),
    Datum("post-pre-post", 15e-3, 5e-3, 0.29, 0.05),
)
HIPPOCAMPAL_REPETITIONS = 60
HIPPOCAMPAL_FREQUENCY_HZ = 1.0


@dataclass(frozen=True)
class PairingDatum:
    """Sjöström et al. 2001: 60 pairs with offset ``dt_s`` at ``frequency_hz``; weight change, s.e.m."""

    frequency_hz: float
    dt_s: float
    dw: float
    sem: float

    @property
    def label(self) -> str:
        return f"pairing {self.dt_s * 1e3:+.0f} ms @ {self.frequency_hz:g} Hz"


# Pfister & Gerstner 2006, Table 1 (from Sjöström et al. 2001, Figs. 1D and 7B).
SJOSTROM: tuple[PairingDatum, ...] = tuple(
    PairingDatum(f, dt, dw, sem)
    for f, plus, minus in (
        (0.1, (-0.04, 0.05), (-0.29, 0.08)),
        (10.0, (0.14, 0.10), (-0.41, 0.11)),
        (20.0, (0.29, 0.14), (-0.34, 0.10)),
        (40.0, (0.53, 0.11), (0.56, 0.32)),
        (50.0, (0.56, 0.26), (0.75, 0.19)),
    )
    for dt, (dw, sem) in ((10e-3, plus), (-10e-3, minus))
)

# Wang et al. 2005, Fig. 7: quadruplets of a +5 ms (pre-post) and a -5 ms (post-pre) pair,
# 60 at 1 Hz. T > 0: post-pre-pre-post, T the interval between the two pre spikes; T < 0:
# pre-post-post-pre, |T| the interval between the two post spikes (the inner interval, see
# anamorph.circuits.tstdp.protocols.quadruplet). One (T ms, weight change %) per cell, as
# digitised from that figure by S. Li (github.com/ShuangLiBCM/Plasticity_ker,
# data/kernel_training_data.csv, protocol 9). A second digitisation in the same repository
# places the T axis up to ~8 % wider; the bins below are wider than that.
QUADRUPLET_CELLS: tuple[tuple[float, float], ...] = (
    (-108.5, 7.51),
    (-108.8, -9.51),
    (-100.0, 0.15),
    (-87.8, -7.38),
    (-13.0, -18.66),
    (-69.2, -5.26),
    (-65.6, -5.26),
    (-55.8, -1.85),
    (-45.0, 2.13),
    (-46.3, 3.40),
    (-45.0, -5.32),
    (-45.4, -7.09),
    (-34.9, 1.28),
    (-25.9, 10.06),
    (-24.9, 6.24),
    (-24.9, 1.56),
    (-24.9, 0.0),
    (-24.9, -12.77),
    (-20.7, 5.32),
    (-15.5, 20.64),
    (-15.5, 18.57),
    (-15.5, 6.11),
    (-10.2, 47.66),
    (-10.7, 7.02),
    (-9.3, -10.43),
    (11.1, 2.27),
    (11.1, 14.04),
    (11.1, 14.26),
    (11.1, 44.04),
    (16.3, 13.19),
    (16.3, 31.06),
    (22.0, 23.40),
    (22.0, 44.54),
    (22.0, 4.26),
    (26.3, 28.20),
    (26.3, 26.10),
    (26.3, 20.85),
    (26.3, 10.21),
    (26.3, 3.26),
    (26.3, 1.99),
    (35.8, 30.91),
    (35.8, 23.55),
    (35.8, 16.87),
    (35.8, 11.06),
    (45.0, 16.17),
    (45.0, 6.81),
    (56.7, 28.09),
    (56.7, 14.26),
    (56.7, 8.72),
    (66.5, 19.36),
    (66.5, 9.15),
    (76.3, 7.51),
    (76.3, -5.11),
    (86.6, 10.43),
    (86.6, -4.47),
    (96.6, 8.36),
    (-75.0, 7.60),
    (-25.0, -12.41),
    (-15.0, 19.60),
    (106.4, 2.30),
)
QUADRUPLET_DT_S = 5e-3
QUADRUPLET_BIN_EDGES_MS = (-115.0, -80.0, -50.0, -30.0, -18.0, -5.0, 5.0, 18.0, 30.0, 50.0, 80.0, 115.0)


@dataclass(frozen=True)
class QuadrupletBin:
    """Cells with ``T`` in one bin: their T values (s), mean weight change, s.e.m. of the mean."""

    t_lo_s: float
    t_hi_s: float
    t_cells_s: tuple[float, ...]
    dw: float
    sem: float

    @property
    def label(self) -> str:
        return f"quadruplet T in [{self.t_lo_s * 1e3:+.0f},{self.t_hi_s * 1e3:+.0f}] ms (n={len(self.t_cells_s)})"


def quadruplet_bins(cells=QUADRUPLET_CELLS, edges_ms=QUADRUPLET_BIN_EDGES_MS) -> tuple[QuadrupletBin, ...]:
    """Mean and s.e.m. (sample s.d. / sqrt(n)) of the cells in each ``T`` bin (the bin around 0 is empty)."""
    t = np.array([c[0] for c in cells])
    dw = np.array([c[1] for c in cells]) / 100.0
    out = []
    for lo, hi in zip(edges_ms[:-1], edges_ms[1:]):
        inside = (t > lo) & (t <= hi) if lo >= 0 else (t >= lo) & (t < hi)
        if inside.sum() < 2:
            continue
        v = dw[inside]
        out.append(
            QuadrupletBin(
                lo * 1e-3,
                hi * 1e-3,
                tuple(t[inside] * 1e-3),
                float(v.mean()),
                float(v.std(ddof=1) / np.sqrt(v.size)),
            )
        )
    return tuple(out)


QUADRUPLETS = quadruplet_bins()

_MS = 1e-3
UNUSED_TAU_X_S = 0.1  # minimal models have no r2 term (A3- = 0): tau_x is irrelevant


def _set(a2p, a3p, a2m, a3m, tau_x_ms, tau_y_ms, interaction):
    tau_x = UNUSED_TAU_X_S if tau_x_ms is None else tau_x_ms * _MS
    return TripletParams(a2p, a3p, a2m, a3m, tau_x, tau_y_ms * _MS, interaction=interaction)


# Pfister & Gerstner 2006, Tables 2 and 4 (tau_plus 16.8 ms, tau_minus 33.7 ms throughout).
# The plain names are the full models; "-minimal" drops the terms the paper sets to zero.
PARAMETER_SETS: dict[str, TripletParams] = {
    "visual-all-to-all": _set(5e-10, 6.2e-3, 7e-3, 2.3e-4, 101, 125, "all-to-all"),
    "visual-all-to-all-minimal": _set(0.0, 6.5e-3, 7.1e-3, 0.0, None, 114, "all-to-all"),
    "visual-nearest": _set(8.8e-11, 5.3e-2, 6.6e-3, 3.1e-3, 714, 40, "nearest"),
    "visual-nearest-minimal": _set(0.0, 5e-2, 8e-3, 0.0, None, 40, "nearest"),
    "hippocampal-all-to-all": _set(6.1e-3, 6.7e-3, 1.6e-3, 1.4e-3, 946, 27, "all-to-all"),
    "hippocampal-all-to-all-minimal": _set(5.3e-3, 8e-3, 3.5e-3, 0.0, None, 40, "all-to-all"),
    "hippocampal-nearest": _set(4.6e-3, 9.1e-3, 3e-3, 7.5e-9, 575, 47, "nearest"),
    "hippocampal-nearest-minimal": _set(4.6e-3, 9.1e-3, 3e-3, 0.0, None, 48, "nearest"),
}

# Sjöström et al. 2001 pairing-frequency experiment: the frequencies and offsets of SJOSTROM.
PAIRING_FREQUENCIES_HZ = (0.1, 10.0, 20.0, 40.0, 50.0)
PAIRING_DT_S = (10e-3, -10e-3)
