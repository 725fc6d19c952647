"""Per-synapse triplet-STDP parameters drawn from the process model's ``"tstdp"`` section.

The section (written by the process fit from Monte Carlo sweeps of the transistor-level
TSTDP circuit) describes the population of synapses as correlated log-normals::

    ln p = log_mean + log_sd * z,   z ~ N(0, corr),   p = 0 for amplitudes listed in "off"

over the rule's parameters ``names`` = (a2p, a3p, a2m, a3m, tau_x_s, tau_y_s, tau_plus_s,
tau_minus_s), time constants in biological seconds. A process model without the section
(files older than it) gets :func:`provisional_section`: the ideal rule fitted to the
hippocampal data (``circuits/tstdp/fitted.json``, ``rule_fit``) with a 10 % log-sd of every
parameter and no correlations (an amplitude the fit set to 0 is "off").

On the chip the time constants are multiplied by ``TIME_SCALE`` (1e-3): the chip runs 1000x
faster than biology.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from anamorph.circuits.tstdp.circuit import FITTED_PATH, TIME_SCALE
from anamorph.circuits.tstdp.rule import TripletParams
from anamorph.models.plasticity.sensors import NAMES

if TYPE_CHECKING:
    from anamorph.models.process_model import ProcessModel

PROVISIONAL_LOG_SD = 0.10


def provisional_section(log_sd: float = PROVISIONAL_LOG_SD) -> dict:
    """The rule fitted to the hippocampal data, every parameter with ``log_sd`` spread."""
    from anamorph.io import read_json

    fit = read_json(FITTED_PATH)["rule_fit"]
    n = len(NAMES)
    off = [k for k in NAMES if not fit[k] > 0]  # amplitudes the fit switched off
    return {
        "names": list(NAMES),
        "log_mean": [0.0 if k in off else float(np.log(fit[k])) for k in NAMES],
        "log_sd": [0.0 if k in off else float(log_sd) for k in NAMES],
        "corr": np.eye(n).tolist(),
        "off": off,
        "interaction": fit.get("interaction", "nearest"),
        "n_instances": 0,
        "source": {
            "kind": "provisional",
            "method": f"circuits/tstdp/fitted.json rule_fit, log-sd {log_sd:g} each, uncorrelated",
        },
    }


def section_of(process: ProcessModel) -> dict:
    """The process model's ``"tstdp"`` section, or the provisional one if it has none.

    A process model without any mismatch (every spread 0, as
    :meth:`~anamorph.models.process_model.ProcessModel.without_mismatch` makes it) gets the
    provisional section without spread.
    """
    section = process.data.get("tstdp")
    if section:
        return section
    d = process.data
    spread = [v for p in d["dac"].values() for v in (p["offset_sd"], p["gain_sd"])]
    spread += [d["c_mem_f"]["sd"], d["synapse"]["gain_sd_exc"], d["synapse"]["gain_sd_inh"]]
    return provisional_section(PROVISIONAL_LOG_SD if any(spread) else 0.0)


def _arrays(section: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    names = list(section["names"])
    order = [names.index(n) for n in NAMES]
    mean = np.asarray(section["log_mean"], dtype=np.float64)[order]
    sd = np.asarray(section["log_sd"], dtype=np.float64)[order]
    corr = np.asarray(section["corr"], dtype=np.float64)[np.ix_(order, order)]
    off = np.array([n in set(section.get("off", [])) for n in NAMES])
    return mean, sd, corr, off


def nominal_rule(section: dict) -> TripletParams:
    """The median synapse (``exp(log_mean)``, 0 for switched-off amplitudes), biological time."""
    mean, _, _, off = _arrays(section)
    value = np.where(off, 0.0, np.exp(mean))
    return TripletParams(
        **dict(zip(NAMES, map(float, value))), interaction=section.get("interaction", "nearest")
    )


def sample_params(
    section: dict, rng: np.random.Generator, shape: int | tuple[int, ...], time_scale: float = TIME_SCALE
) -> dict:
    """Draw every synapse of ``shape``: ``{name: array(shape)}``, time constants times ``time_scale``.

    One correlated standard-normal vector per synapse, ``z = R^(1/2) xi`` (eigen-root of the
    correlation matrix, which may be only semi-definite), drawn in row-major synapse order.
    """
    mean, sd, corr, off = _arrays(section)
    w, v = np.linalg.eigh(corr)
    root = v * np.sqrt(np.clip(w, 0.0, None))
    n = int(np.prod(shape))
    z = rng.standard_normal((n, len(NAMES))) @ root.T
    value = np.exp(mean + sd * z)
    value[:, off] = 0.0
    out = {}
    for k, name in enumerate(NAMES):
        scale = time_scale if name.startswith("tau_") else 1.0
        out[name] = (value[:, k] * scale).reshape(shape)
    return out
