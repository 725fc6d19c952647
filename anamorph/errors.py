"""The errors anamorph raises on purpose, and how the command line reports them.

``AnamorphError`` is the base of every error that carries a clear, one-line message
(``path: field 'x': what is wrong``). The command line (:mod:`anamorph.cli`) prints that
line alone, without a traceback, and exits with

* code 2 for :class:`InputError` (bad input: a file, a field, an option; nothing written),
* code 1 for any other :class:`AnamorphError`: :class:`SimulatorError` (ngspice rejected a
  netlist or a run failed) and :class:`ToolchainError` (an external tool, libngspice or
  the Verilog-A compiler, is missing or failed).

Library code names the parameter or file field it was given (``seed``), never a
command-line option; the command layer translates where it wants to name the option.
"""

from __future__ import annotations

from os import PathLike


class AnamorphError(Exception):
    """An error with a one-line message and the place it is about.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    path : str or PathLike, optional
        The file (or directory, netlist, parameter) the error is about.
    field : str, optional
        The field inside that file (a JSON key, a column, a netlist line).
    """

    #: how the command line introduces the message (``anamorph: <kind>: ...``)
    kind = "error"

    def __init__(self, message: str, path: str | PathLike | None = None, field: str | None = None):
        self.message = message
        self.path = None if path is None else str(path)
        self.field = field
        super().__init__(self.__str__())

    def __str__(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path)
        if self.field is not None:
            where.append(f"field '{self.field}'")
        prefix = ": ".join(where)
        return f"{prefix}: {self.message}" if prefix else self.message


class InputError(AnamorphError, ValueError):
    """Bad input from the user: a file, and the field in it that is wrong (exit code 2)."""


class SimulatorError(AnamorphError):
    """The circuit simulator rejected a netlist or a simulation failed (exit code 1)."""

    kind = "simulator error"


class ToolchainError(AnamorphError):
    """An external tool (libngspice, the Verilog-A compiler) is missing or failed (exit code 1)."""

    kind = "toolchain error"
