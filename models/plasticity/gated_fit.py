r"""Fit the gated-synapse behavioural model per device, and its process section.

Per instance (one row of an ``anamorph sweep gated-synapse`` table,
:mod:`anamorph.circuits.gated_synapse.sweep`): ``g_min`` is the conductance of the reset
device (``g_s@0``); ``tau_ret`` the slope of ``ln(g - g_min)`` over the retention points;
the remaining parameters (``t_p, t_d, v_th_p, v_th_d, a_p, a_d, gamma_p, gamma_d,
g_max``) minimise the one-pulse-ahead prediction error
``sum_k (g(pulse_step(s_k, V_k)) - g_{k+1})^2``, where ``s_k`` is the state read back from
the measured ``g_k`` (bounded least squares, ``scipy.optimize.least_squares``). The
cycle-to-cycle noise is unknown to the fit: it enters the residuals, and its spread is
estimated afterwards by inverting each clear step for its drive factor,
``sigma_c2c = rms ln(D_measured / D_predicted)`` (:mod:`.gated_device`).

Process section ``"gated_synapse"`` of the ProcessModel (log-normal population, the same
layout as the ``"tstdp"`` section)::

    {"names": PARAM_FIELDS, "log_mean": [...], "log_sd": [...], "corr": [[...]],
     "n_instances": N, "pulse": {"width_s", "edge_s", "period_s"}, "source": {...}}

``log_mean``/``log_sd`` are the mean and sample sd of ``ln(value)`` over the instances and
``corr`` the correlation matrix of those logs (identity rows for constant parameters).
"""

from __future__ import annotations

import re
from dataclasses import asdict, replace
from typing import TYPE_CHECKING

import numpy as np

from anamorph.errors import InputError
from anamorph.models.plasticity.gated_device import (
    PARAM_FIELDS,
    GatedDeviceParams,
    GatePulse,
    drive_integral,
    pulse_step,
    validate_params,
)

if TYPE_CHECKING:
    from pathlib import Path

    import pandas as pd

SECTION = "gated_synapse"
_FREE = ("t_p_s", "t_d_s", "v_th_p_v", "v_th_d_v", "a_p", "a_d", "gamma_p", "gamma_d")
_LOG = {"t_p_s", "t_d_s"}
_POINT = re.compile(r"^(?P<name>[a-z_]+)@(?P<x>[-+0-9.e]+)$")


def _points(row: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    pts = sorted(
        (float(m["x"]), float(v)) for k, v in row.items() if (m := _POINT.match(str(k))) and m["name"] == name
    )
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def read_row(row: pd.Series, where: str = "sweep") -> dict:
    """The protocol and measurements of one sweep row (amplitudes, conductances, retention)."""
    try:
        k_amp, amps = _points(row, "gate_v")
        k_g, g = _points(row, "g_s")
        t_ret, g_ret = _points(row, "g_ret_s")
        pulse = GatePulse(float(row["width_s"]), float(row["edge_s"]), float(row["period_s"]))
    except (KeyError, ValueError, TypeError):
        raise InputError(
            "not a gated-synapse sweep row (needs gate_v@k, g_s@k, g_ret_s@t, width_s, edge_s, period_s)",
            where,
        ) from None
    if amps.size < 4 or g.size != amps.size + 1 or not np.all(np.isfinite(g)) or t_ret.size < 2:
        raise InputError("needs g_s@0..N for N >= 4 gate pulses and two retention points", where, "g_s")
    return {"amps": amps, "g": g, "t_ret": t_ret, "g_ret": g_ret, "pulse": pulse}


def _params(theta: np.ndarray, fixed: dict) -> GatedDeviceParams:
    values = {n: (np.exp(v) if n in _LOG else v) for n, v in zip(_FREE, theta[:-1])}
    return GatedDeviceParams(**fixed, **values, g_max_s=fixed["g_min_s"] + np.exp(theta[-1]))


def fit_instance(row: pd.Series, where: str = "sweep") -> tuple[GatedDeviceParams, dict]:
    """Behavioural parameters of one device (module docstring) and fit diagnostics.

    Returns ``(params, info)`` with ``info = {"rms_step": rms one-pulse-ahead error / (g_max -
    g_min), "n_steps_c2c": steps used for sigma_c2c}``.
    """
    from scipy.optimize import least_squares

    from anamorph.circuits.gated_synapse.device import field_ranges

    m = read_row(row, where)
    amps, g, pulse = m["amps"], m["g"], m["pulse"]
    g_min = float(g[0])
    t = np.concatenate([[0.0], m["t_ret"]])
    y = np.log(np.maximum(np.concatenate([[g[-1]], m["g_ret"]]) - g_min, 1e-30))
    slope = np.polyfit(t, y, 1)[0]
    if not slope < 0:
        raise InputError("retention points do not decay", where, "g_ret_s")
    fixed = {"g_min_s": g_min, "tau_ret_s": float(-1.0 / slope), "sigma_c2c": 0.0}
    ranges = field_ranges()
    nominal = GatedDeviceParams()
    lo, hi, x0 = [], [], []
    for n in _FREE:
        a, b = ranges[n][0], ranges[n][1]
        if n.startswith("v_th"):  # a threshold above every amplitude would switch the drive off
            b = min(b, 0.99 * np.min(np.abs(amps[amps > 0 if n == "v_th_p_v" else amps < 0])))
        a, b = (np.log(a), np.log(b)) if n in _LOG else (a, b)
        v0 = np.log(getattr(nominal, n)) if n in _LOG else getattr(nominal, n)
        (
            lo.append(a),
            hi.append(b),
            x0.append(float(np.clip(v0, a + 1e-6 * abs(b - a), b - 1e-6 * abs(b - a)))),
        )
    span0 = float(np.max(g) - g_min) * 1.2
    lo.append(np.log(span0 / 1.2)), hi.append(np.log(span0 * 20)), x0.append(np.log(span0))
    scale = span0

    def residual(theta):
        p = _params(theta, fixed)
        s = (g[:-1] - g_min) / (p.g_max_s - g_min)
        return (g_min + (p.g_max_s - g_min) * pulse_step(s, amps, p, 0.0, pulse) - g[1:]) / scale

    sol = least_squares(
        residual, np.array(x0), bounds=(np.array(lo), np.array(hi)), x_scale="jac", method="trf"
    )
    params = _params(sol.x, fixed)
    span = params.g_max_s - g_min
    sigma, n_used = _c2c(params, amps, (g - g_min) / span, pulse)
    params = replace(params, sigma_c2c=float(np.clip(sigma, 0.0, 1.0)))
    return validate_params(params, where), {
        "rms_step": float(np.sqrt(np.mean(residual(sol.x) ** 2)) * scale / span),
        "n_steps_c2c": n_used,
    }


def _c2c(
    p: GatedDeviceParams, amps: np.ndarray, s: np.ndarray, pulse: GatePulse, min_step: float = 5e-3
) -> tuple[float, int]:
    """rms of ``ln(D_measured / D_predicted)`` over steps larger than ``min_step`` (module docstring)."""
    before, after = s[:-1], s[1:] * np.exp(pulse.period_s / p.tau_ret_s)  # undo the slot's retention
    pot = amps > 0
    u0 = np.where(pot, 1.0 - before, before)
    u1 = np.where(pot, 1.0 - after, after)
    gamma = np.where(pot, p.gamma_p, p.gamma_d)
    d0 = np.where(
        pot,
        drive_integral(amps, p.v_th_p_v, p.a_p, pulse) / p.t_p_s,
        drive_integral(amps, p.v_th_d_v, p.a_d, pulse) / p.t_d_s,
    )
    use = (u0 - u1 > min_step) & (u1 > 1e-3) & (d0 > 0)
    if use.sum() < 3:
        return 0.0, int(use.sum())
    g1 = np.maximum(gamma[use] - 1.0, 1e-9)
    d = np.where(gamma[use] > 1.0 + 1e-9, (u1[use] ** -g1 - u0[use] ** -g1) / g1, np.log(u0[use] / u1[use]))
    r = np.log(d / d0[use])
    return float(np.sqrt(np.mean(r**2))), int(use.sum())


def section_from_fits(fits: list[GatedDeviceParams], pulse: GatePulse, source: dict) -> dict:
    """The process section (module docstring) from per-instance fitted parameters."""
    if len(fits) < 3:
        raise InputError(
            f"needs at least 3 fitted devices, has {len(fits)}", source.get("path", "sweep"), "status"
        )
    x = np.log(np.array([[max(float(getattr(f, n)), 1e-12) for n in PARAM_FIELDS] for f in fits]))
    sd = x.std(axis=0, ddof=1)
    corr = np.eye(len(PARAM_FIELDS))
    live = sd > 1e-12
    if live.sum() > 1:
        corr[np.ix_(live, live)] = np.corrcoef(x[:, live], rowvar=False)
    return {
        "names": list(PARAM_FIELDS),
        "log_mean": x.mean(axis=0).tolist(),
        "log_sd": sd.tolist(),
        "corr": ((corr + corr.T) / 2).tolist(),
        "n_instances": len(fits),
        "pulse": asdict(pulse),
        "source": source,
    }


def fit_sweep(rows: pd.DataFrame, path: str | Path | None) -> tuple[dict, list[dict]]:
    """``(section, per-instance records)`` from the ``"ok"`` rows of a gated-synapse sweep."""
    from anamorph.io import file_sha256

    fits, records, pulse = [], [], None
    for _, row in rows.iterrows():
        where = f"{path} instance {int(row['instance'])}"
        params, info = fit_instance(row, where)
        pulse = read_row(row, where)["pulse"]
        fits.append(params)
        records.append(
            {
                "seed": int(row["seed"]),
                "instance": int(row["instance"]),
                "params": {k: float(v) for k, v in asdict(params).items()},
                **info,
            }
        )
    source = {
        "kind": "gated-synapse",
        "path": str(path),
        "sha256": file_sha256(path),
        "seeds": sorted(set(map(int, rows["seed"]))),
        "method": "anamorph.models.plasticity.gated_fit",
    }
    return section_from_fits(fits, pulse, source), records


def validate_section(section: dict, path: str | Path | None = None) -> dict:
    """Raise InputError (field ``gated_synapse.<key>``) unless ``section`` is a valid process section."""
    from anamorph.circuits.gated_synapse.device import check_range, field_ranges

    where = f"{SECTION}."
    if not isinstance(section, dict):
        raise InputError("must be an object", path, SECTION)
    if section.get("names") != list(PARAM_FIELDS):
        raise InputError(f"must list {list(PARAM_FIELDS)}", path, where + "names")
    n = len(PARAM_FIELDS)
    try:
        mean = np.asarray(section["log_mean"], dtype=np.float64)
        sd = np.asarray(section["log_sd"], dtype=np.float64)
        corr = np.asarray(section["corr"], dtype=np.float64)
        pulse = GatePulse(**{k: float(v) for k, v in section["pulse"].items()})
    except KeyError as e:
        raise InputError("missing field", path, where + str(e.args[0])) from None
    except (TypeError, ValueError):
        raise InputError(
            "log_mean, log_sd, corr must be numbers and pulse {width_s, edge_s, period_s}", path, SECTION
        ) from None
    if mean.shape != (n,) or not np.all(np.isfinite(mean)):
        raise InputError(f"must be {n} finite numbers", path, where + "log_mean")
    if sd.shape != (n,) or not np.all(np.isfinite(sd)) or np.any(sd < 0):
        raise InputError(f"must be {n} finite numbers >= 0", path, where + "log_sd")
    if (
        corr.shape != (n, n)
        or not np.all(np.isfinite(corr))
        or not np.allclose(corr, corr.T)
        or not np.allclose(np.diag(corr), 1.0)
        or np.min(np.linalg.eigvalsh(corr)) < -1e-9
    ):
        raise InputError(
            f"must be a symmetric positive semi-definite {n}x{n} correlation matrix", path, where + "corr"
        )
    if not (0 < pulse.edge_s < pulse.width_s < pulse.period_s):
        raise InputError("needs 0 < edge_s < width_s < period_s", path, where + "pulse")
    ranges = field_ranges()
    for name, m in zip(PARAM_FIELDS, mean):
        if name != "sigma_c2c":
            check_range(name, np.exp(m), ranges[name], f"{path} ({where}log_mean)")
    return section


def nominal(section: dict) -> GatedDeviceParams:
    """The population median device, ``exp(log_mean)``."""
    return GatedDeviceParams(**dict(zip(section["names"], np.exp(section["log_mean"]).tolist())))


def sample_devices(
    section: dict, shape: int | tuple[int, ...], rng: np.random.Generator
) -> GatedDeviceParams:
    """Per-device parameters of ``shape`` devices (correlated log-normal), clipped into the
    declared ranges (``a, gamma >= 1``; ``g_max > g_min``)."""
    from anamorph.circuits.gated_synapse.device import field_ranges

    n = len(PARAM_FIELDS)
    corr = np.asarray(section["corr"], dtype=np.float64)
    w, v = np.linalg.eigh(corr)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    z = rng.standard_normal((*np.atleast_1d(shape), n)) @ root.T
    x = np.exp(np.asarray(section["log_mean"]) + np.asarray(section["log_sd"]) * z)
    ranges = field_ranges()
    values = {
        name: np.clip(x[..., i], ranges[name][0], ranges[name][1]) for i, name in enumerate(PARAM_FIELDS)
    }
    values["g_max_s"] = np.maximum(values["g_max_s"], values["g_min_s"] * 1.01)
    return GatedDeviceParams(**values)


def pulse_of(section: dict) -> GatePulse:
    return GatePulse(**{k: float(v) for k, v in section["pulse"].items()})
