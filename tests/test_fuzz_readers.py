"""Every file a user hands in, attacked: corrupted, truncated, wrong types, NaN/inf, huge.

Property (hypothesis): whatever a reader is given, it returns a valid object or raises
:class:`~anamorph.errors.InputError`; nothing else escapes (the command line turns an
InputError into one line on stderr and exit code 2, any other exception into a
traceback). Each file kind starts from a valid file and is mutated at random: at the
byte level (truncation, flipped and inserted bytes) and, for JSON, at a random place in
its tree (a value replaced by a wrong type, NaN, inf, a huge number or a huge list; a
key deleted). One subprocess per file kind checks the whole command: exit code 2, one
line on stderr, no traceback, no output file.
"""

from __future__ import annotations

import copy
import gzip
import io as pyio
import json
import math
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anamorph.errors import InputError

ROOT = Path(__file__).resolve().parents[1]
SWEEPS = ROOT / "models" / "data" / "sweeps"
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)

# ----------------------------------------------------------------------------- mutations
WEIRD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.just(10**400),  # parses as a Python int, overflows every float and int64
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e308]),
    st.text(max_size=6),
    st.lists(st.integers(-3, 3), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
    st.just([[[[]]]]),
)


def mutate_json(data, doc):
    """``doc`` with one place in its tree replaced, deleted or blown up."""
    doc = copy.deepcopy(doc)
    parent, key, node = None, None, doc
    for _ in range(data.draw(st.integers(0, 8), label="depth")):
        if isinstance(node, dict) and node:
            k = data.draw(st.sampled_from(sorted(node)), label="key")
        elif isinstance(node, list) and node:
            k = data.draw(st.integers(0, len(node) - 1), label="index")
        else:
            break
        parent, key, node = node, k, node[k]
    action = data.draw(st.sampled_from(["replace", "delete", "huge", "empty"]), label="action")
    if action == "replace" or parent is None and action == "delete":
        new = data.draw(WEIRD, label="value")
    elif action == "huge":
        new = [0.5] * 200_000 if not isinstance(node, dict) else {str(i): 0 for i in range(20_000)}
    elif action == "empty":
        new = type(node)() if isinstance(node, (list, dict, str)) else None
    else:
        del parent[key]
        return doc
    if parent is None:
        return new
    parent[key] = new
    return doc


def mutate_bytes(data, raw: bytes) -> bytes:
    action = data.draw(st.sampled_from(["truncate", "flip", "insert", "empty", "zeros"]), label="bytes")
    if action == "empty" or not raw:
        return b""
    at = data.draw(st.integers(0, len(raw) - 1), label="at")
    if action == "truncate":
        return raw[:at]
    if action == "flip":
        n = data.draw(st.integers(1, 16), label="n")
        out = bytearray(raw)
        for k in range(n):
            i = (at + k * 7919) % len(raw)
            out[i] = data.draw(st.integers(0, 255), label="byte")
        return bytes(out)
    if action == "zeros":
        return raw[:at] + b"\0" * (len(raw) - at)
    return raw[:at] + data.draw(st.binary(min_size=1, max_size=64), label="inserted") + raw[at:]


def json_text(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode()


def survives(reader, path):
    """Call ``reader(path)``: a result or an InputError naming something, nothing else."""
    try:
        return reader(path)
    except InputError as e:
        assert str(e) and "\n" not in str(e), repr(str(e))
        return None


@pytest.fixture(scope="module")
def scratch():
    d = Path(tempfile.mkdtemp(prefix="fuzz-"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


# ----------------------------------------------------------------------------- valid seeds
@pytest.fixture(scope="module")
def process_doc():
    from anamorph.models.process_model import ProcessModel

    return ProcessModel.default().to_dict()


@pytest.fixture(scope="module")
def chip_doc():
    from anamorph.models.chip import sample_chip
    from anamorph.models.process_model import ProcessModel

    return sample_chip(ProcessModel.default(), 3).to_dict()


@pytest.fixture(scope="module")
def calibration_doc(chip_doc):
    from anamorph.calibration.result import Calibration, hardware_fingerprint
    from anamorph.calibration.targets import Targets
    from anamorph.models.chip import Chip

    chip = Chip.from_dict(chip_doc)
    n = len(next(iter(chip.codes.values())))
    cal = Calibration(
        codes={p: np.asarray(c) for p, c in chip.codes.items()},
        success={p: np.ones(n, bool) for p in chip.codes},
        achieved={p: np.linspace(0, 1, n) for p in chip.codes},
        targets=Targets.default(),
        chip_fingerprint=hardware_fingerprint(chip),
        reasons={p: {3: "no spike"} for p in chip.codes},
        n_runs=7,
    )
    return cal.to_dict()


# ----------------------------------------------------------------------------- JSON files
def _json_property(scratch, name, reader, doc, data, as_bytes):
    path = scratch / name
    raw = json_text(doc)
    path.write_bytes(mutate_bytes(data, raw) if as_bytes else json_text(mutate_json(data, doc)))
    survives(reader, path)


@FUZZ
@given(data=st.data(), as_bytes=st.booleans())
def test_process_model_json(scratch, process_doc, data, as_bytes):
    from anamorph.models.process_model import ProcessModel

    _json_property(scratch, "process.json", ProcessModel.load, process_doc, data, as_bytes)


@FUZZ
@given(data=st.data(), as_bytes=st.booleans())
def test_chip_json(scratch, chip_doc, data, as_bytes):
    from anamorph.models.chip import Chip

    _json_property(scratch, "chip.json", Chip.load, chip_doc, data, as_bytes)


@FUZZ
@given(data=st.data(), as_bytes=st.booleans())
def test_calibration_json(scratch, calibration_doc, data, as_bytes):
    from anamorph.calibration.result import Calibration

    _json_property(scratch, "calibration.json", Calibration.load, calibration_doc, data, as_bytes)


@FUZZ
@given(data=st.data(), as_bytes=st.booleans())
def test_targets_json(scratch, data, as_bytes):
    from anamorph.calibration.targets import Targets

    _json_property(scratch, "targets.json", Targets.load, Targets.default().to_dict(), data, as_bytes)


# ----------------------------------------------------------------------------- sweep tables
def _fit(sweep_dir):
    from anamorph.models.fit import fit_process

    return fit_process([sweep_dir], transients=False)


@FUZZ
@given(data=st.data(), kind=st.sampled_from(["lif", "synapse", "gated-synapse", "tstdp"]))
def test_sweep_table(scratch, data, kind):
    # the first 12 instances: every fit still runs (a clean subset fits), in a tenth of the time
    table = pd.read_parquet(SWEEPS / kind / "sweep.parquet")
    table = table[table["instance"].isin(sorted(table["instance"].unique())[:12])].reset_index(drop=True)
    out = scratch / f"sweep-{kind}"
    out.mkdir(exist_ok=True)
    how = data.draw(st.sampled_from(["bytes", "column", "cell", "drop"]), label="how")
    if how == "bytes":
        clean = scratch / f"clean-{kind}.parquet"
        table.to_parquet(clean, index=False)
        (out / "sweep.parquet").write_bytes(mutate_bytes(data, clean.read_bytes()))
    else:
        col = data.draw(st.sampled_from(list(table.columns)), label="column")
        if how == "drop":
            table = table.drop(columns=[col])
        elif how == "column":
            table[col] = data.draw(st.sampled_from(["text", None, True, -1, math.inf]), label="fill")
        else:
            row = data.draw(st.integers(0, len(table) - 1), label="row")
            table[col] = table[col].astype(object)
            table.at[row, col] = data.draw(st.sampled_from([math.nan, math.inf, -math.inf, "x", None, 1e300]))
            try:
                table[col] = pd.to_numeric(table[col])
            except (ValueError, TypeError):
                table[col] = table[col].astype(str)
        table.to_parquet(out / "sweep.parquet", index=False)
    survives(_fit, out)


# ----------------------------------------------------------------------------- IDX files
def _idx_bytes(arr: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[arr.dtype]
    dims = np.asarray(arr.shape, dtype=">u4").tobytes()
    return bytes([0, 0, code, arr.ndim]) + dims + arr.tobytes()


@FUZZ
@given(data=st.data(), gz=st.booleans())
def test_idx_file(scratch, data, gz):
    from anamorph.training.idx import read_idx

    images = np.arange(3 * 28 * 28, dtype=np.uint8).reshape(3, 28, 28)
    raw = _idx_bytes(images)
    if data.draw(st.booleans(), label="header"):  # a huge or odd declared shape
        ndim = data.draw(st.integers(0, 255), label="ndim")
        dims = data.draw(st.lists(st.integers(0, 2**32 - 1), min_size=ndim, max_size=ndim), label="dims")
        raw = bytes([0, 0, raw[2], ndim]) + np.asarray(dims, dtype=">u4").tobytes() + raw[16:]
    else:
        raw = mutate_bytes(data, raw)
    path = scratch / ("x-idx3-ubyte.gz" if gz else "x-idx3-ubyte")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    survives(read_idx, path)


# ----------------------------------------------------------------------------- npz data sets
def _npz_bytes(arrays) -> bytes:
    buf = pyio.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


VALID_NPZ = {
    "X_train": np.linspace(0, 1, 24).reshape(6, 4),
    "y_train": np.array([0, 1, 2, 0, 1, 2]),
    "X_test": np.linspace(1, 0, 8).reshape(2, 4),
    "y_test": np.array([1, 0]),
}
ODD_ARRAYS = st.sampled_from(
    [
        np.array([]),
        np.array(5.0),
        np.full((6, 4), np.nan),
        np.full((6, 4), np.inf),
        np.array(["a", "b"]),
        np.zeros((6, 4), dtype=complex),
        np.zeros((6, 4), dtype=bool),
        np.array([0.5, 1.5, -1, 2, 3, 4]),
        np.array([2**62, 0, 0, 0, 0, 0]),
        np.zeros((6, 0)),
        np.zeros((0, 4)),
        np.zeros((6, 4, 2)),
        np.array([[1e308] * 4] * 6),
        np.zeros(6, dtype="datetime64[s]"),
    ]
)


@FUZZ
@given(data=st.data())
def test_npz_dataset(scratch, data):
    from anamorph.training.datasets import load_npz

    arrays = dict(VALID_NPZ)
    if data.draw(st.booleans(), label="bytes"):
        raw = mutate_bytes(data, _npz_bytes(arrays))
    else:
        key = data.draw(st.sampled_from(sorted(arrays)), label="key")
        if data.draw(st.booleans(), label="drop"):
            del arrays[key]
        else:
            arrays[key] = data.draw(ODD_ARRAYS, label="array")
        raw = _npz_bytes(arrays)
    path = scratch / "data.npz"
    path.write_bytes(raw)
    survives(load_npz, path)


# ----------------------------------------------------------------------------- run folders
@pytest.fixture(scope="module")
def run_files():
    from anamorph.training.config import make_config

    c = make_config("yinyang", n_hidden=4, epochs=1)
    config = json.loads(json.dumps({**c.__dict__}, default=list))
    weights = {"w0": np.zeros((5, 4)), "w1": np.zeros((4, 3))}
    return config, weights


@FUZZ
@given(data=st.data())
def test_run_folder(scratch, run_files, data):
    from anamorph.training.run import load_run

    config, weights = run_files
    run = scratch / "run"
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir()
    what = data.draw(st.sampled_from(["config", "config-bytes", "weights", "weights-bytes", "missing"]))
    cfg, w = json_text(config), dict(weights)
    if what == "config":
        cfg = json_text(mutate_json(data, config))
    elif what == "config-bytes":
        cfg = mutate_bytes(data, cfg)
    elif what == "weights":
        key = data.draw(st.sampled_from(sorted(w)), label="key")
        w[key] = data.draw(ODD_ARRAYS, label="array")
    elif what == "weights-bytes":
        (run / "weights.npz").write_bytes(mutate_bytes(data, _npz_bytes(w)))
    if what != "missing" or data.draw(st.booleans(), label="which"):
        (run / "config.json").write_bytes(cfg)
    if what != "weights-bytes" and (what != "missing" or not (run / "config.json").exists()):
        (run / "weights.npz").write_bytes(_npz_bytes(w))
    survives(load_run, run)


# ----------------------------------------------------------------------------- netlists
GOOD_NETLIST = b"rc\nV1 a 0 1\nR1 a b 1k\nC1 b 0 1n\n.include 'parts.inc'\n.tran 1n 1u\n.end\n"


@FUZZ
@given(data=st.data())
def test_netlist_file(scratch, data):
    from anamorph.ngspice.netlist_file import read_netlist

    (scratch / "parts.inc").write_bytes(mutate_bytes(data, b"R9 b 0 1meg\n"))
    path = scratch / "n.cir"
    path.write_bytes(mutate_bytes(data, GOOD_NETLIST))
    survives(read_netlist, path)


@pytest.fixture
def short_compile_timeout():
    from anamorph.ngspice import verilog_a

    saved, verilog_a.COMPILE_TIMEOUT_S = verilog_a.COMPILE_TIMEOUT_S, 10.0
    yield
    verilog_a.COMPILE_TIMEOUT_S = saved


@pytest.mark.spice
@pytest.mark.slow  # openvaf-r hangs on some damaged files until the timeout stops it
@settings(max_examples=5, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_verilog_a_file(scratch, short_compile_timeout, data):
    """A damaged Verilog-A file: compiled, or one compiler error naming the file (exit code 1,
    the toolchain's verdict; also when openvaf-r hangs on it), never a crash or a hang."""
    from anamorph.ngspice.verilog_a import VerilogACompileError, compile_va

    path = scratch / "dev.va"
    path.write_bytes(mutate_bytes(data, (ROOT / "tests" / "data" / "state_ode.va").read_bytes()))
    try:
        compile_va(path, cache_dir=scratch / "osdi")
    except VerilogACompileError as e:
        assert "\n" not in str(e) and "dev.va" in str(e)
    except InputError:
        pass


# ----------------------------------------------------------------------------- the commands
def _cli_cases(tmp: Path, chip_doc, calibration_doc):
    """(arguments, output path that must not appear) per file kind, each input damaged."""
    half = lambda doc: json_text(doc)[: len(json_text(doc)) // 2]  # truncated mid-file
    (tmp / "process.json").write_bytes(json_text({"schema": "anamorph.process_model", "dac": 1}))
    (tmp / "chip.json").write_bytes(half(chip_doc))
    (tmp / "calibration.json").write_bytes(json_text({**calibration_doc, "codes": None}))
    (tmp / "targets.json").write_bytes(b'{"v_th_v": NaN}')
    (tmp / "good-chip.json").write_bytes(json_text(chip_doc))
    (tmp / "sweep").mkdir()
    (tmp / "sweep" / "sweep.parquet").write_bytes((SWEEPS / "lif" / "sweep.parquet").read_bytes()[:-100])
    (tmp / "mnist").mkdir()
    for stem in ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"):
        (tmp / "mnist" / f"{stem}-ubyte").write_bytes(bytes([0, 0, 8, 3, 255, 255, 255, 255]) + bytes(40))
    (tmp / "data.npz").write_bytes(_npz_bytes({**VALID_NPZ, "y_test": np.array(["a", "b"])}))
    (tmp / "run").mkdir()
    (tmp / "run" / "config.json").write_bytes(b'{"dataset": "digits", "n_hidden": "many"}')
    (tmp / "run" / "weights.npz").write_bytes(_npz_bytes({"w0": np.zeros((64, 4)), "w1": np.zeros((4, 10))}))
    (tmp / "bad.cir").write_bytes(b"rc\nV1 a 0 1\xff\xfe\n.op\n.end\n")
    return {
        "process": (
            ["chip", "--process", tmp / "process.json", "--seed", 0, "--out", tmp / "o1.json"],
            "o1.json",
        ),
        "chip": (["calibrate", "--chip", tmp / "chip.json", "--out", tmp / "o2.json"], "o2.json"),
        "calibration": (
            ["train", "--dataset", "digits", "--calibration", tmp / "calibration.json", "--out", tmp / "o3"],
            "o3",
        ),
        "targets": (["calibrate", "--targets", tmp / "targets.json", "--out", tmp / "o4.json"], "o4.json"),
        "sweep": (["fit", tmp / "sweep", "--no-transients", "--out", tmp / "o5.json"], "o5.json"),
        "idx": (["train", "--dataset", f"mnist:{tmp / 'mnist'}", "--out", tmp / "o6"], "o6"),
        "npz": (["train", "--dataset", f"npz:{tmp / 'data.npz'}", "--out", tmp / "o7"], "o7"),
        "run": (["evaluate", tmp / "run", "--chip", tmp / "good-chip.json"], None),
        "netlist": (["spice", tmp / "bad.cir", "--out", tmp / "o9.csv"], "o9.csv"),
    }


KINDS = ("process", "chip", "calibration", "targets", "sweep", "idx", "npz", "run", "netlist")


@pytest.mark.parametrize("kind", KINDS)
def test_each_damaged_file_kind_ends_the_command_in_one_line_and_exit_2(
    cli, tmp_path, chip_doc, calibration_doc, kind
):
    args, output = _cli_cases(tmp_path, chip_doc, calibration_doc)[kind]
    before = set(tmp_path.rglob("*"))
    proc = cli(*args)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("anamorph: error: "), proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert set(tmp_path.rglob("*")) == before  # nothing written, not even a partial file
    assert output is None or not (tmp_path / output).exists()
