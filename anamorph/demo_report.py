"""The demo's report: every stage's outputs, in the order of the flow, on one page.

Numbers on the page are read from the stage outputs in the demo folder (sweep tables,
process.json, calibration files, metrics.json, deploy_B.json, plasticity.json, the EqSpike run;
:mod:`anamorph.demo_algorithms`) — never recomputed here
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
        facts.append(
            Fact(
                f"{label}: {col} (mean ± standard deviation across instances)",
                f"{np.nanmean(v):.4g} ± {np.nanstd(v, ddof=1):.2g}",
                unit,
            )
        )
    return facts


def held_out_current(p: dict) -> tuple[np.ndarray, np.ndarray]:
    """The held-out input of the check figure: a slow sine between 1.2 and 3.6 rheobases.

    The rheobase of a LIF, ``I_rh = c_mem (v_th - v_leak) / tau_m``, is the smallest
    constant current that makes it fire (below it V settles under v_th); from the
    instance's measured ``v_th_v, v_leak_v, tau_m_s, c_mem_f`` (sweep row). The waveform
    is unlike the constant currents, plateaus and ramps the fit saw.
    """
    i_rh = p["c_mem_f"] * (p["v_th_v"] - p["v_leak_v"]) / p["tau_m_s"]
    t = np.linspace(0, 60e-6, 601)
    return t, i_rh * (2.4 + 1.2 * np.sin(2 * np.pi * t / 40e-6))


def spike_time_error(reference_s, model_s) -> dict:
    """Spike counts and the error of the model's k-th spike against the reference's k-th."""
    ref, mod = np.asarray(reference_s, dtype=np.float64), np.asarray(model_s, dtype=np.float64)
    n = min(ref.size, mod.size)
    err = np.abs(mod[:n] - ref[:n])
    isi = np.diff(ref)
    return {
        "n_spikes_ngspice": int(ref.size),
        "n_spikes_model": int(mod.size),
        "mean_abs_error_s": float(err.mean()) if n else None,
        "max_abs_error_s": float(err.max()) if n else None,
        "median_isi_s": float(np.median(isi)) if isi.size else None,
    }


def overlay_figure(t_s, i_in_a, spice_s, model_s, title: str):
    """Input current above, spike times of ngspice and of the behavioural LIF below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax0, ax1) = plt.subplots(2, 1, figsize=(8, 4), sharex=True, gridspec_kw={"height_ratios": [1, 1.2]})
    ax0.plot(np.asarray(t_s) * 1e6, np.asarray(i_in_a) * 1e9, color="k")
    ax0.set_ylabel("input current (nA)")
    ax1.eventplot(
        [np.asarray(spice_s) * 1e6, np.asarray(model_s) * 1e6],
        lineoffsets=[1, 0],
        colors=["tab:red", "tab:blue"],
    )
    ax1.set_yticks([1, 0], ["ngspice (transistors)", "behavioural LIF (fitted)"])
    ax1.set_xlabel("time (µs)")
    ax0.set_title(title)
    fig.tight_layout()
    return fig


def _instance_params(out: Path, row) -> dict:
    """The behavioural parameters the process model holds for the row's instance (the
    transient fit), or the f-I fit of the row if the process file has none."""
    from anamorph.models.lif_fit import fit_lif_instance

    path = out / "process.json"
    if path.is_file():
        for entry in read_json(path).get("instances", {}).get("lif", []):
            if (entry["seed"], entry["instance"]) == (int(row["seed"]), int(row["instance"])):
                return entry["params"]
    return fit_lif_instance(row.to_dict())


def fit_overlay(out: Path) -> dict:
    """Behavioural LIF (fitted) against ngspice for one instance and a held-out input.

    Writes ``fit_overlay.png``; returns the spike-time comparison (:func:`spike_time_error`).
    """
    import matplotlib.pyplot as plt

    from anamorph.circuits.lif.circuit import simulate_lif_current
    from anamorph.circuits.sweep import read_sweep
    from anamorph.models.lif_fit import lif_spike_times

    table = read_sweep(out / "sweep_lif")
    row = table[table["status"] == "ok"].iloc[0]
    seed, instance = int(row["seed"]), int(row["instance"])
    t, i_in = held_out_current({k: float(row[k]) for k in ("c_mem_f", "v_th_v", "v_leak_v", "tau_m_s")})
    spice = simulate_lif_current(seed, instance, t, i_in)
    model = lif_spike_times(_instance_params(out, row), t, i_in)
    check = {"seed": seed, "instance": instance, **spike_time_error(spice, model)}
    fig = overlay_figure(t, i_in, spice, model, f"LIF instance {instance}: spike times, held-out input")
    write_with(out / "fit_overlay.png", lambda p: fig.savefig(p, dpi=90, format="png"), suffix=".png")
    plt.close(fig)
    return check


def _check_facts(check: dict) -> list[Fact]:
    if not check:
        return []
    facts = [
        Fact(
            "held-out input: spikes in ngspice / in the behavioural LIF",
            f"{check['n_spikes_ngspice']} / {check['n_spikes_model']}",
        )
    ]
    if check.get("mean_abs_error_s") is not None:
        facts.append(
            Fact(
                "held-out input: spike-time error, mean / largest (k-th spike against k-th)",
                f"{check['mean_abs_error_s'] * 1e9:.3g} / {check['max_abs_error_s'] * 1e9:.3g}",
                "ns",
            )
        )
    if check.get("median_isi_s") is not None:
        facts.append(
            Fact(
                "held-out input: median inter-spike interval in ngspice",
                f"{check['median_isi_s'] * 1e6:.3g}",
                "µs",
            )
        )
    return facts


#: unit suffix of a NeuronParams field -> (display unit, factor)
_UNIT = {"v": ("mV", 1e3), "s": ("µs", 1e6), "a": ("nA", 1e9)}


def _process_facts(process: dict) -> list[Fact]:
    """Per DAC parameter: offset spread in the parameter's own unit, and gain spread.

    A transfer's offset acts on its inner quantity ``u`` (the value for linear DACs,
    ``1/value`` for reciprocal ones); at the default target ``v0`` a reciprocal DAC's
    offset spread ``sd_u`` is a value spread of ``sd_u v0^2`` (first order in ``sd_u v0``).
    """
    from anamorph.models.neuron import DEFAULT_TARGETS
    from anamorph.models.process_model import PARAM_FIELD

    facts = []
    for param, d in process["dac"].items():
        field = PARAM_FIELD[param]
        v0 = float(np.mean(getattr(DEFAULT_TARGETS, field)))
        sd = d["offset_sd"] if d["kind"] == "linear" else d["offset_sd"] * v0 * v0
        unit, k = _UNIT[field.rsplit("_", 1)[1]]
        facts.append(
            Fact(
                f"{param}: per-neuron offset spread at the default target ({v0 * k:.3g} {unit}) "
                f"/ gain spread of its DAC transfer",
                f"{sd * k:.3g} {unit} / {100 * d['gain_sd']:.2f} %",
            )
        )
    c = process["c_mem_f"]
    facts.append(
        Fact("membrane capacitance (mean ± sd)", f"{c['mean'] * 1e12:.3g} ± {c['sd'] * 1e12:.2g}", "pF")
    )
    return facts


def _calibration_facts(cal_sum: dict, process: dict, chip: str = "A") -> list[Fact]:
    """Across-neuron spread before -> after, as measured through the chip, and the true spread after.

    The chip reports potentials through its 8-bit ADC: once every neuron reads the same ADC
    level the measured spread is zero, which only says the true spread is below one ADC step.
    """
    adc = process["adc"]
    lsb_v = (adc["v_hi"] - adc["v_lo"]) / 2 ** adc["bits"]
    true_after = cal_sum.get("spread_after_true", {}).get(chip, {})
    facts = []
    for p, after in cal_sum.get("spread_after", {}).get(chip, {}).items():
        before = cal_sum["spread_before"][chip][p]
        potential = p in ("v_leak", "v_th", "v_reset")
        unit = "mV (std)" if potential else "% (coefficient of variation)"
        k = 1e3 if potential else 100.0
        shown = (
            f"below one ADC step ({lsb_v * 1e3:.2g} mV)"
            if potential and after < 0.5 * lsb_v
            else f"{after * k:.3g}"
        )
        text = f"{before * k:.3g} → {shown}"
        if p in true_after:
            text += f"; true spread after: {true_after[p] * k:.3g}"
        facts.append(
            Fact(
                f"chip {chip} {p}: across-neuron spread before → after, measured through the chip", text, unit
            )
        )
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
        Section(
            "Circuits: Monte Carlo in ngspice",
            "Transistor-level LIF neurons and synapses, each instance with its own Pelgrom "
            "mismatch (threshold-voltage and current-factor shifts per transistor), measured "
            "by testbenches in ngspice.",
            _sweep_facts(lif, ["v_leak_v", "v_th_v", "v_reset_v", "tau_m_s", "t_ref_s", "c_mem_f"], "LIF")
            + _sweep_facts(syn, ["tau_syn_s", "syn_gain", "inl_lsb", "dnl_lsb"], "synapse"),
            [(p, f"LIF sweep: {p.stem}") for p in sorted((out / "sweep_lif").glob("histograms-*.png"))]
            + [
                (p, f"synapse sweep: {p.stem}")
                for p in sorted((out / "sweep_synapse").glob("histograms-*.png"))
            ],
        ),
        Section(
            "Process model: fitted behaviour and population spreads",
            "Each instance's DAC transfers and behavioural LIF parameters are fitted to its sweep "
            "row; their population statistics (means, spreads, correlations) form the process "
            "model that chips are sampled from.",
            _process_facts(process) + _check_facts(stages.get("fit", {}).get("held_out", {})),
            [
                (
                    out / "fit_overlay.png",
                    "Spike times of one transistor-level instance against the "
                    "behavioural LIF with that instance's fitted parameters, for an input current "
                    "not used in the fit (a slow sine between 1.2 and 3.6 times the instance's "
                    "rheobase).",
                )
            ]
            if (out / "fit_overlay.png").is_file()
            else [],
        ),
        Section(
            "Chips and calibration",
            "Two chips are sampled from the process model. Calibration searches each neuron's "
            "10-bit DAC codes so that what the chip reports (spikes, ADC samples) meets the "
            "targets; the spread across the chip's 512 neurons before and after is shown.",
            [
                Fact("chip A hardware fingerprint (first 16 hex digits)", chip_a_hw[:16]),
                Fact(
                    "chip the calibration of chip A was made for (first 16 hex digits)",
                    str(cal_a.get("chip_fingerprint", ""))[:16],
                ),
            ]
            + _calibration_facts(cal_sum, process, "A"),
            [
                (out / f"calibration_{n}.png", f"Chip {n}: parameter spread before and after calibration")
                for n in ("A", "B")
                if (out / f"calibration_{n}.png").is_file()
            ],
        ),
        Section(
            "In-the-loop training on chip A",
            "Yin-Yang, latency-coded; the chip runs every forward pass, its spikes and ADC membrane "
            "samples replace the software model's values in the backward pass (surrogate "
            "gradients, Cramer et al. 2022), and the updated weights are written back as signed "
            "6-bit codes.",
            [
                Fact("test accuracy on chip A", _pct(metrics["test_accuracy"]), "%"),
                Fact("train accuracy (last epoch)", _pct(metrics["train_accuracy"] or 0), "%"),
                Fact("hidden-layer spikes per sample", f"{metrics['spikes_per_sample']:.1f}", "spikes"),
                Fact("epochs", str(metrics["epochs"])),
                Fact("training / test samples", f"{metrics['n_train']} / {metrics['n_test']}"),
            ],
            [
                (out / "train" / n, c)
                for n, c in (
                    ("learning_curve.png", "Learning curve"),
                    ("raster.png", "Spike raster of test samples on chip A"),
                    ("confusion.png", "Confusion matrix on the test set, chip A"),
                )
                if (out / "train" / n).is_file()
            ],
        ),
        Section(
            "Deployment on a second chip",
            "The same weights, written to chip B (calibrated to the same targets) without any "
            "further training.",
            [
                Fact("test accuracy on chip A", _pct(metrics["test_accuracy"]), "%"),
                Fact("test accuracy on chip B", _pct(deploy["test_accuracy"]), "%"),
            ],
        ),
    ]
    from anamorph.demo_plasticity import plasticity_section

    plastic = plasticity_section(out)  # after the chips, where the demo runs it
    if plastic is not None:
        after = next((k + 1 for k, s in enumerate(sections) if s.title.startswith("Chips")), len(sections))
        sections.insert(after, plastic)
    from anamorph.demo_algorithms import algorithms_section

    both = algorithms_section(out)
    if both is not None:
        sections.append(both)
    return write_report(
        out / "report.html",
        "anamorph demo",
        "From transistors to an in-the-loop trained spiking network, on an emulated analog chip.",
        sections,
    )
