"""A generic 180 nm CMOS process: BSIM3v3 model cards, corners and Pelgrom mismatch.

API (what circuit modules use)
------------------------------
``DEFAULT_PROCESS`` : :class:`Process`
    The process every circuit uses unless told otherwise.
``Process.model_cards() -> str``
    ``.model nch nmos ...`` / ``.model pch pmos ...`` lines for a netlist.
``Process.mosfet(name, d, g, s, b, kind, w_m, l_m, mismatch=None, corner="tt") -> str``
    One transistor instance line (``kind`` is ``"n"``/``"nmos"`` or ``"p"``/``"pmos"``)
    with its corner shift and its mismatch applied through the BSIM instance parameters
    ``delvto`` (threshold shift) and ``mulu0`` (mobility, hence beta, factor).
``Process.capacitor(name, a, b, c_f, mismatch=None) -> str``
    A MIM capacitor line with its Pelgrom area mismatch.
``Mismatch(seed, instance)`` or ``np.random.default_rng([seed, instance])``
    What ``mismatch`` accepts; ``None`` gives the nominal device.
``CORNERS`` / :class:`Corner`
    Global process corners ``"tt", "ff", "ss", "fs", "sf"``.

Mismatch model (Pelgrom, Duinmaijer & Welbers, IEEE JSSC 24(5), 1989)::

    sigma(Vth)          = A_VT   / sqrt(W L)
    sigma(beta) / beta  = A_beta / sqrt(W L)
    sigma(C) / C        = A_C    / sqrt(area)

Each device draws its two standard normals from its own stream, derived from the
instance's seed sequence and a CRC-32 of the device name, so instance ``k`` of seed
``s`` depends only on ``(s, k)`` and adding a device never reshuffles the others.

Where the numbers come from: the model cards are written here for this project with
values typical of a 180 nm, 1.8 V logic process (t_ox ~ 4 nm, |Vth0| ~ 0.45 V,
mu_n ~ 350 cm^2/Vs, mu_p ~ 100 cm^2/Vs, v_sat ~ 1e5 m/s, as in textbook tables, e.g.
Razavi, "Design of Analog CMOS Integrated Circuits", 2nd ed., and the open predictive
technology models). The mismatch coefficients follow the rule of thumb
A_VT ~ 1 mV um per nm of oxide and A_beta ~ 1 % um reported for this node
(Kinget, "Device mismatch and tradeoffs in the design of analog circuits", IEEE JSSC
40(6), 2005). They are generic, not any foundry's data. ``capmod=0`` (BSIM3's simple
charge model) halves the device evaluation time against ``capmod=3`` in a side-by-side
DC sweep here; the circuits' time constants come from pF capacitors, not gate charge.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np

from anamorph.errors import InputError


@dataclass(frozen=True)
class Corner:
    """A global process corner: shifts of |Vth| (V) and mobility factors per polarity."""

    name: str
    dvth_n_v: float = 0.0
    dvth_p_v: float = 0.0
    mu_n: float = 1.0
    mu_p: float = 1.0


CORNERS: dict[str, Corner] = {
    "tt": Corner("tt"),
    "ff": Corner("ff", -0.04, -0.04, 1.08, 1.08),
    "ss": Corner("ss", 0.04, 0.04, 0.92, 0.92),
    "fs": Corner("fs", -0.04, 0.04, 1.08, 0.92),
    "sf": Corner("sf", 0.04, -0.04, 0.92, 1.08),
}


def get_corner(corner: str | Corner) -> Corner:
    """Return the :class:`Corner` named ``corner`` (InputError if unknown)."""
    if isinstance(corner, Corner):
        return corner
    try:
        return CORNERS[corner]
    except KeyError:
        raise InputError(f"unknown corner {corner!r} (known: {', '.join(CORNERS)})", field="corner") from None


@dataclass(frozen=True)
class Mismatch:
    """The mismatch of Monte Carlo instance ``instance`` of seed ``seed``.

    ``scale`` multiplies every sigma (0 gives the nominal circuit).
    """

    seed: int
    instance: int
    scale: float = 1.0

    def device_normals(self, name: str, n: int = 2) -> np.ndarray:
        return device_normals(np.random.SeedSequence([self.seed, self.instance]), name, n) * self.scale


def device_normals(seed_seq: np.random.SeedSequence, name: str, n: int = 2) -> np.ndarray:
    """``n`` standard normals for device ``name``: a child stream of ``seed_seq``."""
    child = np.random.SeedSequence(
        entropy=seed_seq.entropy, spawn_key=tuple(seed_seq.spawn_key) + (zlib.crc32(name.lower().encode()),)
    )
    return np.random.default_rng(child).standard_normal(n)


def _normals(mismatch, name: str, n: int = 2) -> np.ndarray:
    if mismatch is None:
        return np.zeros(n)
    if isinstance(mismatch, Mismatch):
        return mismatch.device_normals(name, n)
    if isinstance(mismatch, np.random.Generator):
        return device_normals(mismatch.bit_generator.seed_seq, name, n)
    raise TypeError(f"mismatch must be None, a Mismatch or a numpy Generator, not {type(mismatch).__name__}")


_CARD_COMMON = (
    "level=8 version=3.3.0 tnom=27 tox=4.1e-9 xj=1.5e-7 nch=2.3e17 k1=0.58 k2=0.0 "
    "k3=1e-3 w0=1e-7 dvt0=1.2 dvt1=0.4 dvt2=-0.03 nlx=1.5e-7 a0=1.4 ags=0.3 "
    "keta=-0.01 pclm=1.3 pdiblc1=0.2 pdiblc2=5e-3 pvag=0.5 delta=0.01 "
    "nfactor=1.3 voff=-0.09 eta0=5e-3 etab=-5e-3 dsub=0.5 "
    "cgso=3.5e-10 cgdo=3.5e-10 cgbo=1e-12 cj=1e-3 mj=0.4 cjsw=2.5e-10 mjsw=0.3 "
    "pb=0.8 pbsw=0.8 capmod=0 mobmod=1"
)


@dataclass(frozen=True)
class Process:
    """Model cards and Pelgrom coefficients of a CMOS process (SI units).

    ``a_vt_*_vm`` in V*m (5e-9 = 5 mV um), ``a_beta_*_m`` and ``a_c_m`` in m
    (1e-8 = 1 % um), ``cap_density_f_m2`` in F/m^2 (2e-3 = 2 fF/um^2).
    """

    name: str = "generic180"
    vdd_v: float = 1.8
    l_min_m: float = 0.18e-6
    w_min_m: float = 0.22e-6
    a_vt_n_vm: float = 5.0e-9
    a_vt_p_vm: float = 5.5e-9
    a_beta_n_m: float = 1.0e-8
    a_beta_p_m: float = 1.0e-8
    a_c_m: float = 5.0e-9
    cap_density_f_m2: float = 2.0e-3

    def model_cards(self) -> str:
        """The ``.model`` lines for ``nch`` and ``pch``."""
        nch = (
            f".model nch nmos {_CARD_COMMON} vth0=0.45 u0=350 ua=2.0e-9 ub=5.0e-19 uc=-4e-11 "
            "vsat=1.0e5 rdsw=150"
        )
        pch = (
            f".model pch pmos {_CARD_COMMON} vth0=-0.45 u0=100 ua=1.5e-9 ub=1.0e-21 uc=-1e-10 "
            "vsat=8.0e4 rdsw=400"
        )
        return f"* {self.name}: generic BSIM3v3 cards (see anamorph.circuits.process)\n{nch}\n{pch}\n"

    def sigmas(self, kind: str, w_m: float, l_m: float) -> tuple[float, float]:
        """``(sigma_vth_v, sigma_beta_rel)`` of one W x L transistor (Pelgrom)."""
        root = np.sqrt(w_m * l_m)
        if _polarity(kind) == "n":
            return self.a_vt_n_vm / root, self.a_beta_n_m / root
        return self.a_vt_p_vm / root, self.a_beta_p_m / root

    def device_shift(
        self, name: str, kind: str, w_m: float, l_m: float, mismatch=None, corner: str | Corner = "tt"
    ) -> tuple[float, float]:
        """``(dvth_v, beta_factor)`` of a device: corner plus its mismatch draw.

        ``dvth_v`` raises |Vth| when positive, for either polarity. ``name`` keys the
        device's random stream.
        """
        c = get_corner(corner)
        z = _normals(mismatch, name, 2)
        s_vt, s_b = self.sigmas(kind, w_m, l_m)
        n = _polarity(kind) == "n"
        dvth = (c.dvth_n_v if n else c.dvth_p_v) + s_vt * z[0]
        beta = (c.mu_n if n else c.mu_p) * max(1.0 + s_b * z[1], 0.05)
        return float(dvth), float(beta)

    def mosfet(
        self,
        name: str,
        d: str,
        g: str,
        s: str,
        b: str,
        kind: str,
        w_m: float,
        l_m: float,
        mismatch=None,
        corner: str | Corner = "tt",
        key: str | None = None,
    ) -> str:
        """A netlist line for one transistor with its corner and mismatch applied.

        ngspice's BSIM3 adds ``delvto`` to the signed Vth0, so a PMOS gets ``-dvth``.
        ``key`` (default: ``name``) names the device's random stream, so copies of one
        circuit in a single netlist can carry each instance's own mismatch.
        """
        pol = _polarity(kind)
        if w_m < self.w_min_m * 0.999 or l_m < self.l_min_m * 0.999:
            raise InputError(
                f"transistor {name}: W={w_m:g} m, L={l_m:g} m below the process minimum", field=name
            )
        dvth, beta = self.device_shift(key or name, kind, w_m, l_m, mismatch, corner)
        delvto = dvth if pol == "n" else -dvth
        ldiff = 0.5e-6  # source/drain diffusion length: geometry for junction caps
        model = "nch" if pol == "n" else "pch"
        prefix = "" if name[:1].lower() == "m" else "m"
        return (
            f"{prefix}{name} {d} {g} {s} {b} {model} w={w_m:.6g} l={l_m:.6g} "
            f"ad={w_m * ldiff:.6g} as={w_m * ldiff:.6g} pd={2 * (w_m + ldiff):.6g} "
            f"ps={2 * (w_m + ldiff):.6g} delvto={delvto:.9g} mulu0={beta:.9g}"
        )

    def capacitor(self, name: str, a: str, b: str, c_f: float, mismatch=None) -> str:
        """A MIM capacitor line; sigma(C)/C = A_C / sqrt(C / density)."""
        area = c_f / self.cap_density_f_m2
        z = _normals(mismatch, name, 1)[0]
        value = c_f * (1.0 + self.a_c_m / np.sqrt(area) * z)
        prefix = "" if name[:1].lower() == "c" else "c"
        return f"{prefix}{name} {a} {b} {value:.9g}"


def _polarity(kind: str) -> str:
    k = kind.lower()
    if k in ("n", "nmos", "nch"):
        return "n"
    if k in ("p", "pmos", "pch"):
        return "p"
    raise ValueError(f"transistor kind must be 'n' or 'p', not {kind!r}")


DEFAULT_PROCESS = Process()
