"""Numeric helpers every rule shares: dtypes, coefficient casts, sums and norms.

This module imports nothing from the package, so any module may import it.

* :func:`compute_dtype` is the dtype a rule computes in for a parameter;
* :func:`coef` casts a float64 scalar coefficient to the dtype of the tensor it multiplies;
* :func:`total` and :func:`all_true` add up (or "and" together) many symbolic scalars
  without building an n-ary elementwise node (PyTensor's Python implementation of one
  fails beyond 32 inputs);
* :func:`sum_of_squares` and :func:`global_norm` are the L2 norms of clipping, the
  monitors and ``info["grad_norm"]``;
* :func:`all_finite` is the check of ``skip_nonfinite``: one reduction per tensor and no
  temporary array;
* :func:`power` is ``base ** exponent`` for the scalar coefficients (bias corrections,
  decays), under every backend PyTensor has.
"""

from __future__ import annotations

import functools

import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.graph.basic import Variable
from pytensor.tensor.elemwise import Elemwise

__all__ = [
    "FLOAT_DTYPES",
    "INT_DTYPES",
    "all_finite",
    "all_true",
    "coef",
    "compute_dtype",
    "global_norm",
    "isfinite",
    "one_minus",
    "power",
    "scaled",
    "sum_of_squares",
    "total",
]

FLOAT_DTYPES = ("float16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


def compute_dtype(var) -> str:
    """The dtype in which a rule computes for a parameter: its own, but at least float32.

    float16 parameters keep their moments and denominators in float32 (a float16 square
    of a small gradient underflows to zero); every other float dtype is kept as is.
    """
    dtype = getattr(var, "dtype", None)
    if not isinstance(var, Variable) or dtype not in FLOAT_DTYPES:
        raise TypeError(f"compute_dtype needs a float tensor variable (a parameter), got {var!r} of dtype {dtype}")
    return "float32" if dtype == "float16" else dtype


def _derived(var) -> dict:
    """A cache of the expressions built from ``var`` (its casts), kept on ``var.tag``.

    A model with hundreds of parameter tensors asks for the same cast of the same
    hyperparameter hundreds of times; without a cache each request would add a node of
    its own (PyTensor merges them when it compiles, but building them costs time). The
    cache records which variable it belongs to: a clone shares its original's tag and
    gets a cache of its own on first use.
    """
    entry = getattr(var.tag, "symupdates_derived", None)
    if entry is None or entry[0] is not var:
        entry = (var, {})
        var.tag.symupdates_derived = entry
    return entry[1]


def coef(scalar, like):
    """Cast a scalar coefficient to the dtype of the tensor it multiplies.

    Hyperparameters are float64 scalars; every rule passes them through ``coef`` before
    they meet a tensor, so float32 tensors stay float32 (scalar arithmetic before that
    point is done in float64, as torch does with Python floats).

    The result has ``like``'s number of dimensions, all of length 1, so it broadcasts
    against ``like`` as the scalar would. It is built once per scalar, dtype and number
    of dimensions and then reused: a rule over many tensors of one kind adds one cast,
    not one per tensor.

    >>> import numpy as np, pytensor.tensor as pt
    >>> from symupdates.numerics import coef
    >>> lr, W = pt.scalar("lr", dtype="float64"), pt.matrix("W", dtype="float32")
    >>> c = coef(lr, W)
    >>> c.dtype, c.type.ndim, c is coef(lr, pt.matrix("V", dtype="float32"))
    ('float32', 2, True)
    """
    if not isinstance(scalar, Variable) or getattr(scalar.type, "ndim", None) != 0:
        raise TypeError(f"coef needs a symbolic scalar as scalar (e.g. from hyperparam()), got {scalar!r}")
    if not isinstance(like, Variable) or getattr(like, "dtype", None) not in FLOAT_DTYPES:
        raise TypeError(f"coef needs a float tensor variable as like, got {like!r}")
    cache = _derived(scalar)
    key = ("coef", like.dtype, like.type.ndim)
    if key not in cache:
        cast = scalar.astype(like.dtype) if scalar.dtype != like.dtype else scalar
        cache[key] = pt.shape_padleft(cast, like.type.ndim) if like.type.ndim else cast
    return cache[key]


def one_minus(scalar):
    r""":math:`1 - x` of a symbolic scalar (a decay's complement), built once per scalar.

    Rules apply the same complement to every parameter tensor; asking for it in the loop
    over the tensors returns the same variable each time, so :func:`coef` of it is also
    built once.

    >>> import pytensor.tensor as pt
    >>> from symupdates.numerics import one_minus
    >>> beta = pt.scalar("beta", dtype="float64")
    >>> one_minus(beta) is one_minus(beta)
    True
    """
    cache = _derived(scalar)
    if "one_minus" not in cache:
        cache["one_minus"] = 1.0 - scalar
    return cache["one_minus"]


def _first_type(*types):
    """Output-type rule of :func:`scaled`: the tensor's own type (the scalar has its dtype)."""
    return [types[0]]


#: A multiplication that is not PyTensor's ``mul``: scalar ops compare equal by class and
#: output-type rule, and this one has its own rule.
_SCALED = Elemwise(ps.Mul(_first_type, name="scaled"))


def scaled(tensor, scalar):
    r"""``tensor * scalar``, the scalar cast to the tensor's dtype (:func:`coef`).

    Transforms multiply an incoming direction (a raw gradient, when they come first)
    by a scalar through this function. It is an ordinary elementwise multiplication,
    fused into the update loop like any other, but not PyTensor's ``mul`` op, so the C
    backend's BLAS rewrites do not see it. Those fold a scalar ``mul`` of a matrix
    product into a copy of the product (``Dot22Scalar``) even when the product has
    other uses, so with ``mul`` a weight gradient used by the global norm and by Adam's
    two moments was computed three times (``tests/test_structure.py`` counts the
    products).
    """
    return _SCALED(tensor, coef(scalar, tensor))


class _FloatPower(ps.Pow):
    """PyTensor's ``pow``, looked up by the backends as ``float_power`` instead of ``power``.

    The Numba, JAX and PyTorch backends find a scalar op's implementation by the name in
    its ``nfunc_spec``; PyTorch has no ``torch.power``, so PyTensor's PyTorch backend
    (3.0 to 3.3 at least) cannot compile ``pow``. ``float_power`` is the same function in
    NumPy, JAX and torch, computed in float64, which is where the coefficients are.
    """

    nfunc_spec = ("float_power", 2, 1)


_POWER = Elemwise(_FloatPower(ps.upcast_out, name="power"))


def power(base, exponent):
    r"""``base ** exponent`` for scalar coefficients, such as :math:`\beta^t` (float64).

    The same as PyTensor's ``**`` (its C code, its Python implementation), and it also
    compiles under PyTensor's PyTorch backend, which has no conversion for ``pow``.

    >>> import numpy as np
    >>> from symupdates.numerics import power
    >>> float(power(np.float64(0.9), np.int64(3)).eval(mode="FAST_COMPILE"))
    0.7290000000000001
    """
    return _POWER(pt.as_tensor_variable(base), pt.as_tensor_variable(exponent))


#: PyTensor's Python implementation of an elementwise op takes at most 32 operands.
_MAX_OPERANDS = 31


def total(scalars):
    """The sum of symbolic scalars, however many.

    Up to 31 terms this is one ``add``; beyond, a ``sum`` over a stacked column, which
    PyTensor's rewrites do not flatten back into an ``add`` of more than 32 operands
    (whose Python implementation, used by ``mode="FAST_COMPILE"``, fails).
    """
    scalars = list(scalars)
    if not scalars:
        raise ValueError("total needs at least one term")
    if len(scalars) == 1:
        return scalars[0]
    if len(scalars) <= _MAX_OPERANDS:
        return pt.add(*scalars)
    return pt.sum(pt.stack(scalars).reshape((-1, 1)))


def all_true(conditions):
    """The logical "and" of symbolic boolean scalars, however many (see :func:`total`)."""
    conditions = list(conditions)
    if not conditions:
        raise ValueError("all_true needs at least one condition")
    if len(conditions) == 1:
        return conditions[0]
    if len(conditions) <= _MAX_OPERANDS:  # scalar ands that fusion turns into one loop-free node
        return functools.reduce(pt.and_, conditions)
    return pt.all(pt.stack(conditions).reshape((-1, 1)))


def sum_of_squares(tensor):
    r"""The sum of squared elements, :math:`\sum_j t_j^2`.

    Written as ``sum(sqr(t))``, which the C backend fuses into one reduction loop; under
    Numba it is much faster than ``dot(t.ravel(), t.ravel())``, which PyTensor compiles
    as a ``(1, n) @ (n, 1)`` matrix product.
    """
    return pt.sum(pt.sqr(tensor))


def global_norm(tensors):
    r"""The L2 norm of all tensors taken together, :math:`\sqrt{\sum_i \lVert g_i \rVert_2^2}`.

    Computed in the tensors' own dtype (float32 gradients give a float32 norm).

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> import symupdates as su
    >>> float(su.global_norm([pt.as_tensor(np.array([3.0])), pt.as_tensor(np.array([[4.0]]))]).eval())
    5.0
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("global_norm needs at least one tensor")
    return pt.sqrt(total(sum_of_squares(t) for t in tensors))


def isfinite(x):
    """Elementwise "not NaN and not ±Inf" (``pt.isfinite`` where PyTensor has it: 3.0 and later)."""
    if hasattr(pt, "isfinite"):
        return pt.isfinite(x)
    return pt.invert(pt.or_(pt.isnan(x), pt.isinf(x)))  # PyTensor 2.38 (PyMC 5)


def all_finite(tensors):
    r"""A boolean scalar: true when no element of any tensor is NaN or :math:`\pm\infty`.

    Each tensor is summed in float64, straight from its elements (one pass, no
    temporary array, unlike ``all(isfinite(t))``); the sum is finite exactly when every
    element is, except that finite float64 elements whose sum exceeds
    :math:`1.8 \times 10^{308}` also count as non-finite (float16 and float32 elements
    cannot get there).
    """
    tensors = list(tensors)
    if not tensors:
        raise ValueError("all_finite needs at least one tensor")
    return all_true(isfinite(pt.sum(t, dtype="float64", acc_dtype="float64")) for t in tensors)
