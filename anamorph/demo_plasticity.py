"""The demo's plasticity stage: chip A's plastic synapses against the circuit, the rule and the data.

Every synapse of the emulated chip carries triplet-STDP correlation sensors with its own
mismatched rule parameters, drawn from the ``"tstdp"`` section of the demo's process model
(fitted to the demo's own Monte Carlo sweep of the transistor-level circuit). The stage runs
the hippocampal pair and triplet protocols of Wang et al., Nat. Neurosci. 8, 2005 (60
repetitions at 1 Hz, as tabulated by Pfister & Gerstner, J. Neurosci. 26(38), 2006, Table 3)
on ``n_synapses`` of chip A's plastic synapses at once
(:func:`anamorph.models.plasticity.chip_protocol.run_protocols`, readings through the sensor
ADC) and sets beside them, per protocol:

- ``data``, ``sem``: the measured weight change and its standard error;
- ``rule``: the ideal nearest-spike triplet rule with the parameters fitted to the data
  (``circuits/tstdp/fitted.json``, ``rule_fit``; :func:`anamorph.circuits.tstdp.rule.weight_change`);
- ``circuit``: the nominal transistor-level circuit in ngspice with the fitted biases
  (:func:`anamorph.circuits.tstdp.fit.circuit_predictions`);
- ``circuit_mc_mean``, ``circuit_mc_sd``, ``circuit_mc_n`` (with a sweep): mean and standard
  deviation of the ``dw_<protocol>`` columns over the ``n`` Monte Carlo instances of the
  circuit in the demo's sweep, the population the chip's synapses are drawn from (through
  the fitted section). The nominal circuit is one point of that population; a few
  instances estimate its mean only to ``sd / sqrt(n)`` (about 25-60 % of ``|dw|`` per
  instance for these protocols, so some 10-25 % for 6 instances);
- ``section_rule``: the rule of the process section's median synapse (``exp(log_mean)``);
- ``chip_mean``, ``chip_sd``: mean and standard deviation (ddof 1) over the chip's synapses.

Weight changes are normalised (0.25 = +25 %). Written to ``plasticity.json`` and
``plasticity.png``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.io import read_json, write_json, write_with

N_SYNAPSES = 256


def plasticity_numbers(chip, seed: int, n_synapses: int = N_SYNAPSES, sweep_dir=None) -> dict:
    """Per hippocampal protocol: data, s.e.m., ideal rule, circuit (nominal, and the Monte Carlo
    instances of ``sweep_dir`` if given), section rule, chip mean and sd (module docstring)."""
    from anamorph.circuits.tstdp import protocols as stdp_protocols
    from anamorph.circuits.tstdp.circuit import FITTED_PATH, load_fitted
    from anamorph.circuits.tstdp.data import CITATION, HIPPOCAMPAL
    from anamorph.circuits.tstdp.fit import circuit_predictions
    from anamorph.circuits.tstdp.rule import TripletParams, weight_change
    from anamorph.models.emulator import ChipEmulator
    from anamorph.models.plasticity.chip_protocol import run_protocols
    from anamorph.models.plasticity.synapse_params import nominal_rule, section_of

    protocols = [stdp_protocols.for_datum(d) for d in HIPPOCAMPAL]
    rule = TripletParams(**read_json(FITTED_PATH)["rule_fit"])
    section = section_of(chip.process)
    median = nominal_rule(section)
    circuit = circuit_predictions(load_fitted())
    result = run_protocols(ChipEmulator(chip, seed=seed), protocols, n_synapses)
    table = None
    if sweep_dir is not None:
        from anamorph.circuits.sweep import read_sweep

        table = read_sweep(sweep_dir)
        table = table[table["status"] == "ok"]
    rows = []
    for d, p, c, dw in zip(HIPPOCAMPAL, protocols, circuit, result.dw):
        trains = p.trains()
        row = {
            "label": d.label,
            "kind": d.kind,
            "dt1_s": d.dt1_s,
            "dt2_s": d.dt2_s,
            "data": d.dw,
            "sem": d.sem,
            "rule": weight_change(*trains, rule),
            "circuit": float(c),
        }
        if table is not None:
            from anamorph.circuits.tstdp.sweep import column

            mc = table[column(d)].to_numpy(dtype=np.float64)
            row.update(
                circuit_mc_mean=float(mc.mean()),
                circuit_mc_sd=float(mc.std(ddof=1)),
                circuit_mc_n=int(mc.size),
            )
        row.update(
            section_rule=weight_change(*trains, median),
            chip_mean=float(dw.mean()),
            chip_sd=float(dw.std(ddof=1)),
            chip_min=float(dw.min()),
            chip_max=float(dw.max()),
        )
        rows.append(row)
    return {
        "protocols": rows,
        "n_synapses": int(n_synapses),
        "chip_seed": int(chip.seed),
        "emulator_seed": int(seed),
        "process_section": {
            "kind": section.get("source", {}).get("kind", "tstdp"),
            "n_instances": int(section.get("n_instances", 0)),
            "log_sd": dict(zip(section["names"], section["log_sd"])),
        },
        "saturated_readings": int(result.saturated),
        "post_spikes": {"requested": int(result.post_requested), "observed": int(result.post_observed)},
        "repetitions": 60,
        "frequency_hz": 1.0,
        "citation": CITATION,
    }


def plasticity_figure(numbers: dict):
    """Per protocol: data (bars, s.e.m.), ideal rule, circuit, chip mean ± sd (markers), in %."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = numbers["protocols"]
    x = np.arange(len(rows))

    def pct(key):
        return 100 * np.array([r[key] for r in rows])

    fig, ax = plt.subplots(figsize=(9, 4.2))
    ax.bar(
        x,
        pct("data"),
        0.6,
        yerr=pct("sem"),
        color="0.82",
        edgecolor="0.5",
        capsize=3,
        label="data ± s.e.m. (Wang et al. 2005)",
    )
    ax.plot(x - 0.15, pct("rule"), "D", color="tab:green", ms=5, label="ideal triplet rule (fitted)")
    ax.plot(x, pct("circuit"), "s", color="tab:red", ms=6, label="nominal circuit (ngspice)")
    if "circuit_mc_mean" in rows[0]:
        ax.errorbar(
            x + 0.08,
            pct("circuit_mc_mean"),
            yerr=pct("circuit_mc_sd"),
            fmt="s",
            mfc="none",
            color="tab:red",
            ms=5,
            capsize=2,
            lw=0.8,
            label=f"circuit: {rows[0]['circuit_mc_n']} Monte Carlo instances, mean ± sd",
        )
    ax.errorbar(
        x + 0.2,
        pct("chip_mean"),
        yerr=pct("chip_sd"),
        fmt="o",
        color="tab:blue",
        ms=5,
        capsize=3,
        label=f"chip A: mean ± sd over {numbers['n_synapses']} synapses",
    )
    ax.axhline(0, color="k", lw=0.6)
    ax.set_xticks(x, [r["label"].replace(" (", "\n(") for r in rows], fontsize=7.5)
    ax.set_xlabel("protocol (60 repetitions at 1 Hz; pair: t_post - t_pre; triplets: intervals)")
    ax.set_ylabel("weight change Δw (%)")
    ax.set_title("Hippocampal STDP protocols: data, rule, circuit and the chip's plastic synapses")
    top = max(
        np.max(pct("data") + pct("sem")), np.max(pct("chip_mean") + pct("chip_sd")), np.max(pct("circuit"))
    )
    bottom = min(np.min(pct("data") - pct("sem")), np.min(pct("chip_mean") - pct("chip_sd")), 0.0)
    ax.set_ylim(bottom - 0.05 * (top - bottom), top + 0.35 * (top - bottom))  # room for the legend
    ax.legend(fontsize=7.5, loc="upper left", ncol=2)
    fig.tight_layout()
    return fig


def run_plasticity(out: Path, seed: int, n_synapses: int = N_SYNAPSES) -> dict:
    """The demo stage: chip A's synapses -> ``plasticity.json``, ``plasticity.png``; returns the summary."""
    import matplotlib.pyplot as plt

    from anamorph.models.chip import Chip

    out = Path(out)
    sweep = out / "sweep_tstdp"
    numbers = plasticity_numbers(
        Chip.load(out / "chip_A.json"),
        seed,
        n_synapses,
        sweep if (sweep / "sweep.parquet").is_file() else None,
    )
    write_json(out / "plasticity.json", numbers)
    fig = plasticity_figure(numbers)
    write_with(out / "plasticity.png", lambda p: fig.savefig(p, dpi=90, format="png"), suffix=".png")
    plt.close(fig)
    rows = numbers["protocols"]
    worst = {
        key: max(
            (abs(r["chip_mean"] - r[key]) / abs(r[key]) for r in rows if abs(r[key]) >= 0.1), default=0.0
        )
        for key in ("circuit", "circuit_mc_mean")
        if key in rows[0]
    }
    line = (
        f"{len(rows)} STDP protocols on {n_synapses} plastic synapses of chip A; chip mean, largest "
        f"deviation (|dw| >= 0.1) from the nominal circuit {100 * worst['circuit']:.1f} %"
    )
    if "circuit_mc_mean" in worst:
        line += (
            f", from the mean of the {rows[0]['circuit_mc_n']} circuit instances "
            f"{100 * worst['circuit_mc_mean']:.1f} %"
        )
    return {"line": line, "largest_relative_deviation": worst}


def _pp(x: float) -> str:
    return f"{100 * x:+.1f}"


def plasticity_section(out: Path):
    """The report's "Plastic synapses" section, or None if the demo has no ``plasticity.json``."""
    from anamorph.report import Fact, Section

    out = Path(out)
    if not (out / "plasticity.json").is_file():
        return None
    numbers = read_json(out / "plasticity.json")
    n = numbers["n_synapses"]
    sec = numbers["process_section"]
    mc = "circuit_mc_mean" in numbers["protocols"][0]
    what = (
        "data ± s.e.m. / ideal rule / nominal circuit / "
        + ("circuit instances mean ± sd / " if mc else "")
        + "chip A mean ± sd"
    )
    facts = []
    for r in numbers["protocols"]:
        values = [f"{_pp(r['data'])} ± {100 * r['sem']:.0f}", _pp(r["rule"]), _pp(r["circuit"])]
        if mc:
            values.append(f"{_pp(r['circuit_mc_mean'])} ± {100 * r['circuit_mc_sd']:.1f}")
        values.append(f"{_pp(r['chip_mean'])} ± {100 * r['chip_sd']:.1f}")
        facts.append(Fact(f"{r['label']}: {what}", " / ".join(values), "%"))
    source = (
        f"the demo's tstdp sweep ({sec['n_instances']} circuit instances)"
        if sec["kind"] != "provisional"
        else "the provisional section (the process model has none)"
    )
    facts.append(Fact("synapse parameters drawn from", source))
    facts.append(
        Fact(
            "post spikes requested / fired",
            f"{numbers['post_spikes']['requested']} / {numbers['post_spikes']['observed']}",
        )
    )
    text = (
        "Each plastic synapse of the chip carries correlation sensors that accumulate the traces of the "
        "nearest-spike triplet STDP rule (Pfister & Gerstner 2006) with its own mismatched parameters, "
        "drawn from the process model's population of transistor-level circuit instances; the plasticity "
        "processor reads them through an ADC as the synapse's weight change. "
        f"The hippocampal pair and triplet protocols (Wang et al. 2005, 60 repetitions at 1 Hz, run "
        f"1000x "
        f"faster on the chip) were run on {n} synapses of chip A at once, and their mean and spread are "
        f"compared with the data, the triplet rule fitted to the data, the nominal circuit simulated "
        f"in ngspice and the Monte Carlo circuit instances the chip's synapse population was fitted to."
    )
    caption = (
        "Weight change per protocol: measured (bars, ± s.e.m.), ideal rule, nominal circuit in ngspice"
        + (", the demo's Monte Carlo circuit instances (mean ± sd)" if mc else "")
        + f", and the mean ± standard deviation over {n} plastic synapses of chip A. The chip's "
        "population "
        "is fitted to the circuit instances, whose mean estimates the population's only to within "
        "sd / √(number of instances)."
    )
    return Section("Plastic synapses", text, facts, [(out / "plasticity.png", caption)])
