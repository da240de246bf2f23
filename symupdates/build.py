"""The build context: what a transform may call while its updates are being built.

A *transform* is a function ``(directions, params) -> (directions, state_updates)``.
While :func:`~symupdates.get_updates` runs it (or inside :func:`building`, to run one
transform on its own), a transform may call these and nothing else of the package's
internals:

* :func:`new_scope` — a unique name for the transform's state (``"adam"``, ``"adam_2"``);
* :func:`new_state` — a named shared variable (``"W1/adam/m"``) with the parameter's
  static shape and compute dtype, recorded so it can be reset, saved and restored;
* :func:`hyperparam` — a float, NumPy scalar, shared variable, symbolic scalar or
  schedule turned into a symbolic scalar; numbers become a live
  :class:`Hyperparameter` listed in :attr:`Updates.hyperparams`;
* :func:`step_count` — the integer number of updates applied before this one;
* :func:`add_info` — a symbolic diagnostic published in :attr:`Updates.info`;
* :func:`directions_norm` — the global norm of the directions, shared with
  ``info["grad_norm"]`` when they are the raw gradients;
* :func:`apply_only_when` — apply the update only on calls where a condition holds
  (gradient accumulation);
* :func:`in_group` — name what one parameter group's transforms create ``"{group}/..."``.

Each raises a clear ``RuntimeError`` when called outside a build.

Examples
--------
Run one transform on its own, to test or to teach it:

>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> import symupdates as su
>>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
>>> g = pt.as_tensor(np.array([0.5, 0.5]))
>>> with su.building([w]) as build:
...     directions, state_updates = su.trace(0.9)([g], [w])
>>> list(build.state), [var.name for var, _ in state_updates]
(['transform/step', 'w/momentum/buffer'], ['w/momentum/buffer'])
>>> directions[0].eval()
array([0.5, 0.5])
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable
from pytensor.tensor.sharedvar import TensorSharedVariable

from symupdates.checks import check_hyperparam, is_scalar_number
from symupdates.numerics import FLOAT_DTYPES, INT_DTYPES, compute_dtype, global_norm

__all__ = [
    "Build",
    "Hyperparameter",
    "Transform",
    "add_info",
    "apply_only_when",
    "building",
    "current_build",
    "directions_norm",
    "hyperparam",
    "hyperparam_off",
    "in_group",
    "new_scope",
    "new_state",
    "param_names",
    "step_count",
    "unique_name",
]

#: A transform maps ``(directions, params)`` to ``(directions, state_updates)``.
Transform = Callable[[list, list], tuple[list, list]]

_BUILD: contextvars.ContextVar[Build | None] = contextvars.ContextVar("symupdates_build", default=None)


def param_names(params) -> dict[int, str]:
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


class Build:
    """What the transforms of one build register: state, hyperparameters, diagnostics.

    :func:`~symupdates.get_updates` makes one and turns it into an :class:`Updates`;
    :func:`building` makes one for a transform run on its own.

    Attributes
    ----------
    name : str
        The prefix of the step counter (``"{name}/step"``).
    step : SharedVariable
        The int64 step counter.
    cost : Variable or None
        The cost the gradients come from, when known.
    grads : list of Variable
        The raw gradients (after the cast to each parameter's compute dtype).
    grad_norm : Variable
        Their global L2 norm, ``info["grad_norm"]``.
    state, initial, hyperparams, info : dict
        What the transforms registered, by name.
    """

    def __init__(self, name: str, params, step, cost=None, grads=None):
        self.name = name
        self.step = step
        self.cost = cost
        self.guarded: list[list] = []  # the direction lists skip_nonfinite checks
        self.skipped = None
        self.grads = list(grads) if grads is not None else []  # the raw gradients and their global norm
        self.grad_norm = global_norm(self.grads) if self.grads else None
        self.grad_norm_used = False  # by a transform (clipping): the check can share it
        self.values: list[Variable] = []  # every hyperparameter value the build uses
        self.param_names = param_names(params)
        self.state: dict[str, SharedVariable] = {}
        self.initial: dict[str, np.ndarray] = {}
        self.hyperparams: dict[str, SharedVariable] = {}
        self.info: dict[str, Variable] = {}
        self.scopes: set[str] = set()
        self.prefix = ""  # "{group}/" while a parameter group's transforms run (see in_group)
        self.gates: list[Variable] = []  # conditions for applying the update (see apply_only_when)
        self.always: set[int] = set()  # ids of the state variables updated on every call regardless
        self.register(f"{name}/step", step)

    def register(self, name, var, initial=None):
        """Record a state variable and the value :meth:`Updates.reset` restores (a copy of
        its current value unless ``initial`` is given)."""
        if name in self.state:
            raise ValueError(f"two state variables are both named {name!r}; use new_scope() for unique names")
        self.state[name] = var
        self.initial[name] = np.array(var.get_value(), copy=True) if initial is None else initial


@contextlib.contextmanager
def building(params, grads=None, *, cost=None, name: str = "transform") -> Iterator[Build]:
    """Open a build for ``params``: transforms called inside may create state and hyperparameters.

    :func:`~symupdates.get_updates` uses it; call it yourself to run a single transform
    outside an optimizer (see the module's example).

    Parameters
    ----------
    params : list of SharedVariable
        The parameters the transforms' state is shaped like and named after.
    grads : list of Variable, optional
        The raw gradients, when known (for ``info["grad_norm"]`` and
        :func:`directions_norm`).
    cost : Variable, optional
        The cost, checked by ``skip_nonfinite``.
    name : str
        Prefix of the step counter's name.

    Yields
    ------
    Build
    """
    step = pytensor.shared(np.int64(0), name=f"{name}/step")
    build = Build(name, params, step, cost, grads)
    token = _BUILD.set(build)
    try:
        if build.grad_norm is not None:
            add_info("grad_norm", build.grad_norm)
        yield build
    finally:
        _BUILD.reset(token)


def current_build() -> Build:
    """The build in progress; ``RuntimeError`` outside one."""
    build = _BUILD.get()
    if build is None:
        raise RuntimeError(
            "new_state(), hyperparam(), step_count() and add_info() only work inside a "
            "transform called by get_updates(); call get_updates(transform, loss_or_grads, params) "
            "(or run the transform inside `with symupdates.building(params):`)"
        )
    return build


def unique_name(name: str, taken) -> str:
    """``name``, or ``name_2``, ``name_3``, ... : the first not in ``taken``."""
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
    build = current_build()
    scope = unique_name(build.prefix + name, build.scopes)
    build.scopes.add(scope)
    return scope[len(build.prefix) :]


def new_state(scope: str, name: str, like=None, *, value=0.0, dtype=None, reduced=()) -> SharedVariable:
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
    reduced : tuple of int
        Axes of ``like`` the state is reduced over: they have length 1 (static length 1
        too), the rest is ``like``'s shape. Adafactor's factored second moment keeps
        ``reduced=(-1,)`` (a row statistic) and ``reduced=(-2,)`` (a column statistic).

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> W = pytensor.shared(np.zeros((3, 4)), name="W")
    >>> with su.building([W]):
    ...     rows = su.new_state("factored", "rows", like=W, reduced=(-1,))
    >>> rows.name, rows.get_value().shape, rows.type.shape
    ('W/factored/rows', (3, 1), (None, 1))
    """
    build = current_build()
    if like is None:
        full = f"{build.prefix}{scope}/{name}"
        var = pytensor.shared(np.asarray(value, dtype=dtype or "float64"), name=full)
        initial = None  # a copy of the scalar
    else:
        if id(like) not in build.param_names:
            raise ValueError(f"new_state(like=...) must be one of the params being updated, got {like!r}")
        full = f"{build.param_names[id(like)]}/{scope}/{name}"
        shape, static = list(like.get_value(borrow=True).shape), list(like.type.shape)
        for axis in reduced:
            if not -len(shape) <= axis < len(shape):
                raise ValueError(f"new_state: reduced axis {axis} is out of range for {full!r}, whose parameter has {len(shape)} axes")
            shape[axis] = static[axis] = 1
        init = np.full(shape, value, dtype=compute_dtype(like))
        var = pytensor.shared(init, name=full, shape=tuple(static), borrow=True)
        # The reset value is a read-only broadcast of the fill value: no second
        # parameter-sized buffer per state variable.
        initial = np.broadcast_to(init.dtype.type(value), init.shape)
    build.register(full, var, initial=initial)
    return var


@contextlib.contextmanager
def in_group(name: str) -> Iterator[None]:
    """Run transforms for one parameter group: what they name is prefixed with ``"{name}/"``.

    Inside, :func:`hyperparam` lists ``"{name}/learning_rate"``, :func:`add_info`
    publishes ``"{name}/..."`` and scalar state is ``"{name}/{scope}/..."``; the state of a
    parameter keeps its name (``"W1/adam/m"``), unique already. The step counter is the
    build's, shared by every group.
    """
    build = current_build()
    outer = build.prefix
    build.prefix = f"{outer}{name}/"
    try:
        yield
    finally:
        build.prefix = outer


def apply_only_when(condition, always=()) -> None:
    """Make the build in progress apply its update only on calls where ``condition`` holds.

    On other calls the parameters, every state variable and the step counter keep their
    values, except the state variables in ``always``, which take their new values on every
    call (the accumulator of :func:`~symupdates.accumulate_gradients`). Several
    conditions combine with "and"; ``info["applied"]`` says whether a call applied its
    update. ``skip_nonfinite`` still covers every pair.
    """
    build = current_build()
    build.gates.append(condition)
    build.always.update(id(var) for var in always)


def step_count():
    """The number of updates applied before this one: ``0`` at the first update.

    An integer scalar; cast it before mixing it with floats.
    """
    return current_build().step


def add_info(name: str, expr) -> str:
    """Publish a symbolic diagnostic in :attr:`Updates.info`; returns the name used."""
    build = current_build()
    name = unique_name(build.prefix + name, build.info)
    build.info[name] = expr
    return name


class Hyperparameter(TensorSharedVariable):
    """A live hyperparameter: a float64 shared scalar that checks every value it is given.

    :func:`hyperparam` makes one for each number passed to a transform, and
    :attr:`Updates.hyperparams` lists them. ``set_value`` (and
    :meth:`Updates.load_state_dict`, :func:`~symupdates.load`) apply the rule of the
    argument it came from: a NaN, an infinite value or one outside the argument's
    interval raises ``ValueError`` and leaves the value unchanged, exactly as the same
    value passed to the optimizer would have.

    A hyperparameter given as 0 where 0 switches a term off (``weight_decay=0.0``, an
    RMSprop ``momentum`` of 0, ...) adds nothing to the graph; it is still listed, as a
    *frozen* :class:`Hyperparameter` that refuses any other value with a message saying
    how to keep it live (pass a shared variable). A schedule or a symbolic value is
    listed as a live *multiplier* of it, starting at 1.0 (what
    :class:`~symupdates.ReduceLROnPlateau` lowers).

    Attributes
    ----------
    argument : str
        The argument's name (``"learning_rate"``), used in messages.
    bounds : dict
        The interval of :func:`check_hyperparam` (``low``, ``high``, ``low_open``,
        ``high_open``).
    frozen : bool
        True for a value that switched its term off when the updates were built.

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

    def __init__(
        self, name, type, value, strict, allow_downcast=None, container=None, *, argument=None, bounds=None, frozen=False
    ):
        super().__init__(name=name, type=type, value=value, strict=strict, allow_downcast=allow_downcast, container=container)
        self.argument = argument or name
        self.bounds = dict(bounds or {})
        self.frozen = frozen

    def clone(self, **kwargs):
        cp = super().clone(**kwargs)
        cp.argument, cp.bounds, cp.frozen = self.argument, dict(self.bounds), self.frozen
        return cp

    def check(self, value) -> None:
        """Raise ``TypeError``/``ValueError``, as the optimizer would, if ``value`` breaks the rule."""
        if isinstance(value, np.ndarray) and value.ndim == 0:
            value = value[()]
        if not is_scalar_number(value):
            raise TypeError(f"{self.argument} must be a real number, got {value!r} of type {type(value).__name__}")
        check_hyperparam(self.argument, value, **self.bounds)
        if self.frozen and float(value) != float(self.get_value()):
            raise ValueError(
                f"{self.argument} was {float(self.get_value())!r} when these updates were built, so its term is not "
                f"in the graph and {value!r} would change nothing; to change it while training, build the updates "
                f"with {self.argument}=pytensor.shared(np.float64({float(self.get_value())!r}))"
            )

    def problem(self, value) -> str | None:
        """What is wrong with ``value`` for this hyperparameter, or ``None``."""
        try:
            self.check(value)
        except (TypeError, ValueError) as err:
            return str(err)
        return None

    def set_value(self, new_value, borrow=False):
        """Set the value after :meth:`check`-ing it; a bad value changes nothing."""
        if isinstance(new_value, np.ndarray) and new_value.dtype.kind not in "iuf":
            raise TypeError(f"{self.argument} must be a real number, got an array of dtype {new_value.dtype}")
        self.check(new_value)
        super().set_value(np.asarray(new_value, dtype=self.dtype), borrow=borrow)


def hyperparam(name: str, value, *, low=None, high=None, low_open=False, high_open=False):
    """Turn a hyperparameter into a symbolic scalar for the build in progress.

    * a Python or NumPy number becomes a float64 :class:`Hyperparameter` named ``name``,
      listed in :attr:`Updates.hyperparams` (live: change it with ``set_value``, which
      checks the new value against the interval given here);
    * a shared scalar is used as it is and listed under ``name`` too;
    * a symbolic scalar, or a schedule (a callable, called with :func:`step_count`, that
      must return a scalar), is multiplied by a live :class:`Hyperparameter` listed under
      ``name`` that starts at 1.0 (a scale :class:`~symupdates.ReduceLROnPlateau` can
      lower).

    Whatever the form, the value applied by each call is published as ``info[name]``.

    So :attr:`Updates.hyperparams` has a key for every hyperparameter a rule takes,
    whatever form it was given in (and :func:`hyperparam_off` lists those that switched
    their term off).

    ``low``, ``high``, ``low_open`` and ``high_open`` are the interval of
    :func:`check_hyperparam`, checked here and by the :class:`Hyperparameter`'s setter.
    Every value returned is also part of the ``skip_nonfinite`` check: a call whose
    hyperparameter is NaN or infinite (a user's shared variable, a schedule) is skipped.

    Rules cast the result to each parameter's compute dtype, so a float64 hyperparameter
    never upcasts a float32 update.
    """
    build = current_build()
    bounds = {"low": low, "high": high, "low_open": low_open, "high_open": high_open}
    check_hyperparam(name, value, **bounds)
    if is_scalar_number(value):
        var = _register(build, name, value, bounds)
        add_info(name, var)
        build.values.append(var)
        return var
    if isinstance(value, SharedVariable):
        if not any(v is value for v in build.hyperparams.values()):
            build.hyperparams[unique_name(build.prefix + name, build.hyperparams)] = value
        add_info(name, value)
        build.values.append(value)
        return value
    if isinstance(value, Variable):
        result = value
    else:
        result = value(build.step)
        if is_scalar_number(result):  # a bare Python float would become a floatX (float32) constant
            result = np.float64(result)
        try:
            result = pt.as_tensor_variable(result)
        except Exception as err:  # noqa: BLE001 - re-raised with the argument's name
            raise TypeError(f"the schedule given as {name} returned {result!r}, not a scalar") from err
        if result.type.ndim != 0:
            raise ValueError(f"the schedule given as {name} must return a scalar, got type {result.type}")
        if result.dtype not in FLOAT_DTYPES and result.dtype not in INT_DTYPES:
            raise TypeError(f"the schedule given as {name} must return a number, got dtype {result.dtype}")
    scale = _register(build, name, 1.0, {"low": 0.0})
    result = scale * result  # float64; 1.0 * x is x, bit for bit
    add_info(name, result)
    build.values.append(result)
    return result


def _register(build: Build, name: str, value, bounds: dict, frozen: bool = False) -> Hyperparameter:
    key = unique_name(build.prefix + name, build.hyperparams)
    var = Hyperparameter(
        name=key,
        type=pt.TensorType("float64", shape=()),
        value=np.float64(value),
        strict=False,
        argument=name,
        bounds=bounds,
        frozen=frozen,
    )
    build.hyperparams[key] = var
    return var


def hyperparam_off(name: str, value=0.0) -> None:
    """List a hyperparameter whose value switched its term off, for the build in progress.

    A transform calls it instead of :func:`hyperparam` when ``value`` is off
    (:func:`~symupdates.checks.is_off`) and it adds nothing to the graph: the key
    ``name`` still appears in :attr:`Updates.hyperparams`, as a frozen
    :class:`Hyperparameter` whose ``set_value`` refuses any other value.
    """
    _register(current_build(), name, float(value), {}, frozen=True)


def directions_norm(directions):
    """The global L2 norm of ``directions``, for a transform of the build in progress.

    For the raw gradients this is the norm published as ``info["grad_norm"]``, built
    once and shared: with ``skip_nonfinite``, the finiteness check then reuses it
    instead of reading the gradients again. Other directions get
    :func:`~symupdates.global_norm`.
    """
    build = current_build()
    directions = list(directions)
    if len(directions) == len(build.grads) and all(d is g for d, g in zip(directions, build.grads, strict=True)):
        build.grad_norm_used = True
        return build.grad_norm
    return global_norm(directions)
