"""Read a user's netlist file for ``anamorph spice``, refusing what ngspice would execute.

A SPICE netlist is more than a circuit: ngspice runs the commands of a ``.control`` ...
``.endc`` block (and of a file whose first line is ``*ng_script``), and among them are
``shell`` and ``system``, which start any program. A netlist from someone else is
therefore refused when it holds such a block or command, unless the user says it is
trusted (``allow_control``). Files pulled in with ``.include`` / ``.lib`` are read and
checked the same way, so an innocent top file cannot smuggle one in.

Every check lives here: :func:`read_netlist` returns the text or raises
:class:`~anamorph.errors.InputError` naming the file and the line.
"""

from __future__ import annotations

import re
from pathlib import Path

from anamorph.errors import InputError

#: a netlist larger than this is refused before it is read (ngspice holds it in memory)
MAX_BYTES = 20 * 2**20
#: ``.include`` depth at which the reader stops (a file that includes itself)
MAX_DEPTH = 8

_CONTROL_CARDS = (".control", ".endc", ".exec")  # blocks of commands ngspice executes
_COMMANDS = ("shell", "system")  # commands that start a program
_INCLUDE = re.compile(r"^\.(?:include|inc|lib)\s+(?P<file>\"[^\"]+\"|'[^']+'|\S+)", re.IGNORECASE)


def _read_text(path: Path) -> str:
    if not path.is_file():
        raise InputError("netlist file not found" if not path.exists() else "not a file", path)
    if path.stat().st_size > MAX_BYTES:
        raise InputError(f"netlist larger than {MAX_BYTES // 2**20} MiB", path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(f"not a text netlist (not UTF-8 at byte {e.start})", path) from None
    if "\0" in text:
        raise InputError(
            f"not a text netlist (NUL byte on line {text[: text.index(chr(0))].count(chr(10)) + 1})", path
        )
    return text


def _refused(line: str) -> str | None:
    """What ``line`` would make ngspice execute, or None."""
    words = line.strip().lower().split()
    if not words:
        return None
    first = words[0]
    if first in _CONTROL_CARDS:
        return f"a {first} block (commands ngspice executes)"
    if first in _COMMANDS:
        return f"a '{first}' command (runs a program)"
    return None


def read_netlist(path, allow_control: bool = False, *, _depth: int = 0) -> str:
    """The text of the netlist at ``path``, checked.

    Parameters
    ----------
    path : path
        The netlist file (UTF-8 text, at most :data:`MAX_BYTES`).
    allow_control : bool
        Accept ``.control`` blocks and ``shell`` / ``system`` commands (a trusted file).

    Raises
    ------
    InputError
        The file is missing, too large, not UTF-8 text, holds a NUL byte, or (without
        ``allow_control``) holds a control block or a command that runs a program, here or
        in a file it includes; the field names the line.
    """
    path = Path(path)
    text = _read_text(path)
    if allow_control:
        return text
    lines = text.splitlines()
    if lines and lines[0].strip().lower().startswith("*ng_script"):
        raise InputError(
            "an ngspice script (*ng_script), not a circuit; --allow-control runs it", path, "line 1"
        )
    for k, line in enumerate(lines, start=1):
        why = _refused(line)
        if why:
            raise InputError(
                f"holds {why}; run it only if you trust it, with --allow-control", path, f"line {k}"
            )
        inc = _INCLUDE.match(line.strip())
        if inc and _depth < MAX_DEPTH:
            target = Path(inc.group("file").strip("\"'")).expanduser()
            target = target if target.is_absolute() else path.parent / target
            if target.is_file():  # a missing include is ngspice's to report
                read_netlist(target, allow_control, _depth=_depth + 1)
    return text
