"""Untrusted input: netlists that would run programs, and where the Dask paths listen.

``anamorph spice`` refuses a netlist whose ``.control`` block or ``shell`` / ``system``
command ngspice would execute, unless ``--allow-control`` is given; a sweep on a Dask
scheduler connects to the address given as a client and opens no listening socket.
The evidence is the operating system's: a file the refused ``shell`` command would have
created, and the process's sockets as psutil lists them.
"""

from __future__ import annotations

import ipaddress
import threading

import pandas as pd
import psutil
import pytest

from anamorph.circuits.sweep import run_sweep
from anamorph.errors import InputError
from anamorph.ngspice.netlist_file import read_netlist

CIRCUIT = "ctl\nV1 a 0 1\nR1 a 0 1k\n.op\n"


def _netlist(tmp_path, body: str, name="c.cir"):
    path = tmp_path / name
    path.write_text(CIRCUIT + body + ".end\n")
    return path


def _one_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


@pytest.mark.spice
def test_spice_refuses_a_control_block_unless_allowed(cli, tmp_path):
    marker = tmp_path / "ran"
    netlist = _netlist(tmp_path, f".control\nshell touch {marker}\n.endc\n")
    refused = cli("spice", netlist, "--out", tmp_path / "a.csv")
    assert refused.returncode == 2
    assert "line 5" in _one_line(refused) and "--allow-control" in refused.stderr
    assert not marker.exists() and not (tmp_path / "a.csv").exists()
    allowed = cli("spice", netlist, "--out", tmp_path / "b.csv", "--allow-control")
    assert allowed.returncode == 0, allowed.stderr
    assert marker.exists()  # the shell command did run: the refusal above is what stopped it
    table = pd.read_csv(tmp_path / "b.csv")
    assert table["v1#branch"].iloc[0] == pytest.approx(-1e-3)  # 1 V across 1 kOhm


@pytest.mark.parametrize(
    "body, line",
    [
        ("shell rm -rf /nothing\n", "line 5"),
        ("  SYSTEM echo hi\n", "line 5"),
        (".CONTROL\nrun\n.ENDC\n", "line 5"),
        ("* a comment\n.exec\nshell ls\n.endc\n", "line 6"),
    ],
)
def test_commands_that_run_programs_are_refused(tmp_path, body, line):
    path = _netlist(tmp_path, body)
    with pytest.raises(InputError, match="allow-control") as e:
        read_netlist(path)
    assert e.value.field == line and e.value.path == str(path)
    assert read_netlist(path, allow_control=True) == path.read_text()


def test_an_included_file_is_checked_too(tmp_path):
    (tmp_path / "inner.inc").write_text(".control\nshell id\n.endc\n")
    top = _netlist(tmp_path, ".include 'inner.inc'\n")
    with pytest.raises(InputError, match="control") as e:
        read_netlist(top)
    assert e.value.path == str(tmp_path / "inner.inc")
    (tmp_path / "loop.inc").write_text(".include loop.inc\nR2 a 0 1k\n")  # includes itself
    assert "R2" not in read_netlist(_netlist(tmp_path, ".include loop.inc\n", "l.cir"))


def test_a_script_file_and_a_plain_circuit(tmp_path):
    script = tmp_path / "s.cir"
    script.write_text("*ng_script\nshell id\n")
    with pytest.raises(InputError, match="ng_script"):
        read_netlist(script)
    plain = _netlist(tmp_path, "* shell is only a word in a comment\nRshell a 0 1k\n")
    assert read_netlist(plain).startswith("ctl")


def _listening(proc: psutil.Process) -> set[tuple[str, int]]:
    return {
        (c.laddr.ip, c.laddr.port) for c in proc.net_connections("inet") if c.status == psutil.CONN_LISTEN
    }


@pytest.mark.spice
def test_a_dask_sweep_connects_to_the_address_given_and_listens_nowhere(tmp_path, loopback_cluster):
    from test_circuits_sweep import LEAK

    me = psutil.Process()
    with loopback_cluster(1) as cluster:
        address = cluster.scheduler_address
        before = _listening(me)  # the test's own cluster, on loopback
        assert before and all(ipaddress.ip_address(ip).is_loopback for ip, _ in before)
        seen, clients, stop = set(), set(), threading.Event()

        def watch():
            while not stop.is_set():
                seen.update(_listening(me))
                try:
                    clients.update(list(cluster.scheduler.clients))
                except RuntimeError:  # the scheduler's loop changed the dict meanwhile
                    pass
                stop.wait(0.05)

        watcher = threading.Thread(target=watch)
        watcher.start()
        try:
            table = run_sweep(LEAK, 3, 2, tmp_path, scheduler=address, figures=False)
        finally:
            stop.set()
            watcher.join()
    assert list(table["status"]) == ["ok"] * 3
    assert seen == before  # the sweep opened no listening socket of its own
    assert len(clients - {"fire-and-forget"}) >= 1  # it connected, as a client, to the address given


def test_a_bad_scheduler_address_is_refused_before_anything_is_written(tmp_path):
    from test_circuits_sweep import LEAK

    for address in ("foo bar", "http://x:1/path", ""):
        with pytest.raises(InputError, match="Dask scheduler"):
            run_sweep(LEAK, 2, 0, tmp_path / "out", scheduler=address)
    assert not (tmp_path / "out").exists()
