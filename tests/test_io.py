"""The shared schema check of JSON files and the error types the command line maps to exit codes."""

from __future__ import annotations

import argparse

import pytest

from anamorph.errors import InputError
from anamorph.io import check_schema


def test_current_and_older_version_keys_are_read():
    assert check_schema({"schema": "s", "schema_version": 1}, "s", 1)
    assert check_schema({"schema": "s", "version": 1}, "s", 1)  # files written before the rename


@pytest.mark.parametrize(
    "d, field",
    [
        ({"schema": "other", "schema_version": 1}, "schema"),
        ({"schema_version": 1}, "schema"),
        ({"schema": "s", "schema_version": 2}, "schema_version"),
        ({"schema": "s", "version": 0}, "version"),
        ({"schema": "s"}, "schema_version"),
        ({"schema": "s", "schema_version": True}, "schema_version"),
    ],
)
def test_wrong_schema_or_version_names_the_field(d, field):
    with pytest.raises(InputError) as e:
        check_schema(d, "s", 1, "f.json", what="thing")
    assert e.value.field == field and "f.json" in str(e.value)


def test_optional_accepts_missing_but_not_wrong():
    assert check_schema({}, "s", 1, optional=True) == {}
    with pytest.raises(InputError):
        check_schema({"version": 3}, "s", 1, optional=True)
    with pytest.raises(InputError):
        check_schema([], "s", 1, optional=True)


def test_error_hierarchy_and_cli_exit_codes(monkeypatch, capsys):
    """InputError -> exit 2; a simulator or toolchain failure is not bad input -> exit 1;
    both end as one line on stderr."""
    from anamorph import cli
    from anamorph.errors import AnamorphError, SimulatorError, ToolchainError
    from anamorph.ngspice.library import NgspiceNotFound
    from anamorph.ngspice.simulator import SimulationError
    from anamorph.ngspice.verilog_a import VerilogACompileError

    for cls in (SimulationError, NgspiceNotFound, VerilogACompileError):
        assert issubclass(cls, AnamorphError) and not issubclass(cls, InputError)
    for err, code in (
        (InputError("bad", "f.json", "x"), 2),
        (SimulatorError("did not converge", "n.cir"), 1),
        (ToolchainError("openvaf-r not found"), 1),
    ):

        def boom(args, err=err):
            raise err

        class Parser:
            def parse_args(self, argv):
                return argparse.Namespace(func=boom)

        monkeypatch.setattr(cli, "build_parser", Parser)
        assert cli.main([]) == code
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and err.message in lines[0]


def test_cli_names_the_option_a_library_parameter_came_from(tmp_path, capsys):
    """Library code raises with the parameter (``n_hidden``); the CLI names its option (``--hidden``)."""
    from anamorph.cli import main

    assert main(["train", "--dataset", "digits", "--hidden", "300", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "field '--hidden'" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "run").exists()
