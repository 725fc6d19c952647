"""anamorph: analog neuromorphic computing without the hardware.

The import namespace joins the project's top-level folders: ``anamorph.circuits``
(transistor-level circuits in ngspice), ``anamorph.models`` (behavioural models, process
model, chip emulator), ``anamorph.calibration``, ``anamorph.training`` and
``anamorph.ngspice`` (the OSDI-capable simulator library). Data flows in that order; a
lower layer never imports a higher one. The modules directly in ``anamorph`` (errors, io)
sit below all of them; ``anamorph.cli`` sits above all of them.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("anamorph")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
