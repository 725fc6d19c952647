"""The one error type that turns bad input into a clear message and exit code 2."""

from __future__ import annotations

from os import PathLike


class InputError(ValueError):
    """Bad input from the user: a file, and the field in it that is wrong.

    The command line prints ``str(error)`` alone (no traceback) and exits with code 2.

    Parameters
    ----------
    message : str
        What is wrong, in one sentence.
    path : str or PathLike, optional
        The file (or directory, or command-line option) the bad value came from.
    field : str, optional
        The field inside that file (a JSON key, a column, a netlist line).
    """

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
