"""Figure of the gated-synapse sweep (``anamorph sweep gated-synapse``).

Conductance after each gate pulse of the sweep protocol for the first Monte Carlo devices
(read from the table, no simulation), with the gate amplitudes (the sweep engine adds the histograms).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from anamorph.circuits.figures import pyplot, save


def gated_synapse_figures(table, out_dir) -> list[Path]:
    """Conductance against pulse number for up to five devices, and the gate amplitudes."""
    plt = pyplot()
    ok = table[table["status"] == "ok"]
    n = sum(1 for c in table.columns if str(c).startswith("gate_v@"))
    k = np.arange(n + 1)
    fig, (ax_g, ax_v) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    for _, row in ok.head(5).iterrows():
        g = np.array([row[f"g_s@{i}"] for i in k])
        ax_g.plot(k, g * 1e9, marker=".", ms=3, lw=1, label=f"instance {int(row['instance'])}")
    if len(ok):
        ax_v.stem(k[1:], [ok.iloc[0][f"gate_v@{i}"] for i in k[1:]], markerfmt=" ", basefmt="k-")
    ax_g.set_ylabel("conductance g (nS)")
    ax_g.legend(fontsize=8)
    ax_v.set_ylabel("gate amplitude (V)")
    ax_v.set_xlabel("pulse number")
    fig.tight_layout()
    return [save(fig, Path(out_dir) / "gated-synapse-conductance.png")]
