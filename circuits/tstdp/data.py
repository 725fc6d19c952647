"""Reference data and parameter sets of the triplet STDP rule.

Source: Pfister & Gerstner, "Triplets of spikes in a model of spike timing-dependent
plasticity", J. Neurosci. 26(38):9673-9682, 2006 (Table 2 parameter sets; the hippocampal
pair and triplet data of Wang et al., Nat. Neurosci. 8:187-193, 2005, 60 repetitions at
1 Hz), as reproduced by the analog circuit of Azghadi, Al-Sarawi, Abbott & Iannella,
"A neuromorphic VLSI design for spike timing and rate based synaptic plasticity", Neural
Networks 45:70-82, 2013. Figures as listed in the project's ``reference/seed-results.md``.

Triplet intervals are positive durations in ms: a pre-post-pre triplet ``(dt1, dt2)`` is a
pre spike, the post spike ``dt1`` later, and the second pre spike ``dt2`` after the post
spike; a post-pre-post triplet ``(dt1, dt2)`` is post, pre ``dt1`` later, post ``dt2`` after
that. A pair ``dt`` is ``t_post - t_pre``.
"""

from __future__ import annotations

from dataclasses import dataclass

from anamorph.circuits.tstdp.rule import TripletParams

CITATION = ("Pfister & Gerstner, J. Neurosci. 26(38), 2006; data of Wang et al., Nat. Neurosci. 8, 2005; "
            "circuit after Azghadi et al., Neural Networks 45, 2013")


@dataclass(frozen=True)
class Datum:
    """One hippocampal measurement: protocol kind, intervals (s), normalised weight change and s.e.m."""

    kind: str          # "pair" | "pre-post-pre" | "post-pre-post"
    dt1_s: float
    dt2_s: float       # unused (0) for pairs
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

# Pfister & Gerstner 2006, Table 2: the "full" models (tau_plus 16.8 ms, tau_minus 33.7 ms).
PARAMETER_SETS: dict[str, TripletParams] = {
    "visual-all-to-all": TripletParams(5e-10, 6.2e-3, 7e-3, 2.3e-4, 101e-3, 125e-3, interaction="all-to-all"),
    "visual-nearest": TripletParams(8.8e-11, 5.3e-2, 6.6e-3, 3.1e-3, 714e-3, 40e-3, interaction="nearest"),
    "hippocampal-all-to-all": TripletParams(6.1e-3, 6.7e-3, 1.6e-3, 1.4e-3, 946e-3, 27e-3,
                                            interaction="all-to-all"),
    "hippocampal-nearest": TripletParams(4.6e-3, 9.1e-3, 3e-3, 7.5e-9, 575e-3, 47e-3, interaction="nearest"),
}

# Sjöström et al. 2001 pairing-frequency experiment (qualitative, see module docstring).
PAIRING_FREQUENCIES_HZ = (0.1, 10.0, 20.0, 40.0, 50.0)
PAIRING_DT_S = (10e-3, -10e-3)
