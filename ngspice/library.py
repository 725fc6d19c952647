"""Find the OSDI-capable libngspice that ``ngspice/build.sh`` installs.

Search order: ``$ANAMORPH_NGSPICE_LIBRARY`` (a path to the .so), then the per-user
cache that ``build.sh`` fills (``$ANAMORPH_CACHE`` or ``~/.cache/anamorph``), newest
version first.
"""

from __future__ import annotations

import os
from pathlib import Path

from anamorph.errors import ToolchainError

BUILD_SCRIPT = Path(__file__).with_name("build.sh")


class NgspiceNotFound(ToolchainError):
    """No usable libngspice: the message says how to get one."""


def cache_root() -> Path:
    root = os.environ.get("ANAMORPH_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "anamorph"


def find_library() -> Path:
    """Return the path of libngspice with OSDI support.

    Raises
    ------
    NgspiceNotFound
        If the environment variable points nowhere, or nothing was built yet.
    """
    env = os.environ.get("ANAMORPH_NGSPICE_LIBRARY")
    if env:
        path = Path(env)
        if not path.is_file():
            raise NgspiceNotFound(
                "no such file (set it to a libngspice.so built with --with-ngshared --enable-osdi)",
                env,
                "ANAMORPH_NGSPICE_LIBRARY",
            )
        return path
    builds = sorted(cache_root().glob("ngspice-*-osdi"), reverse=True)
    for build in builds:
        lib = build / "lib" / "libngspice.so"
        if (build / ".complete").is_file() and lib.exists():
            return lib
    raise NgspiceNotFound(
        f"no OSDI-capable libngspice found in {cache_root()}; build it with "
        f"'bash {BUILD_SCRIPT}' (about 5 minutes) or set ANAMORPH_NGSPICE_LIBRARY"
    )
