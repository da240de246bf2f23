r"""Symbolic training diagnostics to compute in the training step itself.

Every function here returns symbolic scalars to add to the ``outputs`` of the same
``pytensor.function`` that applies the updates, so a diagnostic costs one reduction over
tensors the step computes anyway, and no second pass over the data:

=======================  =====================================================================
name                     value
=======================  =====================================================================
``grad_norm``            :math:`\lVert g \rVert_2` over all gradients (``grad_norm/W1`` per tensor)
``param_norm``           :math:`\lVert p \rVert_2` before the step (``param_norm/W1`` per tensor)
``update_norm``          :math:`\lVert \Delta p \rVert_2`, :math:`\Delta p = p_\text{new} - p` (``update_norm/W1``)
``update_ratio``         :math:`\lVert \Delta p \rVert_2 / \lVert p \rVert_2` (``update_ratio/W1``); healthy near :math:`10^{-3}`
``nonfinite_grads``      the number of NaN/±Inf entries in the gradients
``nonfinite_updates``    the number of NaN/±Inf entries in the new parameter values
=======================  =====================================================================

:func:`standard` returns the global values and, with ``per_param=True``, the per-tensor
ones. The step :math:`\Delta p` is taken from the ``(param, new_value)`` pairs of the updates
(``new_value - param``, symbolically), so it is exactly what the call applies, whatever
the rule, clipping or skipping did. Norms are computed in each tensor's own dtype.

Cost: PyTensor merges identical subgraphs when it compiles, and every norm here uses the
squared sums of :func:`~symupdates.numerics.sum_of_squares`, as
:func:`~symupdates.global_norm` does. So the gradient norms share the reductions of the
optimizer's ``Updates.info["grad_norm"]`` (pass the same gradient expressions, or
``pytensor.grad`` of the same cost), global and per-tensor norms share one reduction per
tensor, and the steps reuse the update expressions. What the standard set adds to a step
is one squared sum per parameter, one subtraction and squared sum per step, and two
counting passes (gradients and new values); no second forward or backward pass.

>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> import symupdates as su
>>> from symupdates import monitor
>>> w = pytensor.shared(np.array([3.0, 4.0]), name="w")
>>> cost = (w ** 2).sum()
>>> updates = su.sgd(cost, [w], learning_rate=0.01)
>>> diag = monitor.standard(updates, [w], grads=pytensor.grad(cost, [w]))
>>> step = pytensor.function([], list(diag.values()), updates=updates, mode="FAST_COMPILE")
>>> {k: round(float(v), 6) for k, v in zip(diag, step())}["update_ratio"]
0.02
"""

from __future__ import annotations

from collections.abc import Sequence

import math

import numpy as np
import pytensor.tensor as pt

from symupdates.base import check_params
from symupdates.build import param_names
from symupdates.checks import check_flag
from symupdates.numerics import global_norm, isfinite, sum_of_squares

__all__ = [
    "Snapshot",
    "count_nonfinite",
    "grad_norms",
    "param_norms",
    "standard",
    "update_norms",
    "update_ratios",
    "update_steps",
]


def _norm(x):
    """:math:`\\lVert x \\rVert_2`, with the same squared sum :func:`~symupdates.global_norm` builds,
    so the per-tensor and global norms share one reduction per tensor."""
    return pt.sqrt(sum_of_squares(x))


def _names(params) -> list[str]:
    names = param_names(params)
    return [names[id(p)] for p in params]


def _ratio(numerator, denominator):
    """``numerator / denominator`` with ``0 / 0 = 0`` and ``x / 0 = inf`` for ``x > 0``."""
    inf = np.asarray(np.inf, dtype=numerator.dtype)
    zero = np.asarray(0, dtype=numerator.dtype)
    safe = pt.switch(denominator > 0, denominator, 1)
    return pt.switch(denominator > 0, numerator / safe, pt.switch(numerator > 0, inf, zero))


def _check_grads(grads, params) -> list:
    if isinstance(grads, pt.TensorVariable) or not isinstance(grads, Sequence) or isinstance(grads, str):
        raise TypeError(
            f"grads must be a list of gradient expressions, one per parameter (pytensor.grad(cost, params)), "
            f"got {type(grads).__name__}"
        )
    grads = [pt.as_tensor_variable(g) for g in grads]
    if len(grads) != len(params):
        raise ValueError(f"grads has {len(grads)} expressions but params has {len(params)}; give one per parameter")
    for i, (g, p) in enumerate(zip(grads, params, strict=True)):
        if g.type.ndim != p.type.ndim:
            raise ValueError(f"grads[{i}] has {g.type.ndim} dimensions but params[{i}] ({p.name}) has {p.type.ndim}")
    return grads


def _new_values(updates, params) -> list:
    """The new value of each parameter, from the ``(shared_variable, new_expression)`` pairs."""
    try:
        new_values = {id(var): new for var, new in updates}
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"updates must be a list of (shared_variable, new_expression) pairs, as returned by an optimizer; "
            f"got {type(updates).__name__}"
        ) from err
    out = []
    for name, p in zip(_names(params), params, strict=True):
        if id(p) not in new_values:
            raise ValueError(f"updates has no pair for the parameter {name}; pass the params the updates were built for")
        new = pt.as_tensor_variable(new_values[id(p)])
        out.append(new if new.dtype == p.dtype else new.astype(p.dtype))
    return out


def grad_norms(grads, params) -> dict:
    r"""The global and per-tensor L2 norms of the gradients.

    .. math::

        \texttt{grad\_norm} = \sqrt{\textstyle\sum_i \lVert g_i \rVert_2^2}, \qquad
        \texttt{grad\_norm/}p_i = \lVert g_i \rVert_2

    Parameters
    ----------
    grads : list of Variable
        One gradient expression per parameter; pass the ones the optimizer used (or
        ``pytensor.grad`` of the same cost) so the compiled graph shares them.
    params : list of SharedVariable
        The parameters, for the names.

    Returns
    -------
    dict[str, Variable]
        ``{"grad_norm": ..., "grad_norm/W1": ..., ...}``.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> from symupdates import monitor
    >>> a = pytensor.shared(np.array([3.0]), name="a"); b = pytensor.shared(np.array([4.0]), name="b")
    >>> norms = monitor.grad_norms([a * 1.0, b * 1.0], [a, b])
    >>> {k: float(v.eval(mode="FAST_COMPILE")) for k, v in norms.items()}
    {'grad_norm': 5.0, 'grad_norm/a': 3.0, 'grad_norm/b': 4.0}
    """
    params = check_params(params)
    grads = _check_grads(grads, params)
    out = {"grad_norm": global_norm(grads)}
    out.update({f"grad_norm/{n}": _norm(g) for n, g in zip(_names(params), grads, strict=True)})
    return out


def param_norms(params) -> dict:
    r"""The global and per-tensor L2 norms of the parameters (their values before the step).

    Returns
    -------
    dict[str, Variable]
        ``{"param_norm": ..., "param_norm/W1": ..., ...}``.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> from symupdates import monitor
    >>> w = pytensor.shared(np.array([[3.0, 4.0]]), name="w")
    >>> {k: float(v.eval(mode="FAST_COMPILE")) for k, v in monitor.param_norms([w]).items()}
    {'param_norm': 5.0, 'param_norm/w': 5.0}
    """
    params = check_params(params)
    out = {"param_norm": global_norm(params)}
    out.update({f"param_norm/{n}": _norm(p) for n, p in zip(_names(params), params, strict=True)})
    return out


def update_steps(updates, params) -> list:
    r"""The symbolic step :math:`\Delta p = p_\text{new} - p` of each parameter.

    Parameters
    ----------
    updates : list of (SharedVariable, Variable)
        The pairs given to ``pytensor.function`` (an :class:`~symupdates.Updates` or any
        list of pairs); state pairs are ignored.
    params : list of SharedVariable
        The parameters whose steps to return; each must have a pair in ``updates``.

    Returns
    -------
    list of Variable
        One step per parameter, in the parameter's dtype.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> from symupdates import monitor
    >>> w = pytensor.shared(np.array([1.0, 2.0]), name="w")
    >>> [step] = monitor.update_steps([(w, 0.5 * w)], [w])
    >>> step.eval(mode="FAST_COMPILE")
    array([-0.5, -1. ])
    """
    params = check_params(params)
    return [new - p for new, p in zip(_new_values(updates, params), params, strict=True)]


def update_norms(updates, params) -> dict:
    r"""The global and per-tensor L2 norms of the steps :math:`\Delta p = p_\text{new} - p`.

    Returns
    -------
    dict[str, Variable]
        ``{"update_norm": ..., "update_norm/W1": ..., ...}``.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> from symupdates import monitor
    >>> w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    >>> round(float(monitor.update_norms([(w, 0.9 * w)], [w])["update_norm"].eval(mode="FAST_COMPILE")), 12)
    0.5
    """
    steps = update_steps(updates, params)
    out = {"update_norm": global_norm(steps)}
    out.update({f"update_norm/{n}": _norm(s) for n, s in zip(_names(params), steps, strict=True)})
    return out


def update_ratios(updates, params) -> dict:
    r"""How far a step moves the parameters relative to their size.

    .. math::

        \texttt{update\_ratio} = \frac{\lVert \Delta p \rVert_2}{\lVert p \rVert_2}
        \qquad(\text{all tensors together, and per tensor as } \texttt{update\_ratio/}p_i)

    With a sensible learning rate this stays near :math:`10^{-3}`: much larger and the
    parameters are thrashed, much smaller and they barely move.

    Returns
    -------
    dict[str, Variable]
        ``{"update_ratio": ..., "update_ratio/W1": ..., ...}``.

    Notes
    -----
    A tensor that is all zeros (biases before the first step) has ratio ``inf`` when it
    moves and ``0`` when it does not; the global ratio is finite as soon as any
    parameter is non-zero.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> from symupdates import monitor
    >>> w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    >>> b = pytensor.shared(np.zeros(2), name="b")
    >>> ratios = monitor.update_ratios([(w, 0.999 * w), (b, b + 1.0)], [w, b])
    >>> {k: round(float(v.eval(mode="FAST_COMPILE")), 6) for k, v in ratios.items()}
    {'update_ratio': 0.282844, 'update_ratio/w': 0.001, 'update_ratio/b': inf}
    """
    steps = update_steps(updates, params)
    out = {"update_ratio": _ratio(global_norm(steps), global_norm(params))}
    for n, s, p in zip(_names(params), steps, params, strict=True):
        out[f"update_ratio/{n}"] = _ratio(_norm(s), _norm(p))
    return out


def count_nonfinite(tensors):
    r"""The number of NaN and ±Inf entries in all tensors, an int64 scalar.

    .. math::

        \sum_i \#\{\, j : x_{ij} \notin \mathbb{R} \,\}

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from symupdates import monitor
    >>> x = pt.as_tensor(np.array([1.0, np.nan, np.inf])); y = pt.as_tensor(np.array([-np.inf]))
    >>> int(monitor.count_nonfinite([x, y]).eval(mode="FAST_COMPILE"))
    3
    """
    tensors = [pt.as_tensor_variable(t) for t in tensors]
    if not tensors:
        raise ValueError("count_nonfinite needs at least one tensor")
    counts = [pt.sum(pt.invert(isfinite(t)), dtype="int64") for t in tensors]
    return pt.add(*counts) if len(counts) > 1 else counts[0]


def standard(updates, params, grads=None, *, per_param=False) -> dict:
    r"""The standard diagnostics of a training step, by name.

    Parameters
    ----------
    updates : list of (SharedVariable, Variable)
        The optimizer's :class:`~symupdates.Updates` (or any list of pairs).
    params : list of SharedVariable
        The parameters to watch; each needs a pair in ``updates``.
    grads : list of Variable, optional
        The gradients the updates were built from. Without them ``grad_norm`` is taken
        from ``updates.info`` when the updates carry it (the optimizer's own, pre-clipping
        norm), and ``nonfinite_grads`` and the per-tensor gradient norms are left out.
    per_param : bool
        Also return the per-tensor values (``grad_norm/W1``, ``param_norm/W1``,
        ``update_norm/W1``, ``update_ratio/W1``, ...). They share the global norms'
        reductions, so what they add is mostly the cost of returning more outputs.

    Returns
    -------
    dict[str, Variable]
        ``grad_norm``, ``param_norm``, ``update_norm``, ``update_ratio``,
        ``nonfinite_grads`` and ``nonfinite_updates`` (see the module's table), in that
        order, then the per-tensor values when asked for; add ``list(d.values())`` to
        the compiled function's outputs.

    See Also
    --------
    grad_norms, param_norms, update_norms, update_ratios, count_nonfinite

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> from symupdates import monitor
    >>> rng = np.random.default_rng(0)
    >>> W = pytensor.shared(rng.normal(size=(4, 3)), name="W")
    >>> b = pytensor.shared(np.zeros(3), name="b")
    >>> X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
    >>> log_p = pt.special.log_softmax(X @ W + b, axis=1)
    >>> cost = -log_p[pt.arange(y.shape[0]), y].mean()
    >>> grads = pytensor.grad(cost, [W, b])
    >>> updates = su.adam(grads, [W, b], learning_rate=1e-3)
    >>> diag = monitor.standard(updates, [W, b], grads)
    >>> list(diag)
    ['grad_norm', 'param_norm', 'update_norm', 'update_ratio', 'nonfinite_grads', 'nonfinite_updates']
    >>> step = pytensor.function([X, y], [cost, *diag.values()], updates=updates, mode="FAST_COMPILE")
    >>> out = dict(zip(["cost", *diag], step(rng.normal(size=(16, 4)), rng.integers(0, 3, 16))))
    >>> int(out["nonfinite_grads"]), 1e-4 < float(out["update_ratio"]) < 1e-2
    (0, True)
    """
    params = check_params(params)
    per_param = check_flag("per_param", per_param)
    parts = {}
    if grads is not None:
        grads = _check_grads(grads, params)
        parts.update(grad_norms(grads, params))
    elif "grad_norm" in getattr(updates, "info", {}):
        parts["grad_norm"] = updates.info["grad_norm"]
    parts.update(param_norms(params))
    parts.update(update_norms(updates, params))
    parts.update(update_ratios(updates, params))
    if grads is not None:
        parts["nonfinite_grads"] = count_nonfinite(grads)
    parts["nonfinite_updates"] = count_nonfinite(_new_values(updates, params))
    out = {k: v for k, v in parts.items() if "/" not in k}
    if per_param:
        out.update({k: v for k, v in parts.items() if "/" in k})
    return out


def _host_ratio(numerator: float, denominator: float) -> float:
    """:func:`_ratio` on Python floats: ``0 / 0 = 0`` and ``x / 0 = inf`` for ``x > 0``."""
    if denominator > 0:
        return numerator / denominator
    return math.inf if numerator > 0 else 0.0


def _count_nonfinite(array) -> int:
    return int(array.size - np.count_nonzero(np.isfinite(array)))


class Snapshot:
    r"""The parameters' values before a step, to diagnose the step on the host after it.

    The symbolic monitors of this module cost a little on *every* call of the step they
    are compiled into (:func:`standard` adds about 10% to a small MLP's step under Numba).
    To watch a run every ``k``-th step instead, compile the step without them and, on the
    steps to watch, take a snapshot before the call and :meth:`compare` after it: the other
    steps cost nothing, and nothing is compiled twice. :func:`symupdates.lab.fit` does this
    for its ``monitor_every``.

    The values match the symbolic ones of the same names (see the module's table):

    .. math::

        \texttt{param\_norm} = \lVert p \rVert_2, \quad
        \texttt{update\_norm} = \lVert p_\text{new} - p \rVert_2, \quad
        \texttt{update\_ratio} = \frac{\texttt{update\_norm}}{\texttt{param\_norm}}

    where :math:`p` is the snapshot and :math:`p_\text{new}` the value when :meth:`compare`
    is called; ``nonfinite_updates`` counts the NaN/±Inf entries of :math:`p_\text{new}`.

    Parameters
    ----------
    params : list of SharedVariable
        The parameters to watch; their values are copied now.

    Notes
    -----
    Each tensor's squared sums are taken in its own dtype, as the symbolic norms are, and
    added across tensors in float64; so a float32 model's global norms can differ from
    the symbolic ones in the last digits. Taking a snapshot copies the parameters once
    (the optimizer's state is not copied), and :meth:`compare` makes about three passes
    over them in NumPy: for the 270,000 float32 parameters of a 784-256-256-10 MLP, about
    a tenth of a millisecond each (``python benchmarks/run.py --only W1`` measures what a
    cadence costs, in its group ``adam, monitors every k steps``).

    See Also
    --------
    standard, update_ratios, symupdates.lab.fit

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> from symupdates import monitor
    >>> w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    >>> step = pytensor.function([], [], updates=su.sgd((w ** 2).sum(), [w], learning_rate=0.01),
    ...                          mode="FAST_COMPILE")
    >>> for i in range(1, 7):
    ...     snapshot = monitor.Snapshot([w]) if i % 3 == 0 else None
    ...     _ = step()
    ...     if snapshot is not None:
    ...         print(i, {k: round(v, 6) for k, v in snapshot.compare().items()})
    3 {'param_norm': 4.802, 'update_norm': 0.09604, 'update_ratio': 0.02, 'nonfinite_updates': 0}
    6 {'param_norm': 4.519604, 'update_norm': 0.090392, 'update_ratio': 0.02, 'nonfinite_updates': 0}
    """

    def __init__(self, params):
        self.params = check_params(params)
        self.names = _names(self.params)
        self.values = [np.array(p.get_value(borrow=True), copy=True) for p in self.params]

    def __repr__(self) -> str:
        return f"Snapshot({', '.join(self.names)})"

    def compare(self, *, per_param=False) -> dict:
        """The step's diagnostics: ``param_norm``, ``update_norm``, ``update_ratio`` and
        ``nonfinite_updates``, then with ``per_param=True`` the per-tensor norms and
        ratios (``param_norm/W1``, ``update_norm/W1``, ``update_ratio/W1``, ...).

        Returns
        -------
        dict[str, float or int]
        """
        check_flag("per_param", per_param)
        per_tensor, param_sq, step_sq, nonfinite = {}, 0.0, 0.0, 0
        for name, p, before in zip(self.names, self.params, self.values, strict=True):
            after = np.asarray(p.get_value(borrow=True))
            with np.errstate(over="ignore", invalid="ignore"):  # inf and NaN are results here, as in the graph
                flat = before.ravel()
                p_sq = float(np.dot(flat, flat))
                step = np.subtract(after.ravel(), flat, out=np.empty_like(flat))
                s_sq = float(np.dot(step, step))
                # finite squared sums of p and of the step mean a finite p_new: no counting pass
                if not (math.isfinite(p_sq) and math.isfinite(s_sq)):
                    nonfinite += _count_nonfinite(after)
            param_sq, step_sq = param_sq + p_sq, step_sq + s_sq
            if per_param:
                p_norm, s_norm = math.sqrt(p_sq), math.sqrt(s_sq)
                per_tensor[f"param_norm/{name}"] = p_norm
                per_tensor[f"update_norm/{name}"] = s_norm
                per_tensor[f"update_ratio/{name}"] = _host_ratio(s_norm, p_norm)
        param_norm, update_norm = math.sqrt(param_sq), math.sqrt(step_sq)
        out = {
            "param_norm": param_norm,
            "update_norm": update_norm,
            "update_ratio": _host_ratio(update_norm, param_norm),
            "nonfinite_updates": nonfinite,
        }
        out.update(per_tensor)
        return out
