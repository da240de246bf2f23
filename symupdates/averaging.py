r"""Averages of the parameters, kept inside the compiled step: :func:`ema`, :func:`swa`
and the slow weights of :func:`lookahead`.

Each wraps an optimizer's :class:`~symupdates.Updates` and returns them with more pairs:
after every applied update, from step ``start`` on, the average takes in the new
parameters, exactly as ``torch.optim.swa_utils.AveragedModel.update_parameters`` called
after each ``optimizer.step()``. The averages are named state (saved, reset and restored
with the rest); :func:`swapped` evaluates with them and puts the trained values back.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable

from symupdates.build import building, hyperparam, in_group, new_state, param_names
from symupdates.checks import UNIT, check_count, check_hyperparam
from symupdates.numerics import coef
from symupdates.updates import Updates, merge_updates

__all__ = ["ema", "lookahead", "swa", "swapped"]


def ema(updates, params, decay=0.999, *, start=0) -> Updates:
    r"""Keep an exponential moving average of ``params`` in the compiled step.

    After each applied update from step ``start`` on (:math:`p'` the new parameters,
    :math:`n` the number of averages taken so far):

    .. math::

        \bar p \leftarrow \begin{cases} p' & n = 0 \\
            \bar p + (1-\delta)\,(p' - \bar p) & n > 0 \end{cases}, \qquad n \leftarrow n + 1

    Parameters
    ----------
    updates : Updates
        An optimizer's updates of ``params``.
    params : list of SharedVariable
        The parameters to average; each must be updated by ``updates``.
    decay : float, shared or symbolic scalar, or schedule
        :math:`\delta \in [0, 1]`. Live hyperparameter ``"ema/decay"``; a schedule is
        one of the optimizer's step counter (``updates.step``).
    start : int
        The number of updates applied before the first average (0: from the first).

    Returns
    -------
    Updates
        ``updates`` with the averaging pairs; state ``"{param}/ema/average"`` (the
        average, in the parameter's compute dtype) and ``"ema/n_averaged"``.

    Notes
    -----
    ``AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(δ))`` with
    ``update_parameters(model)`` called after every ``optimizer.step()`` from step
    ``start`` on: the first call copies the parameters. A call that applies no update
    (skipped by ``skip_nonfinite``, or accumulating under :func:`~symupdates.multi_steps`)
    takes no average. No epsilon.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.ema(su.sgd((w ** 2).sum(), [w], learning_rate=0.25), [w], decay=0.5)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); _ = step()  # w: 0.5, then 0.25; the average: 0.5, then 0.375
    >>> updates.state["w/ema/average"].get_value()
    array([0.375])
    """
    check_hyperparam("decay", decay, **UNIT)
    decay = _of_the_step(decay, updates)
    return _average("ema", updates, params, start, lambda n: 1.0 - hyperparam("decay", decay, **UNIT))


def swa(updates, params, *, start=0) -> Updates:
    r"""Keep the equal-weight average of ``params`` (stochastic weight averaging) in the compiled step.

    After each applied update from step ``start`` on (:math:`p'` the new parameters,
    :math:`n` the number of averages taken so far):

    .. math::

        \bar p \leftarrow \bar p + \frac{p' - \bar p}{n + 1}, \qquad n \leftarrow n + 1

    so :math:`\bar p` is the mean of the parameters after updates ``start + 1``, ...
    (the first average is a copy).

    Parameters
    ----------
    updates : Updates
        An optimizer's updates of ``params``.
    params : list of SharedVariable
        The parameters to average; each must be updated by ``updates``.
    start : int
        The number of updates applied before the first average (torch's ``swa_start``).

    Returns
    -------
    Updates
        ``updates`` with the averaging pairs; state ``"{param}/swa/average"`` and
        ``"swa/n_averaged"``.

    Notes
    -----
    ``AveragedModel(model)`` (the default average) with ``update_parameters(model)``
    called after every ``optimizer.step()`` from step ``start`` on. A call that applies
    no update (skipped, or accumulating under :func:`~symupdates.multi_steps`) takes no
    average. No epsilon.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.swa(su.sgd((w ** 2).sum(), [w], learning_rate=0.25), [w], start=1)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> for _ in range(3):
    ...     _ = step()  # w: 0.5, 0.25, 0.125; averaged from the second update on
    >>> updates.state["w/swa/average"].get_value()
    array([0.1875])
    """
    return _average("swa", updates, params, start, lambda n: 1.0 / (n.astype("float64") + 1.0))


def _average(kind, updates, params, start, weight):
    """``updates`` plus the pairs of an average: ``avg + weight(n) * (p' - avg)``, a copy at n = 0."""
    if not isinstance(updates, Updates):
        raise TypeError(f"updates must be an Updates (returned by an optimizer), got {type(updates).__name__}")
    start = check_count("start", start, low=0)
    new_values = _new_values(updates, params)
    with building(list(params), name=kind) as build:
        n = build.step
        with in_group(kind):  # its hyperparameter is "ema/decay"
            w = weight(n)
        active = _and(pt.ge(updates.step, start), _applied(updates))
        pairs = []
        for p in params:
            average = new_state(kind, "average", like=p)
            moved = new_values[id(p)].astype(average.dtype)
            # lt, not eq: PyTensor's PyTorch backend cannot switch tensors on an eq
            taken = pt.switch(pt.lt(n, 1), moved, average + coef(w, average) * (moved - average))
            pairs.append((average, pt.switch(active, taken, average)))
        pairs.append((n, n + active.astype("int64")))
    return merge_updates(updates, _own_updates(build, pairs, f"{kind}/n_averaged"))


@contextlib.contextmanager
def swapped(updates, params) -> Iterator[None]:
    """Evaluate with the averaged parameters, then put the trained values back.

    Inside the block every parameter holds its average (from :func:`ema` or :func:`swa`)
    or its slow weights (:func:`lookahead`);
    on leaving it, even by an exception, each gets its own value back, bit for bit.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.ema(su.sgd((w ** 2).sum(), [w], learning_rate=0.25), [w], decay=0.5)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); _ = step()
    >>> with su.swapped(updates, [w]):
    ...     print(w.get_value())
    [0.375]
    >>> w.get_value()
    array([0.25])
    """
    names = param_names(params)  # the names the wrappers gave the state, unnamed parameters included
    averages = []
    for i, p in enumerate(params):
        found = [
            v
            for k, v in updates.state.items()
            if k.endswith(("/ema/average", "/swa/average", "/lookahead/slow")) and k.split("/")[0] == names[id(p)]
        ]
        if len(found) != 1:
            raise ValueError(
                f"params[{i}] ({names[id(p)]!r}) has {'no' if not found else 'more than one'} average in these updates: "
                f"build them with su.ema(...), su.swa(...) or su.lookahead(...) over it"
            )
        averages.append(found[0])
    kept = [p.get_value() for p in params]
    try:
        for p, average in zip(params, averages, strict=True):
            p.set_value(np.asarray(average.get_value(), dtype=p.dtype))
        yield
    finally:
        for p, value in zip(params, kept, strict=True):
            p.set_value(value)


def lookahead(updates, params, sync_period=5, slow_step_size=0.5) -> Updates:
    r"""Lookahead: every ``sync_period`` updates, pull slow weights toward the fast ones and restart from them.

    The optimizer's updates move the parameters (the fast weights :math:`p`); slow
    weights :math:`s`, starting at the parameters' values when this is built, follow:

    .. math::

        p' = p + \text{update}; \qquad \text{on every } k\text{-th update: } \quad
        s \leftarrow s + \alpha\,(p' - s), \quad p' \leftarrow s

    Parameters
    ----------
    updates : Updates
        An optimizer's updates of ``params`` (the inner, "fast" optimizer).
    params : list of SharedVariable
        The parameters; each must be updated by ``updates``.
    sync_period : int
        :math:`k \ge 1`, the fast updates per synchronization.
    slow_step_size : float, shared or symbolic scalar, or schedule
        :math:`\alpha \in [0, 1]`. Live hyperparameter ``"lookahead/slow_step_size"``; a
        schedule is one of the optimizer's step counter (``updates.step``).

    Returns
    -------
    Updates
        ``updates`` with the parameters' pairs replaced; state ``"{param}/lookahead/slow"``
        (:math:`s`; :meth:`~Updates.reset` puts back the values it started from, so it
        keeps a copy of them) and ``"lookahead/steps"`` (updates since the last
        synchronization).

    Notes
    -----
    ``optax.lookahead(inner, sync_period=k, slow_step_size=α)`` (optax 0.2.8, without
    ``reset_state``), whose ``LookaheadParams`` hold the fast and slow weights: here the
    fast ones are the parameters and the slow ones state. A call that applies no update
    (skipped, or accumulating) is not counted. Evaluate with the slow weights through :func:`swapped`, or
    right after a synchronization, when both are equal. No epsilon.

    References
    ----------
    Zhang, M. R. et al. (2019). Lookahead optimizer: k steps forward, 1 step back. NeurIPS.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.lookahead(su.sgd((w ** 2).sum(), [w], learning_rate=0.25), [w], sync_period=2)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); w.get_value()  # a fast step
    array([0.5])
    >>> _ = step(); w.get_value()  # fast to 0.25, then halfway back to the slow 1.0
    array([0.625])
    """
    if not isinstance(updates, Updates):
        raise TypeError(f"updates must be an Updates (returned by an optimizer), got {type(updates).__name__}")
    sync_period = check_count("sync_period", sync_period)
    check_hyperparam("slow_step_size", slow_step_size, **UNIT)
    new_values = _new_values(updates, params)
    applied = _applied(updates)
    with building(list(params), name="lookahead") as build:
        steps = build.step
        with in_group("lookahead"):
            alpha = hyperparam("slow_step_size", _of_the_step(slow_step_size, updates), **UNIT)
        sync = _and(pt.ge(steps, sync_period - 1), applied)  # a call that applies nothing neither counts nor syncs
        replaced, pairs = {}, []
        for p in params:
            slow = new_state("lookahead", "slow", like=p)
            slow.set_value(np.asarray(p.get_value(), dtype=slow.dtype))
            build.initial[slow.name] = np.array(slow.get_value(), copy=True)
            fast = new_values[id(p)]
            synced = slow + coef(alpha, slow) * (fast.astype(slow.dtype) - slow)
            replaced[id(p)] = pt.switch(sync, synced.astype(p.dtype), fast)
            pairs.append((slow, pt.switch(sync, synced, slow)))
        counted = pt.switch(sync, 0, steps + 1).astype("int64")
        pairs.append((steps, counted if applied is None else pt.switch(applied, counted, steps)))
    own = Updates(
        [(var, replaced.get(id(var), new)) for var, new in updates],
        state=updates.state, step=updates.step, skipped=updates.skipped,
        hyperparams=updates.hyperparams, info=updates.info, initial=updates._initial,
    )
    return merge_updates(own, _own_updates(build, pairs, "lookahead/steps"))


def _own_updates(build, pairs, counter):
    """The wrapper's pairs as an :class:`Updates` of its build's state, the build's step
    counter renamed ``counter`` (it counts what the wrapper counts, not the optimizer's steps)."""
    state, initial = dict(build.state), dict(build.initial)
    step_name = f"{build.name}/step"
    state[counter], initial[counter] = state.pop(step_name), initial.pop(step_name)
    build.step.name = counter
    return Updates(pairs, state=state, step=None, hyperparams=build.hyperparams, info=build.info, initial=initial)


def _of_the_step(value, updates):
    """``value``; a schedule made a function of the optimizer's step counter, as everywhere
    else: the wrapper's own counter counts averages taken, or calls since a synchronization."""
    return (lambda _: value(updates.step)) if callable(value) else value


def _applied(updates):
    """True on the calls that apply an update: not skipped as non-finite, and not only
    accumulating (:func:`~symupdates.multi_steps`)."""
    conditions = [updates.info[key] for key in ("finite", "applied") if key in updates.info]
    return functools.reduce(pt.and_, conditions) if conditions else None


def _and(condition, applied):
    return condition if applied is None else pt.and_(condition, applied)


def _new_values(updates, params):
    """``{id(param): its new value in updates}``, or a clear error."""
    if isinstance(params, SharedVariable) or not isinstance(params, list | tuple):
        raise TypeError(f"params must be a list of the parameters, got {params!r}")
    new_values = {id(var): new for var, new in updates}
    for i, p in enumerate(params):
        if id(p) not in new_values:
            raise ValueError(f"params[{i}] ({getattr(p, 'name', p)!r}) is not updated by these updates: give what the optimizer trains")
    return new_values
