"""Fit a ProcessModel to circuit sweeps (``anamorph fit SWEEP_DIR... --out process.json``).

Per circuit instance (one sweep row with status "ok"):

* LIF (``circuits/lif/``): the DAC transfer of v_leak, v_th, v_reset (linear) and
  tau_m, t_ref (reciprocal) through its ``"<param>@<code>"`` points
  (:func:`anamorph.models.dac.fit_transfer`), and its behavioural parameters, fitted to its
  f-I points and to the spike times of one ngspice transient
  (:mod:`anamorph.models.lif_fit`), recorded per instance. The population statistics use
  the measured (DC and small-signal) values: the effective threshold, capacitance and
  refractory time of the spiking fit trade off against each other (several combinations
  predict the same spike times), so they are a per-instance description, not a better
  estimate of the physical parameters; the latch delay (~0.1 µs) is not part of the chip
  model, which reports a spike at the threshold crossing;
* synapse (``circuits/synapse/``): the tau_syn transfer (reciprocal), the charge per
  code unit of its excitatory and inhibitory rows (least-squares slope through the origin)
  and the normalised shape of its 6-bit transfer;
* gated synapse (``circuits/gated_synapse``): the optional ``"gated_synapse"`` device
  population, fitted by :mod:`anamorph.models.plasticity.gated_fit`;
* triplet-STDP synapse (``circuits/tstdp``): the optional ``"tstdp"`` section, the
  log-normal population of the rule parameters each instance implements, fitted by
  :mod:`anamorph.models.plasticity.tstdp_fit`;
* energies: when the LIF sweep has ``p_static_w, e_spike_j`` and the synapse sweep
  ``p_static_w`` and ``"e_exc_j@<code>"``, ``"e_inh_j@<code>"`` for all 64 codes, their
  means and spreads become the optional ``"energy"`` section (:mod:`anamorph.models.energy`;
  without it the process model uses the shipped energy sweep's).

Population (Pelgrom-type mismatch, jointly Gaussian): each instance's transfer
``u(x) = a + b x + q x^2`` gives an offset ``a - mean(a)`` and a gain ``b / mean(b) - 1``;
the ProcessModel stores the means as the nominal transfer, the standard deviations, and
the correlation matrix of one neuron's offsets, gains and c_mem (LIF variables among
themselves, tau_syn's among themselves: the sweeps are of different circuits, so their
cross-correlations are unknown and set to 0). The 6-bit tables are the population mean
of the normalised charge per code; the per-synapse gain spread is the relative spread of
the slopes. Parameters no circuit measures (the synaptic-gain DAC, the ADC, membrane
noise) keep the documented values of :func:`anamorph.models.process_model.provisional`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.io import file_sha256
from anamorph.models.dac import fit_transfer
from anamorph.models.lif_fit import TRAIN_WAVEFORMS, fit_lif_instance, fit_lif_transient
from anamorph.models.plasticity.tstdp_fit import NAMES as TSTDP_NAMES
from anamorph.models.plasticity.tstdp_fit import fit_section as fit_tstdp_section
from anamorph.models.plasticity.tstdp_fit import is_tstdp_table
from anamorph.models.process_model import MISMATCH_NAMES, WEIGHT_CODES, ProcessModel, provisional

if TYPE_CHECKING:
    import pandas as pd

LIF_DACS = {
    "v_leak": ("v_leak_v", "linear"),
    "v_th": ("v_th_v", "linear"),
    "v_reset": ("v_reset_v", "linear"),
    "tau_m": ("tau_m_s", "reciprocal"),
    "t_ref": ("t_ref_s", "reciprocal"),
}
SYN_DACS = {"tau_syn": ("tau_syn_s", "reciprocal")}
TSTDP_METHOD = (
    "per instance: design-equation map with the instance's mismatch, refined by a MAP fit of the "
    "exact rule to its dw columns (anamorph.circuits.tstdp.sweep); log-normal population"
)
_POINT = re.compile(r"^(?P<name>[a-z_]+)@(?P<code>-?\d+(\.\d+)?)$")


#: the sweep table's columns that hold text (every other column is a number)
_TEXT_COLUMNS = ("corner", "status", "error", "settings")


def read_sweep(sweep_dir: str | Path) -> tuple[str, object]:
    """``(kind, table of ok rows)`` of ``sweep_dir/sweep.parquet``; kind "lif", "synapse",
    "gated-synapse" or "tstdp"."""
    import pandas as pd

    path = Path(sweep_dir) / "sweep.parquet"
    if not path.is_file():
        raise InputError("no sweep.parquet in this directory (run `anamorph sweep` first)", sweep_dir)
    try:
        table = pd.read_parquet(path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise InputError(f"cannot read the sweep table ({' '.join(str(e).split())})", path) from None
    for col in ("status", "instance", "seed"):
        if col not in table.columns:
            raise InputError("missing column", path, col)
    for col in table.columns:  # measurements: numbers, finite or NaN (not measured)
        if col in _TEXT_COLUMNS:
            continue
        values = table[col].to_numpy()
        if values.dtype.kind not in "biuf":
            raise InputError(f"must be numeric, got {values.dtype}", path, str(col))
        if np.isinf(values.astype(np.float64)).any():
            raise InputError("must be finite (NaN for not measured), found inf", path, str(col))
    for col in ("instance", "seed"):
        if table[col].to_numpy().dtype.kind not in "iu":
            raise InputError("must be integers", path, col)
    cols = set(table.columns)
    if {"v_th_v", "tau_m_s", "c_mem_f"} <= cols:
        kind = "lif"
    elif {"tau_syn_s", "syn_gain"} <= cols:
        kind = "synapse"
    elif {"g_s@0", "gate_v@1"} <= cols:
        kind = "gated-synapse"
    elif is_tstdp_table(cols):
        kind = "tstdp"
    else:
        raise InputError(
            "not a lif, synapse, gated-synapse or tstdp sweep (see CONTRIBUTING.md for the columns)", path
        )
    ok = table[table["status"] == "ok"].reset_index(drop=True)
    for col in ok.columns:  # the weight-DAC table is averaged point by point over instances
        if str(col).startswith(("q_exc_c@", "q_inh_c@")) and not np.isfinite(ok[col].to_numpy(float)).all():
            raise InputError("a row with status 'ok' lacks this weight-DAC point", path, str(col))
    if len(ok) < 3:
        raise InputError(f"needs at least 3 instances with status 'ok', has {len(ok)}", path, "status")
    return kind, ok


def dac_points(row: pd.Series, column: str) -> tuple[np.ndarray, np.ndarray]:
    """Codes and values of the ``"<column>@<code>"`` points of a row."""
    pts = []
    for k, v in row.items():
        m = _POINT.match(str(k))
        if m and m["name"] == column and np.isfinite(v):
            pts.append((float(m["code"]), float(v)))
    pts.sort()
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def _transfer_coefs(
    rows: pd.DataFrame, dacs: Mapping[str, tuple[str, str]], path: str | Path
) -> dict[str, np.ndarray]:
    """Per instance (rows) and DAC parameter: the fitted ``[a, b, q]`` (n_instances, 3)."""
    out = {}
    for p, (column, kind) in dacs.items():
        coefs = []
        for _, row in rows.iterrows():
            codes, values = dac_points(row, column)
            if codes.size < 2:
                raise InputError(f"needs at least two DAC points '{column}@<code>'", path, column)
            t = fit_transfer(kind, codes, values)
            coefs.append([t.a, t.b, t.q])
        out[p] = np.asarray(coefs)
    return out


def _slope_through_origin(row: pd.Series, column: str) -> tuple[float, np.ndarray, np.ndarray]:
    codes, q = dac_points(row, column)
    q = np.abs(q)
    slope = float(codes @ q / (codes @ codes)) if codes.size else float("nan")
    return slope, codes, q


def _table(shapes: list[tuple[np.ndarray, np.ndarray]]) -> list[float]:
    """Mean normalised 6-bit transfer: T(c) = c * mean_i(q_i(c) / (c s_i)), interpolated."""
    codes = shapes[0][0]
    ratio = np.mean([r for _, r in shapes], axis=0)
    c = np.arange(WEIGHT_CODES, dtype=np.float64)
    table = c * np.interp(c, codes, ratio)
    return np.maximum.accumulate(table).tolist()


def _lif_behaviour(row: pd.Series, transients: bool) -> dict:
    """An instance's behavioural parameters: f-I fit, then (optionally) the transient fit."""
    p = fit_lif_instance(row)
    if not transients:
        return p
    import json

    from anamorph.circuits.lif.circuit import simulate_lif_current

    settings = json.loads(row["settings"]) if isinstance(row.get("settings"), str) else None
    transients = [
        (t_s, i_a, simulate_lif_current(int(row["seed"]), int(row["instance"]), t_s, i_a, settings=settings))
        for t_s, i_a in TRAIN_WAVEFORMS
    ]
    measured = {
        k: float(row[k]) for k in ("v_leak_v", "v_th_v", "v_reset_v", "tau_m_s", "t_ref_s", "c_mem_f")
    }
    return fit_lif_transient(measured, row, transients)


def fit_process(sweep_dirs: Sequence[str | Path], *, transients: bool = True) -> ProcessModel:
    """Fit a ProcessModel to LIF, synapse, gated-synapse and/or TSTDP sweep directories
    (one per circuit; see the module docstring).

    With ``transients`` each LIF instance is also simulated (ngspice, through
    :func:`anamorph.circuits.lif.circuit.simulate_lif_current`) for the training waveforms of
    :mod:`anamorph.models.lif_fit`, and its behavioural parameters are fitted to those
    spike times as well (the latch delay is not in the sweep's measurements).
    """
    d = provisional()
    d["source"] = {
        "provisional": False,
        "command": sys.argv,
        "sweeps": [],
        "note": "fitted by anamorph.models.fit; syn_gain DAC, ADC and noise are provisional",
    }
    d["instances"] = {}
    names = list(MISMATCH_NAMES)
    corr = np.eye(len(names))
    sd = {}
    kinds_seen = set()
    tables = {}
    for sweep_dir in sweep_dirs:
        kind, rows = read_sweep(sweep_dir)
        tables[kind] = rows
        path = Path(sweep_dir) / "sweep.parquet"
        if kind in kinds_seen:
            raise InputError(f"a second {kind} sweep; give one sweep per circuit", sweep_dir)
        kinds_seen.add(kind)
        d["source"]["sweeps"].append(
            {
                "kind": kind,
                "path": str(path),
                "sha256": file_sha256(path),
                "instances": int(len(rows)),
                "seeds": sorted(set(map(int, rows["seed"]))),
            }
        )
        if kind == "gated-synapse":  # a device population of its own: anamorph.models.plasticity.gated_fit
            from anamorph.models.plasticity.gated_fit import fit_sweep

            d["gated_synapse"], d["instances"]["gated_synapse"] = fit_sweep(rows, path)
            continue
        if kind == "tstdp":  # a synapse population of its own: anamorph.models.plasticity.tstdp_fit
            d["tstdp"] = fit_tstdp_section(rows, {**d["source"]["sweeps"][-1], "method": TSTDP_METHOD}, path)
            d["instances"]["tstdp"] = [
                {
                    "seed": int(r["seed"]),
                    "instance": int(r["instance"]),
                    "params": {n: float(r[n]) for n in TSTDP_NAMES},
                }
                for _, r in rows.iterrows()
            ]
            continue
        if kind == "lif":
            coefs = _transfer_coefs(rows, LIF_DACS, path)
            from tqdm import tqdm

            behav = [
                _lif_behaviour(row, transients)
                for _, row in tqdm(
                    list(rows.iterrows()), desc="lif instances", disable=not sys.stderr.isatty()
                )
            ]
            c_mem = rows["c_mem_f"].to_numpy(dtype=np.float64)
            block = ["c_mem"]
            values = [c_mem - c_mem.mean()]
            d["c_mem_f"] = {"mean": float(c_mem.mean()), "sd": float(c_mem.std(ddof=1))}
            d["source"]["lif_transients"] = bool(transients)
            d["instances"]["lif"] = [
                {
                    "seed": int(r["seed"]),
                    "instance": int(r["instance"]),
                    "params": b,
                    "settings": r.get("settings", ""),
                    "dac": {p: coefs[p][k].tolist() for p in LIF_DACS},
                }
                for k, ((_, r), b) in enumerate(zip(rows.iterrows(), behav))
            ]
        else:
            coefs = _transfer_coefs(rows, SYN_DACS, path)
            block, values = [], []
            exc = [_slope_through_origin(r, "q_exc_c") for _, r in rows.iterrows()]
            inh = [_slope_through_origin(r, "q_inh_c") for _, r in rows.iterrows()]
            for name, fits in (("exc", exc), ("inh", inh)):
                slopes = np.array([f[0] for f in fits])
                if not np.all(np.isfinite(slopes)) or np.any(slopes <= 0):
                    raise InputError(f"needs 'q_{name}_c@<code>' points of one sign", path, f"q_{name}_c")
                d["synapse"][f"gain_sd_{name}"] = float(slopes.std(ddof=1) / slopes.mean())
                d["synapse"][f"table_{name}"] = _table([(f[1], f[2] / (f[1] * f[0])) for f in fits])
            d["instances"]["synapse"] = [
                {
                    "seed": int(r["seed"]),
                    "instance": int(r["instance"]),
                    "tau_syn_s": float(r["tau_syn_s"]),
                    "q_exc_per_code_c": e[0],
                    "q_inh_per_code_c": i[0],
                    "dac": {"tau_syn": coefs["tau_syn"][k].tolist()},
                }
                for k, ((_, r), e, i) in enumerate(zip(rows.iterrows(), exc, inh))
            ]
        for p, c in coefs.items():
            mean = c.mean(axis=0)
            d["dac"][p]["coef"] = mean.tolist()
            offset = c[:, 0] - mean[0]
            gain = c[:, 1] / mean[1] - 1.0
            d["dac"][p]["offset_sd"] = float(offset.std(ddof=1))
            d["dac"][p]["gain_sd"] = float(gain.std(ddof=1))
            block = [f"{p}.offset", f"{p}.gain"] + block
            values = [offset, gain] + values
        idx = [names.index(n) for n in block]
        x = np.stack(values, axis=1)
        s = x.std(axis=0, ddof=1)
        live = s > 0
        sub = np.eye(len(idx))
        if live.sum() > 1:
            sub[np.ix_(live, live)] = np.corrcoef(x[:, live], rowvar=False)
        corr[np.ix_(idx, idx)] = sub
        sd.update(dict(zip(block, s)))
    if not kinds_seen:
        raise InputError("no sweep directories given", "SWEEP_DIR")
    d["mismatch"]["corr"] = ((corr + corr.T) / 2).tolist()
    energy_cols = [f"e_{s}_j@{c}" for s in ("exc", "inh") for c in range(WEIGHT_CODES)]
    if {"lif", "synapse"} <= set(tables) and {"p_static_w", "e_spike_j"} <= set(tables["lif"].columns):
        if {"p_static_w", *energy_cols} <= set(tables["synapse"].columns):
            from anamorph.models.energy import section_from_instances

            srcs = [s for s in d["source"]["sweeps"] if s["kind"] in ("lif", "synapse")]
            recs = {k: tables[k].to_dict("records") for k in ("lif", "synapse")}
            d["energy"] = section_from_instances(recs["lif"], recs["synapse"], {"sweeps": srcs})
    return ProcessModel(d)
