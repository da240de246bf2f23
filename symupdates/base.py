"""``chain`` and ``get_updates``: from transforms and a cost to the pairs ``pytensor.function`` takes.

A *transform* is a function ``(directions, params) -> (directions, state_updates)``.
``directions`` are the amounts that will be **added** to the parameters (so a descent
rule ends with a negative learning rate), ``state_updates`` is a list of
``(shared_variable, new_expression)`` pairs for the transform's own state.
:func:`get_updates` is the one place that turns directions into ``(param, param +
direction)`` pairs; what a transform may call while it runs is in
:mod:`symupdates.build`.
"""

from __future__ import annotations

import contextlib
import contextvars
import gc
import linecache
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence

import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Variable

from symupdates.build import Transform, building
from symupdates.checks import check_flag
from symupdates.nonfinite import finite_condition, guard_nonfinite
from symupdates.numerics import FLOAT_DTYPES, all_true, compute_dtype
from symupdates.updates import Updates, check_unique_targets

__all__ = ["captured", "chain", "check_params", "get_grads", "get_updates"]

#: While :func:`captured` runs a rule, :func:`get_updates` records its arguments here.
_CAPTURE: contextvars.ContextVar[list | None] = contextvars.ContextVar("symupdates_capture", default=None)

try:  # PyTensor 3
    from pytensor.graph.traversal import ancestors as _ancestors
except ImportError:  # PyTensor 2.38 (PyMC 5)
    from pytensor.graph.basic import ancestors as _ancestors

#: This package's directory: its frames are left out of the traces nodes carry.
_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep


def _caller_trace(limit):
    """The stack of whoever called into symupdates, as PyTensor's ``tag.trace`` holds it:
    ``(file, line, function, source)`` from the outermost frame in, at most ``limit``
    frames (``-1``: all), the inner frames of this package (and of ``contextlib``) left out."""
    trace = []
    frame = sys._getframe(1)
    while frame is not None and (frame.f_code.co_filename.startswith(_PACKAGE) or frame.f_code.co_filename == contextlib.__file__):
        frame = frame.f_back
    while frame is not None and (limit < 0 or len(trace) < limit):
        code = frame.f_code
        source = linecache.getline(code.co_filename, frame.f_lineno, frame.f_globals).strip()
        trace.append((code.co_filename, frame.f_lineno, code.co_name, source or None))
        frame = frame.f_back
    trace.reverse()
    return trace


@contextlib.contextmanager
def _without_cyclic_gc() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a graph is built.

    Building the updates of hundreds of tensors makes hundreds of thousands of objects
    that all stay alive; each full collection the collector starts meanwhile walks all of
    them and finds nothing to free (a quarter of the build time for 1,000 tensors).
    Objects freed by reference counting are freed as usual; the collector is switched
    back on (if it was on) however the build ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@contextlib.contextmanager
def _traced_to_caller(stamped: list) -> Iterator[None]:
    """Build a graph whose new variables carry their caller's stack, extracted once.

    PyTensor gives every variable it makes the stack where it was made (``tag.trace``,
    shown in its error messages), walking the stack each time: with a model of hundreds
    of parameter tensors that walk was about half of the time spent building Adam's
    updates. Inside this block PyTensor records no stack; on leaving, every variable
    between the graph's inputs and the variables in ``stamped`` (filled in by the
    caller before the block ends) that has no trace gets the caller's: the line of the
    user's code that asked for the updates, which is what an error message should point
    at. With PyTensor's ``traceback__limit=0`` (no traces) or a
    ``traceback__compile_limit`` (full traces wanted), PyTensor is left alone.
    """
    config = pytensor.config
    if config.traceback__limit == 0 or getattr(config, "traceback__compile_limit", 0) > 0:
        yield
        return
    trace = _caller_trace(config.traceback__limit)
    with config.change_flags(traceback__limit=0):
        yield
    for var in _ancestors([v for v in stamped if isinstance(v, Variable)]):
        if getattr(var.tag, "trace", None) == []:
            var.tag.trace = [trace]


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


def check_params(params) -> list:
    """Validate the parameters: a non-empty iterable (a list, a generator such as a model's
    ``parameters()``) of distinct float shared variables; returns them as a list."""
    if isinstance(params, SharedVariable | str | bytes | Mapping) or not isinstance(params, Iterable):
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


def captured(rule, loss_or_grads, params):
    """What ``rule(loss_or_grads, params)`` would build, without building it.

    Runs the rule with :func:`get_updates` recording its arguments instead of building;
    wrappers use it to put a transform in front of a named rule's chain
    (:func:`~symupdates.multi_steps`) or to build one chain per parameter group.

    Returns
    -------
    tuple
        ``(name, transform, params, skip_nonfinite)``: the arguments the rule gave
        :func:`get_updates` (``params`` in the rule's order, groups concatenated).

    Raises
    ------
    TypeError
        When ``rule`` does not build updates exactly once through :func:`get_updates`.
    """
    capture = []
    token = _CAPTURE.set(capture)
    try:
        rule(loss_or_grads, params)
    finally:
        _CAPTURE.reset(token)
    if len(capture) != 1:
        raise TypeError(
            f"expected a symupdates rule with its hyperparameters, such as su.adam(learning_rate=1e-3), "
            f"which builds its updates once; {rule!r} built {len(capture)} times"
        )
    return capture[0]


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
    skip_nonfinite = check_flag("skip_nonfinite", skip_nonfinite)
    capture = _CAPTURE.get()
    if capture is not None:  # captured(): record what would be built, build nothing
        capture.append((name, transform, list(params), skip_nonfinite))
        return None
    params = check_params(params)
    stamped: list = []
    with _without_cyclic_gc(), _traced_to_caller(stamped):
        updates = _build_updates(transform, loss_or_grads, params, name, skip_nonfinite)
        stamped += [new for _, new in updates] + list(updates.info.values())
    return updates


def _build_updates(transform, loss_or_grads, params, name, skip_nonfinite) -> Updates:
    """The body of :func:`get_updates`, after its arguments are checked."""
    grads, cost = get_grads(loss_or_grads, params)
    grads = [g.astype(compute_dtype(p)) if g.dtype != compute_dtype(p) else g for g, p in zip(grads, params, strict=True)]
    with building(params, grads, cost=cost, name=name) as build:
        if skip_nonfinite:
            guard_nonfinite(grads)
        directions, state_updates = transform(grads, params)
    step = build.step
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
    if build.gates:  # apply_only_when: all but the always-updated state keep their values
        applied = all_true(build.gates)
        pairs = [(var, new if id(var) in build.always else pt.switch(applied, new, var)) for var, new in pairs]
        build.info["applied"] = applied
    if build.guarded:  # all or nothing: every pair keeps its value on a bad call
        finite = finite_condition(build)
        pairs = [(var, pt.switch(finite, new, var)) for var, new in pairs]
        pairs.append((build.skipped, build.skipped + pt.switch(finite, 0, 1).astype("int64")))
        build.info["finite"] = finite
    check_unique_targets([pairs], "the transform's updates")
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
