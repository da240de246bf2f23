r"""``ReduceLROnPlateau``: lower a live learning rate on the host when a metric stops improving."""

from __future__ import annotations

import math

import numpy as np
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable

from symupdates.checks import check_count, check_real
from symupdates.numerics import FLOAT_DTYPES
from symupdates.updates import Updates

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau:
    r"""Lower a shared learning rate when a metric stops improving, as torch's ``ReduceLROnPlateau``.

    A host-side controller: call :meth:`step` with a metric (usually once per epoch,
    with the validation loss); after more than ``patience`` calls without improvement it
    multiplies the learning rate by ``factor`` with ``set_value``. The compiled training
    function is untouched and uses the new value at its next call.

    A metric :math:`a` improves on the best so far :math:`a^*` when

    ====  =====================================  ==================================
    mode  ``threshold_mode="rel"``               ``threshold_mode="abs"``
    ====  =====================================  ==================================
    min   :math:`a < a^*(1 - \text{threshold})`  :math:`a < a^* - \text{threshold}`
    max   :math:`a > a^*(1 + \text{threshold})`  :math:`a > a^* + \text{threshold}`
    ====  =====================================  ==================================

    and a reduction sets :math:`\eta \leftarrow \max(\eta \cdot \text{factor},
    \text{min\_lr})`, skipped when it would change :math:`\eta` by ``eps`` or less.

    Parameters
    ----------
    target : Updates or SharedVariable
        The updates whose ``hyperparams["learning_rate"]`` to lower, or a float shared
        scalar (for instance a scale that multiplies a schedule).
    mode : {"min", "max"}
        Whether the metric should go down (a loss) or up (an accuracy).
    factor : float
        In :math:`[0, 1)`, the multiplier of each reduction.
    patience : int
        The number of calls without improvement tolerated; the next one reduces.
    threshold : float
        :math:`\ge 0`, the least change that counts as an improvement.
    threshold_mode : {"rel", "abs"}
        Whether ``threshold`` is relative to the best metric or absolute.
    cooldown : int
        The number of calls after a reduction during which bad calls are not counted.
    min_lr : float
        :math:`\ge 0`, a floor for the value lowered: the learning rate, or, when the
        learning rate is a schedule, the schedule's live scale (which starts at 1.0).
    eps : float
        :math:`\ge 0`; a reduction smaller than this is not applied.

    Attributes
    ----------
    learning_rate : SharedVariable
        The shared scalar this controller lowers.
    best : float
        The best metric so far (``inf`` in mode min, ``-inf`` in mode max, before any).
    num_bad_epochs, cooldown_counter, last_epoch : int
        Calls without improvement, calls left in the cooldown, calls so far.

    Notes
    -----
    The semantics are torch's, including its handling of NaN: a NaN metric never
    improves on the best (every comparison with NaN is false), so it counts as a bad
    call and can trigger a reduction. Only one learning rate is controlled (torch's
    ``min_lr`` list for several parameter groups has no counterpart here). Save the
    controller with :meth:`state_dict` next to ``updates.state_dict()``, which already
    holds the learning rate itself.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.sgd((w ** 2).sum(), [w], learning_rate=0.1)
    >>> plateau = su.ReduceLROnPlateau(updates, factor=0.5, patience=1)
    >>> for val_loss in [1.0, 0.9, 0.9, 0.9, 0.9]:
    ...     plateau.step(val_loss)
    >>> float(updates.hyperparams["learning_rate"].get_value())
    0.05
    """

    def __init__(
        self,
        target,
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
        eps=1e-8,
    ):
        self.learning_rate = _plateau_target(target)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        self.mode = mode
        self.threshold_mode = threshold_mode
        self.factor = check_real("factor", factor, low=0.0, high=1.0, high_open=True)
        self.patience = check_count("patience", patience, low=0)
        self.threshold = check_real("threshold", threshold, low=0.0)
        self.cooldown = check_count("cooldown", cooldown, low=0)
        self.min_lr = check_real("min_lr", min_lr, low=0.0)
        self.eps = check_real("eps", eps, low=0.0)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def _is_better(self, a: float) -> bool:
        best = self.best
        if self.mode == "min":
            return a < (best * (1.0 - self.threshold) if self.threshold_mode == "rel" else best - self.threshold)
        return a > (best * (self.threshold + 1.0) if self.threshold_mode == "rel" else best + self.threshold)

    def step(self, metric) -> None:
        """Record one value of the metric and lower the learning rate if it has plateaued.

        Parameters
        ----------
        metric : float
            A real scalar (a Python or NumPy number, or a 0-d array such as a compiled
            function's output). NaN is allowed and never counts as an improvement.
        """
        current = _metric(metric)
        self.last_epoch += 1
        if self._is_better(current):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad calls during the cooldown are not counted
        if self.num_bad_epochs > self.patience:
            old = float(self.learning_rate.get_value())
            new = max(old * self.factor, self.min_lr)
            if old - new > self.eps:
                self.learning_rate.set_value(np.asarray(new, dtype=self.learning_rate.dtype))
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    _STATE = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")

    def state_dict(self) -> dict[str, np.ndarray]:
        """The controller's counters as 0-d NumPy arrays (the learning rate is not included).

        Keys: ``"best"``, ``"num_bad_epochs"``, ``"cooldown_counter"``, ``"last_epoch"``.
        The learning rate is a hyperparameter of the updates and is saved by
        ``updates.state_dict()``.
        """
        return {
            "best": np.asarray(self.best, dtype="float64"),
            "num_bad_epochs": np.asarray(self.num_bad_epochs, dtype="int64"),
            "cooldown_counter": np.asarray(self.cooldown_counter, dtype="int64"),
            "last_epoch": np.asarray(self.last_epoch, dtype="int64"),
        }

    def load_state_dict(self, state_dict) -> None:
        """Restore a :meth:`state_dict`; nothing changes unless every entry is valid."""
        if not hasattr(state_dict, "keys"):
            raise TypeError(
                f"state_dict must be a mapping as returned by ReduceLROnPlateau.state_dict(), got {type(state_dict).__name__}"
            )
        missing = [k for k in self._STATE if k not in state_dict]
        unexpected = [k for k in state_dict if k not in self._STATE]
        if missing or unexpected:
            raise ValueError(f"state_dict does not match ReduceLROnPlateau: missing keys {missing}, unexpected keys {unexpected}")
        values = {}
        for key in self._STATE:
            value = np.asarray(state_dict[key])
            if key == "best":
                ok = value.ndim == 0 and value.dtype.kind == "f" and not np.isnan(value)
                values[key] = float(value) if ok else None
            else:
                ok = value.ndim == 0 and value.dtype.kind in "iu" and value >= 0
                values[key] = int(value) if ok else None
            if not ok:
                expected = "a float scalar, not NaN" if key == "best" else "a non-negative integer scalar"
                raise ValueError(f"state_dict[{key!r}] must be {expected}, got {state_dict[key]!r}")
        for key, value in values.items():
            setattr(self, key, value)


def _plateau_target(target) -> SharedVariable:
    if isinstance(target, Updates):
        if "learning_rate" not in target.hyperparams:
            grouped = sorted(k for k in target.hyperparams if k.endswith("/learning_rate"))
            if grouped:
                raise ValueError(
                    f"these updates have a learning rate per parameter group ({grouped}): give "
                    f"ReduceLROnPlateau one of them, ReduceLROnPlateau(updates.hyperparams[{grouped[0]!r}]), "
                    f"or pass one shared variable as every group's learning rate and give it that"
                )
            raise ValueError(
                f"these updates have no live learning rate to reduce (their hyperparams are "
                f"{sorted(target.hyperparams)}): build them with a rule or a scale_by_learning_rate "
                f"transform, or give ReduceLROnPlateau the shared scalar to lower"
            )
        return target.hyperparams["learning_rate"]
    if isinstance(target, SharedVariable):
        if not isinstance(target.type, pt.TensorType) or target.type.ndim != 0 or target.dtype not in FLOAT_DTYPES:
            raise TypeError(f"target must be a float shared scalar, got a shared variable of type {target.type}")
        return target
    raise TypeError(f"target must be an Updates or a float shared scalar, got {target!r} of type {type(target).__name__}")


def _metric(metric) -> float:
    if isinstance(metric, str | bytes | bool | np.bool_):
        raise TypeError(f"metric must be a real number, got {metric!r}")
    value = np.asarray(metric)
    if value.ndim != 0 or value.dtype.kind not in "iuf":
        raise TypeError(f"metric must be a real scalar (a float or a 0-d array), got {metric!r}")
    return float(value)
