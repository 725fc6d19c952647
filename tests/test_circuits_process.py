"""The process: corners move real ngspice currents the right way; Pelgrom scaling holds."""

from __future__ import annotations

import numpy as np
import pytest

from anamorph.circuits.lif.circuit import leak_potentials_v
from anamorph.circuits.process import DEFAULT_PROCESS, Mismatch
from anamorph.errors import InputError
from anamorph.ngspice import run_netlist

pytestmark = pytest.mark.spice  # runs ngspice


def _drain_current_a(kind: str, corner: str, mismatch=None) -> float:
    p = DEFAULT_PROCESS
    if kind == "n":
        dev = p.mosfet("m1", "d", "g", "0", "0", "n", 1e-6, 1e-6, mismatch, corner)
        bias = ["vg g 0 0.9", "vd d 0 0.9"]
    else:
        dev = p.mosfet("m1", "d", "g", "vdd", "vdd", "p", 1e-6, 1e-6, mismatch, corner)
        bias = ["vg g 0 0.9", "vd d 0 0.9"]
    net = "\n".join(["* corner check", p.model_cards(), "vdd vdd 0 1.8", *bias, dev, ".op", ".end"])
    return abs(float(run_netlist(net)["vd#branch"][0]))


@pytest.mark.parametrize("kind", ["n", "p"])
def test_corners_order_drain_currents(kind):
    # slow devices (higher |Vth|, lower mobility) conduct less at the same bias, for both polarities
    i = {c: _drain_current_a(kind, c) for c in ("ss", "tt", "ff")}
    assert i["ss"] < i["tt"] < i["ff"]


def test_device_draws_depend_only_on_seed_instance_and_name():
    p = DEFAULT_PROCESS
    a = p.device_shift("ml1", "n", 1e-6, 1e-6, Mismatch(3, 7))
    # drawing other devices first (adding devices to a netlist) does not change ml1's draw
    for name in ("x1", "x2", "ml2"):
        p.device_shift(name, "n", 1e-6, 1e-6, Mismatch(3, 7))
    assert p.device_shift("ml1", "n", 1e-6, 1e-6, np.random.default_rng([3, 7])) == a
    assert p.device_shift("ml1", "n", 1e-6, 1e-6, Mismatch(3, 8)) != a


def test_vth_spread_of_many_devices_follows_pelgrom_coefficient():
    # sample standard deviation of 4000 independent devices vs A_VT / sqrt(W L)
    p = DEFAULT_PROCESS
    w, l = 2e-6, 0.5e-6
    d = np.array([p.device_shift(f"m{k}", "n", w, l, Mismatch(1, 0))[0] for k in range(4000)])
    expected = p.a_vt_n_vm / np.sqrt(w * l)
    assert abs(d.std(ddof=1) / expected - 1) < 4 / np.sqrt(2 * 3999)


def test_quadrupling_area_halves_leak_potential_spread():
    # v_leak's spread is set by the leak OTA's transistors; W and L each x2 -> W*L x4.
    # Two independent populations (different seeds) of n OTAs from real ngspice operating
    # points. Ratio of sample SDs: 0.5 with relative standard error ~ sqrt(1/(n-1)).
    n = 300
    small = leak_potentials_v(101, range(n))
    large = leak_potentials_v(202, range(n), {"leak_area_scale": 4.0})
    ratio = large.std(ddof=1) / small.std(ddof=1)
    tol = 3 * 0.5 * np.sqrt(1.0 / (n - 1))  # three standard errors
    assert abs(ratio - 0.5) < tol, (ratio, tol)
    # and the spread is a real mismatch effect, not numerical noise
    assert small.std(ddof=1) > 1e-3


def test_unknown_corner_is_input_error():
    with pytest.raises(InputError, match="unknown corner"):
        DEFAULT_PROCESS.mosfet("m1", "d", "g", "0", "0", "n", 1e-6, 1e-6, None, "xx")
