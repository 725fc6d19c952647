"""MNIST from the standard IDX files, with the 16x16 downscaling of Cramer et al. 2022.

IDX format (LeCun et al.): two zero bytes, a type byte (0x08 = unsigned byte), a byte with
the number of dimensions ``d``, then ``d`` big-endian int32 sizes, then the data in C
order. MNIST images are ``idx3`` (n, 28, 28), labels ``idx1`` (n,). Files may be gzipped.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

from anamorph.errors import InputError

_TYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
_FILES = {
    "X_train": "train-images",
    "y_train": "train-labels",
    "X_test": "t10k-images",
    "y_test": "t10k-labels",
}


def read_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally ``.gz``) into an array of its declared shape and type."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except FileNotFoundError:
        raise InputError("file not found", path) from None
    except (OSError, EOFError) as e:
        raise InputError(f"cannot read ({e})", path) from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise InputError(f"wrong magic number {raw[:4].hex() or '(empty)'}: not an IDX file", path, "magic")
    ndim = raw[3]
    header = 4 + 4 * ndim
    if ndim == 0 or len(raw) < header:
        raise InputError(f"truncated header ({len(raw)} bytes, needs {header})", path, "dimensions")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = np.dtype(_TYPES[raw[2]])
    need = header + int(np.prod(shape)) * dtype.itemsize
    if len(raw) != need:
        what = "truncated" if len(raw) < need else "has trailing bytes"
        raise InputError(f"{what}: {len(raw)} bytes for shape {shape}, expected {need}", path, "data")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _find(directory: Path, stem: str) -> Path:
    for name in (f"{stem}-idx{{d}}-ubyte", f"{stem}.idx{{d}}-ubyte"):
        for d in (1, 3):
            for suffix in ("", ".gz"):
                p = directory / (name.format(d=d) + suffix)
                if p.is_file():
                    return p
    raise InputError(
        f"no IDX file for '{stem}' (expected e.g. {stem}-idx{3 if 'images' in stem else 1}-ubyte[.gz])",
        directory,
    )


def area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """Resampling matrix (n_out, n_in): output pixel k averages the input interval it covers."""
    edges = np.linspace(0.0, n_in, n_out + 1)
    m = np.zeros((n_out, n_in))
    for k in range(n_out):
        lo, hi = edges[k], edges[k + 1]
        for j in range(int(np.floor(lo)), int(np.ceil(hi))):
            m[k, j] = max(0.0, min(hi, j + 1) - max(lo, j))
    return m / m.sum(axis=1, keepdims=True)


def downscale_images(images: np.ndarray, size: int = 16, crop: int = 2) -> np.ndarray:
    """Crop ``crop`` pixels off each border, then area-average to ``size`` x ``size``."""
    img = images[:, crop : images.shape[1] - crop, crop : images.shape[2] - crop].astype(np.float64)
    r = area_matrix(img.shape[1], size)
    c = area_matrix(img.shape[2], size)
    return np.einsum("ki,nij,lj->nkl", r, img, c)


def mnist_features(images: np.ndarray, downscale: bool = True) -> np.ndarray:
    """MNIST images (pixel values 0..255; shape (n, h, w), or (n, 784) rows of 28x28) as
    feature rows in [0, 1].

    With ``downscale`` the images are cropped and area-averaged to 16x16
    (:func:`downscale_images`). Every MNIST source (IDX files, ``mnist5k``) goes through here.
    """
    X = np.asarray(images, dtype=np.float64) / 255.0
    if X.ndim == 2:
        X = X.reshape(len(X), 28, 28)
    if downscale:
        X = downscale_images(X)
    return X.reshape(len(X), -1)


def load_mnist(directory: str | Path, downscale: bool = True):
    """MNIST from ``directory`` (the four standard IDX files), features in [0, 1].

    With ``downscale`` (the default, as in Cramer et al. 2022) the 28x28 images are
    cropped by 2 pixels and area-averaged to 16x16 (256 inputs, the chip's fan-in).
    """
    from anamorph.training.datasets import Dataset

    directory = Path(directory)
    if not directory.is_dir():
        raise InputError("MNIST directory not found", directory, "dataset")
    arrays = {key: read_idx(_find(directory, stem)) for key, stem in _FILES.items()}
    for split in ("train", "test"):
        X, y = arrays[f"X_{split}"], arrays[f"y_{split}"]
        if X.ndim != 3 or y.ndim != 1 or len(X) != len(y):
            raise InputError(f"images {X.shape} and labels {y.shape} do not match", directory, f"X_{split}")
    out = {}
    for split in ("train", "test"):
        out[split] = (mnist_features(arrays[f"X_{split}"], downscale), arrays[f"y_{split}"].astype(np.int64))
    n_classes = int(max(out["train"][1].max(), out["test"][1].max())) + 1
    return Dataset(
        "mnist16" if downscale else "mnist",
        out["train"][0],
        out["train"][1],
        out["test"][0],
        out["test"][1],
        max(n_classes, 10),
    )
