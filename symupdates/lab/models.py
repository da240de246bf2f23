r"""The small multilayer perceptron used by the tutorials and the comparison command.

:func:`mlp` builds a fully connected network with ReLU or tanh hidden layers and a
softmax output; the returned :class:`MLP` holds the parameters as named shared
variables (``W1, b1, W2, b2, ...``) and builds symbolic expressions for any symbolic
input matrix, so the same model serves the training graph and the validation graph.

>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from symupdates.lab.models import mlp
>>> model = mlp(n_in=4, hidden=(8,), n_out=3, seed=0, dtype="float64")
>>> [p.name for p in model.params]
['W1', 'b1', 'W2', 'b2']
>>> X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
>>> f = pytensor.function([X, y], model.loss(X, y), mode="FAST_COMPILE")
>>> bool(np.isfinite(f(np.ones((5, 4)), np.zeros(5, dtype="int64"))))
True
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
from pytensor.tensor.special import log_softmax

from symupdates.checks import LABEL_TAG, check_labels, label_classes, name_problems
from symupdates.numerics import sum_of_squares, total

__all__ = ["MLP", "mlp"]


def _relu(x):
    return pt.maximum(x, 0)


class MLP:
    r"""A fully connected softmax classifier (build it with :func:`mlp`).

    For hidden layers :math:`h_0 = X`, :math:`h_l = \phi(h_{l-1} W_l + b_l)` and logits
    :math:`z = h_{L-1} W_L + b_L`, with :math:`\phi` ReLU or tanh.

    Attributes
    ----------
    params : list of SharedVariable
        ``[W1, b1, W2, b2, ...]``, each named, with static shapes and the model's dtype.
    sizes : tuple of int
        Layer widths ``(n_in, *hidden, n_out)``.
    activation : str
        ``"relu"`` or ``"tanh"``.
    l2 : float
        The L2 coefficient :math:`\lambda` of :meth:`loss`.
    dtype : str
        The parameters' dtype; every expression is built in it.
    seed : int
        The seed of the initial values.
    """

    def __init__(self, sizes, activation, l2, seed, dtype, initial):
        self.sizes = tuple(sizes)
        self.activation = activation
        self.l2 = l2
        self.seed = seed
        self.dtype = dtype
        self._initial = initial
        self.params = [pytensor.shared(v.copy(), name=name, shape=v.shape) for name, v in initial.items()]

    def __repr__(self) -> str:
        return (
            f"MLP(sizes={self.sizes}, activation={self.activation!r}, l2={self.l2}, "
            f"seed={self.seed}, dtype={self.dtype!r})"
        )

    @property
    def n_in(self) -> int:
        """The number of input features (the columns of ``X``)."""
        return self.sizes[0]

    @property
    def n_out(self) -> int:
        """The number of classes; labels must be in ``[0, n_out)``."""
        return self.sizes[-1]

    @property
    def weights(self) -> list:
        """The weight matrices ``[W1, W2, ...]`` (the tensors the L2 term penalises)."""
        return self.params[0::2]

    def _as_input(self, X):
        if not isinstance(X, Variable):
            X = np.asarray(X)
            if X.dtype.kind not in "fiu":
                raise TypeError(f"X must be a numeric matrix, got an array of dtype {X.dtype}")
        X = pt.as_tensor_variable(X)
        if X.type.ndim != 2:
            raise ValueError(f"X must be a matrix (batch, {self.sizes[0]}), got type {X.type}; use pt.matrix()")
        width = X.type.shape[1]
        if width is not None and width != self.sizes[0]:
            raise ValueError(f"X has {width} columns but the model takes n_in={self.sizes[0]} features")
        return X.astype(self.dtype) if X.dtype != self.dtype else X

    def _as_labels(self, y):
        """``y`` as a symbolic integer vector, its values checked or its variable marked.

        The loss reads ``logp[rows, y]``, and no backend checks that index: Numba reads
        outside the array for a label >= n_out, every backend wraps a negative one. So
        the labels are checked on the host wherever their values are known: arrays and
        constants now, a shared variable's current value now, and a free symbolic vector
        is marked with :data:`LABEL_TAG` so that ``compile_step`` and ``check_grad``
        check the values bound to it. Labels computed by an expression cannot be checked.
        """
        y = pt.as_tensor_variable(y)
        if y.type.ndim != 1:
            raise ValueError(f"y must be a vector of class indices, got type {y.type}; use pt.vector(dtype='int64')")
        if y.dtype[:3] not in ("int", "uin"):
            raise TypeError(
                f"y must hold integer class indices, got dtype {y.dtype}; use pt.vector(dtype='int64') "
                f"and labels.astype('int64')"
            )
        if isinstance(y, Constant):
            check_labels(y.data, self.n_out, "y")
        elif isinstance(y, SharedVariable):
            check_labels(y.get_value(borrow=True), self.n_out, f"y ({y.name})" if y.name else "y")
        elif y.owner is None:
            known = label_classes(y)
            setattr(y.tag, LABEL_TAG, self.n_out if known is None else min(known, self.n_out))
        return y

    def logits(self, X):
        r"""The symbolic logits :math:`z = h_{L-1} W_L + b_L` for the rows of ``X``.

        Parameters
        ----------
        X : Variable or array_like
            A matrix of shape ``(batch, n_in)``; cast to the model's dtype if needed.

        Returns
        -------
        Variable
            A ``(batch, n_out)`` matrix in the model's dtype.

        Examples
        --------
        >>> import numpy as np
        >>> from symupdates.lab.models import mlp
        >>> model = mlp(n_in=2, hidden=(3,), n_out=2, dtype="float32")
        >>> z = model.logits(np.zeros((4, 2), dtype="float32"))
        >>> z.dtype, z.eval(mode="FAST_COMPILE").shape
        ('float32', (4, 2))
        """
        h = self._as_input(X)
        phi = _relu if self.activation == "relu" else pt.tanh
        n_layers = len(self.params) // 2
        for layer in range(n_layers):
            W, b = self.params[2 * layer], self.params[2 * layer + 1]
            h = h @ W + b
            if layer < n_layers - 1:
                h = phi(h)
        return h

    def loss(self, X, y):
        r"""Mean softmax cross-entropy plus the L2 penalty on the weight matrices.

        .. math::

            \ell = -\frac{1}{N}\sum_{n=1}^{N} \log\operatorname{softmax}(z_n)_{y_n}
                   + \frac{\lambda}{2}\sum_l \lVert W_l \rVert_F^2

        computed through a log-softmax (:math:`z - \max z - \log\sum e^{z - \max z}`), so
        large logits neither overflow nor give ``log(0)``. Biases are not penalised.

        Parameters
        ----------
        X : Variable or array_like
            Inputs, ``(batch, n_in)``.
        y : Variable or array_like
            Integer class indices in ``[0, n_out)``, ``(batch,)``. Values known now (an
            array, a constant, a shared variable's current value) are checked now; a free
            symbolic vector is marked so that :func:`~symupdates.lab.compile_step` (its
            ``data=`` and the arrays each call gets) and
            :func:`~symupdates.gradcheck.check_grad` check the values bound to it.
            Labels computed by an expression, or given to a hand-made
            ``pytensor.function``, are not checked: out of range, the Numba backend
            reads outside the array and every backend wraps negative ones.

        Returns
        -------
        Variable
            A scalar in the model's dtype.

        Raises
        ------
        TypeError
            If ``y`` does not hold integers.
        ValueError
            If ``X`` or ``y`` has the wrong number of dimensions, ``X`` the wrong number
            of columns, or a known label is outside ``[0, n_out)`` (the message names the
            label and its index).

        Examples
        --------
        >>> import numpy as np
        >>> from symupdates.lab.models import mlp
        >>> model = mlp(n_in=3, hidden=(), n_out=4, dtype="float64")
        >>> model.set_values({"W1": np.zeros((3, 4)), "b1": np.zeros(4)})
        >>> round(float(model.loss(np.ones((2, 3)), np.array([0, 3])).eval(mode="FAST_COMPILE")), 6)  # log(4)
        1.386294
        >>> model.loss(np.ones((2, 3)), np.array([0, 4]))
        Traceback (most recent call last):
        ...
        ValueError: y holds label 4 at index 1; labels must be in [0, 4) for a model with n_out=4; relabel them as 0..3 or build the model with n_out=5
        """
        z = self.logits(X)
        y = self._as_labels(y)
        logp = log_softmax(z, axis=1)
        # int64 bounds: with the int8 constant that pt.arange(n) gets, PyTensor 3.0's JAX backend
        # overflows once a batch has more than 127 rows (pymc-devs/pytensor#2296).
        rows = pt.arange(np.int64(0), y.shape[0], np.int64(1))
        cost = -pt.mean(logp[rows, y])
        if self.l2:
            penalty = total(sum_of_squares(W) for W in self.weights)
            cost = cost + np.asarray(self.l2 / 2, dtype=self.dtype) * penalty
        return cost

    def accuracy(self, X, y):
        r"""The fraction of rows whose largest logit is the label, :math:`\frac1N\sum_n [\arg\max z_n = y_n]`.

        ``X`` and ``y`` are taken and checked as by :meth:`loss`.

        Returns
        -------
        Variable
            A scalar in the model's dtype.

        Raises
        ------
        TypeError, ValueError
            As :meth:`loss`.

        Examples
        --------
        >>> import numpy as np
        >>> from symupdates.lab.models import mlp
        >>> model = mlp(n_in=2, hidden=(), n_out=2, dtype="float64")
        >>> model.set_values({"W1": np.eye(2), "b1": np.zeros(2)})
        >>> float(model.accuracy(np.array([[1.0, 0.0], [0.0, 1.0]]), np.array([0, 0])).eval(mode="FAST_COMPILE"))
        0.5
        """
        z = self.logits(X)
        y = self._as_labels(y)
        return pt.mean(pt.eq(pt.argmax(z, axis=1), y)).astype(self.dtype)

    def initial_values(self) -> dict[str, np.ndarray]:
        """A copy of the initial parameter values, ``{name: array}`` (the same for the same seed)."""
        return {name: v.copy() for name, v in self._initial.items()}

    def set_values(self, values: Mapping) -> None:
        """Set every parameter from a ``{name: array}`` mapping (see :meth:`initial_values`).

        Names and shapes are checked first and nothing changes unless all match; values
        are cast to the model's dtype. ``model.set_values(model.initial_values())``
        restores the initial weights.
        """
        if not isinstance(values, Mapping):
            raise TypeError(
                f"values must be a mapping of parameter names to arrays (as from "
                f"model.initial_values()), got {type(values).__name__}"
            )
        expected = {p.name: p for p in self.params}
        problems = name_problems(values, expected)
        arrays = {}
        for name, p in expected.items():
            if name not in values:
                continue
            value = np.asarray(values[name])
            shape = p.get_value(borrow=True).shape
            if value.dtype.kind not in "fiu":
                problems.append(f"{name!r}: dtype {value.dtype} is not numeric")
            elif value.shape != shape:
                problems.append(f"{name!r}: shape {value.shape}, expected {shape}")
            else:
                arrays[name] = value.astype(self.dtype, copy=True)
        if problems:
            raise ValueError("values do not match the model's parameters: " + "; ".join(problems))
        for name, value in arrays.items():
            expected[name].set_value(value)


def _check_size(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def mlp(n_in=64, hidden=(64,), n_out=10, *, activation="relu", l2=0.0, seed=0, dtype=None) -> MLP:
    r"""Build a small MLP classifier with seeded Glorot (tanh) or He (ReLU) initialisation.

    Weights of a layer with :math:`m` inputs and :math:`n` outputs are drawn from
    ``np.random.default_rng(seed)``, layer by layer:

    .. math::

        \text{tanh (Glorot uniform):}\quad W \sim \mathcal U\!\left(-\sqrt{\tfrac{6}{m+n}},
        \sqrt{\tfrac{6}{m+n}}\right), \qquad
        \text{ReLU (He normal):}\quad W \sim \mathcal N\!\left(0, \tfrac{2}{m}\right),

    and biases start at zero.

    Parameters
    ----------
    n_in : int
        Input features (64 for the bundled 8×8 digits, 784 for MNIST).
    hidden : sequence of int
        Hidden layer widths; ``()`` gives multinomial logistic regression.
    n_out : int
        Classes.
    activation : {"relu", "tanh"}
        Hidden nonlinearity.
    l2 : float
        :math:`\lambda \ge 0`; :meth:`MLP.loss` adds :math:`\frac{\lambda}{2}\sum_l\lVert
        W_l\rVert_F^2` (weights only, never biases). ``0`` adds nothing to the graph.
    seed : int
        Seed of the initial values; the same seed gives the same weights.
    dtype : str, optional
        ``"float32"`` or ``"float64"``; default ``pytensor.config.floatX``.

    Returns
    -------
    MLP
        With ``params`` named ``W1, b1, W2, b2, ...``.

    Notes
    -----
    The initialisation differs from ``torch.nn.Linear``'s default (Kaiming uniform with
    :math:`a=\sqrt5`); the comparison command starts torch from these very arrays
    (:meth:`MLP.initial_values`), so both sides see the same weights.

    References
    ----------
    X. Glorot and Y. Bengio, "Understanding the difficulty of training deep feedforward
    neural networks", AISTATS 2010. K. He et al., "Delving deep into rectifiers", ICCV 2015.

    See Also
    --------
    MLP.loss, MLP.accuracy

    Examples
    --------
    >>> import numpy as np, pytensor, pytensor.tensor as pt
    >>> import symupdates as su
    >>> from symupdates.lab.models import mlp
    >>> rng = np.random.default_rng(0)
    >>> X_data = rng.normal(size=(32, 5)); y_data = (X_data[:, 0] > 0).astype("int64")
    >>> model = mlp(n_in=5, hidden=(16,), n_out=2, activation="tanh", seed=1, dtype="float64")
    >>> X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
    >>> cost = model.loss(X, y)
    >>> train = pytensor.function([X, y], cost, updates=su.adam(cost, model.params, 0.05),
    ...                           mode="FAST_COMPILE")
    >>> losses = [float(train(X_data, y_data)) for _ in range(50)]
    >>> losses[-1] < 0.1 * losses[0]
    True
    """
    n_in = _check_size("n_in", n_in)
    n_out = _check_size("n_out", n_out)
    if isinstance(hidden, numbers.Integral) or not isinstance(hidden, Sequence) or isinstance(hidden, str):
        raise TypeError(f"hidden must be a sequence of layer widths such as (64,), got {hidden!r}")
    hidden = tuple(_check_size(f"hidden[{i}]", h) for i, h in enumerate(hidden))
    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation must be 'relu' or 'tanh', got {activation!r}")
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real) or not np.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    dtype = pytensor.config.floatX if dtype is None else dtype
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype must be 'float32' or 'float64' (or None for floatX), got {dtype!r}")

    rng = np.random.default_rng(seed)
    sizes = (n_in, *hidden, n_out)
    initial = {}
    for layer, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
        if activation == "tanh":
            bound = np.sqrt(6.0 / (m + n))
            W = rng.uniform(-bound, bound, size=(m, n))
        else:
            W = rng.normal(0.0, np.sqrt(2.0 / m), size=(m, n))
        initial[f"W{layer}"] = W.astype(dtype)
        initial[f"b{layer}"] = np.zeros(n, dtype=dtype)
    return MLP(sizes, activation, float(l2), int(seed), dtype, initial)
