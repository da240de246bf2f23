r"""Compiled training steps, a training loop with validation and early stopping, histories.

Two levels, both plain PyTensor underneath:

* :func:`compile_step` compiles **one** function per training step from a cost and an
  ``updates`` list. Given ``data=``, the arrays live in shared variables and the
  function takes only a vector of row indices: the minibatch is gathered inside the
  graph (through ``givens``), so a step copies no data from Python.
* :func:`fit` trains a model (anything with ``params``, ``loss(X, y)`` and
  ``accuracy(X, y)``, such as :func:`~symupdates.lab.mlp`) with an optimizer: epochs of
  seeded shuffled minibatches, validation every ``validate_every`` steps, stop rules
  (:class:`Patience`, :class:`TargetAccuracy`), divergence detection, callbacks, a tqdm
  progress bar, periodic resumable checkpoints, and a :class:`History` of every step
  and every validation.

A :class:`History` holds two tables of plain Python lists (``history.train`` per step,
``history.valid`` per validation) and turns into CSV, JSON or a matplotlib figure; no
pandas needed.

>>> import functools
>>> import symupdates as su
>>> from symupdates import lab
>>> data = lab.load_digits(seed=0, dtype="float64")
>>> model = lab.mlp(n_in=64, hidden=(32,), n_out=10, seed=0, dtype="float64")
>>> history = lab.fit(model, functools.partial(su.adam, learning_rate=1e-2), data.train, data.valid,
...                  max_steps=200, validate_every=50, progress=False, mode="FAST_COMPILE")
>>> history.valid["step"], history.stopped
([0, 50, 100, 150, 200], 'max_steps')
>>> history.valid["accuracy"][-1] > 0.9
True
"""

from __future__ import annotations

import functools
import math
import numbers
import os
import time
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable

from symupdates import checkpoint as _checkpoint
from symupdates import monitor
from symupdates.checks import check_labels, label_classes
from symupdates.lab.datasets import minibatches
from symupdates.lab.history import History
from symupdates.updates import Updates

__all__ = ["MONITOR_EVERY", "Patience", "Step", "TargetAccuracy", "check_mode", "compile_step", "fit"]


# --------------------------------------------------------------------------- compile_step


class Step:
    """A compiled training step, as returned by :func:`compile_step`.

    Calling it runs the function once and returns ``{name: value}`` for ``"loss"`` and
    every named output.

    Attributes
    ----------
    function : pytensor.compile.function.types.Function
        The compiled function (``pytensor.dprint(step.function)`` shows its graph).
    names : tuple of str
        ``("loss", *outputs)``, the keys of each call's result.
    data : list of SharedVariable or None
        The shared variables holding the data when ``data=`` was given; change them with
        ``set_value`` (same dtype and trailing shape) to train on other arrays. Values
        set that way are not checked: keep labels in ``[0, n_out)``.

    Without ``data``, each call first checks the arrays given for the inputs a model
    marked as class labels (see :meth:`symupdates.lab.MLP.loss`), on the host.
    """

    def __init__(self, function, names, data, labels=None):
        self.function = function
        self.names = tuple(names)
        self.data = data
        self._labels = dict(labels or {})  # {position: (n_classes, name)}

    def __call__(self, *args) -> dict[str, np.ndarray]:
        for i, (n_classes, name) in self._labels.items():
            if i < len(args):
                check_labels(args[i], n_classes, name)
        return dict(zip(self.names, self.function(*args), strict=True))

    def __repr__(self) -> str:
        takes = "index" if self.data is not None else "inputs"
        return f"Step(outputs={list(self.names)}, takes={takes})"


def _check_inputs(inputs) -> list:
    if isinstance(inputs, Variable) or not isinstance(inputs, Sequence) or isinstance(inputs, str):
        raise TypeError(f"inputs must be a list of symbolic variables such as [X, y], got {type(inputs).__name__}")
    inputs = list(inputs)
    for i, v in enumerate(inputs):
        if not isinstance(v, Variable) or isinstance(v, SharedVariable | Constant) or v.owner is not None:
            raise TypeError(
                f"inputs[{i}] must be a free symbolic variable (pt.matrix('X'), pt.vector('y', dtype='int64')), got {v!r}"
            )
    return inputs


def _as_data(arrays, inputs) -> list[SharedVariable]:
    """One shared variable per input, holding the rows the index selects."""
    if isinstance(arrays, np.ndarray) or not isinstance(arrays, Sequence) or len(arrays) != len(inputs):
        raise TypeError(f"data must be a sequence of {len(inputs)} arrays, one per input (e.g. (X_train, y_train))")
    shared, rows = [], set()
    for i, (array, var) in enumerate(zip(arrays, inputs, strict=True)):
        n_classes = label_classes(var)
        if not isinstance(array, SharedVariable):
            array = np.asarray(array)
            if array.ndim != var.type.ndim:
                raise ValueError(f"data[{i}] has {array.ndim} dimensions but inputs[{i}] ({var}) has {var.type.ndim}")
            if n_classes is not None and array.dtype.kind in "iu":  # before a cast could wrap a label
                check_labels(array, n_classes, f"data[{i}] ({var})")
            if array.dtype != var.dtype:
                if np.dtype(var.dtype).kind != array.dtype.kind:
                    raise TypeError(
                        f"data[{i}] has dtype {array.dtype} but inputs[{i}] ({var}) is {var.dtype}; "
                        f"convert it with .astype({var.dtype!r})"
                    )
                array = array.astype(var.dtype)
            name = f"{var.name or f'input{i}'}/data"
            array = pytensor.shared(array, name=name, borrow=True, shape=(None, *array.shape[1:]))
        elif array.type.ndim != var.type.ndim or array.dtype != var.dtype:
            raise TypeError(f"data[{i}] is a shared variable of type {array.type} but inputs[{i}] is {var.type}")
        elif n_classes is not None:
            check_labels(array.get_value(borrow=True), n_classes, f"data[{i}] ({var})")
        rows.add(array.get_value(borrow=True).shape[0])
        shared.append(array)
    if len(rows) != 1:
        raise ValueError(f"the data arrays have different numbers of rows: {sorted(rows)}")
    return shared


def compile_step(inputs, cost, updates, *, outputs=None, data=None, mode=None) -> Step:
    """Compile one function that computes the cost and outputs and applies the updates.

    Parameters
    ----------
    inputs : list of Variable
        The symbolic inputs the cost depends on, e.g. ``[X, y]``.
    cost : Variable
        A scalar; returned under the name ``"loss"``.
    updates : list of (SharedVariable, Variable)
        The optimizer's :class:`~symupdates.Updates` (or any list of pairs, or ``[]`` for
        an evaluation-only function).
    outputs : dict of str to Variable, optional
        More results to compute in the same call, by name (accuracy, entries of
        ``updates.info``, diagnostics from :mod:`symupdates.monitor`).
    data : sequence of array_like or SharedVariable, optional
        One array per input, all with the same number of rows. They are stored in shared
        variables (without a copy when the dtype already matches), and the compiled
        function takes a single ``int64`` vector of row indices instead of the inputs:
        ``givens`` substitute ``data[i][index]`` for ``inputs[i]``. Labels bound to an
        input that a model's loss marked as class indices (:meth:`symupdates.lab.MLP.loss`)
        must be in ``[0, n_out)``; without ``data=`` the step checks them at each call.
    mode : str or Mode, optional
        PyTensor compile mode (``"FAST_COMPILE"``, ``"NUMBA"``, ``"CVM"``, ``"JAX"``);
        default ``pytensor.config.mode``.

    Returns
    -------
    Step
        Call it as ``step(index)`` with ``data``, else ``step(*arrays)``; it returns
        ``{"loss": ..., **outputs}`` as NumPy scalars/arrays.

    Raises
    ------
    TypeError
        For inputs that are not free symbolic variables, a cost that is not a scalar,
        updates or outputs of the wrong kind, or data whose dtype kind differs from its
        input's.
    ValueError
        For an output named ``"loss"``, data with the wrong number of dimensions or rows,
        or labels outside ``[0, n_out)`` for an input a model marked as class labels
        (the message names the data, the label and its index); all before compiling.

    Notes
    -----
    Each call transfers only the index vector (``batch_size`` integers); the gathered
    minibatch exists only inside the compiled graph. On a CPU backend the shared
    variables alias the arrays given (no copy), so keep them unchanged while training.
    No backend checks a label index inside the graph (Numba reads outside the array
    for a label >= n_out, every backend wraps a negative one), which is why labels are
    checked on the host, here.

    See Also
    --------
    fit, symupdates.lab.minibatches, symupdates.monitor.standard

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> import symupdates as su
    >>> from symupdates import lab
    >>> rng = np.random.default_rng(0)
    >>> X_data = rng.normal(size=(100, 3)); y_data = X_data @ np.array([1.0, -2.0, 0.5])
    >>> w = pytensor.shared(np.zeros(3), name="w")
    >>> X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="float64")
    >>> cost = pt.mean((X @ w - y) ** 2)
    >>> updates = su.adam(cost, [w], learning_rate=0.1)
    >>> step = lab.compile_step([X, y], cost, updates, outputs={"grad_norm": updates.info["grad_norm"]},
    ...                        data=(X_data, y_data), mode="FAST_COMPILE")
    >>> for epoch in range(30):
    ...     for index in lab.minibatches(100, 20, rng):
    ...         result = step(index)
    >>> sorted(result), np.round(w.get_value(), 2)
    (['grad_norm', 'loss'], array([ 1. , -2. ,  0.5]))
    """
    inputs = _check_inputs(inputs)
    if not isinstance(cost, Variable) or getattr(cost.type, "ndim", None) != 0:
        raise TypeError(f"cost must be a symbolic scalar, got {cost!r}")
    if isinstance(updates, Mapping) or not isinstance(updates, Sequence):
        raise TypeError(
            f"updates must be a list of (shared_variable, new_expression) pairs as returned by an optimizer, "
            f"got {type(updates).__name__}"
        )
    outputs = {} if outputs is None else outputs
    if not isinstance(outputs, Mapping):
        raise TypeError(f"outputs must be a dict of names to symbolic expressions, got {type(outputs).__name__}")
    if "loss" in outputs:
        raise ValueError("outputs must not be named 'loss': that name is the cost's")
    for name, expr in outputs.items():
        if not isinstance(name, str) or not isinstance(expr, Variable):
            raise TypeError(f"outputs must map names (str) to symbolic expressions, got {name!r}: {expr!r}")
    results = [cost, *outputs.values()]
    if data is None:
        labels = {i: (label_classes(v), f"inputs[{i}] ({v})") for i, v in enumerate(inputs) if label_classes(v) is not None}
        function = pytensor.function(inputs, results, updates=list(updates), mode=mode)
        return Step(function, ["loss", *outputs], None, labels)
    shared = _as_data(data, inputs)
    index = pt.vector("index", dtype="int64")
    givens = [(var, source[index]) for var, source in zip(inputs, shared, strict=True)]
    function = pytensor.function([index], results, updates=list(updates), givens=givens, mode=mode)
    return Step(function, ["loss", *outputs], shared)


# --------------------------------------------------------------------------- stop rules


def check_mode(mode) -> None:
    """Check a compile mode before anything is compiled.

    Parameters
    ----------
    mode : str or None
        ``None`` (PyTensor's default mode) or the name of a PyTensor compile mode, as
        :func:`fit`, ``symupdates compare --mode`` and ``symupdates search create --mode``
        take it.

    Raises
    ------
    ValueError
        When PyTensor knows no mode of that name; the message lists its predefined modes.

    Examples
    --------
    >>> from symupdates.lab.training import check_mode
    >>> check_mode("FAST_COMPILE")
    >>> check_mode("TURBO")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: mode 'TURBO' is not a PyTensor compile mode; choose from ...
    """
    if mode is None:
        return
    from pytensor.compile.mode import get_mode, predefined_modes

    try:
        get_mode(mode)
    except (ValueError, KeyError, TypeError):
        raise ValueError(f"mode {mode!r} is not a PyTensor compile mode; choose from {', '.join(predefined_modes)}") from None


def _positive_int(name, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Patience:
    """Stop after ``patience`` validations in a row without a lower validation loss.

    A validation *improves* when its loss is strictly lower than every earlier one (NaN
    never improves). The rule returns ``"patience"`` once the latest ``patience``
    validations have not improved; it reads only the history, so it behaves the same
    after a resumed checkpoint.

    Parameters
    ----------
    patience : int
        The number of validations without improvement to tolerate (the cute-dl study
        uses 20).

    Examples
    --------
    >>> from symupdates.lab import History, Patience
    >>> history = History()
    >>> rule = Patience(2)
    >>> for step, loss in enumerate([1.0, 0.8, 0.8, 0.9]):
    ...     history.record_valid(step=step, epoch=0, loss=loss, accuracy=0.5, time=0.0)
    ...     print(step, rule(history))
    0 None
    1 None
    2 None
    3 patience
    """

    def __init__(self, patience=20):
        self.patience = _positive_int("patience", patience)

    def __repr__(self) -> str:
        return f"Patience({self.patience})"

    def __call__(self, history) -> str | None:
        best, since = math.inf, 0
        for loss in history.valid["loss"]:
            if loss < best:
                best, since = loss, 0
            else:
                since += 1
        return "patience" if since >= self.patience else None


class TargetAccuracy:
    """Stop when validation accuracy has been at or above ``target`` for ``times`` validations in a row.

    Parameters
    ----------
    target : float
        The accuracy to reach, in :math:`(0, 1]` (the cute-dl study uses 0.91).
    times : int
        How many consecutive validations must reach it (the cute-dl study uses 20).

    Examples
    --------
    >>> from symupdates.lab import History, TargetAccuracy
    >>> history = History()
    >>> rule = TargetAccuracy(0.9, times=2)
    >>> for step, acc in enumerate([0.85, 0.91, 0.89, 0.9, 0.95]):
    ...     history.record_valid(step=step, epoch=0, loss=1.0, accuracy=acc, time=0.0)
    ...     print(step, rule(history))
    0 None
    1 None
    2 None
    3 None
    4 target_accuracy
    """

    def __init__(self, target, times=1):
        if isinstance(target, bool) or not isinstance(target, numbers.Real) or not 0 < target <= 1:
            raise ValueError(f"target must be an accuracy in (0, 1], got {target!r}")
        self.target = float(target)
        self.times = _positive_int("times", times)

    def __repr__(self) -> str:
        return f"TargetAccuracy({self.target}, times={self.times})"

    def __call__(self, history) -> str | None:
        run = 0
        for acc in reversed(history.valid["accuracy"]):
            if not acc >= self.target:
                break
            run += 1
            if run >= self.times:
                return "target_accuracy"
        return None


def _diverged(loss, first_loss, factor) -> bool:
    """A non-finite loss, or (with ``factor``, when the first loss is positive) one above
    ``factor`` times the first step's loss."""
    if not math.isfinite(loss):
        return True
    return factor is not None and math.isfinite(first_loss) and first_loss > 0 and loss > factor * first_loss


# --------------------------------------------------------------------------- fit

#: fit's default ``monitor_every``: the update ratio is recorded every this many steps.
MONITOR_EVERY = 20


class _RunState:
    """The history inside a checkpoint (its ``extra``), checked against the run that resumes it."""

    RESUME_KEYS = ("seed", "batch_size", "n_train", "n_valid", "validate_every")

    def __init__(self, history):
        self.history = history

    def state_dict(self) -> dict:
        return {"history": self.history.to_json()}

    def load_state_dict(self, state) -> None:
        saved = History.from_json(str(state["history"]))
        wrong = [
            f"{k}={saved.meta.get(k)!r} (now {self.history.meta.get(k)!r})"
            for k in self.RESUME_KEYS
            if saved.meta.get(k) != self.history.meta.get(k)
        ]
        if wrong:
            raise ValueError(f"the checkpoint was written by a run with other settings: {', '.join(wrong)}")
        self.history.train, self.history.valid, self.history.stopped = saved.train, saved.valid, saved.stopped


def _check_pair(name, pair) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(pair, Sequence) or isinstance(pair, str) or len(pair) != 2:
        raise TypeError(f"{name} must be a pair (X, y), as data.{name} of a Dataset, got {type(pair).__name__}")
    X, y = np.asarray(pair[0]), np.asarray(pair[1])
    if X.ndim != 2 or X.dtype.kind != "f":
        raise ValueError(f"{name}[0] (X) must be a float matrix (rows, features), got {X.dtype} array of shape {X.shape}")
    if y.ndim != 1 or y.dtype.kind not in "iu":
        raise ValueError(f"{name}[1] (y) must be a vector of integer labels, got {y.dtype} array of shape {y.shape}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"{name} has {len(X)} rows in X and {len(y)} labels; they must match and be non-zero")
    return X, y


def _model_classes(model) -> int | None:
    """``model.n_out`` (the number of classes) when the model has one, else None."""
    n_out = getattr(model, "n_out", None)
    if isinstance(n_out, numbers.Integral) and not isinstance(n_out, bool) and n_out >= 1:
        return int(n_out)
    return None


def _check_fit_labels(y_train, y_valid, n_classes) -> None:
    for part, y in (("train", y_train), ("valid", y_valid)):
        check_labels(y, n_classes, f"{part}[1] (y)")


def _check_checkpoint_path(checkpoint) -> None:
    """Raise unless ``checkpoint`` names a file that can be written: checked before training,
    so a bad path does not surface at the first checkpoint and lose the run."""
    path = os.fspath(checkpoint)
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path:
        raise ValueError(f"checkpoint {path!r} is an empty path; give a file name such as 'run.npz'")
    if os.path.isdir(path):
        raise ValueError(
            f"checkpoint {path!r} is a folder; give a file name in it, e.g. {os.path.join(path, 'checkpoint.npz')!r}"
        )
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(folder):
        raise ValueError(
            f"checkpoint {path!r}: its folder {folder!r} does not exist; create it first "
            f"(os.makedirs({folder!r}, exist_ok=True)) or choose a path in an existing folder"
        )
    if not os.path.isdir(folder):
        raise ValueError(f"checkpoint {path!r}: {folder!r} is not a folder; choose a path in an existing folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ValueError(
            f"checkpoint {path!r}: the folder {folder!r} is not writable (the checkpoint is written beside it "
            f"and renamed into place); choose a folder you can write to"
        )


def _optimizer_name(optimizer) -> str:
    if isinstance(optimizer, functools.partial):
        optimizer = optimizer.func
    return getattr(optimizer, "__name__", type(optimizer).__name__)


def _check_callables(name, values) -> list:
    if callable(values):
        values = [values]
    if not isinstance(values, Sequence) or not all(callable(v) for v in values):
        raise TypeError(f"{name} must be a list of functions, got {values!r}")
    return list(values)


def _warm_up(step, updates, index) -> None:
    """Call a step once and put back every variable it updated.

    Backends that compile on the first call (Numba) do it here, so the times recorded
    while training exclude compilation.
    """
    saved = [(var, var.get_value(borrow=False)) for var, _ in updates]
    try:
        step(index)
    finally:
        for var, value in saved:
            var.set_value(value)


def fit(
    model,
    optimizer: Callable,
    train,
    valid,
    *,
    batch_size: int = 32,
    epochs: int | None = None,
    max_steps: int | None = None,
    validate_every: int = 100,
    monitor_every: int = MONITOR_EVERY,
    stop=(),
    callbacks=(),
    diverge_factor: float | None = 100.0,
    seed: int = 0,
    mode=None,
    progress: bool = True,
    checkpoint=None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    name: str | None = None,
) -> History:
    """Train a model with an optimizer on shuffled minibatches, validating as it goes.

    The loop compiles two functions once (:func:`compile_step`): a training step over
    the training arrays held in shared variables, taking an index vector, and an
    evaluation of loss and accuracy over the whole validation set. Both are called once
    before training (the step's effects undone) so that backends compiling on the first
    call (Numba) do it then, outside the recorded times. It then runs epochs
    of minibatches in an order drawn from ``seed`` (epoch ``e`` uses
    ``np.random.default_rng([seed, e])``), so the same call gives the same history.

    Parameters
    ----------
    model : object
        Anything with ``params`` (the shared variables to train), ``loss(X, y)`` and
        ``accuracy(X, y)`` (symbolic scalars), such as :func:`~symupdates.lab.mlp`. Its current
        parameter values are the starting point (``model.set_values(model.initial_values())``
        restarts from the initial weights).
    optimizer : callable
        ``optimizer(cost, params)`` returns an :class:`~symupdates.Updates`, e.g.
        ``functools.partial(su.adam, learning_rate=1e-3)``; called once, so every
        :func:`fit` starts with fresh optimizer state.
    train, valid : tuple of ndarray
        ``(X, y)`` pairs (``data.train`` and ``data.valid`` of a
        :class:`~symupdates.Dataset`): float matrices and integer labels, in
        ``[0, model.n_out)`` (or at least ``>= 0`` for a model without ``n_out``). ``X``
        is cast to the parameters' dtype.
    batch_size : int
        Rows per step; the last batch of an epoch may be smaller.
    epochs, max_steps : int, optional
        The budget: training ends after ``epochs`` passes over the data or ``max_steps``
        steps, whichever comes first. Give at least one.
    validate_every : int
        Validate after every this many steps; also before the first step (step 0) and
        after the last one.
    monitor_every : int
        Record the ratio of the step's size to the parameters' (``update_ratio``, see
        :func:`symupdates.monitor.update_ratios`) after every this many steps; the
        history holds NaN for the steps between. The default, 20, adds about 1% to the
        training time of a small MLP; ``1`` records every step, computed in the compiled
        step itself (about 3%). See Notes.
    stop : sequence of callable
        Stop rules, called after each validation with the :class:`History`; the first
        to return a string (the reason) rather than ``None`` ends training:
        :class:`Patience`, :class:`TargetAccuracy`, or any function of the history.
    callbacks : sequence of callable
        Called as ``callback(history, updates)`` after each validation (and its stop
        rules), e.g. to change ``updates.hyperparams["learning_rate"]`` or to log; the
        return value is ignored.
    diverge_factor : float or None
        Training stops as ``"diverged"`` when a step's loss is NaN or ±inf, or exceeds
        ``diverge_factor`` times the first step's loss (``None``: only non-finite losses).
        A non-finite validation loss is divergence too. Nothing is raised.
    seed : int
        Seed of the minibatch order.
    mode : str or Mode, optional
        PyTensor compile mode; default ``pytensor.config.mode``.
    progress : bool
        Show a tqdm progress bar with the (smoothed) training loss, the last validation
        accuracy and the learning rate.
    checkpoint : str or os.PathLike, optional
        A checkpoint file (:func:`symupdates.save` format) written every
        ``checkpoint_every`` steps and when training ends: parameters, optimizer state
        and the history so far. Its folder must exist and be writable, which is checked
        before anything is built or compiled.
    checkpoint_every : int, optional
        Steps between checkpoints; default ``validate_every``.
    resume : bool
        If the ``checkpoint`` file exists, load it (parameters, optimizer state, history)
        and continue exactly where it stopped; the run must have the same seed, batch
        size, data sizes and ``validate_every``. A missing file starts a new run. A run
        that ended by a stop rule or divergence is returned as it was.
    name : str, optional
        A label for the progress bar, plots and tables; default the optimizer's name.

    Returns
    -------
    History
        Every step and validation; ``history.stopped`` says why training ended.

    Raises
    ------
    TypeError
        For a model without ``params``/``loss``/``accuracy``, an optimizer that is not a
        function or does not return :class:`~symupdates.Updates`, ``train``/``valid``
        that are not pairs, stop rules or callbacks that are not functions, a seed or
        checkpoint of the wrong type.
    ValueError
        For data of the wrong shape or dtype, labels outside ``[0, model.n_out)`` (the
        message names the pair, the label and its index), a bad budget, batch size,
        ``validate_every`` or ``diverge_factor``, ``resume`` without ``checkpoint``, a
        checkpoint path that is empty, a folder, or in a folder that is missing or not
        writable, or a checkpoint written with other settings. All but the last are
        raised before the graph is built; the labels of a model without ``n_out`` that
        its loss marks (:meth:`symupdates.lab.MLP.loss`) are checked once the graph is
        built, before compiling.

    Notes
    -----
    The loss, the minibatch's accuracy, the learning rate and the gradient norm are
    recorded at every step: the step computes them anyway (the norm for clipping), so
    returning them costs nothing measurable. The update ratio needs a pass over the
    parameters and their steps. With ``monitor_every=k > 1`` the compiled step leaves it
    out, and every ``k``-th step runs between a :class:`symupdates.monitor.Snapshot` of
    the parameters and its :meth:`~symupdates.monitor.Snapshot.compare` in NumPy; the
    other steps run exactly the step of an unmonitored loop, and nothing is compiled
    twice. ``python benchmarks/run.py --only W1`` measures both costs on a 784-256-256-10
    MLP, in its group ``adam, monitors every k steps``.

    A run resumed from a periodic checkpoint equals an uninterrupted one exactly
    (parameters, optimizer state and every recorded value except times). A run that
    ended by its budget validated once more at its last step; when that step is not a
    multiple of ``validate_every``, the extra validation stays in a history resumed
    from that run's final checkpoint.

    See Also
    --------
    compile_step, History, Patience, TargetAccuracy, plot_histories

    Examples
    --------
    >>> import functools
    >>> import symupdates as su
    >>> from symupdates import lab
    >>> data = lab.load_digits(seed=0, dtype="float64")
    >>> model = lab.mlp(n_in=64, hidden=(32,), n_out=10, seed=0, dtype="float64")
    >>> history = lab.fit(
    ...     model, functools.partial(su.sgd, learning_rate=0.1), data.train, data.valid,
    ...     epochs=20, validate_every=45, stop=[lab.TargetAccuracy(0.9, times=2)],
    ...     progress=False, mode="FAST_COMPILE",
    ... )
    >>> history.stopped, history.valid["accuracy"][-2] >= 0.9
    ('target_accuracy', True)
    >>> sorted(history.train)
    ['accuracy', 'epoch', 'grad_norm', 'learning_rate', 'loss', 'step', 'time', 'update_ratio']
    """
    for attr in ("params", "loss", "accuracy"):
        if not hasattr(model, attr):
            raise TypeError(f"model must have params, loss(X, y) and accuracy(X, y) (e.g. lab.mlp(...)); it has no {attr!r}")
    if not callable(optimizer):
        raise TypeError(
            f"optimizer must be a function (cost, params) -> Updates, e.g. functools.partial(su.adam, "
            f"learning_rate=1e-3), got {optimizer!r}"
        )
    X_train, y_train = _check_pair("train", train)
    X_valid, y_valid = _check_pair("valid", valid)
    if X_valid.shape[1] != X_train.shape[1]:
        raise ValueError(f"valid has {X_valid.shape[1]} features but train has {X_train.shape[1]}")
    n_classes = _model_classes(model)
    _check_fit_labels(y_train, y_valid, n_classes)  # without n_out: at least no negative label
    batch_size = _positive_int("batch_size", batch_size)
    validate_every = _positive_int("validate_every", validate_every)
    monitor_every = _positive_int("monitor_every", monitor_every)
    if epochs is None and max_steps is None:
        raise ValueError("give epochs or max_steps (or both) to bound training")
    epochs = None if epochs is None else _positive_int("epochs", epochs)
    max_steps = None if max_steps is None else _positive_int("max_steps", max_steps)
    stop = _check_callables("stop", stop)
    callbacks = _check_callables("callbacks", callbacks)
    if diverge_factor is not None and (
        isinstance(diverge_factor, bool) or not isinstance(diverge_factor, numbers.Real) or not diverge_factor > 1
    ):
        raise ValueError(f"diverge_factor must be a number > 1 or None, got {diverge_factor!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    if checkpoint is not None and not isinstance(checkpoint, str | os.PathLike):
        raise TypeError(f"checkpoint must be a file name, got {checkpoint!r}")
    if resume and checkpoint is None:
        raise ValueError("resume=True needs checkpoint= (the file to resume from)")
    if checkpoint is not None:
        _check_checkpoint_path(checkpoint)
    checkpoint_every = validate_every if checkpoint_every is None else _positive_int("checkpoint_every", checkpoint_every)

    n_train = len(X_train)
    per_epoch = -(-n_train // batch_size)
    total = min(x for x in (max_steps, epochs and epochs * per_epoch) if x)
    budget_reason = "max_steps" if max_steps is not None and total == max_steps else "epochs"
    name = name or _optimizer_name(optimizer)
    history = History(
        {
            "name": name,
            "seed": int(seed),
            "batch_size": batch_size,
            "validate_every": validate_every,
            "monitor_every": monitor_every,
            "n_train": n_train,
            "n_valid": len(X_valid),
            "max_steps": total,
            "mode": str(mode if mode is not None else pytensor.config.mode),
        }
    )

    # The graph: the model's cost on symbolic X, y; the data is substituted by compile_step.
    params = list(model.params)
    if not params:
        raise ValueError("model.params is empty: the model has nothing to train")
    X = pt.matrix("X", dtype=params[0].dtype)
    y = pt.vector("y", dtype="int64")
    cost, accuracy = model.loss(X, y), model.accuracy(X, y)
    marked = label_classes(y)  # a model without n_out whose loss marks the labels' classes
    if marked is not None and marked != n_classes:
        _check_fit_labels(y_train, y_valid, marked)
    updates = optimizer(cost, params)
    if not isinstance(updates, Updates):
        raise TypeError(
            f"optimizer(cost, params) must return the Updates of an optimizer such as su.adam, "
            f"got {type(updates).__name__}"
        )
    outputs = {"accuracy": accuracy, "grad_norm": updates.info["grad_norm"]}
    if "learning_rate" in updates.info:
        outputs["learning_rate"] = updates.info["learning_rate"]
    if monitor_every == 1:  # in the graph: cheaper than a host-side pass at every step
        outputs["update_ratio"] = monitor.update_ratios(updates, params)["update_ratio"]
    started = time.perf_counter()
    train_step = compile_step([X, y], cost, updates, outputs=outputs, data=(X_train, y_train.astype("int64")), mode=mode)
    evaluate = compile_step([X, y], cost, [], outputs={"accuracy": accuracy}, data=(X_valid, y_valid.astype("int64")), mode=mode)
    valid_index = np.arange(len(X_valid), dtype="int64")
    _warm_up(train_step, updates, np.arange(min(batch_size, n_train), dtype="int64"))
    evaluate(valid_index)
    history.meta["compile_seconds"] = time.perf_counter() - started

    run_state = _RunState(history)
    if resume and os.path.exists(checkpoint):
        _checkpoint.load(checkpoint, params, updates, extra={"run": run_state})
        if history.stopped not in (None, "max_steps", "epochs"):
            return history
        history.stopped = None

    def save_checkpoint():
        if checkpoint is not None:
            _checkpoint.save(checkpoint, params, updates, extra={"run": run_state})

    from tqdm import tqdm

    step = history.steps
    clock = time.perf_counter() - (history.train["time"][-1] if history.train["time"] else 0.0)
    smoothed = history.train["loss"][-1] if history.train["loss"] else math.nan
    bar = tqdm(total=total, initial=step, desc=name, unit="step", disable=not progress, dynamic_ncols=True)

    def show(lr):
        val = history.valid["accuracy"][-1] if history.valid["accuracy"] else math.nan
        bar.set_postfix({"loss": f"{smoothed:.4f}", "val_acc": f"{val:.4f}", "lr": f"{lr:.3g}"}, refresh=False)

    def validate() -> str | None:
        result = evaluate(valid_index)
        loss, acc = float(result["loss"]), float(result["accuracy"])
        epoch = (step - 1) // per_epoch if step else 0
        history.record_valid(step=step, epoch=epoch, loss=loss, accuracy=acc, time=time.perf_counter() - clock)
        if not math.isfinite(loss):
            return "diverged"
        reason = None
        for rule in stop:
            reason = rule(history)
            if reason is not None and reason is not False:
                if not isinstance(reason, str):
                    raise TypeError(f"the stop rule {rule!r} returned {reason!r}; return a reason (str) to stop, or None")
                break
            reason = None
        for callback in callbacks:
            callback(history, updates)
        return reason

    try:
        if step == 0:
            history.stopped = validate()
        order, order_epoch = None, None
        while history.stopped is None and step < total:
            epoch, position = divmod(step, per_epoch)
            if order_epoch != epoch:
                order = list(minibatches(n_train, batch_size, np.random.default_rng([int(seed), epoch])))
                order_epoch = epoch
            watch = monitor.Snapshot(params) if monitor_every > 1 and (step + 1) % monitor_every == 0 else None
            result = train_step(order[position])
            step += 1
            if watch is not None:
                update_ratio = watch.compare()["update_ratio"]
            else:
                update_ratio = float(result.get("update_ratio", math.nan))
            loss = float(result["loss"])
            lr = float(result.get("learning_rate", math.nan))
            history.record_train(
                step=step,
                epoch=epoch,
                loss=loss,
                accuracy=float(result["accuracy"]),
                learning_rate=lr,
                grad_norm=float(result["grad_norm"]),
                update_ratio=update_ratio,
                time=time.perf_counter() - clock,
            )
            bar.update(1)
            smoothed = loss if not math.isfinite(smoothed) else 0.95 * smoothed + 0.05 * loss
            if _diverged(loss, history.train["loss"][0], diverge_factor):
                history.stopped = "diverged"
                break
            if step % validate_every == 0 or step == total:
                history.stopped = validate()
                show(lr)
            elif step % 25 == 0:
                show(lr)
            if step % checkpoint_every == 0 and step < total and history.stopped is None:
                save_checkpoint()
        if history.stopped is None:
            history.stopped = budget_reason
        save_checkpoint()
    finally:
        bar.close()
    return history
