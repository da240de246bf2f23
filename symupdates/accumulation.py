r"""Gradient accumulation for the named rules: :func:`multi_steps`.

The transform itself, for chains of your own, is :func:`~symupdates.accumulate_gradients`.
"""

from __future__ import annotations

from symupdates.base import captured, chain, get_updates
from symupdates.checks import check_count
from symupdates.transforms import accumulate_gradients

__all__ = ["multi_steps"]


def multi_steps(rule, every):
    r"""Gradient accumulation for a named rule: an update every ``every`` calls, from their mean gradient.

    Returns a callable of ``(loss_or_grads, params)``, like a rule called with its
    hyperparameters only: the rule's chain behind
    :func:`~symupdates.accumulate_gradients` (``every``), so clipping and the rule act on
    the mean of the calls' gradients, and the update (parameters, state, step counter)
    is applied on every ``every``-th call; ``info["applied"]`` says when.

    .. math::

        a \leftarrow a + \frac{g - a}{n + 1}; \quad
        \text{on every } k\text{-th call: } p \leftarrow p + \mathrm{rule}(a),\ a \leftarrow 0

    Parameters
    ----------
    rule : callable
        A rule with its hyperparameters, ``su.adam(learning_rate=1e-3)`` (or a
        ``functools.partial`` of one); parameter groups work as with the rule itself.
    every : int
        :math:`k \ge 1`, the calls (micro-batches) per update.

    Notes
    -----
    ``optax.MultiSteps(inner, every_k_schedule=k, accumulator_dtype=...)`` with the
    accumulator in the parameters' compute dtype (optax's default is float32 whatever the
    parameters). With a mean loss over micro-batches of equal size, ``k`` calls give the
    parameters one call on the whole batch gives (to rounding:
    ``tests/core/test_accumulation.py`` checks 1e-12 in float64). No epsilon.

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> x = pt.dvector("x")
    >>> updates = su.multi_steps(su.sgd(learning_rate=0.5), every=2)(((w - x) ** 2).mean(), [w])
    >>> step = pytensor.function([x], updates.info["applied"], updates=updates, mode="FAST_COMPILE")
    >>> bool(step([0.0])), w.get_value()  # accumulated, not applied
    (False, array([1.]))
    >>> bool(step([2.0])), w.get_value()  # the mean gradient of both calls is 0
    (True, array([1.]))
    """
    every = check_count("every", every)
    if not callable(rule):
        raise TypeError(f"rule must be a rule with its hyperparameters, such as su.adam(learning_rate=1e-3), got {rule!r}")

    def accumulated(loss_or_grads, params):
        name, transform, members, skip = captured(rule, loss_or_grads, params)
        return get_updates(chain(accumulate_gradients(every), transform), loss_or_grads, members, name=name, skip_nonfinite=skip)

    return accumulated
