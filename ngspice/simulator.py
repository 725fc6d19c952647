"""Run a netlist in the shared libngspice through PySpice and return numpy vectors.

PySpice 1.5 warns "Unsupported Ngspice version 39" for this library; the API it uses is
unchanged since, so the warning is silenced. libngspice keeps state across runs in one
process (and its memory grows), so sweeps run their simulations in worker processes
that are recycled; :func:`run_netlist` is the one-shot entry point for such workers.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

import numpy as np

from anamorph.errors import SimulatorError
from anamorph.ngspice.library import find_library

_ERROR_LINE = re.compile(r"^(?:stderr )?(error|fatal)\b[: ]", re.IGNORECASE)
# OSDI models report a parameter outside its declared `from [a:b]` range on a line of its own.
_OUT_OF_BOUNDS = re.compile(r"^Parameter \S+ is out of bounds!?$")
# Lines ngspice marks as errors although the run goes on correctly.
_BENIGN = ("no compatibility mode selected", "note:", "warning:")


class SimulationError(SimulatorError):
    """ngspice rejected a netlist or an analysis did not converge."""


class Simulator:
    """One libngspice instance in this process.

    Parameters
    ----------
    library : path, optional
        libngspice.so to load; by default :func:`~anamorph.ngspice.library.find_library`.
    """

    _shared = None  # one instance per process: libngspice is a global C library

    def __init__(self, library: str | Path | None = None):
        if Simulator._shared is None:
            # libngspice is built with OpenMP; its threads only fight over the cores that
            # parallel sweep workers already use. libgomp reads this when the library loads.
            os.environ.setdefault("OMP_NUM_THREADS", "1")
            # ngspice output is collected and reported by _errors(); PySpice would log it again.
            logging.getLogger("PySpice").setLevel(logging.CRITICAL)
            from PySpice.Spice.NgSpice.Shared import NgSpiceShared

            NgSpiceShared.LIBRARY_PATH = str(library or find_library())
            Simulator._shared = NgSpiceShared.new_instance()
        self._ng = Simulator._shared
        self._osdi: set[str] = set()

    @property
    def version(self) -> str:
        return str(self._ng.ngspice_version)

    def load_osdi(self, path: str | Path) -> None:
        """Load a compiled Verilog-A model (an OSDI shared object) into ngspice."""
        path = str(Path(path).resolve())
        if path in self._osdi:
            return
        self._ng.clear_output()
        self._ng.exec_command(f"osdi {path}")
        err = self._errors()
        if err or "NGSPICE only supports OSDI" in self._ng.stdout:
            raise SimulationError(
                f"ngspice could not load the OSDI model: {err or self._ng.stdout.strip()}", path
            )
        self._osdi.add(path)

    def run(self, netlist: str, source: str | Path | None = None) -> dict[str, np.ndarray]:
        """Load ``netlist`` (with its analysis card), run it and return every vector.

        Returns
        -------
        dict
            ngspice's vector names, lower case: ``"time"``, node voltages by node name
            (``"out"``), source currents as ``"vdd#branch"``; float64 (complex128 for AC).

        Raises
        ------
        SimulationError
            Naming ``source`` (the netlist file or circuit name) and the offending line.
        """
        from PySpice.Spice.NgSpice.Shared import NgSpiceCircuitError, NgSpiceCommandError

        where = source or "<netlist>"
        self._ng.clear_output()
        try:
            self._ng.load_circuit(netlist)
        except NgSpiceCircuitError as e:
            raise SimulationError(f"ngspice rejected the netlist: {self._errors() or e}", where) from None
        err = self._errors()
        try:
            if err:
                raise SimulationError(f"ngspice rejected the netlist: {err}", where)
            try:
                self._ng.run()
            except NgSpiceCommandError:
                raise SimulationError(
                    f"simulation failed: {self._errors() or 'ngspice aborted the run'}", where
                ) from None
            err = self._errors()
            plot = self._ng.last_plot
            if err or not plot or plot == "const":
                raise SimulationError(f"simulation failed: {err or 'no results'}", where)
            return {name.lower(): np.array(vec._data) for name, vec in self._ng.plot(None, plot).items()}
        finally:
            self._release()

    def _release(self) -> None:
        """Drop the circuit and its plots so the next run starts clean."""
        from PySpice.Spice.NgSpice.Shared import NgSpiceCommandError

        for command in ("remcirc", "destroy all"):
            try:
                self._ng.exec_command(command)
            except NgSpiceCommandError:
                pass

    def _errors(self) -> str:
        # ngspice reports an error on one line and its context on the next two.
        lines = [ln.strip() for ln in (self._ng.stdout + "\n" + self._ng.stderr).splitlines()]
        bad = []
        for k, ln in enumerate(lines):
            if _OUT_OF_BOUNDS.match(ln):
                bad.append(ln)
            elif _ERROR_LINE.match(ln) and not any(b in ln.lower() for b in _BENIGN):
                bad.append(" ".join(x for x in lines[k : k + 3] if x))
        return "; ".join(dict.fromkeys(bad))


def run_netlist(
    netlist: str, osdi: list[str | Path] = (), source: str | None = None
) -> dict[str, np.ndarray]:
    """Run one netlist in this process's simulator, loading OSDI models first."""
    sim = Simulator()
    for path in osdi:
        sim.load_osdi(path)
    return sim.run(netlist, source=source)
