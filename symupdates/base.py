"""The machinery every rule shares: ``Updates``, ``chain``, ``get_updates``, named state
and hyperparameter coercion.

A *transform* is a function ``(directions, params) -> (directions, state_updates)``.
``directions`` are the amounts that will be **added** to the parameters (so a descent
rule ends with a negative learning rate), ``state_updates`` is a list of
``(shared_variable, new_expression)`` pairs for the transform's own state.
:func:`get_updates` is the one place that turns directions into ``(param, param +
direction)`` pairs.

Inside a transform, three helpers reach the build in progress (they raise a clear
error when called outside :func:`get_updates`):

* :func:`new_state` creates a named shared variable (``"W1/adam/m"``) with the
  parameter's static shape and compute dtype, and records its initial value so it can
  be reset, saved and restored;
* :func:`hyperparam` turns a float, NumPy scalar, shared variable, symbolic scalar or
  schedule into a symbolic scalar; floats become named shared scalars, so they can be
  changed with ``set_value`` between calls without recompiling;
* :func:`step_count` is the integer number of updates applied before this one
  (``0`` for the first update), and :func:`add_info` publishes a symbolic diagnostic.

Training state: :func:`skip_nonfinite` (or ``skip_nonfinite=True``) makes a call with
a NaN or ±Inf cost or gradient change nothing, and :class:`NonFiniteGuard` raises on the
host after too many such calls in a row; :meth:`Updates.reset`,
:meth:`Updates.state_dict` and :meth:`Updates.load_state_dict` restore and move the
state (checkpoint files are in :mod:`symupdates.checkpoint`); :func:`merge_updates`
joins update lists, refusing two updates of one variable.
"""

from __future__ import annotations

import contextvars
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable
from pytensor.tensor.sharedvar import TensorSharedVariable

from symupdates.numerics import FLOAT_DTYPES, INT_DTYPES, all_finite, all_true, coef, compute_dtype, global_norm

__all__ = [
    "ArraySpec",
    "Hyperparameter",
    "NonFiniteGuard",
    "Transform",
    "Updates",
    "add_info",
    "chain",
    "check_hyperparam",
    "compute_dtype",
    "coef",
    "directions_norm",
    "get_updates",
    "hyperparam",
    "merge_updates",
    "new_state",
    "new_scope",
    "skip_nonfinite",
    "step_count",
]

#: Intervals of :func:`check_hyperparam` and :func:`hyperparam` shared by the transforms.
NON_NEGATIVE = {"low": 0.0}
POSITIVE = {"low": 0.0, "low_open": True}
UNIT = {"low": 0.0, "high": 1.0}
DECAY = {"low": 0.0, "high": 1.0, "high_open": True}  # a decay rate: 1 would never forget

#: A transform maps ``(directions, params)`` to ``(directions, state_updates)``.
Transform = Callable[[list, list], tuple[list, list]]

_BUILD: contextvars.ContextVar[_Build | None] = contextvars.ContextVar("symupdates_build", default=None)


class ArraySpec(NamedTuple):
    """The shape and dtype of an array not read yet (see :meth:`Updates.validate_state_dict`)."""

    shape: tuple
    dtype: np.dtype


class Updates(list):
    """The result of an optimizer: a list of ``(shared_variable, new_expression)`` pairs.

    Pass it as ``updates=`` to :func:`pytensor.function`. Beyond the pairs it exposes

    Attributes
    ----------
    state : dict[str, SharedVariable]
        Every piece of optimizer state by stable name (``"W1/adam/m"``, ``"adam/step"``),
        in creation order; includes the step counter (and the skip counter when
        ``skip_nonfinite`` is on).
    step : SharedVariable
        The integer count of applied updates (``0`` before the first one).
    skipped : SharedVariable or None
        The integer count of calls skipped because the cost or a gradient was not finite
        (``"{name}/skipped"``); ``None`` unless ``skip_nonfinite`` is on.
    hyperparams : dict[str, SharedVariable]
        The live hyperparameters: every float given to the optimizer became a named shared
        scalar here, and shared variables passed by the user are listed too. Change one
        with ``set_value``; the next call of the compiled function uses it.
    info : dict[str, Variable]
        Symbolic diagnostics to add to the function's outputs: at least ``"grad_norm"``
        (the global L2 norm of the gradients before clipping) and ``"learning_rate"``
        (the value applied by this call, after any schedule); ``"finite"`` (a boolean)
        when ``skip_nonfinite`` is on.

    Examples
    --------
    Snapshot the state, train, then go back to the snapshot (hyperparameters included):

    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.adam((w ** 2).sum(), [w], learning_rate=0.1)
    >>> sorted(updates.state_dict())
    ['adam/step', 'hyperparams/beta1', 'hyperparams/beta2', 'hyperparams/epsilon', 'hyperparams/learning_rate', 'w/adam/m', 'w/adam/v']
    >>> snapshot = updates.state_dict()
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); _ = step()
    >>> int(updates.step.get_value())
    2
    >>> updates.load_state_dict(snapshot)
    >>> int(updates.step.get_value()), updates.state["w/adam/m"].get_value()
    (0, array([0., 0.]))
    """

    def __init__(self, pairs, *, state, step, hyperparams, info, initial, skipped=None):
        super().__init__(pairs)
        self.state = state
        self.step = step
        self.skipped = skipped
        self.hyperparams = hyperparams
        self.info = info
        self._initial = initial

    def reset(self) -> None:
        """Restore every state variable and counter to its initial value.

        The step counter and the skip counter go back to 0 and every moment, buffer and
        accumulator to the value it was created with. Compiled functions see the new
        values at their next call: nothing is recompiled.

        Hyperparameters keep their current values and parameters are not touched (they
        are not optimizer state): re-initialise the parameters yourself, and to restore
        hyperparameters too, keep a :meth:`state_dict` taken right after building and
        :meth:`load_state_dict` it instead.
        """
        for name, var in self.state.items():
            var.set_value(self._initial[name].copy())

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of the optimizer state and live hyperparameters as NumPy arrays.

        Keys are the stable names of :attr:`state` (moments, buffers, the step counter
        ``"{name}/step"`` and, with ``skip_nonfinite``, the skip counter
        ``"{name}/skipped"``) and ``"hyperparams/<name>"`` for each live hyperparameter
        of :attr:`hyperparams`. Values are copies: training on does not change them.
        """
        return {name: np.array(var.get_value(), copy=True) for name, var in self.state_variables().items()}

    def load_state_dict(self, state_dict) -> None:
        """Load a :meth:`state_dict`, checking every name, shape and dtype first.

        Values must have exactly the dtype and shape of the variable they replace (no
        casting), counters must not be negative and each live hyperparameter must satisfy
        the rule of its argument (a finite ``learning_rate >= 0``, ``beta2 < 1``, ...; see
        :class:`Hyperparameter`). Nothing is changed unless everything matches; the
        ``ValueError`` lists every mismatch (missing and unexpected keys, each wrong
        shape, dtype or value).
        """
        values = self.validate_state_dict(state_dict, "state_dict")
        targets = self.state_variables()
        for name, value in values.items():
            targets[name].set_value(np.array(value, copy=True))

    def state_variables(self) -> dict[str, SharedVariable]:
        """The shared variables behind :meth:`state_dict`, by the same keys."""
        targets = dict(self.state)
        targets.update({f"hyperparams/{n}": v for n, v in self.hyperparams.items()})
        return targets

    def validate_state_dict(self, state_dict, argument: str = "state_dict") -> dict[str, np.ndarray]:
        """Check ``state_dict`` as :meth:`load_state_dict` does, without changing anything.

        Parameters
        ----------
        state_dict : mapping of str to array
            A candidate for :meth:`load_state_dict`. A value may also be an
            :class:`ArraySpec` (the shape and dtype of an array not read yet, as a
            checkpoint's header gives): its key, shape and dtype are checked, and it is
            left out of the result.
        argument : str
            What to call ``state_dict`` in messages.

        Returns
        -------
        dict of str to ndarray
            The arrays to load, by key.

        Raises
        ------
        TypeError, ValueError
            Naming ``argument`` and listing every problem.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{argument} must be a mapping of names to arrays (as returned by "
                f"Updates.state_dict()), got {type(state_dict).__name__}"
            )
        targets = self.state_variables()
        problems = []
        missing = [k for k in targets if k not in state_dict]
        unexpected = [k for k in state_dict if k not in targets]
        if missing:
            problems.append(f"missing keys {missing}")
        if unexpected:
            problems.append(f"unexpected keys {unexpected}")
        values = {}
        for name, var in targets.items():
            if name not in state_dict:
                continue
            value = state_dict[name]
            try:
                value = value if isinstance(value, np.ndarray | ArraySpec) else np.asarray(value)
            except (TypeError, ValueError) as err:
                problems.append(f"{name!r} is not an array ({err})")
                continue
            current = var.get_value(borrow=True)
            if value.shape != current.shape:
                problems.append(f"{name!r} has shape {value.shape}, expected {current.shape}")
            elif value.dtype != current.dtype:
                problems.append(f"{name!r} has dtype {value.dtype}, expected {current.dtype}")
            elif isinstance(value, ArraySpec):
                continue
            elif value.dtype.kind in "iu" and np.any(value < 0):
                problems.append(f"{name!r} is a counter and must not be negative, got {value.tolist()}")
            elif isinstance(var, Hyperparameter) and (problem := var.problem(value)):
                problems.append(f"{name!r}: {problem}")
            else:
                values[name] = value
        if problems:
            raise ValueError(f"{argument} does not match these updates: " + "; ".join(problems))
        return values



def _describe(var) -> str:
    return f"variable {var.name!r}" if getattr(var, "name", None) else f"variable {var!r}"


def _check_unique_targets(groups, label) -> None:
    """Raise ``ValueError`` naming the variable when two pairs update the same variable."""
    seen: dict[int, str] = {}
    for i, pairs in enumerate(groups):
        for j, (var, _) in enumerate(pairs):
            where = label(i, j) if callable(label) else f"{label}[{j}]"
            if id(var) in seen:
                raise ValueError(
                    f"{_describe(var)} is updated twice, by {seen[id(var)]} and by {where}; a variable "
                    f"can have only one update per call: combine the two expressions into one"
                )
            seen[id(var)] = where


def _as_pairs(updates, argument: str) -> list:
    if isinstance(updates, Mapping):
        items = list(updates.items())
    elif isinstance(updates, Sequence) and not isinstance(updates, str):
        items = list(updates)
    else:
        raise TypeError(
            f"{argument} must be a list of (shared_variable, new_expression) pairs, an Updates "
            f"or a dict, got {type(updates).__name__}"
        )
    pairs = []
    for j, item in enumerate(items):
        if not isinstance(item, Sequence) or isinstance(item, str) or len(item) != 2:
            raise TypeError(f"{argument}[{j}] must be a (shared_variable, new_expression) pair, got {item!r}")
        var, new = item
        if not isinstance(var, SharedVariable):
            raise TypeError(
                f"{argument}[{j}] updates {var!r} of type {type(var).__name__}; only shared variables can be updated"
            )
        pairs.append((var, new))
    return pairs


def merge_updates(*lists) -> Updates:
    """Join several update lists into one, refusing two updates of the same variable.

    Use it to compile one function from an optimizer's updates and other updates the
    graph needs (random generators, batch-norm running averages, a second optimizer on
    other parameters).

    Parameters
    ----------
    *lists : Updates, list of (SharedVariable, Variable) pairs, or dict
        The update lists, in order.

    Returns
    -------
    Updates
        The pairs of every argument, in order. Its :attr:`~Updates.state`,
        :attr:`~Updates.hyperparams` and :attr:`~Updates.info` are the union of those of
        the :class:`Updates` among the arguments, in order; a name already taken by a
        different variable gets a suffix (``"adam/step"``, then ``"adam/step_2"``), and
        a hyperparameter shared by two optimizers is listed once. :attr:`~Updates.step`
        and :attr:`~Updates.skipped` are those of the first :class:`Updates` that has
        them (``None`` when no argument is an :class:`Updates`). :meth:`~Updates.reset`,
        :meth:`~Updates.state_dict` and :meth:`~Updates.load_state_dict` act on all the
        merged state; plain pairs (a random generator, say) are not optimizer state and
        are left alone.

    Raises
    ------
    ValueError
        Naming the variable, when two pairs update the same one.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> calls = pytensor.shared(np.int64(0), name="calls")
    >>> updates = su.merge_updates(su.sgd((w ** 2).sum(), [w], learning_rate=0.25), [(calls, calls + 1)])
    >>> [var.name for var, _ in updates]
    ['w', 'sgd/step', 'calls']
    >>> su.merge_updates(updates, [(w, 2 * w)])
    Traceback (most recent call last):
    ...
    ValueError: variable 'w' is updated twice, by lists[0][0] and by lists[1][0]; a variable can have only one update per call: combine the two expressions into one
    """
    groups = [_as_pairs(updates, f"lists[{i}]") for i, updates in enumerate(lists)]
    _check_unique_targets(groups, lambda i, j: f"lists[{i}][{j}]")
    state, initial, hyperparams, info = {}, {}, {}, {}
    step = skipped = None
    for updates in lists:
        if not isinstance(updates, Updates):
            continue
        for name, var in updates.state.items():
            key = _unique(name, state)
            state[key] = var
            initial[key] = updates._initial[name]
        for name, var in updates.hyperparams.items():
            if not any(v is var for v in hyperparams.values()):
                hyperparams[_unique(name, hyperparams)] = var
        for name, expr in updates.info.items():
            info[_unique(name, info)] = expr
        step = updates.step if step is None else step
        skipped = updates.skipped if skipped is None else skipped
    pairs = [pair for group in groups for pair in group]
    return Updates(
        pairs, state=state, step=step, skipped=skipped, hyperparams=hyperparams, info=info, initial=initial
    )


class NonFiniteGuard:
    """Raise on the host when too many calls in a row were skipped as non-finite.

    ``skip_nonfinite`` keeps one bad batch from corrupting the optimizer; a run where
    every call is skipped, though, makes no progress and should stop. Call
    :meth:`check` after each call of the compiled function: it reads the step and skip
    counters of ``updates`` and raises ``FloatingPointError`` once ``max_consecutive``
    calls in a row were skipped.

    Parameters
    ----------
    updates : Updates
        Built with ``skip_nonfinite=True`` (or a :func:`skip_nonfinite` transform).
    max_consecutive : int
        How many skipped calls in a row to tolerate before raising (at least 1).

    Notes
    -----
    When :meth:`check` runs only every few calls, skips since the previous check are
    taken to be the latest calls (the guard may raise early, never late). A counter that
    went down (after :meth:`Updates.reset` or loading older state) restarts the count.
    The guard has :meth:`state_dict`/:meth:`load_state_dict`, so
    :func:`~symupdates.save` can keep it in a checkpoint (``extra={"guard": guard}``).

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> scale = pt.scalar("scale", dtype="float64")
    >>> updates = su.sgd(scale * (w ** 2).sum(), [w], learning_rate=0.1, skip_nonfinite=True)
    >>> step = pytensor.function([scale], [], updates=updates, mode="FAST_COMPILE")
    >>> guard = su.NonFiniteGuard(updates, max_consecutive=2)
    >>> _ = step(np.nan); guard.check()
    1
    >>> _ = step(np.inf); guard.check()
    Traceback (most recent call last):
    ...
    FloatingPointError: 2 calls in a row were skipped because the cost or a gradient was NaN or ±Inf (counter 'sgd/skipped', max_consecutive=2); look for the cause (bad data, a too large learning rate) before going on
    """

    def __init__(self, updates, max_consecutive: int = 10):
        if not isinstance(updates, Updates):
            raise TypeError(f"updates must be an Updates (returned by an optimizer), got {type(updates).__name__}")
        if updates.skipped is None or updates.step is None:
            raise ValueError(
                "updates has no skip counter: build it with skip_nonfinite=True (or a skip_nonfinite() transform)"
            )
        if isinstance(max_consecutive, bool) or not isinstance(max_consecutive, numbers.Integral):
            raise TypeError(f"max_consecutive must be an integer, got {max_consecutive!r}")
        if max_consecutive < 1:
            raise ValueError(f"max_consecutive must be at least 1, got {max_consecutive!r}")
        self.updates = updates
        self.max_consecutive = int(max_consecutive)
        self.consecutive = 0
        self._last = self._counters()

    def _counters(self) -> tuple[int, int]:
        return int(self.updates.step.get_value()), int(self.updates.skipped.get_value())

    def check(self) -> int:
        """Update the count of skipped calls in a row from the counters and return it.

        Raises ``FloatingPointError`` when it reaches ``max_consecutive``.
        """
        step, skipped = self._counters()
        applied, missed = step - self._last[0], skipped - self._last[1]
        if applied < 0 or missed < 0:  # the counters were reset or older state was loaded
            self.consecutive = 0
        elif applied > 0:
            self.consecutive = missed
        else:
            self.consecutive += missed
        self._last = (step, skipped)
        if self.consecutive >= self.max_consecutive:
            raise FloatingPointError(
                f"{self.consecutive} calls in a row were skipped because the cost or a gradient was NaN or "
                f"±Inf (counter {self.updates.skipped.name!r}, max_consecutive={self.max_consecutive}); look "
                f"for the cause (bad data, a too large learning rate) before going on"
            )
        return self.consecutive

    def state_dict(self) -> dict[str, np.ndarray]:
        """The count of skipped calls in a row and the counters last seen."""
        return {
            "consecutive": np.int64(self.consecutive),
            "last_step": np.int64(self._last[0]),
            "last_skipped": np.int64(self._last[1]),
        }

    def load_state_dict(self, state_dict) -> None:
        """Load a :meth:`state_dict`; raises ``ValueError`` naming what does not match."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"state_dict must be a mapping, got {type(state_dict).__name__}")
        keys = ("consecutive", "last_step", "last_skipped")
        if set(state_dict) != set(keys):
            raise ValueError(f"state_dict must have exactly the keys {list(keys)}, got {sorted(state_dict)}")
        values = {}
        for key in keys:
            value = np.asarray(state_dict[key])
            if value.shape != () or value.dtype.kind not in "iu" or value < 0:
                raise ValueError(f"state_dict[{key!r}] must be a non-negative integer, got {state_dict[key]!r}")
            values[key] = int(value)
        self.consecutive = values["consecutive"]
        self._last = (values["last_step"], values["last_skipped"])


class _Build:
    """What a transform registers while :func:`get_updates` runs."""

    def __init__(self, name: str, params, step, cost=None):
        self.name = name
        self.step = step
        self.cost = cost
        self.guarded: list[list] = []  # the direction lists skip_nonfinite checks
        self.skipped = None
        self.grads: list | None = None  # the raw gradients and their global norm
        self.grad_norm = None
        self.grad_norm_used = False  # by a transform (clipping): the check can share it
        self.values: list[Variable] = []  # every hyperparameter value the build uses
        self.param_names = _param_names(params)
        self.state: dict[str, SharedVariable] = {}
        self.initial: dict[str, np.ndarray] = {}
        self.hyperparams: dict[str, SharedVariable] = {}
        self.info: dict[str, Variable] = {}
        self.scopes: set[str] = set()
        self.register(f"{name}/step", step)

    def register(self, name, var, initial=None):
        """Record a state variable and the value :meth:`Updates.reset` restores (a copy of
        its current value unless ``initial`` is given)."""
        if name in self.state:
            raise ValueError(f"two state variables are both named {name!r}; use new_scope() for unique names")
        self.state[name] = var
        self.initial[name] = np.array(var.get_value(), copy=True) if initial is None else initial


def _current() -> _Build:
    build = _BUILD.get()
    if build is None:
        raise RuntimeError(
            "new_state(), hyperparam(), step_count() and add_info() only work inside a "
            "transform called by get_updates(); call get_updates(transform, loss_or_grads, params)"
        )
    return build


def _unique(name: str, taken) -> str:
    if name not in taken:
        return name
    k = 2
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


def new_scope(name: str) -> str:
    """A name for a transform's state that no other transform in this build uses.

    The first ``trace`` in a chain gets ``"momentum"``, a second one ``"momentum_2"``.
    """
    build = _current()
    scope = _unique(name, build.scopes)
    build.scopes.add(scope)
    return scope


def new_state(scope: str, name: str, like=None, *, value=0.0, dtype=None) -> SharedVariable:
    """Create a named state variable for the build in progress.

    Parameters
    ----------
    scope : str
        The transform's scope, from :func:`new_scope`.
    name : str
        The state's own name (``"m"``).
    like : SharedVariable, optional
        A parameter: the state is named ``"{param}/{scope}/{name}"`` and has its shape,
        static shape and compute dtype (see :func:`compute_dtype`). Without it the state
        is a scalar named ``"{scope}/{name}"``.
    value : float
        The initial value (and the value :meth:`Updates.reset` restores).
    dtype : str, optional
        The scalar's dtype when ``like`` is not given (default ``"float64"``).
    """
    build = _current()
    if like is None:
        full = f"{scope}/{name}"
        var = pytensor.shared(np.asarray(value, dtype=dtype or "float64"), name=full)
        initial = None  # a copy of the scalar
    else:
        if id(like) not in build.param_names:
            raise ValueError(f"new_state(like=...) must be one of the params being updated, got {like!r}")
        full = f"{build.param_names[id(like)]}/{scope}/{name}"
        init = np.full(like.get_value(borrow=True).shape, value, dtype=compute_dtype(like))
        var = pytensor.shared(init, name=full, shape=like.type.shape, borrow=True)
        # The reset value is a read-only broadcast of the fill value: no second
        # parameter-sized buffer per state variable.
        initial = np.broadcast_to(init.dtype.type(value), init.shape)
    build.register(full, var, initial=initial)
    return var


def step_count():
    """The number of updates applied before this one: ``0`` at the first update.

    An integer scalar; cast it before mixing it with floats.
    """
    return _current().step


def add_info(name: str, expr) -> str:
    """Publish a symbolic diagnostic in :attr:`Updates.info`; returns the name used."""
    build = _current()
    name = _unique(name, build.info)
    build.info[name] = expr
    return name


def _is_scalar_number(value) -> bool:
    if isinstance(value, bool | np.bool_):
        return False
    if isinstance(value, numbers.Real):
        return True
    return isinstance(value, np.ndarray) and value.ndim == 0 and value.dtype.kind in "iuf"


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
    if _is_scalar_number(value):
        number = float(value)
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


class Hyperparameter(TensorSharedVariable):
    """A live hyperparameter: a float64 shared scalar that checks every value it is given.

    :func:`hyperparam` makes one for each number passed to a transform, and
    :attr:`Updates.hyperparams` lists them. ``set_value`` (and
    :meth:`Updates.load_state_dict`, :func:`~symupdates.load`) apply the rule of the
    argument it came from: a NaN, an infinite value or one outside the argument's
    interval raises ``ValueError`` and leaves the value unchanged, exactly as the same
    value passed to the optimizer would have.

    Attributes
    ----------
    argument : str
        The argument's name (``"learning_rate"``), used in messages.
    bounds : dict
        The interval of :func:`check_hyperparam` (``low``, ``high``, ``low_open``,
        ``high_open``).

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.adam((w ** 2).sum(), [w], learning_rate=0.1)
    >>> updates.hyperparams["learning_rate"].set_value(0.01)
    >>> updates.hyperparams["beta2"].set_value(1.0)
    Traceback (most recent call last):
        ...
    ValueError: beta2 must be in [0.0, 1.0), got 1.0
    >>> float(updates.hyperparams["beta2"].get_value())
    0.999
    """

    def __init__(self, name, type, value, strict, allow_downcast=None, container=None, *, argument=None, bounds=None):
        super().__init__(name=name, type=type, value=value, strict=strict, allow_downcast=allow_downcast, container=container)
        self.argument = argument or name
        self.bounds = dict(bounds or {})

    def clone(self, **kwargs):
        cp = super().clone(**kwargs)
        cp.argument, cp.bounds = self.argument, dict(self.bounds)
        return cp

    def check(self, value) -> None:
        """Raise ``TypeError``/``ValueError``, as the optimizer would, if ``value`` breaks the rule."""
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        if not _is_scalar_number(value):
            raise TypeError(f"{self.argument} must be a real number, got {value!r} of type {type(value).__name__}")
        check_hyperparam(self.argument, value, **self.bounds)

    def problem(self, value) -> str | None:
        """What is wrong with ``value`` for this hyperparameter, or ``None``."""
        try:
            self.check(value)
        except (TypeError, ValueError) as err:
            return str(err)
        return None

    def set_value(self, new_value, borrow=False):
        """Set the value after :meth:`check`-ing it; a bad value changes nothing."""
        self.check(new_value)
        super().set_value(new_value, borrow=borrow)


def hyperparam(name: str, value, *, low=None, high=None, low_open=False, high_open=False):
    """Turn a hyperparameter into a symbolic scalar for the build in progress.

    * a Python or NumPy number becomes a float64 :class:`Hyperparameter` named ``name``,
      listed in :attr:`Updates.hyperparams` (live: change it with ``set_value``, which
      checks the new value against the interval given here);
    * a shared scalar is used as it is and listed under ``name`` too;
    * a symbolic scalar is used as it is;
    * a schedule (a callable) is called with :func:`step_count` and must return a scalar;
      its value is published as ``info[name]``.

    ``low``, ``high``, ``low_open`` and ``high_open`` are the interval of
    :func:`check_hyperparam`, checked here and by the :class:`Hyperparameter`'s setter.
    Every value returned is also part of the ``skip_nonfinite`` check: a call whose
    hyperparameter is NaN or infinite (a user's shared variable, a schedule) is skipped.

    Rules cast the result to each parameter's compute dtype, so a float64 hyperparameter
    never upcasts a float32 update.
    """
    build = _current()
    bounds = {"low": low, "high": high, "low_open": low_open, "high_open": high_open}
    check_hyperparam(name, value, **bounds)
    if _is_scalar_number(value):
        key = _unique(name, build.hyperparams)
        var = Hyperparameter(
            name=key,
            type=pt.TensorType("float64", shape=()),
            value=np.float64(value),
            strict=False,
            argument=name,
            bounds=bounds,
        )
        build.hyperparams[key] = var
        build.values.append(var)
        return var
    if isinstance(value, SharedVariable):
        if not any(v is value for v in build.hyperparams.values()):
            build.hyperparams[_unique(name, build.hyperparams)] = value
        build.values.append(value)
        return value
    if isinstance(value, Variable):
        build.values.append(value)
        return value
    result = value(build.step)
    if _is_scalar_number(result):  # a bare Python float would become a floatX (float32) constant
        result = np.float64(result)
    try:
        result = pt.as_tensor_variable(result)
    except Exception as err:  # noqa: BLE001 - re-raised with the argument's name
        raise TypeError(f"the schedule given as {name} returned {result!r}, not a scalar") from err
    if result.type.ndim != 0:
        raise ValueError(f"the schedule given as {name} must return a scalar, got type {result.type}")
    if result.dtype not in FLOAT_DTYPES and result.dtype not in INT_DTYPES:
        raise TypeError(f"the schedule given as {name} must return a number, got dtype {result.dtype}")
    add_info(name, result)
    build.values.append(result)
    return result


def chain(*transforms: Transform) -> Transform:
    """Apply transforms one after another; the result is a transform.

    Each transform receives the previous one's directions; state updates are collected
    in order.

    Examples
    --------
    >>> import symupdates as su
    >>> adam_with_clipping = su.chain(
    ...     su.clip_by_global_norm(1.0), su.scale_by_adam(), su.scale_by_learning_rate(1e-3)
    ... )
    """
    for i, t in enumerate(transforms):
        if not callable(t):
            raise TypeError(f"chain() argument {i} must be a transform (a function), got {t!r}")

    def chained(directions, params):
        state_updates = []
        for transform in transforms:
            directions, more = transform(directions, params)
            state_updates.extend(more)
        return directions, state_updates

    return chained


def _param_names(params) -> dict[int, str]:
    """Unique names for ``params`` by ``id``: its own name, else ``param{i}``.

    A name seen before gets the parameter's position appended (``w_2``), then a further
    ``_2``, ``_3``, ... until it clashes with no parameter's own name and no name given
    so far: ``["w", "w_2", "w"]`` are named ``w``, ``w_2``, ``w_2_2``. Checkpoints and
    state names rely on these being unique.
    """
    bases = [p.name or f"param{i}" for i, p in enumerate(params)]
    taken = set(bases)
    names, seen = {}, set()
    for i, (p, base) in enumerate(zip(params, bases, strict=True)):
        name = base
        if base in seen:
            name, k = f"{base}_{i}", 2
            while name in taken:
                name, k = f"{base}_{i}_{k}", k + 1
        seen.add(base)
        taken.add(name)
        names[id(p)] = name
    return names


def check_params(params) -> list:
    """Validate a parameter list: non-empty, float shared variables, no repeats."""
    if isinstance(params, SharedVariable) or not isinstance(params, Sequence) or isinstance(params, str):
        raise TypeError(f"params must be a list of shared variables, got {type(params).__name__}; wrap a single one as [param]")
    params = list(params)
    if not params:
        raise ValueError("params is empty: pass the list of shared variables to optimize")
    for i, p in enumerate(params):
        if not isinstance(p, SharedVariable) or not isinstance(p.type, pt.TensorType):
            raise TypeError(
                f"params[{i}] must be a tensor shared variable (pytensor.shared(array)), got {p!r} "
                f"of type {type(p).__name__}"
            )
        if p.dtype not in FLOAT_DTYPES:
            raise TypeError(
                f"params[{i}] ({p.name or 'unnamed'}) has dtype {p.dtype}; only float parameters can "
                f"be optimized: create it with pytensor.shared(array.astype('float64'))"
            )
        for j in range(i):
            if params[j] is p:
                raise ValueError(f"params[{i}] ({p.name or 'unnamed'}) appears twice in params (also at index {j})")
    return params


def get_grads(loss_or_grads, params) -> tuple[list, Variable | None]:
    """Gradients of a scalar cost, or a checked list of given gradients.

    Returns ``(grads, cost)``; ``cost`` is ``None`` when gradients were given.
    """
    if isinstance(loss_or_grads, Variable):
        cost = loss_or_grads
        if getattr(cost.type, "ndim", None) != 0:
            raise ValueError(
                f"loss_or_grads must be a scalar cost, got type {cost.type}; reduce it first, e.g. cost.mean()"
            )
        if cost.dtype not in FLOAT_DTYPES:
            raise TypeError(f"loss_or_grads must be a float cost, got dtype {cost.dtype}")
        return pytensor.grad(cost, params), cost
    if isinstance(loss_or_grads, Sequence) and not isinstance(loss_or_grads, str):
        grads = list(loss_or_grads)
        if len(grads) != len(params):
            raise ValueError(f"loss_or_grads has {len(grads)} gradients but params has {len(params)}; give one per parameter")
        out = []
        for i, (g, p) in enumerate(zip(grads, params, strict=True)):
            try:
                g = pt.as_tensor_variable(g)
            except Exception as err:  # noqa: BLE001
                raise TypeError(f"loss_or_grads[{i}] is not a tensor expression: {g!r}") from err
            if g.type.ndim != p.type.ndim:
                raise ValueError(f"loss_or_grads[{i}] has {g.type.ndim} dimensions but params[{i}] has {p.type.ndim}")
            if g.dtype not in FLOAT_DTYPES:
                raise TypeError(f"loss_or_grads[{i}] must be a float tensor, got dtype {g.dtype}")
            out.append(g)
        return out, None
    raise TypeError(
        f"loss_or_grads must be a scalar cost or a list of gradients, got {type(loss_or_grads).__name__}"
    )


def _guard_nonfinite(tensors) -> None:
    """Make the build in progress skip every call where ``tensors`` or the cost is not finite.

    Installs the skip counter ``"{name}/skipped"`` on first use; several guards combine
    (the call is skipped when any of them sees a NaN or ±Inf). The condition itself is
    built by :func:`_finite_condition` once the whole transform has run.
    """
    build = _current()
    if build.skipped is None:
        build.skipped = new_state(build.name, "skipped", value=0, dtype="int64")
    build.guarded.append(list(tensors))


def _finite_condition(build):
    """True when the call may be applied: cost, guarded directions and hyperparameters finite.

    The raw gradients are checked through their global norm when a transform (global
    norm clipping) computes it anyway, so the check costs no extra pass over them; else
    each guarded tensor gets one reduction (:func:`~symupdates.numerics.all_finite`).
    """
    checks = []
    for tensors in build.guarded:
        raw = len(tensors) == len(build.grads) and all(t is g for t, g in zip(tensors, build.grads, strict=True))
        checks.append(pt.isfinite(build.grad_norm) if raw and build.grad_norm_used else all_finite(tensors))
    if build.cost is not None:
        checks.append(pt.isfinite(build.cost))
    checks.extend(pt.isfinite(v) for v in build.values if v.dtype in FLOAT_DTYPES)
    return all_true(checks)


def directions_norm(directions):
    """The global L2 norm of ``directions``, for a transform of the build in progress.

    For the raw gradients this is the norm published as ``info["grad_norm"]``, built
    once and shared: with ``skip_nonfinite``, the finiteness check then reuses it
    instead of reading the gradients again. Other directions get
    :func:`~symupdates.global_norm`.
    """
    build = _current()
    directions = list(directions)
    if len(directions) == len(build.grads) and all(d is g for d, g in zip(directions, build.grads, strict=True)):
        build.grad_norm_used = True
        return build.grad_norm
    return global_norm(directions)


def skip_nonfinite() -> Transform:
    r"""Skip the whole update when the cost or the incoming directions hold a NaN or ±Inf.

    A transform that passes directions through unchanged and tells
    :func:`get_updates` to guard the call: when any direction (or the cost, when the
    updates are built from a cost) is not finite, **every** parameter, every state
    variable of every transform and the step counter keep their values (all or nothing),
    and the counter ``"{name}/skipped"`` (:attr:`Updates.skipped`) goes up by one.
    ``info["finite"]`` is true for a call that was applied.

    Place it first in a chain to check the raw gradients, as the ``skip_nonfinite=True``
    flag of every optimizer (and of :func:`get_updates`) does; placed later, it also
    catches directions that became non-finite inside the rule (an overflow, say).

    Besides the directions, the check covers everything else the update applies: the
    cost, and every hyperparameter value of the build (a live one, a user's shared
    variable, a symbolic value, a schedule's result), so a NaN learning rate is skipped
    like a NaN gradient. (The :class:`Hyperparameter` variables the rules create refuse
    NaN and out-of-range values at ``set_value`` already.)

    Returns
    -------
    Transform
        No state of its own beyond the shared skip counter.

    Notes
    -----
    Cost: the decision must be known before any parameter is written, so the
    directions are read once before the update. With global-norm clipping on the raw
    gradients (``clip_norm=``) the check reuses the norm clipping computes anyway and
    adds no pass over the gradients: a gradient whose squared norm overflows then counts
    as non-finite (float32: a global norm above about :math:`1.8 \times 10^{19}`), as in
    ``torch.nn.utils.clip_grad_norm_(..., error_if_nonfinite=True)``. Without clipping
    each direction gets one float64 sum (no temporary array), an extra read of the
    gradients: ``make bench`` (workload SKIP) measures what it costs.

    See Also
    --------
    NonFiniteGuard : raise on the host after too many skipped calls in a row.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> scale = pt.scalar("scale", dtype="float64")
    >>> transform = su.chain(su.skip_nonfinite(), su.scale_by_adam(), su.scale_by_learning_rate(0.1))
    >>> updates = su.get_updates(transform, scale * (w ** 2).sum(), [w])
    >>> f = pytensor.function([scale], updates.info["finite"], updates=updates, mode="FAST_COMPILE")
    >>> bool(f(np.nan)), int(updates.step.get_value()), int(updates.skipped.get_value()), w.get_value()
    (False, 0, 1, array([ 1., -2.]))
    >>> bool(f(1.0)), int(updates.step.get_value()), w.get_value().round(6)
    (True, 1, array([ 0.9, -1.9]))
    """

    def update(directions, params):
        _guard_nonfinite(directions)
        return directions, []

    return update


def get_updates(
    transform: Transform,
    loss_or_grads,
    params,
    *,
    name: str = "optimizer",
    skip_nonfinite: bool = False,
) -> Updates:
    """Build the updates of a transform: ``(param, param + direction)`` and its state.

    Parameters
    ----------
    transform : Transform
        Usually a :func:`chain` of transforms ending with
        :func:`~symupdates.scale_by_learning_rate`.
    loss_or_grads : Variable or list of Variable
        A scalar cost, or one gradient expression per parameter.
    params : list of SharedVariable
        The float shared variables to update.
    name : str
        Prefix of the step counter's name (``"{name}/step"``).
    skip_nonfinite : bool
        If true, a call where the cost, any gradient or any hyperparameter value holds a
        NaN or ±Inf changes nothing (parameters, state and step counter keep their values)
        and increments the counter ``"{name}/skipped"``; ``info["finite"]`` reports each
        call. The same as putting :func:`skip_nonfinite` first in the chain.

    Returns
    -------
    Updates
        Parameter updates first, then state updates, then the step counter (then the
        skip counter, when a call can be skipped).

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> cost = (w ** 2).sum()
    >>> updates = su.get_updates(su.chain(su.trace(0.9), su.scale_by_learning_rate(0.1)), cost, [w])
    >>> list(updates.state)
    ['optimizer/step', 'w/momentum/buffer']
    >>> f = pytensor.function([], cost, updates=updates, mode="FAST_COMPILE")
    >>> [round(float(f()), 6) for _ in range(3)]
    [5.0, 3.2, 1.058]
    """
    if not callable(transform):
        raise TypeError(f"transform must be a transform (a function), got {transform!r}")
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string, got {name!r}")
    if not isinstance(skip_nonfinite, bool | np.bool_):
        raise TypeError(f"skip_nonfinite must be True or False, got {skip_nonfinite!r}")
    params = check_params(params)
    grads, cost = get_grads(loss_or_grads, params)
    grads = [g.astype(compute_dtype(p)) if g.dtype != compute_dtype(p) else g for g, p in zip(grads, params, strict=True)]
    step = pytensor.shared(np.int64(0), name=f"{name}/step")
    build = _Build(name, params, step, cost)
    build.grads, build.grad_norm = grads, global_norm(grads)
    token = _BUILD.set(build)
    try:
        add_info("grad_norm", build.grad_norm)
        if skip_nonfinite:
            _guard_nonfinite(grads)
        directions, state_updates = transform(grads, params)
    finally:
        _BUILD.reset(token)
    if len(directions) != len(params):
        raise ValueError(f"the transform returned {len(directions)} directions for {len(params)} params")
    pairs = []
    for p, d in zip(params, directions, strict=True):
        if d.type.ndim != p.type.ndim or d.dtype != compute_dtype(p):
            raise TypeError(
                f"the transform returned a direction of type {d.type} for {build.param_names[id(p)]} "
                f"({p.type}); directions must keep the parameter's ndim and compute dtype {compute_dtype(p)}"
            )
        new = p + d if p.dtype == d.dtype else (p.astype(d.dtype) + d).astype(p.dtype)
        pairs.append((p, new))
    pairs.extend(state_updates)
    pairs.append((step, step + 1))
    if build.guarded:  # all or nothing: every pair keeps its value on a bad call
        finite = _finite_condition(build)
        pairs = [(var, pt.switch(finite, new, var)) for var, new in pairs]
        pairs.append((build.skipped, build.skipped + pt.switch(finite, 0, 1).astype("int64")))
        build.info["finite"] = finite
    _check_unique_targets([pairs], "the transform's updates")
    pairs = [(var, _match_type(var, new)) for var, new in pairs]
    return Updates(
        pairs,
        state=build.state,
        step=step,
        skipped=build.skipped,
        hyperparams=build.hyperparams,
        info=build.info,
        initial=build.initial,
    )


def _match_type(var, new):
    """Give an update its variable's exact type; a dtype change is a bug in the rule."""
    new = pt.as_tensor_variable(new)
    if new.dtype != var.dtype or new.type.ndim != var.type.ndim:
        raise TypeError(
            f"the update of {var.name} has type {new.type} but the variable is {var.type}; "
            f"a transform must keep its state's dtype (cast with .astype({var.dtype!r}))"
        )
    return var.type.filter_variable(new, allow_convert=True)
