"""``Updates``: the list of ``(shared_variable, new_expression)`` pairs an optimizer returns,
with its named state, live hyperparameters and diagnostics; :func:`merge_updates`.

``Updates`` is a ``list`` subclass, so ``pytensor.function(..., updates=updates)`` takes
it as it is. Its extra attributes do not survive list operations (``a + b``, slicing,
``list(updates)``): join update lists with :func:`merge_updates`, which keeps them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
from pytensor.compile.sharedvalue import SharedVariable

from symupdates.build import Hyperparameter, unique_name
from symupdates.checks import check_named_arrays

__all__ = ["ArraySpec", "Updates", "check_unique_targets", "merge_updates"]


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
        The integer count of calls skipped because the cost, a gradient or a hyperparameter was not finite
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
    ['adam/step', 'hyperparams/beta1', 'hyperparams/beta2', 'hyperparams/epsilon', 'hyperparams/learning_rate', 'hyperparams/weight_decay', 'w/adam/m', 'w/adam/v']
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
        arrays, unreadable = {}, []
        for name, value in state_dict.items():
            try:
                arrays[name] = value if isinstance(value, np.ndarray | ArraySpec) else np.asarray(value)
            except (TypeError, ValueError) as err:
                unreadable.append(f"{name!r} is not an array ({err})")
        # A frozen hyperparameter (a term switched off at build time) has one possible value:
        # a state dict saved before such keys were listed may leave it out.
        expected = {
            name: var.get_value(borrow=True)
            for name, var in targets.items()
            if name in state_dict or not getattr(var, "frozen", False)
        }
        unreadable_keys = set(state_dict) - set(arrays)
        problems = check_named_arrays(arrays, {k: v for k, v in expected.items() if k not in unreadable_keys}, "keys")
        problems += unreadable
        values = {}
        for name, value in arrays.items():
            if name not in expected or value.shape != expected[name].shape or value.dtype != expected[name].dtype:
                continue
            var = targets[name]
            if isinstance(value, ArraySpec):
                continue
            if value.dtype.kind in "iu" and np.any(value < 0):
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


def check_unique_targets(groups, label) -> None:
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
    check_unique_targets(groups, lambda i, j: f"lists[{i}][{j}]")
    state, initial, hyperparams, info = {}, {}, {}, {}
    step = skipped = None
    for updates in lists:
        if not isinstance(updates, Updates):
            continue
        for name, var in updates.state.items():
            key = unique_name(name, state)
            state[key] = var
            initial[key] = updates._initial[name]
        for name, var in updates.hyperparams.items():
            if not any(v is var for v in hyperparams.values()):
                hyperparams[unique_name(name, hyperparams)] = var
        for name, expr in updates.info.items():
            info[unique_name(name, info)] = expr
        step = updates.step if step is None else step
        skipped = updates.skipped if skipped is None else skipped
    pairs = [pair for group in groups for pair in group]
    return Updates(
        pairs, state=state, step=step, skipped=skipped, hyperparams=hyperparams, info=info, initial=initial
    )
