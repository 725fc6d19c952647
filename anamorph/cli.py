"""The ``anamorph`` command: one subcommand per stage of the flow.

Each layer registers its own subcommands in its ``commands`` module through a
``register(subparsers)`` function; those modules import heavy dependencies (Brian2,
PySpice) only inside the handlers, so ``anamorph --help`` stays fast.
Bad input raises :class:`~anamorph.errors.InputError`, which ends here as one line on
stderr and exit code 2; any other :class:`~anamorph.errors.AnamorphError` (a simulator or
toolchain failure) as one line and exit code 1.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from anamorph import __version__
from anamorph.errors import AnamorphError, InputError

COMMAND_MODULES = (
    "anamorph.ngspice.commands",  # doctor
    "anamorph.circuits.commands",  # sweep
    "anamorph.models.commands",  # fit, chip
    "anamorph.models.stdp_command",  # stdp
    "anamorph.calibration.commands",  # calibrate
    "anamorph.training.commands",  # train, evaluate, experiment, population
    "anamorph.training.nir.commands",  # export, import (NIR)
    "anamorph.demo",  # demo
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
    parser.commands = dict(sub.choices)  # command name -> its parser (for _as_option)
    return parser


def _as_option(err: InputError, parser, args) -> InputError:
    """``err`` with its field named as the command-line option it came from.

    Library code names its parameters (``seed``, ``n_hidden``); when such a parameter is an
    argument of the command that ran (and the error is not about a field of an existing
    file), the message names the option (``--seed``, ``--hidden``) instead.
    """
    sub = getattr(parser, "commands", {}).get(getattr(args, "command", None))
    if sub is None or not err.field or (err.path is not None and os.path.isfile(err.path)):
        return err
    options = {a.dest: a.option_strings[-1] for a in sub._actions if a.option_strings}
    if err.field not in options:
        return err
    return InputError(err.message, err.path, options[err.field])


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except InputError as e:
        print(f"anamorph: error: {_as_option(e, parser, args)}", file=sys.stderr)
        return 2
    except AnamorphError as e:
        print(f"anamorph: {e.kind}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "anamorph: interrupted; run again with the same --out (and --resume) to continue", file=sys.stderr
        )
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
