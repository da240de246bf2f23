"""Checkpoints: parameters, optimizer state and host-side objects in one ``.npz`` file.

:func:`save` writes the values of the parameters, the :meth:`~symupdates.Updates.state_dict`
of the updates (moments, step and skip counters, live hyperparameters) and the
``state_dict()`` of any host-side object given in ``extra`` (a learning-rate controller,
a :class:`~symupdates.NonFiniteGuard`) to one NumPy ``.npz`` archive. :func:`load` puts
them back into freshly built parameters and updates, after checking that every name,
shape and dtype matches; on any mismatch nothing is changed.

The file is written atomically: the archive goes to a temporary file in the same folder
(named ``.<file name>.<random>.tmp``), which is flushed and synced to disk, then renamed
over the checkpoint, and the folder is synced. A crash or kill during :func:`save` leaves
the previous checkpoint as it was, and at worst a stale ``.tmp`` file, which :func:`load`
never reads and the next :func:`save` of the same checkpoint removes: a writer holds an
exclusive lock (``flock``) on its temporary file while it writes, the operating system
drops the lock when the writer dies, and only unlocked temporaries are removed, so a
live writer's file is never touched (where ``fcntl`` is missing, as on Windows, stale
files are left). A checkpoint path that is a symbolic link is written through: the
link's target is replaced atomically and the link stays.

Reading is strict and bounded: :func:`load` reads each array's header (shape and dtype)
from the archive and checks it against the parameters and state it will fill, and
against the size of the stored data, before reading any data, so a damaged or hostile
file (a small archive that expands to a huge array, a header claiming a huge shape)
fails with a ``ValueError`` instead of exhausting memory.

Layout of the archive (plain arrays, readable with :func:`numpy.load`)::

    symupdates/format     "symupdates-checkpoint/1"
    params/<name>         each parameter, by the name the updates use for it
    updates/<key>         each entry of updates.state_dict()
    extra/<name>/<key>    each entry of extra[name].state_dict()
"""

from __future__ import annotations

import contextlib
import errno
import glob
import math
import os
import secrets
import stat
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

try:  # POSIX: advisory locks tell a live writer's temporary file from a stale one
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

from symupdates.base import check_params
from symupdates.checks import check_named_arrays
from symupdates.build import param_names
from symupdates.updates import ArraySpec, Updates

__all__ = ["atomic_write", "load", "remove_stale_temporaries", "save"]

FORMAT = "symupdates-checkpoint/1"
_FORMAT_KEY = "symupdates/format"
_PARTS = ("params", "updates", "extra")


def save(path, params, updates, *, extra=None) -> None:
    """Write parameters, optimizer state and host-side objects to one ``.npz`` file, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file, used exactly as given (no suffix is added); ``.npz`` is the
        usual suffix. Its folder must exist. An existing file is replaced only once the
        new one is completely on disk; a symbolic link is written through (its target is
        replaced, the link stays). Stale temporary files of earlier interrupted saves of
        this checkpoint are removed first.
    params : list of SharedVariable
        The parameters, keyed in the file by their names (unnamed ones as ``param{i}``,
        repeated names with their position appended), as :func:`~symupdates.get_updates`
        names their state.
    updates : Updates or None
        The optimizer whose :meth:`~symupdates.Updates.state_dict` is saved; ``None``
        saves the parameters only.
    extra : dict of str to object, optional
        Host-side objects with ``state_dict()`` and ``load_state_dict(d)`` (a
        learning-rate controller, a :class:`~symupdates.NonFiniteGuard`, a second
        :class:`~symupdates.Updates`), by a name without ``"/"``. Their ``state_dict()``
        must map strings to numbers, strings or arrays.

    Raises
    ------
    TypeError, ValueError
        For a bad argument, before anything is written.
    FileNotFoundError
        When the folder of ``path`` does not exist.

    See Also
    --------
    load

    Examples
    --------
    >>> import os, tempfile, numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.adam((w ** 2).sum(), [w], learning_rate=0.1)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
    >>> su.save(path, [w], updates)
    >>> sorted(np.load(path))  # doctest: +NORMALIZE_WHITESPACE
    ['params/w', 'symupdates/format', 'updates/adam/step', 'updates/hyperparams/beta1',
     'updates/hyperparams/beta2', 'updates/hyperparams/epsilon',
     'updates/hyperparams/learning_rate', 'updates/hyperparams/weight_decay',
     'updates/w/adam/m', 'updates/w/adam/v']
    """
    path = _check_path(path)
    params = check_params(params)
    _check_updates(updates)
    extra = _check_extra(extra)
    target = os.path.realpath(path)  # write through a symbolic link to its target
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save checkpoint {path!r}: its folder {folder!r} does not exist")
    if os.path.isdir(target):
        raise ValueError(f"path {path!r} is a folder; give the checkpoint's file name, e.g. {os.path.join(path, 'checkpoint.npz')!r}")
    arrays = {_FORMAT_KEY: np.array(FORMAT)}
    for p, name in zip(params, param_names(params).values(), strict=True):
        arrays[f"params/{name}"] = p.get_value(borrow=True)
    if updates is not None:
        arrays.update({f"updates/{key}": value for key, value in updates.state_dict().items()})
    for name, obj in extra.items():
        state = obj.state_dict()
        if not isinstance(state, Mapping):
            raise TypeError(f"extra[{name!r}].state_dict() must return a dict, got {type(state).__name__}")
        for key, value in state.items():
            if not isinstance(key, str) or not key:
                raise TypeError(f"extra[{name!r}].state_dict() has a key {key!r} that is not a non-empty string")
            value = np.asarray(value)
            if value.dtype.hasobject:
                raise TypeError(
                    f"extra[{name!r}].state_dict()[{key!r}] is {state[key]!r}; a checkpoint holds only numbers, "
                    f"strings and arrays of them (no None or objects)"
                )
            arrays[f"extra/{name}/{key}"] = value
    with atomic_write(target) as f:
        np.savez(f, **arrays)  # plain arrays only (objects are refused above); numpy < 2.2 has no allow_pickle here


def load(path, params, updates, *, extra=None) -> None:
    """Load a checkpoint written by :func:`save` into parameters, updates and host objects.

    Everything is checked before anything changes: the file must be a complete
    symupdates checkpoint, and its parameters, optimizer state and extra objects must
    match the arguments exactly (names, shapes and dtypes). On any error nothing is
    modified.

    Parameters
    ----------
    path : str or os.PathLike
        A file written by :func:`save`.
    params : list of SharedVariable
        The parameters to fill, named as when saving.
    updates : Updates or None
        The optimizer to restore, built the same way as the saved one (same rule, flags
        and parameter names). ``None`` loads the parameters (and the ``extra`` objects
        given) only, ignoring the rest of the file: to use trained weights.
    extra : dict of str to object, optional
        The host-side objects saved with ``extra=``; each receives its entries, as NumPy
        arrays (0-d for scalars), through ``load_state_dict``. Unless ``updates`` is
        ``None``, the names must be exactly those saved.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When the file is truncated or not a symupdates checkpoint, or when names,
        shapes or dtypes do not match (every mismatch is listed).
    TypeError
        For an argument of the wrong type.

    See Also
    --------
    save

    Examples
    --------
    >>> import os, tempfile, numpy as np, pytensor
    >>> import symupdates as su
    >>> def build():
    ...     w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    ...     return w, su.adam((w ** 2).sum(), [w], learning_rate=0.1)
    >>> w, updates = build()
    >>> _ = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")()
    >>> path = os.path.join(tempfile.mkdtemp(), "run.npz")
    >>> su.save(path, [w], updates)
    >>> w2, updates2 = build()
    >>> su.load(path, [w2], updates2)
    >>> w2.get_value(), int(updates2.step.get_value())
    (array([ 0.9, -1.9]), 1)
    """
    path = _check_path(path)
    params = check_params(params)
    _check_updates(updates)
    extra = _check_extra(extra)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint {path!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a folder, not a checkpoint file")
    with _Archive(path) as archive:
        parts = archive.parts
        problems = []
        names = list(param_names(params).values())
        _compare_params(archive, parts["params"], dict(zip(names, params, strict=True)), problems)
        if updates is not None:
            specs = {key: ArraySpec(*archive.shape_and_dtype(member)) for key, member in parts["updates"].items()}
            try:
                updates.validate_state_dict(specs, "the optimizer state in the file")
            except ValueError as err:
                problems.append(str(err))
        saved_extra = parts["extra"]
        missing = [name for name in extra if name not in saved_extra]
        unexpected = [name for name in saved_extra if name not in extra] if updates is not None else []
        if missing:
            problems.append(f"extra objects {missing} are not in the file (it holds {sorted(saved_extra)})")
        if unexpected:
            problems.append(f"the file holds extra objects {unexpected} that were not given; pass them as extra={{...}}")
        if problems:  # found from the headers alone: no array has been read
            raise ValueError(f"checkpoint {path!r} does not match: " + "; ".join(problems))
        param_values = [archive.array(parts["params"][n]) for n in names]
        update_values = {}
        if updates is not None:
            saved = {key: archive.array(member) for key, member in parts["updates"].items()}
            try:
                update_values = updates.validate_state_dict(saved, "the optimizer state in the file")
            except ValueError as err:
                raise ValueError(f"checkpoint {path!r} does not match: {err}") from err
        extra_values = {
            name: {key: archive.array(member) for key, member in saved_extra[name].items()} for name in extra
        }
    _load_extra(path, extra, extra_values)
    if updates is not None:
        updates.load_state_dict(update_values)
    for p, value in zip(params, param_values, strict=True):
        p.set_value(value)


def _check_path(path) -> str:
    if isinstance(path, bytes) or not isinstance(path, str | os.PathLike):
        raise TypeError(f"path must be a str or os.PathLike file name, got {path!r} of type {type(path).__name__}")
    path = os.fspath(path)
    if not isinstance(path, str) or not path:
        raise TypeError(f"path must be a non-empty file name, got {path!r}")
    return path


def _check_updates(updates) -> None:
    if updates is not None and not isinstance(updates, Updates):
        raise TypeError(
            f"updates must be the Updates returned by an optimizer (or None for parameters only), "
            f"got {type(updates).__name__}"
        )


def _check_extra(extra) -> dict:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise TypeError(f"extra must be a dict of names to objects with state_dict(), got {type(extra).__name__}")
    for name, obj in extra.items():
        if not isinstance(name, str) or not name or "/" in name:
            raise ValueError(f"extra names must be non-empty strings without '/', got {name!r}")
        if not (callable(getattr(obj, "state_dict", None)) and callable(getattr(obj, "load_state_dict", None))):
            raise TypeError(
                f"extra[{name!r}] must have state_dict() and load_state_dict() methods, got {type(obj).__name__}"
            )
    return dict(extra)


def _temporary_pattern(path: str) -> str:
    folder, base = os.path.split(path)
    return os.path.join(glob.escape(folder), f".{glob.escape(base)}.{'[0-9a-f]' * 12}.tmp")


def remove_stale_temporaries(path) -> list[str]:
    """Remove the temporary files that interrupted :func:`save` calls left beside ``path``.

    A temporary file ``.<file name>.<random>.tmp`` is stale when no process holds its
    lock: :func:`save` locks its temporary file (``flock``) for as long as it writes, and
    the operating system releases the lock of a process that was killed. Files of a
    writer that is still running are left alone, and so are other files. Without
    ``fcntl`` (Windows) nothing is removed.

    Parameters
    ----------
    path : str or os.PathLike
        The checkpoint file (a symbolic link is followed to its target).

    Returns
    -------
    list of str
        The files removed.
    """
    path = os.path.realpath(_check_path(path))
    removed = []
    if fcntl is None:
        return removed
    for tmp in glob.glob(_temporary_pattern(path)):
        try:  # never block on a FIFO, never follow a link
            fd = os.open(tmp, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0))
        except OSError:  # removed meanwhile, a link, or not ours to read
            continue
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:  # a live writer holds it
            os.close(fd)
            continue
        try:
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                os.unlink(tmp)
                removed.append(tmp)
        except OSError:
            pass
        finally:
            os.close(fd)  # releases the lock
    return removed


def _open_temporary(path: str, folder: str) -> tuple[int, str]:
    """Create and lock a new temporary file beside ``path``; return its descriptor and name."""
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:  # os.open honours the umask, unlike tempfile.mkstemp's fixed 0o600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        if fcntl is None:
            return fd, tmp
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        try:  # a cleaner may have removed the file between its creation and the lock
            if os.path.samestat(os.fstat(fd), os.stat(tmp)):
                return fd, tmp
        except FileNotFoundError:
            pass
        os.close(fd)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", **open_kwargs):
    """Write a file so that it is either entirely the old one or entirely the new one.

    Yields a file object for a temporary file beside ``path`` (``.<name>.<random>.tmp``,
    locked while it is written); when the block ends without an error the data is
    flushed and synced to disk, the temporary file is renamed over ``path`` and the
    folder is synced, so a crash at any point leaves either the previous file or the
    complete new one. On an error the temporary file is removed and ``path`` is
    untouched. A symbolic link is written through (its target is replaced). Stale
    temporaries of earlier interrupted writes of ``path`` are removed first (see
    :func:`remove_stale_temporaries`). Every file the package writes goes through here.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write; its folder must exist.
    mode : str
        ``"wb"`` (default) or ``"w"`` for text.
    **open_kwargs
        Passed to :func:`open` for text (``encoding``, ``newline``).

    Examples
    --------
    >>> import os, tempfile
    >>> from symupdates.checkpoint import atomic_write
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> with atomic_write(path, "w", encoding="utf-8") as f:
    ...     _ = f.write("all or nothing\\n")
    >>> open(path).read(), os.listdir(os.path.dirname(path))
    ('all or nothing\\n', ['notes.txt'])
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"mode must be 'w' or 'wb', got {mode!r}")
    target = os.path.realpath(_check_path(path))
    folder = os.path.dirname(target)
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot write {os.fspath(path)!r}: its folder {folder!r} does not exist")
    remove_stale_temporaries(target)
    fd, tmp = _open_temporary(target, folder)
    try:
        try:
            file = os.fdopen(fd, mode, **open_kwargs)
        except BaseException:
            os.close(fd)
            raise
        with file as f:  # closing it releases the lock, after the rename
            yield f
            f.flush()
            os.fsync(f.fileno())
            os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_folder(folder)  # make the rename itself durable


def _fsync_folder(folder: str) -> None:
    """Flush a folder's entries (a rename in it) to disk."""
    if os.name != "posix":  # pragma: no cover - a folder cannot be opened for fsync on Windows
        return
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    except OSError as err:  # some file systems cannot sync a folder; the rename has still happened
        if err.errno not in (errno.EINVAL, errno.ENOTSUP, errno.EBADF):
            raise
    finally:
        os.close(fd)


#: The largest ``.npy`` header accepted (numpy's own default limit).
_MAX_HEADER = 10_000


class _Archive:
    """A checkpoint opened for reading: its entries' headers now, their data on request.

    Opening reads the zip directory and the header (shape, dtype) of every array and
    checks that each header agrees with the size of the data stored after it, so a
    header claiming a huge shape is caught before anything is allocated.
    """

    def __init__(self, path: str):
        self.path = path
        self._file = open(path, "rb")  # permission errors surface as they are
        self._zip = None
        try:
            try:
                self._zip = zipfile.ZipFile(self._file)
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
                self._file.seek(0)
                if self._file.read(6) == b"\x93NUMPY":
                    raise ValueError(
                        f"cannot read checkpoint {path!r}: it holds a single .npy array, not an .npz archive"
                    ) from err
                self._fail(f" ({err})")
            self.headers = {}
            for info in self._zip.infolist():
                key = self._key(info)  # first: a foreign entry is named as such
                self.headers[key] = (info, *self._header(info))
            self.parts = self._split()
        except BaseException:
            self.close()
            raise

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        with contextlib.suppress(Exception):
            if self._zip is not None:
                self._zip.close()
        self._file.close()

    def _fail(self, detail=""):
        raise ValueError(f"cannot read checkpoint {self.path!r}: the file is truncated, damaged or not an .npz archive{detail}")

    def _key(self, info) -> str:
        if not info.filename.endswith(".npy"):
            raise ValueError(
                f"{self.path!r} holds entries that are not part of a symupdates checkpoint: {[info.filename]}"
            )
        return info.filename[: -len(".npy")]

    def _header(self, info) -> tuple:
        """Shape and dtype from the entry's header, checked against the stored size.

        Only uncompressed, unencrypted entries are read (:func:`save` writes nothing else),
        so what an entry can make us allocate is bounded by the file's real size.
        """
        if info.flag_bits & 0x1 or info.compress_type != zipfile.ZIP_STORED or info.compress_size != info.file_size:
            self._fail(
                f" (entry {info.filename!r} is compressed or encrypted; a symupdates checkpoint stores its arrays "
                f"uncompressed)"
            )
        try:
            with self._zip.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f, max_header_size=_MAX_HEADER)
                else:
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f, max_header_size=_MAX_HEADER)
                offset = f.tell()
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError, RuntimeError, NotImplementedError) as err:
            self._fail(f" ({err})")
        if dtype.hasobject:
            self._fail(f" (entry {info.filename!r} holds Python objects, which a checkpoint never does)")
        size = dtype.itemsize * math.prod(shape)  # exact integers: no overflow for absurd shapes
        if size != info.file_size - offset:
            self._fail(
                f" (entry {info.filename!r} declares shape {shape} of {dtype}, {size} bytes, but stores "
                f"{info.file_size - offset} bytes)"
            )
        return shape, dtype

    def array(self, key: str) -> np.ndarray:
        """Read one entry's data (its header was checked when the archive was opened)."""
        info = self.headers[key][0]
        try:
            with self._zip.open(info) as f:
                value = np.lib.format.read_array(f, allow_pickle=False, max_header_size=_MAX_HEADER)
                if f.read(1):  # also makes zipfile check the entry's CRC
                    self._fail(f" (entry {info.filename!r} has data after its array)")
        except (zipfile.BadZipFile, zlib.error, EOFError, ValueError, OSError) as err:
            self._fail(f" ({err})")
        return value

    def _split(self) -> dict[str, dict[str, str]]:
        """Check the format entry; sort the other entries into their parts (key -> entry name)."""
        if _FORMAT_KEY not in self.headers:
            raise ValueError(
                f"{self.path!r} is an .npz file but not a symupdates checkpoint: it has no {_FORMAT_KEY!r} entry "
                f"(its entries are {sorted(self.headers)[:10]})"
            )
        _, shape, dtype = self.headers[_FORMAT_KEY]
        fmt = self.array(_FORMAT_KEY) if shape == () and dtype.kind == "U" and dtype.itemsize < 1024 else None
        if fmt is None or str(fmt) != FORMAT:
            shown = fmt.tolist() if fmt is not None else f"an array of shape {shape} and dtype {dtype}"
            raise ValueError(f"{self.path!r} has checkpoint format {shown!r}; this version of symupdates reads {FORMAT!r}")
        parts: dict[str, dict] = {part: {} for part in _PARTS}
        foreign = []
        for key in self.headers:
            if key == _FORMAT_KEY:
                continue
            part, _, rest = key.partition("/")
            if part == "extra":
                name, _, entry = rest.partition("/")
                if name and entry:
                    parts["extra"].setdefault(name, {})[entry] = key
                    continue
            elif part in parts and rest:
                parts[part][rest] = key
                continue
            foreign.append(key)
        if foreign:
            raise ValueError(f"{self.path!r} holds entries that are not part of a symupdates checkpoint: {foreign}")
        return parts

    def shape_and_dtype(self, key: str) -> tuple:
        return self.headers[key][1:]


def _compare_params(archive: _Archive, saved: dict, expected: dict, problems: list) -> None:
    """Compare the headers of saved parameters with the parameters they would fill; no data is read."""
    specs = {name: ArraySpec(*archive.shape_and_dtype(key)) for name, key in saved.items()}
    found = check_named_arrays(specs, {name: var.get_value(borrow=True) for name, var in expected.items()}, "parameters")
    problems.extend(f"parameter {p}" if p.startswith("'") else p for p in found)


def _load_extra(path: str, extra: dict, saved: dict) -> None:
    """Load each extra object; if one fails, put the ones already loaded back and raise."""
    done = []
    for name, obj in extra.items():
        before = obj.state_dict()
        try:
            obj.load_state_dict(dict(saved[name]))
        except Exception as err:
            for loaded, previous in reversed(done):
                loaded.load_state_dict(previous)
            with contextlib.suppress(Exception):
                obj.load_state_dict(before)
            raise ValueError(f"extra[{name!r}] could not load its state from checkpoint {path!r}: {err}") from err
        done.append((obj, before))
