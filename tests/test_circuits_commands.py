"""``anamorph sweep`` bad input: one clear message, exit code 2, nothing written."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    "circuit, n, message",
    [
        ("opamp", 3, "unknown circuit"),
        ("lif", 0, "--instances"),
        ("lif", -4, "--instances"),
    ],
)
def test_bad_circuit_or_instance_count(cli, tmp_path, circuit, n, message):
    out = tmp_path / "out"
    res = cli("sweep", circuit, "--instances", n, "--seed", 1, "--out", out)
    assert res.returncode == 2
    assert message in res.stderr and len(res.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_unwritable_output_folder(cli, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    out = blocker / "sweep"
    res = cli("sweep", "lif", "--instances", 2, "--out", out)
    assert res.returncode == 2 and "--out" in res.stderr
    assert blocker.read_text() == "not a folder"


def test_output_path_that_is_a_file(cli, tmp_path):
    out = tmp_path / "sweep.txt"
    out.write_text("x")
    res = cli("sweep", "synapse", "--instances", 2, "--out", out)
    assert res.returncode == 2 and "not a directory" in res.stderr
