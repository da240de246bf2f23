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
the previous checkpoint as it was (and at worst a stale ``.tmp`` file, which :func:`load`
never reads).

Layout of the archive (plain arrays, readable with :func:`numpy.load`)::

    symupdates/format     "symupdates-checkpoint/1"
    params/<name>         each parameter, by the name the updates use for it
    updates/<key>         each entry of updates.state_dict()
    extra/<name>/<key>    each entry of extra[name].state_dict()
"""

from __future__ import annotations

import contextlib
import os
import pickle
import secrets
import zipfile
import zlib
from collections.abc import Mapping

import numpy as np

from symupdates.base import Updates, _param_names, check_params

__all__ = ["load", "save"]

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
        new one is completely on disk.
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
     'updates/hyperparams/learning_rate', 'updates/w/adam/m', 'updates/w/adam/v']
    """
    path = _check_path(path)
    params = check_params(params)
    _check_updates(updates)
    extra = _check_extra(extra)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save checkpoint {path!r}: its folder {folder!r} does not exist")
    if os.path.isdir(path):
        raise ValueError(f"path {path!r} is a folder; give the checkpoint's file name, e.g. {os.path.join(path, 'checkpoint.npz')!r}")
    arrays = {_FORMAT_KEY: np.array(FORMAT)}
    for p, name in zip(params, _param_names(params).values(), strict=True):
        arrays[f"params/{name}"] = p.get_value(borrow=True)
    if updates is not None:
        arrays.update({f"updates/{key}": value for key, value in updates.state_dict().items()})
    for name, obj in extra.items():
        state = obj.state_dict()
        if not isinstance(state, Mapping):
            raise TypeError(f"extra[{name!r}].state_dict() must return a dict, got {type(state).__name__}")
        for key, value in state.items():
            if not isinstance(key, str):
                raise TypeError(f"extra[{name!r}].state_dict() has a key {key!r} that is not a string")
            value = np.asarray(value)
            if value.dtype.hasobject:
                raise TypeError(
                    f"extra[{name!r}].state_dict()[{key!r}] is {state[key]!r}; a checkpoint holds only numbers, "
                    f"strings and arrays of them (no None or objects)"
                )
            arrays[f"extra/{name}/{key}"] = value
    _write_atomically(path, folder, arrays)


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
    parts = _read(path)
    problems = []
    param_values = _check_params_part(parts["params"], params, problems)
    update_values = {}
    if updates is not None:
        try:
            update_values = updates._check_state_dict(parts["updates"], "the optimizer state in the file")
        except ValueError as err:
            problems.append(str(err))
    saved_extra = parts["extra"]
    missing = [name for name in extra if name not in saved_extra]
    unexpected = [name for name in saved_extra if name not in extra] if updates is not None else []
    if missing:
        problems.append(f"extra objects {missing} are not in the file (it holds {sorted(saved_extra)})")
    if unexpected:
        problems.append(f"the file holds extra objects {unexpected} that were not given; pass them as extra={{...}}")
    if problems:
        raise ValueError(f"checkpoint {path!r} does not match: " + "; ".join(problems))
    _load_extra(path, extra, saved_extra)
    if updates is not None:
        updates._set(update_values)
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


def _write_atomically(path: str, folder: str, arrays: dict) -> None:
    """Write ``arrays`` as an .npz to a temporary file beside ``path``, sync it, rename it over ``path``."""
    base = os.path.basename(path)
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:  # os.open honours the umask, unlike tempfile.mkstemp's fixed 0o600
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if os.name == "posix":  # make the rename itself durable
        dir_fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


_UNREADABLE = (zipfile.BadZipFile, zlib.error, EOFError, ValueError, pickle.UnpicklingError, KeyError)


def _read(path: str) -> dict[str, dict[str, np.ndarray]]:
    """Read every array of a checkpoint, split into its parts; ValueError for anything else."""
    arrays = None
    with open(path, "rb") as f:  # permission errors surface as they are
        try:
            archive = np.load(f, allow_pickle=False)
            if isinstance(archive, np.lib.npyio.NpzFile):
                with archive:
                    arrays = {key: archive[key] for key in archive.files}
        except _UNREADABLE as err:
            detail = "" if "pickle" in str(err) else f" ({err})"  # not numpy's advice to unpickle it
            raise ValueError(
                f"cannot read checkpoint {path!r}: the file is truncated, damaged or not an .npz archive{detail}"
            ) from err
    if arrays is None:
        raise ValueError(f"cannot read checkpoint {path!r}: it holds a single .npy array, not an .npz archive")
    fmt = arrays.pop(_FORMAT_KEY, None)
    if fmt is None:
        raise ValueError(
            f"{path!r} is an .npz file but not a symupdates checkpoint: it has no {_FORMAT_KEY!r} entry "
            f"(its entries are {sorted(arrays)[:10]})"
        )
    if fmt.shape != () or fmt.dtype.kind != "U" or str(fmt) != FORMAT:
        raise ValueError(f"{path!r} has checkpoint format {fmt.tolist()!r}; this version of symupdates reads {FORMAT!r}")
    parts: dict[str, dict] = {part: {} for part in _PARTS}
    foreign = []
    for key, value in arrays.items():
        part, _, rest = key.partition("/")
        if part == "extra":
            name, _, entry = rest.partition("/")
            if name and entry:
                parts["extra"].setdefault(name, {})[entry] = value
                continue
        elif part in parts and rest:
            parts[part][rest] = value
            continue
        foreign.append(key)
    if foreign:
        raise ValueError(f"{path!r} holds entries that are not part of a symupdates checkpoint: {foreign}")
    return parts


def _check_params_part(saved: dict, params: list, problems: list) -> list:
    names = list(_param_names(params).values())
    missing = [n for n in names if n not in saved]
    unexpected = [n for n in saved if n not in names]
    if missing:
        problems.append(f"parameters {missing} are not in the file")
    if unexpected:
        problems.append(f"the file holds parameters {unexpected} that were not given")
    values = []
    for p, name in zip(params, names, strict=True):
        value = saved.get(name)
        if value is None:
            continue
        current = p.get_value(borrow=True)
        if value.shape != current.shape:
            problems.append(f"parameter {name!r} has shape {value.shape} in the file, expected {current.shape}")
        elif value.dtype != current.dtype:
            problems.append(f"parameter {name!r} has dtype {value.dtype} in the file, expected {current.dtype}")
        values.append(value)
    return values


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
