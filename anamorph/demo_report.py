"""The demo's report: every stage's outputs, in the order of the flow, on one page.

Numbers on the page are read from the stage outputs in the demo folder (sweep tables,
process.json, calibration files, metrics.json, deploy_B.json) — never recomputed here
and never typed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.io import read_json, write_with
from anamorph.report import Fact, Section, write_report

_SI = {"_v": ("mV", 1e3), "_s": ("µs", 1e6), "_f": ("pF", 1e12), "_lsb": ("LSB", 1.0), "gain": ("", 1.0)}


def _scaled(column: str) -> tuple[str, float]:
    for suffix, (unit, k) in _SI.items():
        if column.endswith(suffix):
            return unit, k
    return "", 1.0


def _sweep_facts(table, columns, label: str) -> list[Fact]:
    ok = table[table["status"] == "ok"]
    facts = [Fact(f"{label}: instances simulated / converged", f"{len(table)} / {len(ok)}")]
    for col in columns:
        if col not in ok:
            continue
        unit, k = _scaled(col)
        v = ok[col].to_numpy(dtype=float) * k
        facts.append(Fact(f"{label}: {col} (mean ± standard deviation across instances)",
                          f"{np.nanmean(v):.4g} ± {np.nanstd(v, ddof=1):.2g}", unit))
    return facts


def fit_overlay(out: Path) -> Path:
    """Behavioural LIF (fitted) against ngspice for one instance and a held-out input."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from anamorph.circuits.lif.circuit import simulate_lif_current
    from anamorph.circuits.sweep import read_sweep
    from anamorph.models.lif_fit import fit_lif_instance, lif_spike_times

    table = read_sweep(out / "sweep_lif")
    row = table[table["status"] == "ok"].iloc[0]
    seed, instance = int(row["seed"]), int(row["instance"])
    # Held out: a slow sinusoidal modulation, unlike the constant currents of the f-I fit.
    t = np.linspace(0, 60e-6, 601)
    i_in = 1.0e-9 + 0.6e-9 * np.sin(2 * np.pi * t / 40e-6)
    spice = simulate_lif_current(seed, instance, t, i_in)
    model = lif_spike_times(fit_lif_instance(row.to_dict()), t, i_in)
    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 4), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    ax0.plot(t * 1e6, i_in * 1e9, color="k")
    ax0.set_ylabel("input current (nA)")
    ax1.eventplot([spice * 1e6, model * 1e6], lineoffsets=[1, 0], colors=["tab:red", "tab:blue"])
    ax1.set_yticks([1, 0], ["ngspice (transistors)", "behavioural LIF (fitted)"])
    ax1.set_xlabel("time (µs)")
    ax0.set_title(f"LIF instance {instance}: spike times, held-out input")
    fig.tight_layout()
    path = out / "fit_overlay.png"
    write_with(path, lambda p: fig.savefig(p, dpi=90, format="png"), suffix=".png")
    plt.close(fig)
    return path


def _process_facts(process: dict) -> list[Fact]:
    facts = []
    for param, d in process["dac"].items():
        facts.append(Fact(f"{param}: per-neuron offset spread / gain spread of its DAC transfer",
                          f"{d['offset_sd']:.3g} / {100 * d['gain_sd']:.2f} %",
                          "(offset in the transfer's inner unit)"))
    c = process["c_mem_f"]
    facts.append(Fact("membrane capacitance (mean ± sd)", f"{c['mean'] * 1e12:.3g} ± {c['sd'] * 1e12:.2g}", "pF"))
    return facts


def _pct(x) -> str:
    return f"{100 * float(x):.1f}"


def build_report(out: Path) -> Path:
    from anamorph.calibration.result import hardware_fingerprint
    from anamorph.circuits.sweep import read_sweep
    from anamorph.models.chip import Chip

    out = Path(out)
    stages = {p.stem: read_json(p) for p in (out / "stages").glob("*.json")}
    lif, syn = read_sweep(out / "sweep_lif"), read_sweep(out / "sweep_synapse")
    process = read_json(out / "process.json")
    metrics = read_json(out / "train" / "metrics.json")
    deploy = read_json(out / "deploy_B.json")
    cal_a = read_json(out / "calibration_A.json")
    chip_a_hw = hardware_fingerprint(Chip.load(out / "chip_A.json"))
    cal_sum = stages.get("calibrate", {})

    sections = [
        Section("Circuits: Monte Carlo in ngspice",
                "Transistor-level LIF neurons and synapses, each instance with its own Pelgrom "
                "mismatch (threshold-voltage and current-factor shifts per transistor), measured "
                "by testbenches in ngspice.",
                _sweep_facts(lif, ["v_leak_v", "v_th_v", "v_reset_v", "tau_m_s", "t_ref_s", "c_mem_f"], "LIF")
                + _sweep_facts(syn, ["tau_syn_s", "syn_gain", "inl_lsb", "dnl_lsb"], "synapse"),
                [(p, f"LIF sweep: {p.stem}") for p in sorted((out / "sweep_lif").glob("histograms-*.png"))]
                + [(p, f"synapse sweep: {p.stem}") for p in sorted((out / "sweep_synapse").glob("histograms-*.png"))]),
        Section("Process model: fitted behaviour and population spreads",
                "Each instance's DAC transfers and behavioural LIF parameters are fitted to its sweep "
                "row; their population statistics (means, spreads, correlations) form the process "
                "model that chips are sampled from.",
                _process_facts(process),
                [(out / "fit_overlay.png", "Spike times of one transistor-level instance against the "
                  "behavioural LIF with that instance's fitted parameters, for an input current "
                  "not used in the fit.")] if (out / "fit_overlay.png").is_file() else []),
        Section("Chips and calibration",
                "Two chips are sampled from the process model. Calibration searches each neuron's "
                "10-bit DAC codes so that what the chip reports (spikes, ADC samples) meets the "
                "targets; the spread across the chip's 512 neurons before and after is shown.",
                [Fact("chip A hardware fingerprint (first 16 hex digits)", chip_a_hw[:16]),
                 Fact("chip the calibration of chip A was made for (first 16 hex digits)",
                      str(cal_a.get("chip_fingerprint", ""))[:16])]
                + [Fact(f"chip A {p}: across-neuron spread before → after (std for potentials in V, "
                        f"else coefficient of variation)",
                        f"{cal_sum['spread_before']['A'][p]:.3g} → {cal_sum['spread_after']['A'][p]:.3g}")
                   for p in cal_sum.get("spread_after", {}).get("A", {})],
                [(out / f"calibration_{n}.png", f"Chip {n}: parameter spread before and after calibration")
                 for n in ("A", "B") if (out / f"calibration_{n}.png").is_file()]),
        Section("In-the-loop training on chip A",
                "Yin-Yang, latency-coded; the chip runs every forward pass, its spikes and ADC membrane "
                "samples replace the software model's values in the backward pass (surrogate "
                "gradients, Cramer et al. 2022), and the updated weights are written back as signed "
                "6-bit codes.",
                [Fact("test accuracy on chip A", _pct(metrics["test_accuracy"]), "%"),
                 Fact("train accuracy (last epoch)", _pct(metrics["train_accuracy"] or 0), "%"),
                 Fact("hidden-layer spikes per sample", f"{metrics['spikes_per_sample']:.1f}", "spikes"),
                 Fact("epochs", str(metrics["epochs"])),
                 Fact("training / test samples", f"{metrics['n_train']} / {metrics['n_test']}")],
                [(out / "train" / n, c) for n, c in (
                    ("learning_curve.png", "Learning curve"),
                    ("raster.png", "Spike raster of test samples on chip A"),
                    ("confusion.png", "Confusion matrix on the test set, chip A"))
                 if (out / "train" / n).is_file()]),
        Section("Deployment on a second chip",
                "The same weights, written to chip B (calibrated to the same targets) without any "
                "further training.",
                [Fact("test accuracy on chip A", _pct(metrics["test_accuracy"]), "%"),
                 Fact("test accuracy on chip B", _pct(deploy["test_accuracy"]), "%")]),
    ]
    return write_report(out / "report.html", "anamorph demo",
                        "From transistors to an in-the-loop trained spiking network, on an emulated "
                        "analog chip.", sections)
