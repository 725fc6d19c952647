"""The OSDI-capable ngspice shared library: how it is built, found and driven.

- :mod:`anamorph.ngspice.library` finds the libngspice that ``build.sh`` builds.
- :mod:`anamorph.ngspice.simulator` runs a netlist through PySpice's shared-library
  binding and returns the result vectors as numpy arrays.
- :mod:`anamorph.ngspice.verilog_a` compiles Verilog-A to OSDI with OpenVAF-reloaded,
  cached by the source's content hash.
"""

from anamorph.ngspice.library import NgspiceNotFound, find_library
from anamorph.ngspice.simulator import SimulationError, Simulator, run_netlist
from anamorph.ngspice.verilog_a import VerilogACompileError, compile_va, openvaf_path

__all__ = [
    "NgspiceNotFound",
    "find_library",
    "SimulationError",
    "Simulator",
    "run_netlist",
    "VerilogACompileError",
    "compile_va",
    "openvaf_path",
]
