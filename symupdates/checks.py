"""Argument checks shared by every module: flags, counts, real intervals, "is this off".

Each check raises a ``TypeError`` or ``ValueError`` that names the argument, the value
given and what to pass instead, before anything is built or compiled. The intervals
(:data:`NON_NEGATIVE`, :data:`POSITIVE`, :data:`UNIT`, :data:`DECAY`) are the keyword
arguments of :func:`check_hyperparam` and :func:`~symupdates.hyperparam`.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable

__all__ = [
    "DECAY",
    "LABEL_TAG",
    "NON_NEGATIVE",
    "POSITIVE",
    "UNIT",
    "check_count",
    "check_flag",
    "check_hyperparam",
    "check_labels",
    "check_named_arrays",
    "check_real",
    "is_off",
    "is_scalar_number",
    "label_classes",
    "name_problems",
]

#: Intervals of :func:`check_hyperparam` and :func:`~symupdates.hyperparam`.
NON_NEGATIVE = {"low": 0.0}
POSITIVE = {"low": 0.0, "low_open": True}
UNIT = {"low": 0.0, "high": 1.0}
DECAY = {"low": 0.0, "high": 1.0, "high_open": True}  # a decay rate: 1 would never forget


def is_scalar_number(value) -> bool:
    """A real Python or NumPy number, or a 0-d real array (booleans are not numbers here)."""
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


def check_flag(name: str, value) -> bool:
    """``value`` as a ``bool``; ``TypeError`` unless it is ``True``/``False`` (or NumPy's)."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_count(name: str, value, *, low: int = 1, high: int | None = None, what: str = "an integer") -> int:
    """``value`` as an ``int`` in ``[low, high]``; bools and floats are refused."""
    if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {what}, got {value!r} of type {type(value).__name__}")
    if value < low or (high is not None and value > high):
        upper = "" if high is None else f" (and at most {high})"
        raise ValueError(f"{name} must be an integer >= {low}{upper}, got {value!r}")
    return int(value)


def check_real(name: str, value, **bounds) -> float:
    """``value`` as a ``float``: a finite real number (not a shared variable or schedule) within ``bounds``."""
    if not is_scalar_number(value):
        raise TypeError(f"{name} must be a number, got {value!r} of type {type(value).__name__}")
    check_hyperparam(name, value, **bounds)
    return float(value)


def is_off(value) -> bool:
    """True when a hyperparameter's value switches its term off: any real number equal to 0.

    ``0``, ``0.0``, ``np.float32(0.0)`` are off; a shared variable, a symbolic value or a
    schedule is on whatever its value now, since it can change without a rebuild.
    """
    return is_scalar_number(value) and float(value) == 0.0


def check_hyperparam(name: str, value, *, low=None, high=None, low_open=False, high_open=False, allow_none=False):
    """Validate a hyperparameter when it is given as a number or a shared variable.

    Call it when a transform is created, so a bad value fails before anything is built
    or compiled, with a message that names the argument.

    Parameters
    ----------
    name : str
        The argument's name, used in the message (``"beta1"``).
    value : float, NumPy scalar, shared or symbolic scalar, or schedule
        The value given. Numbers and shared scalars are checked; symbolic values and
        schedules cannot be checked before they run and are accepted.
    low, high : float, optional
        The allowed interval ``[low, high]``; ``None`` leaves that side open.
    low_open, high_open : bool
        Exclude the bound itself (``(0, 1)`` for a decay rate that must not be 0 or 1).
    allow_none : bool
        Accept ``None`` (an optional hyperparameter such as ``clip_norm``).

    Returns
    -------
    object
        ``value``, unchanged.

    Raises
    ------
    TypeError
        For a value that is not a number, a shared or symbolic scalar or a schedule.
    ValueError
        For a non-finite number or one outside the interval.

    Examples
    --------
    >>> import symupdates as su
    >>> su.check_hyperparam("beta1", 0.9, low=0.0, high=1.0, high_open=True)
    0.9
    >>> su.check_hyperparam("beta1", 1.0, low=0.0, high=1.0, high_open=True)
    Traceback (most recent call last):
        ...
    ValueError: beta1 must be in [0.0, 1.0), got 1.0
    """
    if value is None and allow_none:
        return value
    if is_scalar_number(value):
        try:
            number = float(value)
        except OverflowError:
            raise ValueError(f"{name} must be finite, got {value!r}") from None
    elif isinstance(value, SharedVariable):
        if not isinstance(value.type, pt.TensorType) or value.type.ndim != 0 or value.dtype[:3] not in ("flo", "int", "uin"):
            raise TypeError(
                f"{name} must be a scalar; got a shared variable of type {value.type}. "
                f"Use pytensor.shared(np.float64(x)) for a live scalar."
            )
        number = float(value.get_value())
    elif isinstance(value, Variable):
        if getattr(value.type, "ndim", None) != 0:
            raise TypeError(f"{name} must be a scalar; got a symbolic variable of type {value.type}")
        return value
    elif callable(value):
        return value
    else:
        raise TypeError(
            f"{name} must be a float, a NumPy scalar, a shared or symbolic scalar, or a schedule "
            f"(a function of the step counter); got {value!r} of type {type(value).__name__}"
        )
    if not np.isfinite(number):
        raise ValueError(f"{name} must be finite, got {number!r}")
    bad_low = low is not None and (number <= low if low_open else number < low)
    bad_high = high is not None and (number >= high if high_open else number > high)
    if bad_low or bad_high:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        interval = f"{lo}{'-inf' if low is None else low}, {'inf' if high is None else high}{hi}"
        raise ValueError(f"{name} must be in {interval}, got {number!r}")
    return value


def name_problems(given: Mapping, expected: Mapping, what: str = "") -> list[str]:
    """``"missing {what} [...]"`` and ``"unexpected {what} [...]"`` for the names of ``given``
    against those of ``expected``; empty when they are the same."""
    problems = []
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    for label, names in (("missing", missing), ("unexpected", unexpected)):
        if names:
            problems.append(" ".join(part for part in (label, what, str(names)) if part))
    return problems


def check_named_arrays(given: Mapping, expected: Mapping, what: str) -> list[str]:
    """The problems of ``given`` (name to array) against ``expected`` (name to array).

    Lists missing and unexpected names, then every shape or dtype that differs; a value
    in ``given`` only needs ``shape`` and ``dtype`` (an array, or a header read from a
    file). Returns the messages, empty when everything matches.
    """
    problems = name_problems(given, expected, what)
    for name, want in expected.items():
        if name not in given:
            continue
        have = given[name]
        if tuple(have.shape) != tuple(want.shape):
            problems.append(f"{name!r} has shape {tuple(have.shape)}, expected {tuple(want.shape)}")
        elif np.dtype(have.dtype) != np.dtype(want.dtype):
            problems.append(f"{name!r} has dtype {have.dtype}, expected {want.dtype}")
    return problems


#: The attribute of ``y.tag`` by which a model (the lab's ``MLP.loss``) marks a free
#: symbolic label vector with its number of classes, so that the places where label data
#: enter (``compile_step``'s ``data=`` and its calls, :func:`~symupdates.check_grad`'s
#: ``givens``) can check the values on the host.
LABEL_TAG = "symupdates_n_classes"


def label_classes(var):
    """The number of classes a model recorded on a symbolic label vector, or None."""
    tag = getattr(var, "tag", None)
    return getattr(tag, LABEL_TAG, None) if tag is not None else None


def check_labels(y, n_classes, name, *, owner=None, grow=None) -> None:
    """Raise unless ``y`` holds integer class indices in ``[0, n_classes)``, on the host.

    ``n_classes=None`` checks only that the labels are integers and not negative. The
    message names the first bad label, its index, how many are bad, and the fix; ``owner``
    ("a model with n_out=10") and ``grow`` ("build the model with n_out={}", formatted
    with the largest label + 1) adapt it to where the labels come from.
    """
    y = np.asarray(y)
    if y.dtype.kind not in "iu":
        raise TypeError(
            f"{name} must hold integer class labels, got dtype {y.dtype}; convert them with .astype('int64')"
        )
    if y.size == 0:
        return
    flat = y.reshape(-1)
    bad = flat < 0 if n_classes is None else (flat < 0) | (flat >= n_classes)
    if not bad.any():
        return
    first = int(np.argmax(bad))
    where = first if y.ndim == 1 else tuple(int(i) for i in np.unravel_index(first, y.shape))
    label = int(flat[first])
    count = int(bad.sum())
    many = f" ({count} of {flat.size} labels are out of range)" if count > 1 else ""
    if n_classes is None:
        raise ValueError(
            f"{name} holds label {label} at index {where}{many}; labels must be class indices >= 0 "
            f"(a negative label would silently pick a class from the end); relabel them from 0"
        )
    owner = owner or f"a model with n_out={n_classes}"
    grow = grow or "build the model with n_out={}"
    largest = int(flat.max())
    fix = f"relabel them as 0..{n_classes - 1}"
    if largest >= n_classes:
        fix += " or " + grow.format(largest + 1)
    if int(flat.min()) < 0:
        fix += " (a negative label would silently pick a class from the end)"
    raise ValueError(f"{name} holds label {label} at index {where}{many}; labels must be in [0, {n_classes}) for {owner}; {fix}")
