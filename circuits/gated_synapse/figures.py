"""Figure of the gated-synapse sweep (``anamorph sweep gated-synapse``).

Conductance against time for a train of gate pulses, nominal device and the first Monte
Carlo devices; histograms of every measured column.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.circuits.figures import histograms, pyplot, save


def gated_synapse_figures(table, out_dir) -> list[Path]:
    """Conductance of the nominal and the first Monte Carlo devices for a train of gate pulses."""
    from anamorph.circuits.gated_synapse import device as gs

    plt = pyplot()
    fig, (ax_g, ax_v) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    pulses = [*gs.SET_PULSES, gs.SUB_PULSE]
    devices = [("nominal", gs.GatedSynapseParams())]
    for _, row in table[table["status"] == "ok"].head(2).iterrows():
        rng = np.random.default_rng([int(row["seed"]), int(row["instance"])])
        devices.append((f"instance {int(row['instance'])}",
                        gs.sample_params(gs.GatedSynapseParams(), gs.DeviceVariation(), rng)))
    for label, params in devices:
        out = gs.simulate(params, pulses, gs.T_STOP_S, gs.SWEEP_BENCH)
        ax_g.plot(out["t_s"] * 1e6, out["g_s"] * 1e9, lw=2 if label == "nominal" else 1, label=label)
        ax_v.plot(out["t_s"] * 1e6, out["gate_v"], color="0.4") if label == "nominal" else None
    ax_g.set_ylabel("conductance g (nS)")
    ax_g.legend(fontsize=8)
    ax_v.axhline(gs.GatedSynapseParams().v_th_v, ls="--", color="tab:red", lw=0.8, label="gate threshold")
    ax_v.set_ylabel("gate voltage (V)")
    ax_v.set_xlabel("time (µs)")
    ax_v.legend(fontsize=8)
    fig.tight_layout()
    return [save(fig, Path(out_dir) / "gated-synapse-conductance.png"), *histograms(table, out_dir)]
