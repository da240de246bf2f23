"""Non-finite steps: the :func:`skip_nonfinite` transform and the host-side :class:`NonFiniteGuard`.

With ``skip_nonfinite`` a call whose cost, gradients or hyperparameters hold a NaN or
±Inf changes nothing: :func:`~symupdates.get_updates` wraps every pair in
``switch(finite, new, old)`` with the condition :func:`finite_condition` builds.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from symupdates.build import Transform, current_build, new_state
from symupdates.checks import check_count
from symupdates.numerics import FLOAT_DTYPES, all_finite, all_true, isfinite
from symupdates.updates import Updates

__all__ = ["NonFiniteGuard", "finite_condition", "guard_nonfinite", "skip_nonfinite"]


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
    FloatingPointError: 2 calls in a row were skipped because the cost, a gradient or a hyperparameter was NaN or ±Inf (counter 'sgd/skipped', max_consecutive=2); look for the cause (bad data, a too large learning rate) before going on
    """

    def __init__(self, updates, max_consecutive: int = 10):
        if not isinstance(updates, Updates):
            raise TypeError(f"updates must be an Updates (returned by an optimizer), got {type(updates).__name__}")
        if updates.skipped is None or updates.step is None:
            raise ValueError(
                "updates has no skip counter: build it with skip_nonfinite=True (or a skip_nonfinite() transform)"
            )
        max_consecutive = check_count("max_consecutive", max_consecutive)
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
                f"{self.consecutive} calls in a row were skipped because the cost, a gradient or a hyperparameter was NaN or "
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


def guard_nonfinite(tensors) -> None:
    """Make the build in progress skip every call where ``tensors`` or the cost is not finite.

    Installs the skip counter ``"{name}/skipped"`` on first use; several guards combine
    (the call is skipped when any of them sees a NaN or ±Inf). The condition itself is
    built by :func:`finite_condition` once the whole transform has run.
    """
    build = current_build()
    if build.skipped is None:
        build.skipped = new_state(build.name, "skipped", value=0, dtype="int64")
    build.guarded.append(list(tensors))


def finite_condition(build):
    """True when the call may be applied: cost, guarded directions and hyperparameters finite.

    The raw gradients are checked through their global norm when a transform (global
    norm clipping) computes it anyway, so the check costs no extra pass over them; else
    each guarded tensor gets one reduction (:func:`~symupdates.numerics.all_finite`).
    """
    checks = []
    for tensors in build.guarded:
        raw = len(tensors) == len(build.grads) and all(t is g for t, g in zip(tensors, build.grads, strict=True))
        checks.append(isfinite(build.grad_norm) if raw and build.grad_norm_used else all_finite(tensors))
    if build.cost is not None:
        checks.append(isfinite(build.cost))
    checks.extend(isfinite(v) for v in build.values if v.dtype in FLOAT_DTYPES)
    return all_true(checks)


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
        guard_nonfinite(directions)
        return directions, []

    return update
