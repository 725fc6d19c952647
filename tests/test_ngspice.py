"""The foundation: real libngspice (with OSDI) and real OpenVAF, against analytic and scipy solutions."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from anamorph.errors import InputError
from anamorph.ngspice import SimulationError, Simulator, compile_va
from anamorph.ngspice.verilog_a import VerilogACompileError

pytestmark = pytest.mark.spice  # runs ngspice


def test_rc_transient_matches_analytic_solution():
    r_ohm, c_f, t0_s = 1e3, 1e-9, 1e-6
    tau_s = r_ohm * c_f
    netlist = f"""rc step
V1 in 0 PWL(0 0 {t0_s} 0 {t0_s + 1e-12} 1)
R1 in out {r_ohm}
C1 out 0 {c_f}
.options reltol=1e-6 abstol=1e-15 vntol=1e-9
.tran 5n 8u 0 5n
.end
"""
    res = Simulator().run(netlist)
    t, v = res["time"], res["out"]
    analytic = np.where(t > t0_s, 1 - np.exp(-(t - t0_s) / tau_s), 0.0)
    after = t > t0_s + 20e-9  # skip the 1 ps source edge itself
    assert np.max(np.abs(v[after] - analytic[after])) < 1e-3 * 1.0  # relative to the 1 V step


def test_verilog_a_state_variable_matches_scipy(data_dir):
    tau_s, k, v0, f_hz = 2e-6, 0.8, 0.5, 200e3
    osdi = compile_va(data_dir / "state_ode.va")
    sim = Simulator()
    sim.load_osdi(osdi)
    netlist = f"""osdi state ode
.model sode state_ode tau={tau_s} k={k} v0={v0}
V1 in 0 SIN(0 1 {f_hz})
N1 in s sode
.options reltol=1e-6 abstol=1e-12 vntol=1e-9
.tran 5n 20u 0 5n
.end
"""
    res = sim.run(netlist)
    t, s = res["time"], res["s"]

    def rhs(time, y):
        return (k * np.tanh(np.sin(2 * np.pi * f_hz * time) / v0) - y) / tau_s

    ref = solve_ivp(rhs, (0, t[-1]), [0.0], t_eval=t, method="LSODA", rtol=1e-10, atol=1e-13).y[0]
    assert np.max(np.abs(s - ref)) < 1e-3 * np.ptp(ref)


def test_compile_is_cached_by_content(tmp_path, data_dir):
    a = compile_va(data_dir / "state_ode.va", cache_dir=tmp_path)
    mtime = a.stat().st_mtime_ns
    b = compile_va(data_dir / "state_ode.va", cache_dir=tmp_path)
    assert a == b and b.stat().st_mtime_ns == mtime


def test_verilog_a_syntax_error_names_file_and_line(tmp_path):
    bad = tmp_path / "bad.va"
    bad.write_text(
        '`include "disciplines.vams"\nmodule bad(a, b);\n  inout a, b;\n'
        "  electrical a, b;\n  analog I(a, b) <+ V(a, b) / ;\nendmodule\n"
    )
    with pytest.raises(VerilogACompileError, match=r"bad\.va:5: openvaf-r: unexpected token"):
        compile_va(bad, cache_dir=tmp_path)


def test_unknown_model_is_a_clear_simulation_error():
    with pytest.raises(SimulationError, match="could not find a valid modelname"):
        Simulator().run("bad\nV1 a 0 1\nM1 a a 0 0 nosuchmodel W=1u L=1u\n.op\n.end\n", source="bad.cir")


def test_simulator_and_toolchain_failures_exit_1_with_one_line(cli, tmp_path):
    """A Verilog-A file the compiler rejects, a netlist ngspice rejects, a missing libngspice:
    not bad command-line input (exit 2) but a failure of the simulator or its toolchain
    (exit 1), each one line naming the file or setting, nothing written."""
    bad_va = tmp_path / "bad.va"
    bad_va.write_text("module bad(a); analog begin end\n")
    netlist = tmp_path / "ok.cir"
    netlist.write_text("ok\nV1 a 0 1\nR1 a 0 1k\n.op\n.end\n")
    unknown = tmp_path / "unknown.cir"
    unknown.write_text("bad\nV1 a 0 1\nM1 a a 0 0 nosuchmodel W=1u L=1u\n.op\n.end\n")
    cases = [
        (["spice", netlist, "--va", bad_va, "--out", tmp_path / "a.csv"], {}, "bad.va"),
        (["spice", unknown, "--out", tmp_path / "b.csv"], {}, "unknown.cir"),
        (
            ["spice", netlist, "--out", tmp_path / "c.csv"],
            {"ANAMORPH_NGSPICE_LIBRARY": str(tmp_path / "missing.so")},
            "ANAMORPH_NGSPICE_LIBRARY",
        ),
    ]
    for args, env, named in cases:
        proc = cli(*args, env=env)
        assert proc.returncode == 1, proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and named in lines[0], proc.stderr
        assert lines[0].startswith(("anamorph: simulator error:", "anamorph: toolchain error:")), lines[0]
    assert not any(tmp_path.glob("*.csv"))
    ok = cli("spice", netlist, "--out", tmp_path / "ok.csv")
    assert ok.returncode == 0, ok.stderr
    assert "1.000000e-03" in (tmp_path / "ok.csv").read_text() or "0.001" in (tmp_path / "ok.csv").read_text()


def test_doctor_reports_every_part(cli):
    proc = cli("doctor")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for part in ("ngspice", "openvaf-r", "OSDI", "Brian2"):
        assert f"ok   {part}" in proc.stdout


def test_input_error_names_path_and_field():
    e = InputError("must be positive", "chip.json", "tau_m_s")
    assert str(e) == "chip.json: field 'tau_m_s': must be positive"
