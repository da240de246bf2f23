r"""Finite-difference gradient checking, done right.

:func:`check_grad` compares the gradient PyTensor computes (the analytic gradient
:math:`a`) with a centered finite difference (the numeric gradient :math:`n`) on a
seeded sample of coordinates from **every** parameter, biases included, and reports one
verdict per coordinate and per parameter:

.. math::

    n_i = \frac{f(x + h e_i) - f(x - h e_i)}{2h}, \qquad
    r_i = \frac{|a_i - n_i|}{\max(|a_i|, |n_i|)} \quad (r_i = 0 \text{ when } a_i = n_i = 0)

================  ========================  ===================================================
verdict           relative error            meaning
================  ========================  ===================================================
``"ok"``          :math:`r \le 10^{-7}`     correct (``OK_MAX``)
``"suspicious"``  :math:`r \le 10^{-4}`     look closer; fine only next to a kink (``SUSPICIOUS_MAX``)
``"doubtful"``    :math:`r \le 10^{-2}`     probably wrong (``DOUBTFUL_MAX``)
``"wrong"``       :math:`r > 10^{-2}`       wrong
``"non-finite"``  NaN                       the analytic gradient, the numeric one or the
                                            cost is NaN or ±inf: a failure, never excused
                                            as a kink or as rounding noise
``"kink"``        any                       the perturbation crossed a non-differentiable
                                            point (ReLU, max, abs, ...): a false alarm,
                                            not counted
================  ========================  ===================================================

What makes the check trustworthy:

* **float64 whatever the model's dtype.** The cost and gradient graphs are rebuilt with
  float64 parameters and inputs (see :func:`float64_graph`), so a float32 model is checked
  without float32 rounding swamping the differences.
* **Centered differences** (error :math:`O(h^2)`, against :math:`O(h)` one-sided),
  with a relative step :math:`h = s \max(1, |x_i|)`, dividing by the perturbation
  actually stored (:math:`x^+ - x^-`), and optionally several step sizes ``s``,
  keeping the best (*step-size control*).
* **Every parameter is sampled**, the coordinate with the largest analytic gradient
  first, so an informative coordinate is always checked even where most are zero.
* **Kinks are detected, not guessed**: every non-differentiable operation between the
  parameters and the cost records which branch it takes (the sign of a ReLU's input, the
  position of a max, a switch's condition); when a branch changes between
  :math:`x - h` and :math:`x + h` the coordinate is labelled ``"kink"``.
* **NaN and ±inf fail**: a coordinate whose analytic gradient, numeric estimate or
  perturbed cost is not finite is ``"non-finite"``, its note naming which; the
  coordinate with the largest analytic gradient (sampled first) is a NaN or ±inf one
  whenever the gradient has any, and a cost that is not finite at the point itself
  fails the report.
* **Rounding noise is named**: a difference :math:`|a - n|` below the numeric estimate's
  rounding error (``NOISE_FACTOR`` :math:`\cdot\,\varepsilon\,(|f_+| + |f_-|) / 2h`)
  counts as ``"ok"`` with the note ``"within rounding noise"``, so tiny gradients do not
  raise false alarms.

>>> import numpy as np, pytensor, pytensor.tensor as pt
>>> from symupdates.gradcheck import check_grad
>>> rng = np.random.default_rng(0)
>>> W1 = pytensor.shared(rng.normal(size=(3, 4)).astype("float32"), name="W1")
>>> W2 = pytensor.shared(rng.normal(size=(4, 2)).astype("float32"), name="W2")
>>> X, y = pt.matrix("X", dtype="float32"), pt.vector("y", dtype="int64")
>>> log_p = pt.special.log_softmax(pt.tanh(X @ W1) @ W2, axis=1)
>>> cost = -log_p[pt.arange(y.shape[0]), y].mean()
>>> report = check_grad(cost, [W1, W2],
...                     {X: rng.normal(size=(5, 3)).astype("float32"), y: rng.integers(0, 2, 5)},
...                     mode="FAST_COMPILE")
>>> report.ok, report.failed
(True, [])
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pytensor
import pytensor.scalar as ps
import pytensor.tensor as pt
from pytensor.compile.sharedvalue import SharedVariable
from pytensor.graph.basic import Constant, Variable
try:  # PyTensor 3
    from pytensor.graph.traversal import ancestors, graph_inputs, io_toposort
except ImportError:  # PyTensor 2.38 (PyMC 5)
    from pytensor.graph.basic import ancestors, graph_inputs, io_toposort
from pytensor.tensor.elemwise import CAReduce, Elemwise
from pytensor.tensor.math import Argmax

from symupdates.base import check_params
from symupdates.build import param_names
from symupdates.checks import check_labels, label_classes

__all__ = [
    "DOUBTFUL_MAX",
    "NOISE_FACTOR",
    "OK_MAX",
    "SUSPICIOUS_MAX",
    "CoordinateCheck",
    "GradCheckReport",
    "check_grad",
    "float64_graph",
    "relative_error",
    "verdict",
]

#: Largest relative error called ``"ok"``.
OK_MAX = 1e-7
#: Largest relative error called ``"suspicious"`` (acceptable only next to a kink).
SUSPICIOUS_MAX = 1e-4
#: Largest relative error called ``"doubtful"``; anything above is ``"wrong"``.
DOUBTFUL_MAX = 1e-2
#: Safety factor on the float64 rounding error of a centered difference (see ``check_grad``).
NOISE_FACTOR = 10.0

#: Verdicts from best to worst (``"kink"`` is not an error level: the check did not apply).
VERDICTS = ("ok", "suspicious", "doubtful", "wrong", "non-finite", "kink")
#: The verdict of a coordinate whose gradient, estimate or perturbed cost is NaN or ±inf.
NON_FINITE = "non-finite"
#: The note of an "ok" whose difference is within the rounding error of the estimate.
NOISE_NOTE = "within rounding noise"

_NARROW = ("float16", "float32")


def relative_error(analytic, numeric):
    r"""The relative error :math:`|a - n| / \max(|a|, |n|)`, with :math:`0/0 = 0`.

    Symmetric in its arguments and scale-free; 1 or more means the two disagree
    completely (different signs give values in :math:`(1, 2]`). NaN when either value
    is NaN or ±inf: a non-finite gradient agrees with nothing, not even with itself
    (:func:`verdict` calls NaN ``"wrong"``).

    Parameters
    ----------
    analytic, numeric : float or array_like
        The gradient to check and its finite-difference estimate.

    Returns
    -------
    float or ndarray
        Elementwise for arrays.

    Examples
    --------
    >>> from symupdates.gradcheck import relative_error
    >>> round(relative_error(1.0, 1.0001), 9)
    9.999e-05
    >>> relative_error(0.0, 0.0), relative_error(2.0, -2.0)
    (0.0, 2.0)
    >>> relative_error(float("nan"), 1.0), relative_error(float("inf"), float("inf"))
    (nan, nan)
    """
    a = np.asarray(analytic, dtype="float64")
    n = np.asarray(numeric, dtype="float64")
    scale = np.maximum(np.abs(a), np.abs(n))
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        r = np.where(scale > 0, np.abs(a - n) / np.where(scale > 0, scale, 1.0), 0.0)
    r = np.where(np.isfinite(a) & np.isfinite(n), r, np.nan)
    return float(r) if r.ndim == 0 else r


def verdict(rel_error: float) -> str:
    r"""The verdict for a relative error: ``"ok"``, ``"suspicious"``, ``"doubtful"`` or ``"wrong"``.

    .. math::

        r \le 10^{-7}: \text{ok}, \quad r \le 10^{-4}: \text{suspicious}, \quad
        r \le 10^{-2}: \text{doubtful}, \quad \text{else (or NaN): wrong}

    NaN, the relative error of a non-finite gradient, is never ok; :func:`check_grad`
    labels such a coordinate ``"non-finite"``, a verdict of its own.

    Examples
    --------
    >>> from symupdates.gradcheck import verdict
    >>> [verdict(r) for r in (1e-9, 1e-5, 1e-3, 0.5, float("nan"))]
    ['ok', 'suspicious', 'doubtful', 'wrong', 'wrong']
    """
    if rel_error <= OK_MAX:
        return "ok"
    if rel_error <= SUSPICIOUS_MAX:
        return "suspicious"
    if rel_error <= DOUBTFUL_MAX:
        return "doubtful"
    return "wrong"


@dataclass(frozen=True)
class CoordinateCheck:
    """The check of one coordinate of one parameter.

    Attributes
    ----------
    param : str
        The parameter's name.
    index : tuple of int
        The coordinate (``()`` for a 0-d parameter).
    analytic, numeric : float
        The gradient PyTensor computed and the centered-difference estimate (float64).
    rel_error : float
        :func:`relative_error` of the two (NaN when either is not finite).
    step : float
        The perturbation :math:`h` actually used.
    verdict : str
        One of :data:`VERDICTS`.
    note : str
        ``"crossed Maximum"`` (the non-differentiable operations whose branch changed
        between :math:`x - h` and :math:`x + h`), ``"within rounding noise"``, for a
        ``"non-finite"`` coordinate what is not finite (``"analytic nan"``,
        ``"numeric nan; cost nan at x+h, nan at x-h"``), or ``""``.
    """

    param: str
    index: tuple
    analytic: float
    numeric: float
    rel_error: float
    step: float
    verdict: str
    note: str = ""

    @property
    def label(self) -> str:
        """``"W1[3, 4]"``."""
        return f"{self.param}[{', '.join(map(str, self.index))}]"


@dataclass(frozen=True)
class ParamSummary:
    """The checks of one parameter summed up (a row of the report's table)."""

    name: str
    shape: tuple
    checked: int
    counts: dict
    within_noise: int
    max_rel_error: float
    verdict: str


class GradCheckReport:
    """The result of :func:`check_grad`: every coordinate checked, and a table.

    Attributes
    ----------
    coordinates : tuple of CoordinateCheck
        Every coordinate checked, parameter by parameter.
    params : dict[str, ParamSummary]
        Per parameter: coordinates checked, count of each verdict, how many of the
        ``"ok"`` were ok only within rounding noise (the table's ``noise`` column), the
        largest relative error outside kinks (NaN if a coordinate is ``"non-finite"``),
        and the worst verdict outside kinks (``"kink"`` when every sampled coordinate
        crossed one).
    cost : float
        The cost at the point (NaN when not known).
    ok : bool
        True when every coordinate that did not cross a kink is ``"ok"`` and the cost
        at the point is finite (when known).
    failed : list of str
        The parameters whose verdict is neither ``"ok"`` nor ``"kink"``.
    """

    def __init__(self, coordinates, shapes, *, dtype, steps, cost=None):
        self.coordinates = tuple(coordinates)
        self.dtype = dtype
        self.steps = tuple(steps)
        self.cost = float("nan") if cost is None else float(cost)
        self._cost_known = cost is not None
        self.params = {}
        for name, shape in shapes.items():
            rows = [c for c in self.coordinates if c.param == name]
            counts = {v: sum(c.verdict == v for c in rows) for v in VERDICTS}
            judged = [c for c in rows if c.verdict != "kink"]
            worst = max((VERDICTS.index(c.verdict) for c in judged), default=VERDICTS.index("kink"))
            if any(c.verdict == NON_FINITE for c in judged):
                max_err = float("nan")
            else:
                max_err = max((c.rel_error for c in judged), default=float("nan"))
            noisy = sum(c.note == NOISE_NOTE for c in rows)
            self.params[name] = ParamSummary(name, tuple(shape), len(rows), counts, noisy, max_err, VERDICTS[worst])

    @property
    def cost_ok(self) -> bool:
        """False when the cost at the point is known and is NaN or ±inf."""
        return not self._cost_known or math.isfinite(self.cost)

    @property
    def ok(self) -> bool:
        return self.cost_ok and all(c.verdict in ("ok", "kink") for c in self.coordinates)

    @property
    def failed(self) -> list[str]:
        return [name for name, s in self.params.items() if s.verdict not in ("ok", "kink")]

    def __bool__(self) -> bool:
        raise TypeError("use report.ok (a GradCheckReport is not a boolean; printing it shows the table)")

    def __str__(self) -> str:
        # the non-finite column shows only when a coordinate is non-finite
        shown = [v for v in VERDICTS if v != NON_FINITE or any(s.counts[v] for s in self.params.values())]
        header = ["param", "shape", "checked", *shown, "noise", "max rel error", "verdict"]
        body = []
        for s in self.params.values():
            err = "-" if s.checked == s.counts["kink"] else f"{s.max_rel_error:.1e}"
            body.append([s.name, str(s.shape), str(s.checked), *(str(s.counts[v]) for v in shown), str(s.within_noise), err,
                         s.verdict.upper() if s.verdict not in ("ok", "kink") else s.verdict])
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        fmt = "  ".join(f"{{:<{w}}}" if i < 2 else f"{{:>{w}}}" for i, w in enumerate(widths))
        steps = ", ".join(f"{s:g}" for s in self.steps)
        lines = [
            f"gradient check: centered differences in float64 (model dtype {self.dtype}), "
            f"relative step {steps}, {len(self.coordinates)} coordinates",
            fmt.format(*header),
            fmt.format(*("-" * w for w in widths)),
            *(fmt.format(*row) for row in body),
        ]
        notable = [c for c in self.coordinates if c.verdict != "ok"]
        notable.sort(key=lambda c: (c.verdict == "kink", -VERDICTS.index(c.verdict), -c.rel_error))
        if notable:
            lines.append("coordinates not ok (worst first):")
            for c in notable[:10]:
                lines.append(
                    f"  {c.label:<12} analytic {c.analytic: .6e}  numeric {c.numeric: .6e}  "
                    f"rel {c.rel_error:.1e}  h {c.step:.1e}  {c.verdict}" + (f" ({c.note})" if c.note else "")
                )
            if len(notable) > 10:
                lines.append(f"  ... and {len(notable) - 10} more")
        problems = [f"in {', '.join(self.failed)}"] if self.failed else []
        if not self.cost_ok:
            lines.append(f"the cost is {self.cost} at the point: the check needs a point where it is finite")
            problems.append(f"{'' if problems else ': '}the cost is {self.cost} at the point")
        lines.append("result: ok" if self.ok else f"result: FAILED {'; '.join(problems)}")
        return "\n".join(lines)

    __repr__ = __str__


# ---------------------------------------------------------------- float64 rebuilding


def _widen_root(var):
    """A float64 stand-in for a graph input that is not replaced explicitly."""
    if isinstance(var, Constant) and getattr(var, "dtype", None) in _NARROW:
        if isinstance(var.type, pt.TensorType):
            return pt.constant(np.asarray(var.data, dtype="float64"), name=var.name)
        return ps.constant(np.float64(var.data), name=var.name)
    if isinstance(var, SharedVariable) and isinstance(var.type, pt.TensorType) and var.dtype in _NARROW:
        return pt.cast(var, "float64")
    return var


def _widen_op(op):
    """The op itself, or a copy whose float16/float32 ``dtype``/``acc_dtype`` is float64."""
    props = op._props_dict() if getattr(op, "__props__", None) else {}
    changed = {k: "float64" for k in ("dtype", "acc_dtype", "out_dtype") if props.get(k) in _NARROW}
    if not changed:
        return op
    return op.clone(**changed) if isinstance(op, CAReduce) else type(op)(**{**props, **changed})


def _rebuild(node, inputs):
    op = node.op
    if isinstance(op, Elemwise) and isinstance(op.scalar_op, ps.Cast) and op.scalar_op.o_type.dtype in _NARROW:
        return [pt.cast(inputs[0], "float64")]
    try:
        new_op = _widen_op(op)
        if new_op is op and all(a is b for a, b in zip(inputs, node.inputs, strict=True)):
            return list(node.outputs)
        # calling the op (not make_node) lets SymbolicOps such as Softmax rebuild their inner graph
        return list(new_op(*inputs, return_list=True))
    except Exception as err:  # noqa: BLE001 - re-raised with the node's name
        raise TypeError(
            f"cannot rebuild {node.op} in float64 for the gradient check ({err}); "
            f"its make_node must accept float64 inputs"
        ) from err


def float64_graph(outputs, replace):
    r"""Rebuild a graph so that it computes in float64.

    Every node between the replaced variables and ``outputs`` is rebuilt by calling its op
    on the new inputs (``make_node``; symbolic ops such as ``Softmax`` rebuild their inner
    graph for the new types), so dtypes propagate as if the graph had been
    written in float64: float32 constants and non-replaced float32 shared variables are
    upcast (exactly), casts to float16/float32 become casts to float64, and ops that carry
    a float32 ``dtype`` (``Sum(dtype="float32")``) are cloned with float64. Integer parts
    (labels, shapes, indices) are untouched.

    Parameters
    ----------
    outputs : list of Variable
        The expressions to rebuild (a cost and its gradients).
    replace : dict[Variable, Variable]
        Original variable -> float64 stand-in (the parameters and float inputs).

    Returns
    -------
    list of Variable
        The rebuilt outputs, in the same order.

    Notes
    -----
    This is PyTensor's ``graph_replace(..., strict=False)`` plus the dtype widening
    of casts, constants and ``dtype`` props, which a plain clone would keep in float32.
    Rebuilding through ``make_node`` (rather than cloning the model's construction
    code) checks exactly the graph the user built, including its gradient expressions;
    an op whose ``make_node`` insists on float32 raises a TypeError naming it. Any
    float16/float32 variable left in the result is reported with a RuntimeWarning.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from symupdates.gradcheck import float64_graph
    >>> x = pt.vector("x", dtype="float32")
    >>> y = (pt.exp(x) * np.float32(2.0)).astype("float32").sum()
    >>> x64 = pt.vector("x64", dtype="float64")
    >>> [y64] = float64_graph([y], {x: x64})
    >>> y64.dtype, float(y64.eval({x64: np.array([0.0, 1e-9])}, mode="FAST_COMPILE"))
    ('float64', 4.000000002)
    """
    outputs = list(outputs)
    memo = dict(replace)
    for node in io_toposort(list(replace), outputs):
        inputs = [memo[i] if i in memo else memo.setdefault(i, _widen_root(i)) for i in node.inputs]
        for old, new in zip(node.outputs, _rebuild(node, inputs), strict=True):
            memo[old] = new
    result = [memo.get(o, _widen_root(o)) for o in outputs]
    left = sorted({  # a float32 shared variable upcast as a whole is exact, not a leftover
        str(v.owner.op) if v.owner else str(v)
        for v in ancestors(result)
        if getattr(v, "dtype", None) in _NARROW and not isinstance(v, SharedVariable)
    })
    if left:
        warnings.warn(f"the float64 rebuild kept float16/float32 values from: {', '.join(left)}", RuntimeWarning,
                      stacklevel=2)
    return result


# ---------------------------------------------------------------- kink detection

_KINK_ELEMWISE = (ps.Maximum, ps.Minimum, ps.Abs, ps.Sign, ps.Switch, ps.Clip, ps.Floor, ps.Ceil, ps.Trunc,
                  ps.RoundHalfToEven, ps.RoundHalfAwayFromZero, ps.LogicalComparison)


def _branches(node):
    """Expressions whose values say which branch a non-differentiable op takes, or []."""
    op, inputs, out = node.op, node.inputs, node.outputs[0]
    if isinstance(op, Elemwise) and isinstance(op.scalar_op, _KINK_ELEMWISE):
        s = op.scalar_op
        if isinstance(s, ps.Maximum | ps.Minimum):
            return [pt.sign(inputs[0] - inputs[1])]
        if isinstance(s, ps.Abs | ps.Sign):
            return [pt.sign(inputs[0])]
        if isinstance(s, ps.Switch):
            return [inputs[0]]
        if isinstance(s, ps.Clip):
            return [pt.sign(inputs[0] - inputs[1]), pt.sign(inputs[0] - inputs[2])]
        return [out]  # comparisons and rounding: piecewise constant, the value is the branch
    if isinstance(op, CAReduce) and isinstance(op.scalar_op, ps.Maximum | ps.Minimum):
        axis = op.axis if op.axis is not None else tuple(range(inputs[0].type.ndim))
        return [pt.eq(inputs[0], pt.expand_dims(out, axis))]
    if isinstance(op, Argmax):
        return [out]
    return []


def _kink_indicators(cost, params):
    """``(op name, branch expression)`` for every kink between ``params`` and ``cost``."""
    depends = set(params)
    found = []
    for node in io_toposort(list(params), [cost]):
        if any(i in depends for i in node.inputs):
            depends.update(node.outputs)
            found.extend((str(node.op), b) for b in _branches(node))
    return found


# ---------------------------------------------------------------- the check


def _check_givens(givens, graph):
    if givens is None:
        givens = {}
    if not isinstance(givens, Mapping):
        raise TypeError(
            f"givens must be a dict mapping each symbolic input of the cost to its value, e.g. "
            f"{{X: X_data, y: y_data}}; got {type(givens).__name__}"
        )
    for var in givens:
        if not isinstance(var, Variable) or var.owner is not None or isinstance(var, Constant | SharedVariable):
            raise TypeError(f"givens keys must be the symbolic inputs of the cost (pt.matrix(...)), got {var!r}")
    free = [v for v in graph_inputs(graph) if not isinstance(v, Constant | SharedVariable)]
    missing = [v for v in free if v not in givens]
    if missing:
        names = ", ".join(str(v) for v in missing)
        raise ValueError(f"the cost depends on inputs without a value: {names}; pass givens={{input: value, ...}}")
    values = {}
    for var, value in givens.items():
        arr = np.asarray(value)
        if arr.ndim != var.type.ndim:
            raise ValueError(f"the value given for {var} has {arr.ndim} dimensions, expected {var.type.ndim}")
        n_classes = label_classes(var)
        if n_classes is not None:  # class indices of a model: out of range, they would read out of bounds
            check_labels(arr, n_classes, str(var))
        if var.dtype in _NARROW or var.dtype == "float64":
            values[var] = arr.astype("float64")
        else:
            values[var] = np.asarray(var.type.filter(arr, allow_downcast=False))
    return values


def _non_finite_note(analytic, numeric, f_plus, f_minus) -> str:
    """What is NaN or ±inf among the gradient, its estimate and the perturbed costs, or ""."""
    parts = [] if math.isfinite(analytic) else [f"analytic {analytic}"]
    if not math.isfinite(numeric):
        parts.append(f"numeric {numeric}")
    costs = [f"{f} at x{sign}h" for f, sign in ((f_plus, "+"), (f_minus, "-")) if not math.isfinite(f)]
    if costs:
        parts.append(f"cost {', '.join(costs)}")
    return "; ".join(parts)


def _check_steps(step) -> tuple:
    steps = tuple(step) if isinstance(step, Sequence) else (step,)
    if not steps:
        raise ValueError("step must be a positive float or a non-empty sequence of them, got an empty sequence")
    for s in steps:
        if isinstance(s, bool) or not isinstance(s, int | float | np.floating) or not 0 < s < 1:
            raise ValueError(f"step must be a float in (0, 1) (a relative step such as 1e-5), got {s!r}")
    return tuple(float(s) for s in steps)


def _sample(grad, n_samples, rng):
    """The coordinate with the largest |gradient| first, then distinct random ones.

    ``np.argmax`` returns the first NaN when there is one, and ±inf is the largest
    ``|gradient|``: a non-finite entry, if any, is always the first coordinate checked.
    """
    size = grad.size
    if size <= n_samples:
        flat = np.arange(size)
    else:
        top = int(np.argmax(np.abs(grad).ravel()))
        rest = rng.choice(size - 1, size=n_samples - 1, replace=False)
        flat = np.concatenate([[top], rest + (rest >= top)])  # skip top without bias
    return [tuple(int(i) for i in np.unravel_index(k, grad.shape)) for k in flat]


def check_grad(
    cost,
    params,
    givens=None,
    *,
    grads=None,
    n_samples: int = 10,
    step=1e-5,
    seed: int = 0,
    mode=None,
) -> GradCheckReport:
    r"""Check the gradients of ``cost`` against centered finite differences, in float64.

    For each parameter, ``n_samples`` coordinates :math:`i` (all of them when the tensor
    is smaller) are perturbed by :math:`\pm h`,

    .. math::

        h = s \max(1, |x_i|), \qquad
        n_i = \frac{f(x_i^+) - f(x_i^-)}{x_i^+ - x_i^-}, \quad x_i^\pm = x_i \pm h,

    (dividing by :math:`x^+ - x^-` as stored, so the representation error of :math:`h`
    cancels), and compared with the analytic gradient :math:`a_i` through
    :math:`r_i = |a_i - n_i| / \max(|a_i|, |n_i|)`. See the module docstring for the
    verdicts, kink detection and the rounding-noise rule.

    Parameters
    ----------
    cost : Variable
        A float scalar, e.g. ``model.loss(X, y)``.
    params : list of SharedVariable
        The parameters whose gradients to check; their current values are the point.
    givens : dict[Variable, array_like], optional
        A value for every symbolic input of the cost (``{X: X_data, y: y_data}``).
        Float inputs are evaluated in float64. Labels bound to a vector that a model's
        ``loss`` marked as class indices (:meth:`~symupdates.lab.MLP.loss`) must be in
        ``[0, n_out)``.
    grads : list of Variable, optional
        The gradient expressions to check; default ``pytensor.grad(cost, params)``.
    n_samples : int
        Coordinates per parameter (the one of largest ``|gradient|``, then seeded random ones).
    step : float or sequence of float
        The relative step :math:`s`. With several, each coordinate is evaluated at every
        step and the best is kept: one that crossed no kink, then one whose difference is
        above the rounding noise (so a tiny step cannot hide an error behind its large
        noise), then the smallest relative error. This is step-size control: truncation
        error grows with :math:`s^2`, rounding error with :math:`1/s`;
        ``(1e-4, 1e-5, 1e-6)`` covers most scales.
    seed : int
        Seed of the coordinate sample (``np.random.default_rng``).
    mode : str or Mode, optional
        Compilation mode of the two check functions (default: PyTensor's).

    Returns
    -------
    GradCheckReport
        ``.ok``, ``.failed`` (parameter names), ``.params``, ``.coordinates``,
        ``.cost``; printing it shows the per-parameter table and the worst coordinates.
        A NaN or ±inf analytic gradient, numeric estimate or perturbed cost makes a
        coordinate ``"non-finite"`` (a failure), and a non-finite cost at the point
        fails the report.

    Raises
    ------
    TypeError
        If ``cost`` is not a float scalar, ``params`` not a list of shared variables,
        ``givens`` not a dict of the cost's inputs, or labels not integers.
    ValueError
        For a bad ``n_samples``, ``step`` or ``grads``, an input of the cost without a
        value or with the wrong number of dimensions, or a label outside
        ``[0, n_out)`` (the message names the label, its index and the model's
        ``n_out``), all before compiling.

    Notes
    -----
    :func:`pytensor.gradient.verify_grad` checks a random projection of all
    gradients at once with one-sided differences and raises on failure; here each
    coordinate is checked on its own with centered differences, so the report can name
    the parameter (and coordinate) that is wrong. Kinks are found in the cost graph
    (elementwise ``maximum``/``minimum``/``abs``/``sign``/``switch``/``clip``/rounding/
    comparisons, ``max``/``min`` reductions and ``argmax``); a kink inside an opaque
    custom op cannot be seen and shows as a bad coordinate: try a smaller ``step``.
    A coordinate whose :math:`|a - n|` is below
    :math:`\texttt{NOISE\_FACTOR}\cdot\varepsilon_{64}(|f(x^+)| + |f(x^-)|)/(x^+ - x^-)`,
    the rounding error of the difference quotient, is ``"ok"`` ("within rounding noise").

    References
    ----------
    A. Karpathy et al., CS231n notes, "Gradient checks" (the relative error, its
    thresholds, kinks). J. Nocedal and S. Wright, *Numerical Optimization*, §8.1.

    Examples
    --------
    A wrong gradient is caught and named. Here ``grad_scale`` leaves the cost alone but
    halves the gradient that flows back through ``w``, as a custom op whose gradient
    forgets a factor would:

    >>> import numpy as np, pytensor
    >>> from pytensor.gradient import grad_scale
    >>> from symupdates.gradcheck import check_grad
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> b = pytensor.shared(np.array(0.5), name="b")
    >>> report = check_grad((grad_scale(w, 0.5) ** 2).sum() + b ** 2, [w, b], mode="FAST_COMPILE")
    >>> report.ok, report.failed
    (False, ['w'])
    """
    if not isinstance(cost, Variable) or getattr(cost.type, "ndim", None) != 0:
        raise TypeError(f"cost must be a symbolic scalar (e.g. model.loss(X, y)), got {cost!r}")
    if cost.dtype not in ("float16", "float32", "float64"):
        raise TypeError(f"cost must be a float scalar, got dtype {cost.dtype}")
    params = check_params(params)
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer, got {n_samples!r}")
    steps = _check_steps(step)
    if grads is None:
        grads = pytensor.grad(cost, params)
    else:
        grads = [pt.as_tensor_variable(g) for g in grads]
        if len(grads) != len(params):
            raise ValueError(f"grads has {len(grads)} expressions but params has {len(params)}; give one per parameter")
    values = _check_givens(givens, [cost, *grads])
    names = param_names(params)
    names = [names[id(p)] for p in params]

    # Stand-ins: float64 parameters and float inputs; integer inputs stay as they are.
    replace = {p: pt.tensor(dtype="float64", shape=p.type.shape, name=n) for p, n in zip(params, names, strict=True)}
    for var in values:
        replace[var] = pt.tensor(dtype="float64", shape=var.type.shape, name=var.name) if var.dtype in _NARROW else var
    cost64, *grads64 = float64_graph([cost, *grads], replace)
    p64 = [replace[p] for p in params]
    in64 = [replace[v] for v in values]
    kinks = _kink_indicators(cost64, p64)
    inputs = [*p64, *in64]
    probe = pytensor.function(inputs, [cost64, *(b for _, b in kinks)], mode=mode, on_unused_input="ignore")
    gradient = pytensor.function(inputs, grads64, mode=mode, on_unused_input="ignore")

    point = [np.array(p.get_value(), dtype="float64") for p in params]
    data = list(values.values())

    def evaluate():
        out = probe(*point, *data)
        return float(out[0]), [np.array(o, copy=True) for o in out[1:]]

    analytic = [np.asarray(g, dtype="float64") for g in gradient(*point, *data)]
    cost_at_point, base = evaluate()
    rng = np.random.default_rng(seed)
    eps = np.finfo("float64").eps
    checks = []
    for k, (name, x) in enumerate(zip(names, point, strict=True)):
        for index in _sample(analytic[k], n_samples, rng):
            a = float(analytic[k][index])
            candidates = []
            for s in steps:
                x0 = x[index]
                h = s * max(1.0, abs(float(x0)))
                x[index] = x0 + h
                f_plus, b_plus = evaluate()
                x[index] = x0 - h
                f_minus, b_minus = evaluate()
                x[index] = x0
                h_eff = (float(x0) + h) - (float(x0) - h)  # the perturbation actually applied
                n = (f_plus - f_minus) / h_eff
                crossed = sorted({
                    op for (op, _), b0, bp, bm in zip(kinks, base, b_plus, b_minus, strict=True)
                    if not (np.array_equal(b0, bp) and np.array_equal(b0, bm))
                })
                r = relative_error(a, n)
                noise = NOISE_FACTOR * eps * (abs(f_plus) + abs(f_minus)) / h_eff
                non_finite = _non_finite_note(a, n, f_plus, f_minus)
                if non_finite:  # before kinks and noise: neither excuses a NaN or an infinity
                    v, note = NON_FINITE, non_finite
                elif crossed and r > OK_MAX:
                    v, note = "kink", "crossed " + ", ".join(crossed)
                elif r > OK_MAX and abs(a - n) <= noise:
                    v, note = "ok", NOISE_NOTE
                else:
                    v, note = verdict(r), ("crossed " + ", ".join(crossed)) if crossed else ""
                candidates.append(CoordinateCheck(name, index, a, n, r, h_eff / 2, v, note))
            # best step: finite, then no kink, then an estimate above the rounding noise, then the smallest error
            checks.append(min(candidates, key=lambda c: (
                c.verdict == NON_FINITE, c.verdict == "kink", c.note == NOISE_NOTE, c.rel_error)))
    shapes = {n: x.shape for n, x in zip(names, point, strict=True)}
    return GradCheckReport(checks, shapes, dtype=", ".join(sorted({p.dtype for p in params})), steps=steps, cost=cost_at_point)
