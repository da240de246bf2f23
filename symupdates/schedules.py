r"""Schedules of the step counter (the host-side :class:`~symupdates.ReduceLROnPlateau` is in :mod:`symupdates.plateau`).

A *schedule* is a function of the step counter :math:`k` that returns a scalar
expression. Pass one wherever a hyperparameter goes (``learning_rate``, ``momentum``,
``beta1``, ``weight_decay``, ``clip_norm``, ...): the rule calls it once, while the
updates are built, and the compiled function evaluates it at every call, so the value
changes every step with no recompiling. The value applied by a call is published as
``updates.info[name]`` (``info["learning_rate"]``, ``info["beta1"]``, ...) for logging.

Step convention
---------------
:math:`k` is the number of updates applied before the current one (``updates.step``,
an int64 scalar): **the first update sees** :math:`k = 0`. With that convention every
schedule here equals its ``torch.optim.lr_scheduler`` twin used the usual way, with
``scheduler.step()`` called after every ``optimizer.step()``: the update at
:math:`k` uses the value torch's scheduler holds after :math:`k` scheduler steps.
Calls skipped by ``skip_nonfinite`` do not advance :math:`k`, ``updates.reset()``
rewinds it to 0, and ``state_dict()`` saves it. Every schedule returns a float64
scalar whatever ``floatX`` is; rules cast it to each parameter's dtype.

Contents
--------
In the table :math:`v` is the schedule's value at :math:`k = 0` (torch's base lr).

==========================  ============================================================  ===============================
schedule                    value at step :math:`k`                                       torch twin
==========================  ============================================================  ===============================
:func:`constant`            :math:`v`                                                     (none)
:func:`step_decay`          :math:`v\,\gamma^{\lfloor k / s \rfloor}`                     ``StepLR``
:func:`multistep_decay`     :math:`v\,\gamma^{n_k}`, :math:`n_k` milestones passed        ``MultiStepLR``
:func:`exponential_decay`   :math:`v\,\gamma^k`                                           ``ExponentialLR``
:func:`inverse_time_decay`  :math:`v / (1 + d\,k)`                                        Adagrad's ``lr_decay``
:func:`cosine_decay`        :math:`v_{min} + (v - v_{min})(1 + \cos(\pi k/T))/2`          ``CosineAnnealingLR``
:func:`cosine_restarts`     cosine decay restarted after :math:`T_0, T_0 r, \dots` steps  ``CosineAnnealingWarmRestarts``
:func:`linear_warmup`       :math:`v\,(f_0 + (f_1 - f_0) \min(k, T)/T)`                   ``LinearLR``
:func:`polynomial_decay`    :math:`v\,(1 - \min(k, T)/T)^p`                               ``PolynomialLR``
:func:`one_cycle`           warm-up, annealing; momentum the other way                    ``OneCycleLR``
:func:`join`                schedules in turn, each restarted at 0                        ``SequentialLR``
==========================  ============================================================  ===============================

:class:`ReduceLROnPlateau` is not a schedule: it runs in Python between calls, reads a
metric and lowers a *shared* learning rate with ``set_value``, exactly as torch's.

A schedule is only a function, so schedules compose with plain arithmetic. To follow a
schedule and still reduce it on a plateau, multiply it by a shared scale and give the
scale to :class:`ReduceLROnPlateau`. Schedules also take an integer array, which is how
to look at one before training:

>>> import numpy as np, pytensor
>>> import symupdates as su
>>> from symupdates import schedules
>>> cosine = schedules.cosine_decay(0.1, decay_steps=4)
>>> cosine(np.arange(5)).eval(mode="FAST_COMPILE").round(4)
array([0.1   , 0.0854, 0.05  , 0.0146, 0.    ])
>>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
>>> updates = su.momentum((w ** 2).sum(), [w], learning_rate=cosine, momentum=0.9)
>>> step = pytensor.function([], updates.info["learning_rate"], updates=updates, mode="FAST_COMPILE")
>>> [round(float(step()), 4) for _ in range(3)]
[0.1, 0.0854, 0.05]
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Variable

from symupdates.checks import check_count, check_flag, check_real
from symupdates import numerics
from symupdates.numerics import INT_DTYPES

__all__ = [
    "OneCycle",
    "Schedule",
    "constant",
    "cosine_decay",
    "cosine_restarts",
    "exponential_decay",
    "inverse_time_decay",
    "join",
    "linear_warmup",
    "multistep_decay",
    "one_cycle",
    "polynomial_decay",
    "step_decay",
]

#: A schedule maps the int64 step counter ``k`` to a scalar expression.
Schedule = Callable[[Variable], Variable]

#: int64 arithmetic on step counts stays exact below this bound.
_MAX_STEP = 2**62


# --- argument checks (eager: they run when the schedule is created) ----------------


_number = check_real


def _count(name: str, value, low: int = 1) -> int:
    """A number of steps: an integer ``>= low`` (and below 2**62)."""
    return check_count(name, value, low=low, high=_MAX_STEP - 1, what="an integer number of steps")


def _increasing(name: str, values, low: int) -> list[int]:
    """A strictly increasing list of step numbers ``>= low``."""
    if isinstance(values, str) or not isinstance(values, Sequence | np.ndarray):
        raise TypeError(f"{name} must be a list of step numbers, got {values!r}")
    steps = [_count(f"{name}[{i}]", v, low=low) for i, v in enumerate(values)]
    for i in range(1, len(steps)):
        if steps[i] <= steps[i - 1]:
            raise ValueError(
                f"{name} must be strictly increasing, got {list(values)!r} ({name}[{i}] = {steps[i]} "
                f"follows {steps[i - 1]}); sort them and drop repeats"
            )
    return steps


# --- graph helpers ------------------------------------------------------------------


def _steps(k):
    """The step counter as an int64 tensor (a scalar, or an array to tabulate a schedule)."""
    k = pt.as_tensor_variable(k)
    if k.dtype not in INT_DTYPES:
        raise TypeError(f"a schedule takes the integer step counter k, got {k!r} of dtype {k.dtype}")
    return k if k.dtype == "int64" else k.astype("int64")


def _c(x: float):
    """A float64 constant (a bare Python float would follow floatX and could become float32)."""
    return pt.constant(np.float64(x))


def _f(k):
    return k.astype("float64")


def _cosine_mix(low: float, high: float, phase):
    """``low + (high - low)(1 + cos(phase))/2``, in torch's order of operations."""
    return _c(low) + _c(high - low) * (1 + pt.cos(phase)) / 2


# --- schedules ----------------------------------------------------------------------


def constant(value) -> Schedule:
    r"""A constant schedule: :math:`v`.

    Passing the float itself is usually better (it becomes a live shared value); a
    constant schedule is a piece for :func:`join`.

    Parameters
    ----------
    value : float
        :math:`v \ge 0`.

    Returns
    -------
    Schedule

    See Also
    --------
    join

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.constant(0.1)(np.arange(3)).eval(mode="FAST_COMPILE")
    array([0.1, 0.1, 0.1])
    """
    v = _number("value", value, low=0.0)

    def schedule(k):
        return pt.zeros_like(_steps(k), dtype="float64") + _c(v)

    return schedule


def step_decay(init_value, step_size, gamma=0.1) -> Schedule:
    r"""Multiply by :math:`\gamma` every ``step_size`` steps, as ``torch.optim.lr_scheduler.StepLR``.

    .. math:: v_k = v\,\gamma^{\lfloor k / s \rfloor}

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`, the value for the first :math:`s` steps.
    step_size : int
        :math:`s \ge 1`, torch's ``step_size``.
    gamma : float
        :math:`\gamma \ge 0`, the factor applied at each :math:`k = s, 2s, \dots`.

    Returns
    -------
    Schedule

    See Also
    --------
    multistep_decay : decay at arbitrary steps.

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.step_decay(0.1, step_size=2, gamma=0.5)(np.arange(6)).eval(mode="FAST_COMPILE")
    array([0.1  , 0.1  , 0.05 , 0.05 , 0.025, 0.025])
    """
    v = _number("init_value", init_value, low=0.0)
    s = _count("step_size", step_size)
    g = _number("gamma", gamma, low=0.0)

    def schedule(k):
        return _c(v) * numerics.power(_c(g), _steps(k) // s)

    return schedule


def multistep_decay(init_value, milestones, gamma=0.1) -> Schedule:
    r"""Multiply by :math:`\gamma` at each milestone, as ``torch.optim.lr_scheduler.MultiStepLR``.

    .. math:: v_k = v\,\gamma^{n_k}, \qquad n_k = \#\{i : m_i \le k\}

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`, the value before the first milestone.
    milestones : list of int
        :math:`0 \le m_1 < m_2 < \dots`, the steps from which one more factor applies.
    gamma : float
        :math:`\gamma \ge 0`.

    Returns
    -------
    Schedule

    Notes
    -----
    torch accepts a repeated milestone (and then applies :math:`\gamma` once per
    repetition); here milestones must be strictly increasing, so a typo cannot pass
    silently. Write the compound factor as a separate milestone list instead.

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.multistep_decay(1.0, [2, 3], gamma=0.5)(np.arange(5)).eval(mode="FAST_COMPILE")
    array([1.  , 1.  , 0.5 , 0.25, 0.25])
    """
    v = _number("init_value", init_value, low=0.0)
    ms = _increasing("milestones", milestones, low=0)
    if not ms:
        raise ValueError("milestones is empty: give at least one step, or use constant()")
    g = _number("gamma", gamma, low=0.0)
    ms_array = np.asarray(ms, dtype="int64")

    def schedule(k):
        passed = pt.sum(pt.ge(pt.shape_padright(_steps(k)), ms_array), axis=-1)
        return _c(v) * numerics.power(_c(g), passed)

    return schedule


def exponential_decay(init_value, gamma) -> Schedule:
    r"""Multiply by :math:`\gamma` every step, as ``torch.optim.lr_scheduler.ExponentialLR``.

    .. math:: v_k = v\,\gamma^k

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`.
    gamma : float
        :math:`\gamma \ge 0` (above 1 the value grows, as in a learning-rate range test).

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.exponential_decay(1.0, gamma=0.5)(np.arange(4)).eval(mode="FAST_COMPILE")
    array([1.   , 0.5  , 0.25 , 0.125])
    """
    v = _number("init_value", init_value, low=0.0)
    g = _number("gamma", gamma, low=0.0)

    def schedule(k):
        return _c(v) * numerics.power(_c(g), _steps(k))

    return schedule


def inverse_time_decay(init_value, decay_rate) -> Schedule:
    r"""Inverse-time decay, Adagrad's ``lr_decay``.

    .. math:: v_k = \frac{v}{1 + d\,k}

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`.
    decay_rate : float
        :math:`d \ge 0`.

    Returns
    -------
    Schedule

    Notes
    -----
    torch has no scheduler of this name; it equals
    ``LambdaLR(optimizer, lambda k: 1 / (1 + d * k))`` and the learning-rate decay built
    into ``torch.optim.Adagrad``.

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.inverse_time_decay(1.0, decay_rate=0.5)(np.arange(4)).eval(mode="FAST_COMPILE")
    array([1.  , 0.66666667, 0.5 , 0.4 ])
    """
    v = _number("init_value", init_value, low=0.0)
    d = _number("decay_rate", decay_rate, low=0.0)

    def schedule(k):
        return _c(v) / (1 + _f(_steps(k)) * _c(d))

    return schedule


def cosine_decay(init_value, decay_steps, min_value=0.0) -> Schedule:
    r"""Cosine annealing, as ``torch.optim.lr_scheduler.CosineAnnealingLR``.

    .. math:: v_k = v_{min} + \frac{1}{2}(v - v_{min})\left(1 + \cos\frac{\pi k}{T}\right)

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`, the value at :math:`k = 0`.
    decay_steps : int
        :math:`T \ge 1`, torch's ``T_max``: the value reaches :math:`v_{min}` at :math:`k = T`.
    min_value : float
        :math:`v_{min} \ge 0`, torch's ``eta_min``.

    Returns
    -------
    Schedule

    Notes
    -----
    The closed form of SGDR's annealing, which torch computes recursively; the two agree
    to rounding (below :math:`2 \cdot 10^{-14}` relative over 300 steps). As in torch,
    past :math:`T` the formula carries on: the value rises back to :math:`v` at
    :math:`2T`, and so on. To hold :math:`v_{min}` instead, :func:`join` a
    :func:`constant` at :math:`T`; for restarts use :func:`cosine_restarts`.

    References
    ----------
    Loshchilov, I. and Hutter, F. (2017). SGDR: Stochastic gradient descent with warm
    restarts. ICLR.

    See Also
    --------
    cosine_restarts, one_cycle

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.cosine_decay(1.0, decay_steps=2, min_value=0.5)(np.arange(5)).eval(mode="FAST_COMPILE")
    array([1.  , 0.75, 0.5 , 0.75, 1.  ])
    """
    v = _number("init_value", init_value, low=0.0)
    t = _count("decay_steps", decay_steps)
    m = _number("min_value", min_value, low=0.0)

    def schedule(k):
        return _cosine_mix(m, v, _c(math.pi) * _f(_steps(k)) / _c(t))

    return schedule


def cosine_restarts(init_value, first_period, period_mult=1, min_value=0.0) -> Schedule:
    r"""Cosine annealing with warm restarts, as ``torch.optim.lr_scheduler.CosineAnnealingWarmRestarts``.

    .. math::

        v_k = v_{min} + \frac{1}{2}(v - v_{min})\left(1 + \cos\frac{\pi\,k_{cur}}{T_i}\right)

    where cycle :math:`i = 0, 1, \dots` lasts :math:`T_i = T_0\,r^i` steps and
    :math:`k_{cur}` counts the steps since it started (the value jumps back to :math:`v`
    at each restart).

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`, the value at each restart.
    first_period : int
        :math:`T_0 \ge 1`, torch's ``T_0``: the length of the first cycle.
    period_mult : int
        :math:`r \ge 1`, torch's ``T_mult``: each cycle is :math:`r` times longer than
        the one before.
    min_value : float
        :math:`v_{min} \ge 0`, torch's ``eta_min``.

    Returns
    -------
    Schedule

    References
    ----------
    Loshchilov, I. and Hutter, F. (2017). SGDR: Stochastic gradient descent with warm
    restarts. ICLR.

    See Also
    --------
    cosine_decay

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.cosine_restarts(1.0, first_period=2, period_mult=2)(np.arange(7)).eval(mode="FAST_COMPILE")
    array([1.  , 0.5 , 1.  , 0.85355339, 0.5 , 0.14644661, 1.  ])
    """
    v = _number("init_value", init_value, low=0.0)
    t0 = _count("first_period", first_period)
    r = _count("period_mult", period_mult)
    m = _number("min_value", min_value, low=0.0)
    # The cycles' first steps and lengths, exact integers, as far as int64 steps reach.
    starts, periods = [0], [t0]
    while r > 1 and starts[-1] + periods[-1] < _MAX_STEP:
        starts.append(starts[-1] + periods[-1])
        periods.append(periods[-1] * r)
    starts_array = np.asarray(starts, dtype="int64")
    periods_array = np.asarray(periods, dtype="int64")

    def schedule(k):
        k = _steps(k)
        if r == 1:
            k_cur, period = k % t0, _c(t0)
        else:
            cycle = pt.sum(pt.ge(pt.shape_padright(k), starts_array[1:]), axis=-1)
            k_cur, period = k - pt.as_tensor(starts_array)[cycle], _f(pt.as_tensor(periods_array)[cycle])
        return _cosine_mix(m, v, _c(math.pi) * _f(k_cur) / period)

    return schedule


def linear_warmup(value, warmup_steps, start_factor=1.0 / 3, end_factor=1.0) -> Schedule:
    r"""Change linearly from :math:`f_0 v` to :math:`f_1 v`, as ``torch.optim.lr_scheduler.LinearLR``.

    .. math:: v_k = v \left(f_0 + (f_1 - f_0)\,\frac{\min(k, T)}{T}\right)

    Parameters
    ----------
    value : float
        :math:`v \ge 0`, the base value (reached at :math:`k = T` when :math:`f_1 = 1`).
    warmup_steps : int
        :math:`T \ge 1`, torch's ``total_iters``; the value stays at :math:`f_1 v` after it.
    start_factor : float
        :math:`f_0 \ge 0` (torch's default 1/3; torch needs :math:`f_0 > 0`, this
        closed form also takes 0, a warm-up from zero).
    end_factor : float
        :math:`f_1 \ge 0`; with :math:`f_1 < f_0` this is a linear decay.

    Returns
    -------
    Schedule

    Examples
    --------
    Warm a learning rate up from 0 to 0.1 over 4 steps:

    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.linear_warmup(0.1, warmup_steps=4, start_factor=0.0)(np.arange(6)).eval(mode="FAST_COMPILE")
    array([0.   , 0.025, 0.05 , 0.075, 0.1  , 0.1  ])
    """
    v = _number("value", value, low=0.0)
    t = _count("warmup_steps", warmup_steps)
    f0 = _number("start_factor", start_factor, low=0.0)
    f1 = _number("end_factor", end_factor, low=0.0)

    def schedule(k):
        return _c(v) * (_c(f0) + _c(f1 - f0) * _f(pt.minimum(_steps(k), t)) / _c(t))

    return schedule


def polynomial_decay(init_value, decay_steps, power=1.0) -> Schedule:
    r"""Polynomial decay to zero, as ``torch.optim.lr_scheduler.PolynomialLR``.

    .. math:: v_k = v \left(1 - \frac{\min(k, T)}{T}\right)^p

    Parameters
    ----------
    init_value : float
        :math:`v \ge 0`.
    decay_steps : int
        :math:`T \ge 1`, torch's ``total_iters``; the value is 0 from :math:`k = T` on.
    power : float
        :math:`p > 0`; 1 is a linear decay.

    Returns
    -------
    Schedule

    Examples
    --------
    >>> import numpy as np
    >>> from symupdates import schedules
    >>> schedules.polynomial_decay(1.0, decay_steps=4, power=2.0)(np.arange(6)).eval(mode="FAST_COMPILE")
    array([1.    , 0.5625, 0.25  , 0.0625, 0.    , 0.    ])
    """
    v = _number("init_value", init_value, low=0.0)
    t = _count("decay_steps", decay_steps)
    p = _number("power", power, low=0.0, low_open=True)

    def schedule(k):
        return _c(v) * numerics.power(1 - _f(pt.minimum(_steps(k), t)) / _c(t), _c(p))

    return schedule


class OneCycle(NamedTuple):
    """The two schedules of :func:`one_cycle`: give both to the optimizer."""

    learning_rate: Schedule
    momentum: Schedule


def one_cycle(
    max_learning_rate,
    total_steps,
    pct_start=0.3,
    anneal_strategy="cos",
    div_factor=25.0,
    final_div_factor=1e4,
    three_phase=False,
    base_momentum=0.85,
    max_momentum=0.95,
) -> OneCycle:
    r"""The 1cycle policy, as ``torch.optim.lr_scheduler.OneCycleLR``: a learning rate and a momentum.

    The learning rate goes from :math:`\eta_0 = \eta_{max} / \text{div\_factor}` up to
    :math:`\eta_{max}` and then down to :math:`\eta_{min} = \eta_0 /
    \text{final\_div\_factor}`; the momentum moves the opposite way between
    ``max_momentum`` and ``base_momentum``. Each phase :math:`[s, e]` anneals from a
    start value :math:`a` to an end value :math:`b` with

    .. math::

        x = \frac{k - s}{e - s}, \qquad
        \text{cos: } b + \frac{a - b}{2}(1 + \cos \pi x), \qquad
        \text{linear: } a + (b - a)\,x

    =========  ============================  =================================  ==========
    phase      steps :math:`[s, e]`          learning rate                      momentum
    =========  ============================  =================================  ==========
    warm-up    :math:`[0,\ \rho N - 1]`      :math:`\eta_0 \to \eta_{max}`      max → base
    annealing  :math:`[\rho N - 1,\ N - 1]`  :math:`\eta_{max} \to \eta_{min}`  base → max
    =========  ============================  =================================  ==========

    with :math:`N` = ``total_steps`` and :math:`\rho` = ``pct_start``. With
    ``three_phase=True`` the second phase instead ends at :math:`2\rho N - 2` going back
    to :math:`\eta_0` (momentum back to max), and a third phase anneals :math:`\eta_0 \to
    \eta_{min}` until :math:`N - 1` with the momentum held at max.

    Parameters
    ----------
    max_learning_rate : float
        :math:`\eta_{max} \ge 0`, torch's ``max_lr``.
    total_steps : int
        :math:`N \ge 2`, the number of updates in the cycle.
    pct_start : float
        :math:`\rho \in (0, 1)`, the fraction of the cycle spent warming up; the warm-up
        must last more than one step (:math:`\rho N > 1`).
    anneal_strategy : {"cos", "linear"}
        The shape of each phase.
    div_factor : float
        :math:`> 0`; :math:`\eta_0 = \eta_{max} / \text{div\_factor}`.
    final_div_factor : float
        :math:`> 0`; :math:`\eta_{min} = \eta_0 / \text{final\_div\_factor}`.
    three_phase : bool
        Use the paper's three phases (needs :math:`2\rho N - 2 < N - 1`, about
        :math:`\rho \le 1/2`) instead of fastai's two.
    base_momentum, max_momentum : float
        The momentum at the learning rate's peak and at its ends, in :math:`[0, 1]`.

    Returns
    -------
    OneCycle
        A named pair ``(learning_rate, momentum)`` of schedules. Give ``learning_rate``
        to the optimizer's learning rate and ``momentum`` to its momentum (``momentum``
        of :func:`~symupdates.momentum`, ``beta1`` of :func:`~symupdates.adam`), which is
        what torch's default ``cycle_momentum=True`` does; to keep the momentum fixed,
        use ``learning_rate`` alone (torch's ``cycle_momentum=False``).

    Notes
    -----
    torch raises an error once stepped past :math:`N` steps; here the schedules hold
    their final values from :math:`k = N - 1` on.

    References
    ----------
    Smith, L. N. and Topin, N. (2019). Super-convergence: very fast training of neural
    networks using large learning rates. SPIE 11006.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> from symupdates import schedules
    >>> cycle = schedules.one_cycle(0.1, total_steps=100)
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.adam((w ** 2).sum(), [w], learning_rate=cycle.learning_rate, beta1=cycle.momentum)
    >>> step = pytensor.function([], [updates.info["learning_rate"], updates.info["beta1"]],
    ...                          updates=updates, mode="FAST_COMPILE")
    >>> [round(float(x), 6) for x in step()]
    [0.004, 0.95]
    """
    peak = _number("max_learning_rate", max_learning_rate, low=0.0)
    n = _count("total_steps", total_steps, low=2)
    rho = _number("pct_start", pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
    if anneal_strategy not in ("cos", "linear"):
        raise ValueError(f"anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
    start = peak / _number("div_factor", div_factor, low=0.0, low_open=True)
    final = start / _number("final_div_factor", final_div_factor, low=0.0, low_open=True)
    three_phase = check_flag("three_phase", three_phase)
    m_low = _number("base_momentum", base_momentum, low=0.0, high=1.0)
    m_high = _number("max_momentum", max_momentum, low=0.0, high=1.0)

    # torch's phases: (last step, learning rate from, to, momentum from, to).
    warm_end = float(rho * n) - 1
    if warm_end <= 0:
        raise ValueError(
            f"one_cycle needs a warm-up longer than one step: pct_start * total_steps = {rho * n!r} "
            f"must be > 1; raise pct_start or total_steps"
        )
    if three_phase:
        back_end = float(2 * rho * n) - 2
        if back_end >= n - 1:
            raise ValueError(
                f"three_phase=True needs 2 * pct_start * total_steps - 2 < total_steps - 1 (pct_start about "
                f"0.5 or less) so that the third phase has steps; got pct_start={rho!r}, total_steps={n}"
            )
        phases = [
            (warm_end, start, peak, m_high, m_low),
            (back_end, peak, start, m_low, m_high),
            (n - 1, start, final, m_high, m_high),
        ]
    else:
        if warm_end >= n - 1:
            raise ValueError(f"pct_start = {rho!r} leaves no annealing phase in {n} steps; lower pct_start")
        phases = [(warm_end, start, peak, m_high, m_low), (n - 1, peak, final, m_low, m_high)]

    def anneal(a, b, x):
        if anneal_strategy == "cos":
            return _c(b) + _c((a - b) / 2.0) * (pt.cos(_c(math.pi) * x) + 1)
        return _c(b - a) * x + _c(a)

    def cycled(column):
        def schedule(k):
            k = _f(pt.minimum(_steps(k), n - 1))
            phase_start, pieces = 0.0, []
            for end, *values in phases:
                a, b = values[column], values[column + 1]
                pieces.append((end, anneal(a, b, (k - _c(phase_start)) / _c(end - phase_start))))
                phase_start = end
            value = pieces[-1][1]
            for end, piece in reversed(pieces[:-1]):
                value = pt.switch(pt.le(k, _c(end)), piece, value)
            return value

        return schedule

    return OneCycle(learning_rate=cycled(0), momentum=cycled(2))


def join(schedules, boundaries) -> Schedule:
    r"""Run schedules one after another, as ``torch.optim.lr_scheduler.SequentialLR``.

    .. math::

        v_k = S_i(k - b_i) \quad \text{for } b_i \le k < b_{i+1}, \qquad b_0 = 0

    Each schedule starts again from its own step 0 at its boundary.

    Parameters
    ----------
    schedules : list of Schedule
        :math:`S_0, S_1, \dots`: any functions of the step counter returning a scalar.
    boundaries : list of int
        :math:`0 < b_1 < b_2 < \dots`, one fewer than ``schedules``: the step at which
        each next schedule takes over (torch's ``milestones``).

    Returns
    -------
    Schedule

    Examples
    --------
    A linear warm-up over 3 steps, then an exponential decay:

    >>> import numpy as np
    >>> from symupdates import schedules
    >>> lr = schedules.join(
    ...     [schedules.linear_warmup(1.0, 3, start_factor=0.0), schedules.exponential_decay(1.0, 0.5)],
    ...     boundaries=[3],
    ... )
    >>> lr(np.arange(6)).eval(mode="FAST_COMPILE")
    array([0.        , 0.33333333, 0.66666667, 1.        , 0.5       , 0.25      ])
    """
    if isinstance(schedules, str) or not isinstance(schedules, Sequence) or not schedules:
        raise TypeError(f"schedules must be a non-empty list of schedules (functions of the step counter), got {schedules!r}")
    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"schedules[{i}] must be a schedule (a function of the step counter), got {s!r}")
    bounds = _increasing("boundaries", boundaries, low=1)
    if len(bounds) != len(schedules) - 1:
        raise ValueError(
            f"join() takes one boundary between each two schedules: {len(schedules)} schedules need "
            f"{len(schedules) - 1} boundaries, got {len(bounds)}"
        )
    schedules = list(schedules)
    starts = [0, *bounds]

    def piece(i, k):
        out = schedules[i](k - starts[i])
        if isinstance(out, numbers.Real) and not isinstance(out, bool | np.bool_):
            out = np.float64(out)  # a bare Python float would become a floatX constant
        try:
            out = pt.as_tensor_variable(out)
        except Exception as err:  # noqa: BLE001 - re-raised with the schedule's position
            raise TypeError(f"schedules[{i}] returned {out!r}, not a scalar") from err
        if out.type.ndim > k.type.ndim or out.dtype not in ("float16", "float32", "float64", *INT_DTYPES):
            raise ValueError(f"schedules[{i}] must return a scalar number, got type {out.type}")
        return out.astype("float64")

    def schedule(k):
        k = _steps(k)
        value = piece(len(schedules) - 1, k)
        for i in reversed(range(len(bounds))):
            value = pt.switch(pt.lt(k, bounds[i]), piece(i, k), value)
        return value

    return schedule
