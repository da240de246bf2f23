"""Gradient clipping: one global norm over all gradients, per-tensor norms, values."""

from __future__ import annotations

import pytensor.tensor as pt

from symupdates.build import add_info, directions_norm, hyperparam
from symupdates.checks import POSITIVE, check_hyperparam
from symupdates.numerics import coef, scaled, sum_of_squares

__all__ = ["clip_by_global_norm", "clip_by_norm", "clip_by_value"]

#: Added to the norm before dividing, as ``torch.nn.utils.clip_grad_norm_`` does.
CLIP_EPSILON = 1e-6


def clip_by_global_norm(clip_norm):
    r"""Rescale all directions together so their global L2 norm is at most ``clip_norm``.

    .. math::

        n = \sqrt{\textstyle\sum_i \lVert g_i \rVert_2^2}, \qquad
        g_i \leftarrow g_i \cdot \min\!\left(1, \frac{c}{n + 10^{-6}}\right)

    Parameters
    ----------
    clip_norm : float, shared or symbolic scalar, or schedule
        :math:`c > 0`, the largest global norm allowed. Live hyperparameter
        ``"clip_norm"``.

    Returns
    -------
    Transform
        Publishes ``info["clip_scale"]``, the factor applied (1 when no clipping happened).

    Notes
    -----
    Exactly ``torch.nn.utils.clip_grad_norm_(params, c)``: the :math:`10^{-6}` is added to
    the norm, and the factor is applied even when it is 1. Place it first in a chain so
    it acts on the raw gradients, before weight decay and the rule, as torch does when
    ``clip_grad_norm_`` precedes ``optimizer.step()``.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    >>> updates = su.get_updates(su.chain(su.clip_by_global_norm(1.0), su.scale_by_learning_rate(1.0)), [w * 1.0], [w])
    >>> f = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = f()
    >>> w.get_value().round(6)
    array([2.4, 3.2])
    """
    check_hyperparam("clip_norm", clip_norm, **POSITIVE)

    def update(directions, params):
        c = hyperparam("clip_norm", clip_norm, **POSITIVE)
        norm = directions_norm(directions)
        scale = pt.minimum(1.0, c / (norm.astype("float64") + CLIP_EPSILON))
        add_info("clip_scale", scale)
        return [scaled(d, scale) for d in directions], []

    return update


def clip_by_norm(max_norm):
    r"""Rescale each direction separately so its own L2 norm is at most ``max_norm``.

    .. math:: g_i \leftarrow g_i \cdot \min\!\left(1, \frac{c}{\lVert g_i \rVert_2 + 10^{-6}}\right)

    Parameters
    ----------
    max_norm : float, shared or symbolic scalar, or schedule
        :math:`c > 0`. Live hyperparameter ``"max_norm"``.

    See Also
    --------
    clip_by_global_norm : one norm over all tensors (what torch's ``clip_grad_norm_`` does).

    Examples
    --------
    >>> import symupdates as su
    >>> per_tensor = su.clip_by_norm(1.0)
    """
    check_hyperparam("max_norm", max_norm, **POSITIVE)

    def update(directions, params):
        c = hyperparam("max_norm", max_norm, **POSITIVE)
        out = []
        for d in directions:
            scale = pt.minimum(1.0, c / (pt.sqrt(sum_of_squares(d)).astype("float64") + CLIP_EPSILON))
            out.append(scaled(d, scale))
        return out, []

    return update


def clip_by_value(min_value, max_value):
    r"""Clip every element of every direction into ``[min_value, max_value]``.

    .. math:: g \leftarrow \min(\max(g, a), b)

    Exactly ``torch.nn.utils.clip_grad_value_`` when ``a = -b``.

    Parameters
    ----------
    min_value, max_value : float, shared or symbolic scalar, or schedule
        :math:`a \le b`. Live hyperparameters ``"min_value"``, ``"max_value"``.

    Examples
    --------
    >>> import symupdates as su
    >>> clip = su.clip_by_value(-1.0, 1.0)
    """
    check_hyperparam("min_value", min_value)
    check_hyperparam("max_value", max_value)
    if isinstance(min_value, int | float) and isinstance(max_value, int | float) and min_value > max_value:
        raise ValueError(f"min_value ({min_value}) must not exceed max_value ({max_value})")

    def update(directions, params):
        lo = hyperparam("min_value", min_value)
        hi = hyperparam("max_value", max_value)
        return [pt.clip(d, coef(lo, d), coef(hi, d)) for d in directions], []

    return update
