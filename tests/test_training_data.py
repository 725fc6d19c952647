"""Data sets, the MNIST IDX reader, the latency code and bad input of the training layer."""

import gzip
import struct

import numpy as np
import pytest

from anamorph.errors import InputError
from anamorph.training.datasets import load_dataset, load_digits, load_npz, load_yinyang, yinyang_class
from anamorph.training.encoding import LatencyCode
from anamorph.training.idx import area_matrix, load_mnist, read_idx


# ---------------------------------------------------------------- Yin-Yang
def test_yinyang_classes_follow_the_figure():
    # Points whose class is evident from the figure (R = 0.5, r = 0.1):
    # the two dots' centres, the upper/lower halves far from the dots, the eyes' rings.
    pts = {
        (0.75, 0.5): 2,
        (0.25, 0.5): 2,  # centres of the dots
        (0.5, 0.95): 1,
        (0.5, 0.05): 0,  # top belongs to yin, bottom to yang
        (0.25, 0.65): 1,
        (0.75, 0.35): 0,
    }  # ring around the left dot: yin; right dot: yang
    for (x, y), cls in pts.items():
        assert yinyang_class(x, y) == cls, (x, y)


def test_yinyang_is_balanced_seeded_and_in_the_disc():
    d = load_yinyang(seed=3, n_train=600, n_val=30, n_test=90)
    assert d.X_train.shape == (600, 4) and d.X_val.shape == (30, 4) and d.X_test.shape == (90, 4)
    x, y = d.X_train[:, 0], d.X_train[:, 1]
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5)
    np.testing.assert_allclose(d.X_train[:, 2:], 1.0 - d.X_train[:, :2])
    assert np.array_equal(yinyang_class(x, y), d.y_train)
    counts = np.bincount(d.y_train, minlength=3)
    # classes drawn uniformly first: binomial(600, 1/3) has sd 11.5
    assert np.all(np.abs(counts - 200) < 4 * 11.5)
    e = load_yinyang(seed=3, n_train=600, n_val=30, n_test=90)
    assert np.array_equal(d.X_test, e.X_test)
    assert not np.array_equal(d.X_train[:90], d.X_test)


def test_digits_split_is_fixed_and_disjoint():
    a, b = load_digits(seed=0), load_digits(seed=0)
    assert np.array_equal(a.X_test, b.X_test)
    assert len(a.y_train) + len(a.y_test) == 1797
    assert a.X_train.max() <= 1.0 and a.X_train.min() >= 0.0
    rows = {r.tobytes() for r in a.X_train}
    assert sum(r.tobytes() in rows for r in a.X_test) < 5  # (the set has a few duplicate images)
    assert set(np.unique(a.y_test)) == set(range(10))


# ---------------------------------------------------------------- MNIST IDX
def _idx(data: np.ndarray, type_code=0x08) -> bytes:
    head = bytes([0, 0, type_code, data.ndim]) + b"".join(struct.pack(">I", n) for n in data.shape)
    return head + data.astype(">u1" if type_code == 0x08 else ">i4").tobytes()


def _write_mnist(tmp_path, n_train=5, n_test=3, gz=False):
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    for name, a in arrays.items():
        raw = _idx(a)
        if gz:
            (tmp_path / (name + ".gz")).write_bytes(gzip.compress(raw))
        else:
            (tmp_path / name).write_bytes(raw)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_mnist_reader_reads_header_dimensions_and_byte_order(tmp_path, gz):
    arrays = _write_mnist(tmp_path, gz=gz)
    d = load_mnist(tmp_path, downscale=False)
    np.testing.assert_array_equal(d.X_train.reshape(5, 28, 28) * 255, arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(d.y_test, arrays["t10k-labels-idx1-ubyte"])
    # big-endian int32 payload and a dimension above 255 (byte order of the sizes)
    wide = np.arange(2 * 300).reshape(2, 300) - 7
    (tmp_path / "wide.idx").write_bytes(_idx(wide, 0x0C))
    np.testing.assert_array_equal(read_idx(tmp_path / "wide.idx"), wide)


def test_mnist_downscaling_to_16x16_averages_areas(tmp_path):
    arrays = _write_mnist(tmp_path)
    d = load_mnist(tmp_path)  # default: crop 2 px, area-average 24 -> 16 as in Cramer et al.
    assert d.X_train.shape == (5, 256)
    img = arrays["train-images-idx3-ubyte"][0, 2:26, 2:26] / 255.0
    # output pixel (0, 0) covers input rows/cols [0, 1.5): weights 1 and 0.5, normalised
    w = np.array([2 / 3, 1 / 3])
    expect = w @ img[:2, :2] @ w
    assert d.X_train[0, 0] == pytest.approx(expect)
    np.testing.assert_allclose(area_matrix(24, 16).sum(axis=1), 1.0)
    # a constant image stays constant
    np.testing.assert_allclose(area_matrix(24, 16) @ np.ones(24), 1.0)


def test_mnist_truncated_or_wrong_magic_is_a_clear_error(tmp_path):
    _write_mnist(tmp_path)
    f = tmp_path / "train-images-idx3-ubyte"
    raw = f.read_bytes()
    f.write_bytes(raw[:-10])
    with pytest.raises(InputError, match="truncated"):
        load_mnist(tmp_path)
    f.write_bytes(b"\x12\x34" + raw[2:])
    with pytest.raises(InputError, match="magic"):
        load_mnist(tmp_path)
    f.write_bytes(raw[:9])
    with pytest.raises(InputError, match="truncated"):
        read_idx(f)


# ---------------------------------------------------------------- encoding
def test_latency_code_matches_the_formula():
    code = LatencyCode(tau_in_s=8e-6, theta_in=0.2, t_max_s=100e-6, bias_time_s=1e-6)
    X = np.array([[1.0, 0.5, 0.2, 0.1]])
    t = code.latencies(X)[0]
    assert t[0] == pytest.approx(8e-6 * np.log(1.0 / 0.8))
    assert t[1] == pytest.approx(8e-6 * np.log(0.5 / 0.3))
    assert np.isinf(t[2]) and np.isinf(t[3])  # no spike at or below theta_in
    assert t[4] == 1e-6  # the bias channel
    ev = code.events(X)
    assert sorted(ev.units.tolist()) == [0, 1, 4]
    r = code.raster(X, 1e-6, 10)
    assert r[0, 1, 0] == 1 and r[0, 4, 1] == 1 and r[0, 1, 4] == 1 and r.sum() == 3
    late = LatencyCode(t_max_s=5e-6).latencies(np.array([[0.21]]))
    assert np.isinf(late[0, 0])  # 8 µs log(21) > t_max: dropped


# ---------------------------------------------------------------- bad input
def test_bad_data_set_specs(tmp_path):
    with pytest.raises(InputError, match="unknown data set"):
        load_dataset("cifar")
    with pytest.raises(InputError, match="not found"):
        load_dataset(f"mnist:{tmp_path / 'missing'}")
    with pytest.raises(InputError, match="no IDX file"):
        load_dataset(f"mnist:{tmp_path}")
    with pytest.raises(InputError, match="not found"):
        load_dataset(f"npz:{tmp_path / 'missing.npz'}")


def test_npz_validation(tmp_path):
    rng = np.random.default_rng(0)
    good = dict(
        X_train=rng.random((20, 6)),
        y_train=rng.integers(0, 3, 20),
        X_test=rng.random((5, 6)),
        y_test=rng.integers(0, 3, 5),
    )
    np.savez(tmp_path / "good.npz", **good)
    d = load_npz(tmp_path / "good.npz")
    assert d.n_features == 6 and d.n_classes == 3
    np.savez(tmp_path / "missing.npz", **{k: v for k, v in good.items() if k != "y_test"})
    with pytest.raises(InputError, match="missing array") as e:
        load_npz(tmp_path / "missing.npz")
    assert e.value.field == "y_test"
    np.savez(tmp_path / "range.npz", **{**good, "X_train": good["X_train"] * 3})
    with pytest.raises(InputError, match=r"\[0, 1\]"):
        load_npz(tmp_path / "range.npz")
    np.savez(tmp_path / "nan.npz", **{**good, "X_test": np.full((5, 6), np.nan)})
    with pytest.raises(InputError, match="finite"):
        load_npz(tmp_path / "nan.npz")
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match="readable"):
        load_npz(tmp_path / "junk.npz")


def test_cli_rejects_bad_input_and_writes_nothing(tmp_path):
    from anamorph.cli import main

    out = tmp_path / "run"
    rng = np.random.default_rng(0)
    np.savez(
        tmp_path / "wide.npz",
        X_train=rng.random((10, 300)),
        y_train=np.arange(10) % 2,
        X_test=rng.random((4, 300)),
        y_test=np.arange(4) % 2,
    )
    for argv in (
        ["train", "--dataset", "cifar", "--out", str(out)],
        ["train", "--algo", "eqspike", "--update", "sideways", "--dataset", "digits", "--out", str(out)],
        ["train", "--algo", "convert", "--dataset", "digits", "--mode", "software", "--out", str(out)],
        ["train", "--algo", "eventprop", "--dataset", "digits", "--dropout", "2", "--out", str(out)],
        ["train", "--algo", "nonsense", "--dataset", "digits", "--out", str(out)],
        ["train", "--dataset", f"mnist:{tmp_path / 'nope'}", "--out", str(out)],
        ["train", "--dataset", f"npz:{tmp_path / 'wide.npz'}", "--out", str(out)],  # fan-in 300
        ["train", "--dataset", "digits", "--hidden", "300", "--out", str(out)],
        ["train", "--dataset", "digits", "--chip", str(tmp_path / "chip.json"), "--out", str(out)],
        ["evaluate", str(tmp_path / "no-run"), "--chip", str(tmp_path / "chip.json")],
    ):
        assert main(argv) == 2, argv
        assert not out.exists(), argv
