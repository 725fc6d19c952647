"""The ``anamorph`` command: one subcommand per stage of the flow.

Each layer registers its own subcommands in its ``commands`` module through a
``register(subparsers)`` function; those modules import heavy dependencies (Brian2,
PySpice) only inside the handlers, so ``anamorph --help`` stays fast.
Bad input raises :class:`~anamorph.errors.InputError`, which ends here as one line on
stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from anamorph import __version__
from anamorph.errors import InputError

COMMAND_MODULES = (
    "anamorph.ngspice.commands",      # doctor
    "anamorph.circuits.commands",     # sweep
    "anamorph.models.commands",       # fit, chip
    "anamorph.calibration.commands",  # calibrate
    "anamorph.training.commands",     # train, evaluate, experiment
    "anamorph.demo",                  # demo
)


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's own usage errors are bad input too: exit 2
        self.print_usage(sys.stderr)
        self.exit(2, f"anamorph: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="anamorph", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"anamorph {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:  # a stage that is not built yet
                continue
            raise
        module.register(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except InputError as e:
        print(f"anamorph: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("anamorph: interrupted; run again with the same --out (and --resume) to continue",
              file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
