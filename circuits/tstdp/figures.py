"""Figures of the TSTDP circuit: protocol curves, pairing frequency, rate dependence.

- :func:`sweep_figures` (``anamorph sweep tstdp``): the hippocampal protocols, data with
  their s.e.m. error bars against the Monte Carlo median and 5-95 % range; histograms.
- ``python -m anamorph.circuits.tstdp.figures --out DIR``: pairing-frequency curves
  (visual-cortex nearest-spike set, circuit and ideal rule, against Sjöström et al. 2001),
  the quadruplet curves (fitted rule, the paper's set and the shipped circuit against Wang
  et al. 2005; data the fit did not see) and the BCM-like rate curve.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from anamorph import io
from anamorph.circuits.figures import pyplot, save


def sweep_figures(table, out_dir) -> list[Path]:
    """Protocol outcomes of a TSTDP sweep against the hippocampal data."""
    from anamorph.circuits.figures import histograms
    from anamorph.circuits.tstdp.data import HIPPOCAMPAL
    from anamorph.circuits.tstdp.sweep import column

    plt = pyplot()
    ok = table[table["status"] == "ok"]
    data = [d for d in HIPPOCAMPAL if column(d) in ok.columns]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(data))
    ax.errorbar(
        x - 0.1,
        [d.dw for d in data],
        yerr=[d.sem for d in data],
        fmt="o",
        color="k",
        capsize=3,
        label="data (Wang et al. 2005) ± s.e.m.",
    )
    if len(ok):
        vals = np.array([ok[column(d)].to_numpy() for d in data])
        med, lo, hi = np.median(vals, 1), np.percentile(vals, 5, 1), np.percentile(vals, 95, 1)
        ax.errorbar(
            x + 0.1,
            med,
            yerr=[med - lo, hi - med],
            fmt="s",
            color="tab:red",
            capsize=3,
            label=f"circuit, Monte Carlo median, 5-95 % (n={len(ok)})",
        )
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xticks(x, [d.label for d in data], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("normalised weight change Δw (1)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return [save(fig, Path(out_dir) / "tstdp-protocols.png"), *histograms(table, out_dir)]


def pairing_frequency_figure(out_dir, frequencies_hz=(0.1, 10.0, 20.0, 40.0, 50.0)) -> Path:
    """Pairing-frequency curves (Sjöström et al. 2001) of the circuit and the ideal rule."""
    from anamorph.circuits.tstdp import protocols as sp
    from anamorph.circuits.tstdp.bias import biases_for, params_for
    from anamorph.circuits.tstdp.circuit import protocol_weight_change
    from anamorph.circuits.tstdp.data import PARAMETER_SETS, SJOSTROM
    from anamorph.circuits.tstdp.rule import weight_change

    biases = biases_for(PARAMETER_SETS["visual-nearest"])
    mapped = params_for(biases)
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    fine = np.linspace(0.1, 50, 60)
    for dt, color in ((10e-3, "tab:blue"), (-10e-3, "tab:orange")):
        ax.plot(
            fine,
            [weight_change(*sp.pairing_frequency(dt, f).trains(), mapped) for f in fine],
            color=color,
            label=f"ideal rule, Δt = {dt * 1e3:+.0f} ms",
        )
        circ = [protocol_weight_change(sp.pairing_frequency(dt, f), biases) for f in frequencies_hz]
        ax.plot(frequencies_hz, circ, "o", color=color, label=f"circuit, Δt = {dt * 1e3:+.0f} ms")
        data = [d for d in SJOSTROM if d.dt_s == dt]
        ax.errorbar(
            [d.frequency_hz for d in data],
            [d.dw for d in data],
            yerr=[d.sem for d in data],
            fmt="s",
            mfc="none",
            color=color,
            capsize=3,
            label=f"Sjöström et al. 2001 ± s.e.m., Δt = {dt * 1e3:+.0f} ms",
        )
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("pairing frequency (Hz, biological time)")
    ax.set_ylabel("weight change Δw after 60 pairs (1)")
    ax.set_title("visual cortex, nearest-spike set (Pfister & Gerstner 2006)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, Path(out_dir) / "tstdp-pairing-frequency.png")


def quadruplet_figure(out_dir, circuit_t_ms=(-80.0, -40.0, -20.0, -10.0, 10.0, 20.0, 40.0, 80.0)) -> Path:
    """Quadruplets of Wang et al. 2005 (cells, bin means ± s.e.m.) against the rules and the circuit."""
    from anamorph.circuits.tstdp import protocols as sp
    from anamorph.circuits.tstdp.circuit import FITTED_PATH, load_fitted, protocol_weight_change
    from anamorph.circuits.tstdp.data import PARAMETER_SETS, QUADRUPLET_CELLS, QUADRUPLETS
    from anamorph.circuits.tstdp.rule import TripletParams, weight_change

    rules = {
        "fitted rule (circuits/tstdp/fitted.json)": TripletParams(**io.read_json(FITTED_PATH)["rule_fit"]),
        "Pfister & Gerstner 2006, nearest-spike minimal": PARAMETER_SETS["hippocampal-nearest-minimal"],
    }
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(
        [c[0] for c in QUADRUPLET_CELLS],
        [c[1] / 100 for c in QUADRUPLET_CELLS],
        ".",
        color="0.7",
        label="cells (Wang et al. 2005)",
    )
    ax.errorbar(
        [1e3 * np.mean(b.t_cells_s) for b in QUADRUPLETS],
        [b.dw for b in QUADRUPLETS],
        yerr=[b.sem for b in QUADRUPLETS],
        fmt="o",
        color="k",
        capsize=3,
        label="bin mean ± s.e.m.",
    )
    t_ms = np.concatenate([np.linspace(-115, -5, 45), np.linspace(5, 115, 45)])
    for (name, params), color in zip(rules.items(), ("tab:red", "tab:blue")):
        dw = [weight_change(*sp.quadruplet(t * 1e-3).trains(), params) for t in t_ms]
        for side in (t_ms < 0, t_ms > 0):
            ax.plot(t_ms[side], np.array(dw)[side], color=color, label=name if side[0] else None)
    biases = load_fitted()
    ax.plot(
        circuit_t_ms,
        [protocol_weight_change(sp.quadruplet(t * 1e-3), biases) for t in circuit_t_ms],
        "x",
        color="tab:red",
        ms=8,
        label="circuit, fitted biases (ngspice)",
    )
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("T (ms): < 0 pre-post-post-pre, > 0 post-pre-pre-post, Δt = 5 ms")
    ax.set_ylabel("weight change Δw after 60 quadruplets (1)")
    ax.set_title("quadruplets, not used by the fit", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return save(fig, Path(out_dir) / "tstdp-quadruplets.png")


def bcm_figure(out_dir, rate_pre_hz: float = 10.0, duration_s: float = 100.0, seed: int = 0) -> Path:
    """Weight-change rate against postsynaptic Poisson rate (ideal rule): BCM-like threshold."""
    from anamorph.circuits.tstdp import protocols as sp
    from anamorph.circuits.tstdp.data import PARAMETER_SETS
    from anamorph.circuits.tstdp.rule import weight_change

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    rates = np.linspace(0, 50, 26)
    for name in ("visual-all-to-all", "visual-nearest"):
        rng = np.random.default_rng(seed)
        dw = [
            weight_change(*sp.poisson_trains(rate_pre_hz, r, duration_s, rng), PARAMETER_SETS[name])
            / duration_s
            for r in rates
        ]
        ax.plot(rates, dw, "o-", ms=3, label=name)
    ax.axhline(0, color="0.7", lw=0.8)
    ax.set_xlabel("postsynaptic rate (Hz)")
    ax.set_ylabel("dw/dt (1/s)")
    ax.set_title(f"Poisson pre {rate_pre_hz:g} Hz, {duration_s:g} s per point, seed {seed}", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, Path(out_dir) / "tstdp-bcm.png")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Pairing-frequency and BCM figures of the TSTDP circuit.")
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    out = io.ensure_writable_dir(args.out)
    for path in (pairing_frequency_figure(out), quadruplet_figure(out), bcm_figure(out)):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
