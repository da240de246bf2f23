r"""Building blocks: small gradient transforms that :func:`~symupdates.chain` joins.

Each factory checks its hyperparameters at once (a bad value raises before anything is
built) and returns a transform ``(directions, params) -> (directions, state_updates)``.
Directions are what gets *added* to the parameters, so a descent rule ends with
:func:`scale_by_learning_rate`, which multiplies by :math:`-\eta`.

Symbols: :math:`g` is the incoming direction (the gradient, after clipping and weight
decay when those come first), :math:`p` the parameter, :math:`k = 0, 1, \dots` the
number of updates applied before this one and :math:`t = k + 1` torch's step count.
Scalar coefficients are computed in float64 and cast to the parameter's compute dtype
(:func:`~symupdates.numerics.coef`), so float32 parameters give float32 graphs.
"""

from __future__ import annotations

import numpy as np
import pytensor.tensor as pt

from symupdates.build import apply_only_when, current_build, hyperparam, hyperparam_off, new_scope, new_state, step_count
from symupdates.checks import DECAY, NON_NEGATIVE, UNIT, check_count, check_flag, check_hyperparam, check_real, is_off, is_scalar_number
from symupdates.numerics import coef, one_minus, power, scaled, sum_of_squares

__all__ = [
    "MUON_COEFFICIENTS",
    "accumulate_gradients",
    "add_decayed_weights",
    "negate",
    "off",
    "orthogonalize",
    "scale",
    "scale_by_adadelta",
    "scale_by_adafactor",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_asgd",
    "scale_by_decayed_learning_rate",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_muon",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "trace",
    "weights_only",
]


def _t():
    """torch's step number for this update, ``t = k + 1``, as a float64 scalar."""
    return (step_count() + 1).astype("float64")


def scale(factor):
    r"""Multiply every direction by a scalar: :math:`g \leftarrow s\,g`.

    ``scale(-1.0)`` turns a descent rule into an ascent rule (torch's ``maximize=True``).

    Parameters
    ----------
    factor : float, shared or symbolic scalar, or schedule
        :math:`s`. Live hyperparameter ``"factor"``.

    Examples
    --------
    >>> import symupdates as su
    >>> ascend = su.scale(-1.0)
    """
    check_hyperparam("factor", factor)

    def update(directions, params):
        s = hyperparam("factor", factor)
        return [scaled(d, s) for d in directions], []

    return update


def scale_by_learning_rate(learning_rate):
    r"""Turn directions into descent steps: :math:`g \leftarrow -\eta\,g`.

    Parameters
    ----------
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`. Live hyperparameter ``"learning_rate"``; the value applied by
        each call is ``info["learning_rate"]``.

    Examples
    --------
    A schedule is any function of the step counter :math:`k` returning a scalar:

    >>> import pytensor.tensor as pt
    >>> import symupdates as su
    >>> warm_up = su.scale_by_learning_rate(lambda k: 1e-3 * pt.minimum(1.0, (k + 1) / 100))
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)

    def update(directions, params):
        lr = hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
        minus_lr = -lr
        return [scaled(d, minus_lr) for d in directions], []

    return update


def scale_by_decayed_learning_rate(learning_rate, lr_decay):
    r"""Descent steps with an inverse-time decayed learning rate (Adagrad's ``lr_decay``).

    .. math:: g \leftarrow -\frac{\eta}{1 + k\,d}\, g

    with :math:`k` the number of updates applied before this one, the rate computed
    first in float64 and applied in one multiplication, as ``torch.optim.Adagrad``
    computes its ``clr``.

    Parameters
    ----------
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`. Live hyperparameter ``"learning_rate"``.
    lr_decay : float, shared or symbolic scalar, or schedule
        :math:`d \ge 0`. Live hyperparameter ``"lr_decay"``.

    Examples
    --------
    >>> import symupdates as su
    >>> decayed = su.scale_by_decayed_learning_rate(0.1, lr_decay=0.01)
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("lr_decay", lr_decay, **NON_NEGATIVE)

    def update(directions, params):
        lr = hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
        decay = hyperparam("lr_decay", lr_decay, **NON_NEGATIVE)
        rate = lr / (1.0 + step_count().astype("float64") * decay)
        current_build().info["learning_rate"] = rate  # the rate this call applies, as for every rule
        minus_rate = -rate
        return [scaled(d, minus_rate) for d in directions], []

    return update


def negate():
    r"""Flip the sign of every direction: :math:`g \leftarrow -g` (torch's ``maximize=True``).

    Examples
    --------
    >>> import symupdates as su
    >>> ascend = su.chain(su.negate(), su.scale_by_learning_rate(0.1))
    """

    def update(directions, params):
        return [-d for d in directions], []

    return update


def off(name, value=0.0):
    """List hyperparameter ``name`` as switched off; change nothing.

    A rule whose argument ``name`` was given a value that switches its term off (see
    :func:`~symupdates.checks.is_off`) puts ``off(name, value)`` in its chain instead
    of the transform, so :attr:`~symupdates.Updates.hyperparams` still has the key, as
    a frozen :class:`~symupdates.Hyperparameter` (see :func:`~symupdates.hyperparam_off`).

    Examples
    --------
    >>> import symupdates as su
    >>> no_decay = su.off("weight_decay")
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a hyperparameter's name (a non-empty string), got {name!r}")
    if not is_off(value):
        raise ValueError(
            f"off({name!r}, {value!r}): {value!r} does not switch {name} off (only a real 0 does); "
            f"use the transform that applies {name} instead"
        )

    def update(directions, params):
        hyperparam_off(name, value)
        return directions, []

    return update


def add_decayed_weights(weight_decay, mask=None):
    r"""Add weight decay: :math:`g \leftarrow g + \lambda\,p`, on every parameter or those ``mask`` picks.

    Before a rule this is torch's coupled L2 weight decay (``weight_decay=`` of SGD,
    Adagrad, RMSprop, Adadelta, Adam, Adamax). After the rule and before
    :func:`scale_by_learning_rate` it is decoupled weight decay (AdamW):
    :math:`p \leftarrow p - \eta(\text{rule}(g) + \lambda p) = p(1-\eta\lambda) - \eta\,\text{rule}(g)`.

    Parameters
    ----------
    weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`. Live hyperparameter ``"weight_decay"``.
    mask : list of bool, or callable, optional
        Which parameters decay (``optax.add_decayed_weights(mask=...)``): one boolean per
        parameter, in order, or a function of a parameter returning a boolean, such as
        :func:`~symupdates.weights_only` (no decay on biases, gains and scalars). The
        others pass unchanged. Default: every parameter.

    Examples
    --------
    >>> import symupdates as su
    >>> l2 = su.add_decayed_weights(1e-4)
    >>> l2_on_weights = su.add_decayed_weights(1e-4, mask=su.weights_only)
    """
    check_hyperparam("weight_decay", weight_decay, **NON_NEGATIVE)
    if mask is not None and not callable(mask) and not isinstance(mask, list | tuple):
        raise TypeError(
            f"mask must be a list of booleans (one per parameter) or a function of a parameter, "
            f"such as su.weights_only; got {mask!r}"
        )

    def update(directions, params):
        wd = hyperparam("weight_decay", weight_decay, **NON_NEGATIVE)
        decays = _mask_values(mask, params)
        return [
            d + coef(wd, d) * p.astype(d.dtype) if on else d for d, p, on in zip(directions, params, decays, strict=True)
        ], []

    return update


def weights_only(param):
    """``True`` for a parameter of 2 or more dimensions: a mask that decays weight
    matrices and kernels, not biases, gains or scalars (the AdamW practice).

    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> su.weights_only(pytensor.shared(np.zeros((3, 2)))), su.weights_only(pytensor.shared(np.zeros(2)))
    (True, False)
    """
    if not isinstance(getattr(param, "type", None), pt.TensorType):
        raise TypeError(f"weights_only takes a parameter (a tensor shared variable), got {param!r}")
    return param.type.ndim >= 2


def _mask_values(mask, params):
    """The booleans of ``mask`` (None, a list, or a function of a parameter) for ``params``."""
    if mask is None:
        return [True] * len(params)
    if callable(mask):
        values = [mask(p) for p in params]
        where = "mask(param)"
    else:
        values = list(mask)
        where = "mask"
        if len(values) != len(params):
            raise ValueError(f"mask has {len(values)} entries for {len(params)} parameters: give one boolean per parameter")
    for p, value in zip(params, values, strict=True):
        if not isinstance(value, bool | np.bool_):
            raise TypeError(f"{where} must give True or False for each parameter, got {value!r} for {p.name or p!r}")
    return [bool(v) for v in values]


def trace(momentum=0.9, dampening=0.0, nesterov=False):
    r"""Momentum: keep an exponentially weighted sum of directions.

    .. math::

        b \leftarrow \begin{cases} g & k = 0 \\ \mu\,b + (1-\tau)\,g & k > 0 \end{cases}
        \qquad
        g \leftarrow \begin{cases} g + \mu\,b & \text{nesterov} \\ b & \text{otherwise} \end{cases}

    Parameters
    ----------
    momentum : float, shared or symbolic scalar, or schedule
        :math:`\mu \in [0, 1]`. Live hyperparameter ``"momentum"``.
    dampening : float, shared or symbolic scalar, or schedule
        :math:`\tau \in [0, 1]`. Live hyperparameter ``"dampening"`` unless it is the
        number 0 (then it adds nothing to the graph). Not applied at the
        first update, as in torch.
    nesterov : bool
        Nesterov's lookahead; requires ``dampening = 0``.

    Returns
    -------
    Transform
        State ``"{param}/momentum/buffer"`` (:math:`b`, zeros initially).

    Notes
    -----
    torch's ``SGD`` momentum buffer. With a learning rate applied *after* it (as in
    :func:`~symupdates.momentum`) a change of learning rate rescales the whole buffer's
    contribution, as in torch; Lasagne's form :math:`v \leftarrow \mu v - \eta g` keeps
    past learning rates in the buffer and so differs from torch under a schedule.

    Examples
    --------
    >>> import symupdates as su
    >>> heavy_ball = su.chain(su.trace(0.9), su.scale_by_learning_rate(0.01))
    """
    nesterov = check_flag("nesterov", nesterov)
    momentum_bounds = {**UNIT, "low_open": bool(nesterov)}  # torch: Nesterov needs a momentum
    check_hyperparam("momentum", momentum, **momentum_bounds)
    check_hyperparam("dampening", dampening, **UNIT)
    dampened = not is_off(dampening)
    if nesterov and dampened:
        raise ValueError(f"nesterov momentum requires dampening=0, got dampening={dampening!r}")

    def update(directions, params):
        scope = new_scope("momentum")
        mu = hyperparam("momentum", momentum, **momentum_bounds)
        if dampened:
            # torch copies g into the empty buffer at the first step: mu * 0 + 1 * g == g exactly.
            gain = pt.switch(pt.eq(step_count(), 0), 1.0, 1.0 - hyperparam("dampening", dampening, **UNIT))
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            b = new_state(scope, "buffer", like=p)
            # Without dampening the first step needs no special case: mu * 0 + g == g exactly.
            b_new = coef(mu, d) * b + (scaled(d, gain) if dampened else d)
            out.append(d + coef(mu, d) * b_new if nesterov else b_new)
            state_updates.append((b, b_new))
        return out, state_updates

    return update


def scale_by_adagrad(initial_accumulator_value=0.0, epsilon=1e-10):
    r"""Adagrad's scaling by the root of the summed squared directions.

    .. math:: G \leftarrow G + g^2, \qquad g \leftarrow \frac{g}{\sqrt{G} + \epsilon}

    Parameters
    ----------
    initial_accumulator_value : float
        :math:`G_0 \ge 0`, the value :math:`G` starts from (and is reset to).
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the square root, as in torch. Live
        hyperparameter ``"epsilon"``.

    Returns
    -------
    Transform
        State ``"{param}/adagrad/sum"`` (:math:`G`).

    Notes
    -----
    Lasagne and PyMC put epsilon inside the root, :math:`g/\sqrt{G + \epsilon}`.

    Examples
    --------
    >>> import symupdates as su
    >>> adagrad = su.chain(su.scale_by_adagrad(), su.scale_by_learning_rate(0.01))
    """
    if not isinstance(initial_accumulator_value, int | float | np.number) or isinstance(initial_accumulator_value, bool):
        raise TypeError(f"initial_accumulator_value must be a number, got {initial_accumulator_value!r}")
    check_hyperparam("initial_accumulator_value", initial_accumulator_value, **NON_NEGATIVE)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)

    def update(directions, params):
        scope = new_scope("adagrad")
        eps = hyperparam("epsilon", epsilon, **NON_NEGATIVE)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            acc = new_state(scope, "sum", like=p, value=float(initial_accumulator_value))
            acc_new = acc + pt.sqr(d)
            state_updates.append((acc, acc_new))
            out.append(d / (pt.sqrt(acc_new) + coef(eps, d)))
        return out, state_updates

    return update


def scale_by_rms(rho=0.99, epsilon=1e-8, centered=False):
    r"""RMSProp's scaling by a running root mean square of the directions.

    .. math::

        S \leftarrow \rho S + (1-\rho) g^2, \qquad
        A \leftarrow \rho A + (1-\rho) g \ \text{(centered only)},

        g \leftarrow \frac{g}{\sqrt{S - A^2} + \epsilon} \ \text{(centered)}, \qquad
        g \leftarrow \frac{g}{\sqrt{S} + \epsilon} \ \text{(otherwise)}

    Parameters
    ----------
    rho : float, shared or symbolic scalar, or schedule
        :math:`\rho \in [0, 1]`, torch's ``alpha``. Live hyperparameter ``"rho"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the root, as in torch. Live
        hyperparameter ``"epsilon"``.
    centered : bool
        Divide by an estimate of the standard deviation instead of the root mean square.

    Returns
    -------
    Transform
        State ``"{param}/rms/square_avg"`` (:math:`S`) and, when centered,
        ``"{param}/rms/grad_avg"`` (:math:`A`).

    Notes
    -----
    Lasagne and PyMC put epsilon inside the root, :math:`g/\sqrt{S + \epsilon}`.
    Centered, :math:`S - A^2` is clamped at 0 before the root: rounding can make it
    slightly negative (float32, :math:`\rho` near 0 or 1), where torch returns NaN.

    Examples
    --------
    >>> import symupdates as su
    >>> rmsprop = su.chain(su.scale_by_rms(0.9), su.scale_by_learning_rate(1e-3))
    """
    check_hyperparam("rho", rho, **UNIT)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)
    centered = check_flag("centered", centered)

    def update(directions, params):
        scope = new_scope("rms")
        r = hyperparam("rho", rho, **UNIT)
        eps = hyperparam("epsilon", epsilon, **NON_NEGATIVE)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            sq = new_state(scope, "square_avg", like=p)
            sq_new = coef(r, d) * sq + coef(one_minus(r), d) * pt.sqr(d)
            state_updates.append((sq, sq_new))
            if centered:
                avg = new_state(scope, "grad_avg", like=p)
                avg_new = coef(r, d) * avg + scaled(d, one_minus(r))
                state_updates.append((avg, avg_new))
                # S - A^2 >= 0 in exact arithmetic; rounding can make it slightly negative.
                sq_new = pt.maximum(sq_new - pt.sqr(avg_new), 0)
            out.append(d / (pt.sqrt(sq_new) + coef(eps, d)))
        return out, state_updates

    return update


def scale_by_adadelta(rho=0.9, epsilon=1e-6):
    r"""AdaDelta's unit-correcting scaling.

    .. math::

        E \leftarrow \rho E + (1-\rho) g^2, \qquad
        \Delta = \frac{\sqrt{D + \epsilon}}{\sqrt{E + \epsilon}}\, g, \qquad
        D \leftarrow \rho D + (1-\rho) \Delta^2, \qquad g \leftarrow \Delta

    Parameters
    ----------
    rho : float, shared or symbolic scalar, or schedule
        :math:`\rho \in [0, 1]`. Live hyperparameter ``"rho"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, *inside* both roots, as in torch and the paper. Live
        hyperparameter ``"epsilon"``.

    Returns
    -------
    Transform
        State ``"{param}/adadelta/square_avg"`` (:math:`E`) and
        ``"{param}/adadelta/acc_delta"`` (:math:`D`).

    References
    ----------
    Zeiler, M. D. (2012). ADADELTA: An adaptive learning rate method. arXiv:1212.5701.

    Examples
    --------
    >>> import symupdates as su
    >>> adadelta = su.chain(su.scale_by_adadelta(), su.scale_by_learning_rate(1.0))
    """
    check_hyperparam("rho", rho, **UNIT)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)

    def update(directions, params):
        scope = new_scope("adadelta")
        r = hyperparam("rho", rho, **UNIT)
        eps = hyperparam("epsilon", epsilon, **NON_NEGATIVE)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            sq = new_state(scope, "square_avg", like=p)
            acc = new_state(scope, "acc_delta", like=p)
            sq_new = coef(r, d) * sq + coef(one_minus(r), d) * pt.sqr(d)
            delta = pt.sqrt(acc + coef(eps, d)) / pt.sqrt(sq_new + coef(eps, d)) * d
            acc_new = coef(r, d) * acc + coef(one_minus(r), d) * pt.sqr(delta)
            state_updates += [(sq, sq_new), (acc, acc_new)]
            out.append(delta)
        return out, state_updates

    return update


def _adam_family(name, beta1, beta2, epsilon):
    """The scope and the live ``beta1``, ``beta2`` and ``epsilon`` of an Adam-family transform."""
    scope = new_scope(name)
    b1 = hyperparam("beta1", beta1, **DECAY)
    b2 = hyperparam("beta2", beta2, **DECAY)
    return scope, b1, b2, hyperparam("epsilon", epsilon, **NON_NEGATIVE)


def _check_betas(beta1, beta2):
    check_hyperparam("beta1", beta1, **DECAY)
    check_hyperparam("beta2", beta2, **DECAY)


def _moments(scope, b1, b2, d, p):
    """Adam's moments of direction ``d`` for parameter ``p``: state ``m`` and ``v`` (in that
    order), :math:`\\beta_1 m + (1-\\beta_1) d` and :math:`\\beta_2 v + (1-\\beta_2) d^2`.
    Returns ``(state pairs, new m, new v)``."""
    m = new_state(scope, "m", like=p)
    v = new_state(scope, "v", like=p)
    m_new = coef(b1, d) * m + scaled(d, one_minus(b1))
    v_new = coef(b2, d) * v + coef(one_minus(b2), d) * pt.sqr(d)
    return [(m, m_new), (v, v_new)], m_new, v_new


def scale_by_adam(beta1=0.9, beta2=0.999, epsilon=1e-8, amsgrad=False):
    r"""Adam's bias-corrected moment estimates.

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
        \hat v \leftarrow \max(\hat v, v) \ \text{(amsgrad; else } \hat v = v),

        g \leftarrow \frac{m / (1-\beta_1^t)}{\sqrt{\hat v} / \sqrt{1-\beta_2^t} + \epsilon}

    Parameters
    ----------
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the root after bias correction, as in torch.
        Live hyperparameter ``"epsilon"``.
    amsgrad : bool
        Use the running maximum :math:`\hat v` of :math:`v`.

    Returns
    -------
    Transform
        State ``"{param}/adam/m"``, ``"{param}/adam/v"`` and, with amsgrad,
        ``"{param}/adam/v_max"``.

    Notes
    -----
    torch's form. Lasagne and PyMC use the paper's "epsilon hat" form
    :math:`\eta_t\, m / (\sqrt{v} + \hat\epsilon)` with
    :math:`\eta_t = \eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)`, i.e. epsilon is not divided by
    :math:`\sqrt{1-\beta_2^t}`; the two differ while :math:`\sqrt v` is near epsilon.

    References
    ----------
    Kingma, D. P. and Ba, J. (2015). Adam: A method for stochastic optimization. ICLR.
    Reddi, S. J., Kale, S. and Kumar, S. (2018). On the convergence of Adam and beyond. ICLR.

    Examples
    --------
    >>> import symupdates as su
    >>> adam = su.chain(su.scale_by_adam(0.9, 0.999), su.scale_by_learning_rate(1e-3))
    """
    _check_betas(beta1, beta2)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)
    amsgrad = check_flag("amsgrad", amsgrad)

    def update(directions, params):
        scope, b1, b2, eps = _adam_family("adam", beta1, beta2, epsilon)
        t = _t()
        inv_bc1 = 1.0 / (1.0 - power(b1, t))
        inv_sqrt_bc2 = 1.0 / pt.sqrt(1.0 - power(b2, t))
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            pairs, m_new, v_new = _moments(scope, b1, b2, d, p)
            state_updates += pairs
            if amsgrad:
                v_max = new_state(scope, "v_max", like=p)
                v_new = pt.maximum(v_max, v_new)
                state_updates.append((v_max, v_new))
            out.append(m_new * coef(inv_bc1, d) / (pt.sqrt(v_new) * coef(inv_sqrt_bc2, d) + coef(eps, d)))
        return out, state_updates

    return update


def scale_by_nadam(beta1=0.9, beta2=0.999, epsilon=1e-8, momentum_decay=4e-3):
    r"""NAdam: Adam with Nesterov momentum and Dozat's momentum schedule, as torch.

    With :math:`\mu_t = \beta_1 (1 - \tfrac12 \cdot 0.96^{t\psi})` (:math:`\psi` the
    momentum decay) and :math:`\Pi_t = \prod_{i \le t} \mu_i`:

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
        d = \sqrt{v / (1-\beta_2^t)} + \epsilon,

        g \leftarrow \frac{1-\mu_t}{1-\Pi_t}\,\frac{g}{d}
             + \frac{\mu_{t+1}}{1-\Pi_t\,\mu_{t+1}}\,\frac{m}{d}

    Parameters
    ----------
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the root of the bias-corrected :math:`v`,
        as in torch. Live hyperparameter ``"epsilon"``.
    momentum_decay : float, shared or symbolic scalar, or schedule
        :math:`\psi \ge 0`. Live hyperparameter ``"momentum_decay"``.

    Returns
    -------
    Transform
        State ``"{param}/nadam/m"``, ``"{param}/nadam/v"`` and the scalar
        ``"nadam/mu_product"`` (:math:`\Pi_t`, starting at 1).

    Notes
    -----
    torch keeps :math:`\Pi_t` per parameter; every parameter of a group holds the same
    value, so here it is one float64 scalar. It multiplies in :math:`\mu_t` with the
    :math:`\beta_1` and :math:`\psi` of each step, so a changed :math:`\beta_1` acts as it
    does in torch. Epsilon goes outside the root, after the bias correction (inside the
    root, :math:`\sqrt{v/(1-\beta_2^t)}`, only :math:`v` is corrected).

    References
    ----------
    Dozat, T. (2016). Incorporating Nesterov momentum into Adam. ICLR workshop.

    Examples
    --------
    >>> import symupdates as su
    >>> nadam = su.chain(su.scale_by_nadam(), su.scale_by_learning_rate(2e-3))
    """
    _check_betas(beta1, beta2)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)
    check_hyperparam("momentum_decay", momentum_decay, **NON_NEGATIVE)

    def update(directions, params):
        scope, b1, b2, eps = _adam_family("nadam", beta1, beta2, epsilon)
        psi = hyperparam("momentum_decay", momentum_decay, **NON_NEGATIVE)
        t = _t()
        mu = b1 * (1.0 - 0.5 * power(np.float64(0.96), t * psi))
        mu_next = b1 * (1.0 - 0.5 * power(np.float64(0.96), (t + 1.0) * psi))
        mu_product = new_state(scope, "mu_product", value=1.0)
        product = mu_product * mu
        bc2 = 1.0 - power(b2, t)
        grad_coef = (1.0 - mu) / (1.0 - product)
        momentum_coef = mu_next / (1.0 - product * mu_next)
        out, state_updates = [], [(mu_product, product)]
        for d, p in zip(directions, params, strict=True):
            pairs, m_new, v_new = _moments(scope, b1, b2, d, p)
            state_updates += pairs
            denom = pt.sqrt(v_new / coef(bc2, d)) + coef(eps, d)
            out.append((scaled(d, grad_coef) + m_new * coef(momentum_coef, d)) / denom)
        return out, state_updates

    return update


def scale_by_radam(beta1=0.9, beta2=0.999, epsilon=1e-8):
    r"""RAdam: Adam whose adaptive step is rectified by the variance of its estimate, as torch.

    With :math:`\rho_\infty = 2/(1-\beta_2) - 1` and
    :math:`\rho_t = \rho_\infty - 2t\beta_2^t/(1-\beta_2^t)`:

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        v \leftarrow \beta_2 v + (1-\beta_2) g^2, \qquad
        \hat m = m / (1-\beta_1^t),

        g \leftarrow \begin{cases}
            \hat m\, r_t \dfrac{\sqrt{1-\beta_2^t}}{\sqrt v + \epsilon} & \rho_t > 5,\\[1ex]
            \hat m & \text{otherwise,}
        \end{cases}
        \qquad r_t = \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}}

    Parameters
    ----------
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added to :math:`\sqrt v` *before* the bias correction
        (torch's placement, unlike Adam's). Live hyperparameter ``"epsilon"``.

    Returns
    -------
    Transform
        State ``"{param}/radam/m"`` and ``"{param}/radam/v"``.

    Notes
    -----
    While :math:`\rho_t \le 5` (the first steps: 5 of them at :math:`\beta_2 = 0.999`) the
    step is momentum SGD on the bias-corrected :math:`\hat m`. Epsilon is added to
    :math:`\sqrt v` and the sum then multiplied by :math:`1/\sqrt{1-\beta_2^t}`, as torch
    does; Adam adds it after that correction.

    References
    ----------
    Liu, L. et al. (2020). On the variance of the adaptive learning rate and beyond. ICLR.

    Examples
    --------
    >>> import symupdates as su
    >>> radam = su.chain(su.scale_by_radam(), su.scale_by_learning_rate(1e-3))
    """
    _check_betas(beta1, beta2)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)

    def update(directions, params):
        scope, b1, b2, eps = _adam_family("radam", beta1, beta2, epsilon)
        t = _t()
        bc1 = 1.0 - power(b1, t)
        bc2 = 1.0 - power(b2, t)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * power(b2, t) / bc2
        rectify = pt.gt(rho_t, 5.0)
        # the rectifier of the other branch, on values where it is defined (its result is unused)
        rho_t_, rho_inf_ = pt.switch(rectify, rho_t, 6.0), pt.switch(rectify, rho_inf, 6.0)
        rect = pt.sqrt((rho_t_ - 4.0) * (rho_t_ - 2.0) * rho_inf_ / ((rho_inf_ - 4.0) * (rho_inf_ - 2.0) * rho_t_))
        adaptive = pt.switch(rectify, rect * pt.sqrt(bc2), 0.0)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            pairs, m_new, v_new = _moments(scope, b1, b2, d, p)
            state_updates += pairs
            m_hat = m_new / coef(bc1, d)
            rectified = m_hat * coef(adaptive, d) / (pt.sqrt(v_new) + coef(eps, d))
            out.append(pt.switch(rectify, rectified, m_hat))
        return out, state_updates

    return update


def scale_by_adamax(beta1=0.9, beta2=0.999, epsilon=1e-8):
    r"""Adamax: Adam with an infinity-norm second moment.

    .. math::

        m \leftarrow \beta_1 m + (1-\beta_1) g, \qquad
        u \leftarrow \max(\beta_2 u, |g| + \epsilon), \qquad
        g \leftarrow \frac{m}{(1-\beta_1^t)\, u}

    Parameters
    ----------
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added to :math:`|g|` *inside* the maximum, as in torch.
        Live hyperparameter ``"epsilon"``.

    Returns
    -------
    Transform
        State ``"{param}/adamax/m"`` and ``"{param}/adamax/u"``.

    Notes
    -----
    Lasagne adds no epsilon to :math:`u`; the paper adds none either.

    References
    ----------
    Kingma, D. P. and Ba, J. (2015). Adam: A method for stochastic optimization. ICLR, section 7.

    Examples
    --------
    >>> import symupdates as su
    >>> adamax = su.chain(su.scale_by_adamax(), su.scale_by_learning_rate(2e-3))
    """
    _check_betas(beta1, beta2)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)

    def update(directions, params):
        scope, b1, b2, eps = _adam_family("adamax", beta1, beta2, epsilon)
        inv_bc1 = 1.0 / (1.0 - power(b1, _t()))
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            m = new_state(scope, "m", like=p)
            u = new_state(scope, "u", like=p)
            m_new = coef(b1, d) * m + scaled(d, one_minus(b1))
            u_new = pt.maximum(coef(b2, d) * u, pt.abs(d) + coef(eps, d))
            state_updates += [(m, m_new), (u, u_new)]
            out.append(m_new * coef(inv_bc1, d) / u_new)
        return out, state_updates

    return update


#: Rprop's step-size factors: shrink by a factor in (0, 1), grow by one above 1.
ETA_MINUS = {"low": 0.0, "high": 1.0, "low_open": True, "high_open": True}
ETA_PLUS = {"low": 1.0, "low_open": True}


def scale_by_rprop(learning_rate=0.01, eta_minus=0.5, eta_plus=1.2, step_size_min=1e-6, step_size_max=50.0):
    r"""Rprop: a step size per element, grown while the gradient keeps its sign, as torch.

    With :math:`g_{\text{prev}}` the direction kept from the previous step (0 at first) and
    :math:`s` the step sizes (:math:`\eta`, the learning rate, before the first step):

    .. math::

        \sigma = \operatorname{sign}(g\, g_{\text{prev}}), \qquad
        s \leftarrow \operatorname{clip}\bigl(s\, f(\sigma),\ s_{\min},\ s_{\max}\bigr),
        \qquad f(\sigma) = \begin{cases} \eta_+ & \sigma > 0 \\ \eta_- & \sigma < 0 \\
        1 & \sigma = 0 \end{cases}

        g \leftarrow \begin{cases} 0 & \sigma < 0 \\ g & \text{otherwise} \end{cases},
        \qquad g_{\text{prev}} \leftarrow g, \qquad
        g \leftarrow \operatorname{sign}(g)\, s

    The result is each element's step, to be negated (:func:`negate`) for descent; after
    a sign change the element does not move, and its next step starts afresh.

    Parameters
    ----------
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`, every step size before the first step. As in torch it acts
        only on the first step (and the first after :meth:`~symupdates.Updates.reset`):
        changing it later changes nothing. Live hyperparameter ``"learning_rate"``.
    eta_minus : float, shared or symbolic scalar, or schedule
        :math:`\eta_- \in (0, 1)`, the factor after a sign change. Live hyperparameter
        ``"eta_minus"``.
    eta_plus : float, shared or symbolic scalar, or schedule
        :math:`\eta_+ > 1`, the factor while the sign holds. Live hyperparameter
        ``"eta_plus"``.
    step_size_min, step_size_max : float, shared or symbolic scalar, or schedule
        :math:`0 \le s_{\min} \le s_{\max}`, the bounds of every step size. Live
        hyperparameters ``"step_size_min"``, ``"step_size_max"``.

    Returns
    -------
    Transform
        State ``"{param}/rprop/prev"`` (:math:`g_{\text{prev}}`) and
        ``"{param}/rprop/step_size"`` (:math:`s`; it holds 0 until the first step sets it).

    Notes
    -----
    torch's ``Rprop(lr=η, etas=(η₋, η₊), step_sizes=(s_min, s_max))`` fills the step
    sizes with ``lr`` when it creates its state; here the first step reads :math:`\eta`
    instead of the state, which is the same. Rprop has no epsilon. It is meant for
    full-batch gradients: the sign of a noisy minibatch gradient flips often.

    References
    ----------
    Riedmiller, M. and Braun, H. (1993). A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm. IEEE ICNN.

    Examples
    --------
    >>> import symupdates as su
    >>> rprop = su.chain(su.scale_by_rprop(learning_rate=0.01), su.negate())
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("eta_minus", eta_minus, **ETA_MINUS)
    check_hyperparam("eta_plus", eta_plus, **ETA_PLUS)
    check_hyperparam("step_size_min", step_size_min, **NON_NEGATIVE)
    check_hyperparam("step_size_max", step_size_max, **NON_NEGATIVE)
    if is_scalar_number(step_size_min) and is_scalar_number(step_size_max) and step_size_min > step_size_max:
        raise ValueError(
            f"step_size_min must not exceed step_size_max, got step_size_min={step_size_min!r} and "
            f"step_size_max={step_size_max!r}; swap them"
        )

    def update(directions, params):
        scope = new_scope("rprop")
        lr = hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
        shrink = hyperparam("eta_minus", eta_minus, **ETA_MINUS)
        grow = hyperparam("eta_plus", eta_plus, **ETA_PLUS)
        low = hyperparam("step_size_min", step_size_min, **NON_NEGATIVE)
        high = hyperparam("step_size_max", step_size_max, **NON_NEGATIVE)
        # "no update applied yet"; lt, not eq: PyTensor's PyTorch backend cannot switch tensors on an eq
        first = pt.lt(step_count(), 1)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            prev = new_state(scope, "prev", like=p)
            size = new_state(scope, "step_size", like=p)
            sigma = pt.sign(d * prev)
            factor = pt.switch(pt.gt(sigma, 0), coef(grow, d), pt.switch(pt.lt(sigma, 0), coef(shrink, d), np.asarray(1, dtype=d.dtype)))
            size_new = pt.minimum(pt.maximum(pt.switch(first, coef(lr, d), size) * factor, coef(low, d)), coef(high, d))
            kept = pt.switch(pt.lt(sigma, 0), pt.zeros_like(d), d)
            state_updates += [(prev, kept), (size, size_new)]
            out.append(pt.sign(kept) * size_new)
        return out, state_updates

    return update


def scale_by_asgd(learning_rate=0.01, lambd=1e-4, alpha=0.75, t0=1e6):
    r"""ASGD: SGD with a decaying step and a decay of the weights, and the running average
    of the parameters it visits (Polyak-Ruppert averaging), as torch.

    With :math:`\eta_t` the step of update :math:`t` (:math:`\eta_1 = \eta`) and
    :math:`\mu_t` the averaging weight (:math:`\mu_1 = 1`):

    .. math::

        g \leftarrow -\eta_t\,(g + \lambda p), \qquad
        p' = p + g,

        \bar p \leftarrow \begin{cases} p' & \mu_t = 1 \\
            \bar p + \mu_t\,(p' - \bar p) & \text{otherwise,} \end{cases}

        \eta_{t+1} = \frac{\eta}{(1 + \lambda\,\eta\,t)^{\alpha}}, \qquad
        \mu_{t+1} = \frac{1}{\max(1,\ t - t_0)}

    so :math:`\bar p` is the plain average of the parameters from step :math:`t_0 + 2`
    on (before that it follows them; :math:`\mu_{t_0+2} = 1` restarts it there), and the step's size decays as
    :math:`t^{-\alpha}`. The result is the whole step (it already holds
    :math:`-\eta_t`): put this transform last in a chain, since :math:`\bar p` averages
    :math:`p' = p + g`.

    Parameters
    ----------
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`. Live hyperparameter ``"learning_rate"``; as in torch, a new
        value enters the step *after* the next one (through :math:`\eta_{t+1}`).
    lambd : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, the decay term (torch's ``lambd``). Live hyperparameter
        ``"lambd"``.
    alpha : float, shared or symbolic scalar, or schedule
        :math:`\alpha \ge 0`, the power of the step's decay. Live hyperparameter
        ``"alpha"``.
    t0 : float, shared or symbolic scalar, or schedule
        :math:`t_0 \ge 0`: averaging starts at step :math:`t_0 + 2`. Live hyperparameter
        ``"t0"``; it changes only :math:`\bar p`, never the parameters.

    Returns
    -------
    Transform
        State ``"{param}/asgd/ax"`` (:math:`\bar p`, the averaged parameters: load them
        into the parameters to evaluate the average), and the float64 scalars
        ``"asgd/eta"`` (:math:`\eta_{t+1}`; 0 until the first step, which reads
        :math:`\eta`) and ``"asgd/mu"`` (:math:`\mu_{t+1}`).

    Notes
    -----
    torch's ``ASGD(lr=η, lambd=λ, alpha=α, t0=t₀)``, whose ``state["ax"]``, ``"eta"`` and
    ``"mu"`` these are; torch copies the parameters into ``ax`` while
    :math:`\mu_t = 1`, as here. There is no epsilon.

    References
    ----------
    Polyak, B. T. and Juditsky, A. B. (1992). Acceleration of stochastic approximation by
    averaging. SIAM Journal on Control and Optimization 30(4).

    Examples
    --------
    >>> import symupdates as su
    >>> averaged_sgd = su.scale_by_asgd(learning_rate=0.01, t0=100)
    """
    for name, value in (("learning_rate", learning_rate), ("lambd", lambd), ("alpha", alpha), ("t0", t0)):
        check_hyperparam(name, value, **NON_NEGATIVE)

    def update(directions, params):
        scope = new_scope("asgd")
        lr = hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
        lam = hyperparam("lambd", lambd, **NON_NEGATIVE)
        power_ = hyperparam("alpha", alpha, **NON_NEGATIVE)
        start = hyperparam("t0", t0, **NON_NEGATIVE)
        eta_state = new_state(scope, "eta", value=0.0)
        mu_state = new_state(scope, "mu", value=1.0)
        t = _t()
        eta = pt.switch(pt.lt(step_count(), 1), lr, eta_state)
        state_updates = [
            (eta_state, lr / power(1.0 + lam * lr * t, power_)),
            (mu_state, 1.0 / pt.maximum(1.0, t - start)),
        ]
        decay = lam * eta
        out = []
        for d, p in zip(directions, params, strict=True):
            average = new_state(scope, "ax", like=p)
            step = -(scaled(d, eta) + coef(decay, d) * p.astype(d.dtype))
            moved = p.astype(d.dtype) + step
            state_updates.append(
                # mu <= 1 always, so mu >= 1 is torch's mu == 1 (ge: see rprop on the PyTorch backend)
                (average, pt.switch(pt.ge(mu_state, 1.0), moved, average + (moved - average) * coef(mu_state, d)))
            )
            out.append(step)
        return out, state_updates

    return update


def scale_by_lion(beta1=0.9, beta2=0.99):
    r"""Lion: the sign of an interpolation of the gradient and its momentum, as optax.

    .. math::

        g \leftarrow \operatorname{sign}\bigl((1-\beta_1)\,g + \beta_1 m\bigr), \qquad
        m \leftarrow \beta_2 m + (1-\beta_2)\,g_{\text{in}}

    with :math:`g_{\text{in}}` the incoming direction; :math:`m` starts at 0. Every
    element of the result is :math:`-1`, 0 or 1, so the step's size is the learning
    rate's alone.

    Parameters
    ----------
    beta1 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1 \in [0, 1]`, the weight of the momentum in the step's sign. Live
        hyperparameter ``"beta1"``.
    beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_2 \in [0, 1)`, the decay of the momentum. Live hyperparameter
        ``"beta2"``.

    Returns
    -------
    Transform
        State ``"{param}/lion/m"``.

    Notes
    -----
    ``optax.scale_by_lion(b1=β1, b2=β2)`` (its default ``mode="hard"``). There is no
    epsilon: the sign needs none. The step interpolates with :math:`\beta_1` and the
    momentum decays with :math:`\beta_2`, so two betas play two roles, unlike Adam's.

    References
    ----------
    Chen, X. et al. (2023). Symbolic discovery of optimization algorithms. NeurIPS.

    Examples
    --------
    >>> import symupdates as su
    >>> lion = su.chain(su.scale_by_lion(0.9, 0.99), su.scale_by_learning_rate(1e-4))
    """
    check_hyperparam("beta1", beta1, **UNIT)
    check_hyperparam("beta2", beta2, **DECAY)

    def update(directions, params):
        scope = new_scope("lion")
        b1 = hyperparam("beta1", beta1, **UNIT)
        b2 = hyperparam("beta2", beta2, **DECAY)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            m = new_state(scope, "m", like=p)
            out.append(pt.sign(scaled(d, one_minus(b1)) + coef(b1, d) * m))
            state_updates.append((m, scaled(d, one_minus(b2)) + coef(b2, d) * m))
        return out, state_updates

    return update


def _lerp(start, end, weight):
    """torch's ``start.lerp(end, weight)``, rounded as torch rounds it: from ``start`` for a
    weight below 1/2, else back from ``end`` (so a weight of 1 gives ``end`` exactly)."""
    w = coef(weight, start)
    return pt.switch(pt.lt(weight, 0.5), start + w * (end - start), end - (end - start) * (1 - w))


def _rms(tensor):
    """The root mean square of every element: :math:`\\lVert x \\rVert_2 / \\sqrt{n}`; 0 for an
    empty tensor (whose mean is NaN), and :math:`|x|` for a scalar, which it equals (PyTensor
    2.38 computes the reduction of a float32 scalar quotient as NaN)."""
    if tensor.type.ndim == 0:
        return pt.abs(tensor)
    return pt.sqrt(sum_of_squares(tensor) / pt.maximum(tensor.size, 1).astype(tensor.dtype))


def scale_by_adafactor(
    learning_rate=0.01, beta2_decay=-0.8, epsilon1=None, epsilon2=1e-3, clip_threshold=1.0, weight_decay=0.0
):
    r"""Adafactor: a second moment factored into row and column statistics, steps relative
    to each parameter's size, as torch.

    For a parameter :math:`p` of two axes or more (the last two factored, any others
    batched), with :math:`\hat\beta_t = t^{\tau}` and :math:`\operatorname{lerp}(a, b, w) = a + w\,(b - a)`:

    .. math::

        R \leftarrow \operatorname{lerp}\bigl(R,\ \operatorname{mean}_{\text{cols}}(g^2),\ \hat\beta_t\bigr),
        \qquad
        C \leftarrow \operatorname{lerp}\bigl(C,\ \operatorname{mean}_{\text{rows}}(g^2),\ \hat\beta_t\bigr),
        \qquad
        \hat v = \frac{R\,C}{\max\bigl(\operatorname{mean}_{\text{rows}}(R),\ \epsilon_1\bigr)}

    (:math:`R` holds a value per row, :math:`C` one per column, so the state is
    :math:`m + n` numbers for an :math:`m \times n` matrix); for a vector or a scalar
    :math:`\hat v \leftarrow \operatorname{lerp}(\hat v,\ g^2,\ \hat\beta_t)`. Then

    .. math::

        u = \frac{g}{\sqrt{\max(\hat v,\ \epsilon_1^2)}}, \qquad
        \alpha = \max\bigl(\epsilon_2,\ \operatorname{rms}(p)\bigr)\,
                 \min\bigl(\eta,\ 1/\sqrt{t}\bigr),

        g \leftarrow -\lambda\eta\,p\ -\ \frac{\alpha}{\max\bigl(1,\ \operatorname{rms}(u) / d\bigr)}\,u

    with :math:`\operatorname{rms}(x) = \lVert x \rVert_2 / \sqrt{n}` over the
    parameter's :math:`n` elements, :math:`p` the parameter *before* this step. Epsilon
    :math:`\epsilon_1` floors the second moment (squared, under the square root) and
    the row mean in the factored estimate; :math:`\epsilon_2` floors the parameter's
    size. The result is the whole step (it holds :math:`-\alpha` and the decay), so it
    comes last in a chain.

    Parameters
    ----------
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`, the cap on the relative step :math:`\min(\eta, 1/\sqrt t)`,
        and the weight decay's factor. Live hyperparameter ``"learning_rate"``.
    beta2_decay : float, shared or symbolic scalar, or schedule
        :math:`\tau \le 0`: the second moment's weight on the new gradient is
        :math:`t^{\tau}` (1 at the first step). Live hyperparameter ``"beta2_decay"``.
    epsilon1 : float, shared or symbolic scalar, schedule, or None
        :math:`\epsilon_1 \ge 0`. ``None`` (the default, as torch): the machine epsilon
        of each parameter's compute dtype (2.2e-16 for float64, 1.2e-7 for float32), a
        constant, not listed among the hyperparameters; a number is the live
        hyperparameter ``"epsilon1"``.
    epsilon2 : float, shared or symbolic scalar, or schedule
        :math:`\epsilon_2 \ge 0`, the least parameter size the step is relative to (so a
        parameter at zero still moves). Live hyperparameter ``"epsilon2"``.
    clip_threshold : float, shared or symbolic scalar, or schedule
        :math:`d \ge 1`: an update whose root mean square exceeds :math:`d` is scaled
        down to it. Live hyperparameter ``"clip_threshold"``.
    weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, decoupled: :math:`p` shrinks by :math:`\lambda\eta p`
        (the learning rate, not the relative step). Live hyperparameter
        ``"weight_decay"``; a real 0 adds no term and is listed frozen.

    Returns
    -------
    Transform
        State ``"{param}/adafactor/row"`` (:math:`R`, the parameter's shape with its last
        axis 1) and ``"{param}/adafactor/col"`` (:math:`C`, its second-last axis 1) for a
        parameter of two axes or more; ``"{param}/adafactor/v"`` for the others.

    Notes
    -----
    ``torch.optim.Adafactor(lr=η, beta2_decay=τ, eps=(ε₁, ε₂), d=d,
    weight_decay=λ)``, whose ``row_var``, ``col_var`` and ``variance`` these are, with
    torch's rounding of ``lerp``. There is no first moment (torch's Adafactor has none).

    References
    ----------
    Shazeer, N. and Stern, M. (2018). Adafactor: adaptive learning rates with sublinear
    memory cost. ICML.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> W = pytensor.shared(np.ones((3, 4)), name="W")
    >>> updates = su.get_updates(su.scale_by_adafactor(), (W ** 2).sum(), [W])
    >>> {name: var.get_value().shape for name, var in updates.state.items() if name.startswith("W/")}
    {'W/adafactor/row': (3, 1), 'W/adafactor/col': (1, 4)}
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("beta2_decay", beta2_decay, high=0.0)
    check_hyperparam("epsilon1", epsilon1, **NON_NEGATIVE, allow_none=True)
    check_hyperparam("epsilon2", epsilon2, **NON_NEGATIVE)
    check_hyperparam("clip_threshold", clip_threshold, low=1.0)
    check_hyperparam("weight_decay", weight_decay, **NON_NEGATIVE)

    def update(directions, params):
        scope = new_scope("adafactor")
        lr = hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
        tau = hyperparam("beta2_decay", beta2_decay, high=0.0)
        eps1 = None if epsilon1 is None else hyperparam("epsilon1", epsilon1, **NON_NEGATIVE)
        eps2 = hyperparam("epsilon2", epsilon2, **NON_NEGATIVE)
        threshold = hyperparam("clip_threshold", clip_threshold, low=1.0)
        if is_off(weight_decay):
            hyperparam_off("weight_decay", weight_decay)
            decay = None
        else:
            decay = hyperparam("weight_decay", weight_decay, **NON_NEGATIVE)
        t = _t()
        weight = power(t, tau)  # the new gradient's weight: 1 at t = 1
        relative = pt.minimum(lr, 1.0 / pt.sqrt(t))
        decoupled = None if decay is None else lr * decay
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            p_ = p.astype(d.dtype)
            floor = np.asarray(np.finfo(d.dtype).eps, dtype=d.dtype) if eps1 is None else coef(eps1, d)
            square = pt.sqr(d)
            if p.type.ndim >= 2:
                row = new_state(scope, "row", like=p, reduced=(-1,))
                col = new_state(scope, "col", like=p, reduced=(-2,))
                row_new = _lerp(row, pt.mean(square, axis=-1, keepdims=True), weight)
                col_new = _lerp(col, pt.mean(square, axis=-2, keepdims=True), weight)
                estimate = row_new * col_new / pt.maximum(pt.mean(row_new, axis=-2, keepdims=True), floor)
                state_updates += [(row, row_new), (col, col_new)]
            else:
                v = new_state(scope, "v", like=p)
                estimate = _lerp(v, square, weight)
                state_updates.append((v, estimate))
            u = d / pt.sqrt(pt.maximum(estimate, floor * floor))
            alpha = pt.maximum(coef(eps2, d), _rms(p_)) * coef(relative, d)
            step = -(alpha / pt.maximum(np.asarray(1, dtype=d.dtype), _rms(u) / coef(threshold, d))) * u
            out.append(step if decoupled is None else step - coef(decoupled, d) * p_)
        return out, state_updates

    return update


#: torch.optim.Muon's Newton–Schulz coefficients (a, b, c): the quintic of Jordan et al.
MUON_COEFFICIENTS = (3.4445, -4.775, 2.0315)

#: Muon's learning-rate adjustments by parameter shape (m rows, n columns), as torch's ``adjust_lr_fn``.
_MUON_ADJUSTMENTS = {
    "original": lambda m, n: pt.sqrt(pt.maximum(1.0, m / n)),
    "match_rms_adamw": lambda m, n: 0.2 * pt.sqrt(pt.maximum(m, n).astype("float64")),
}
_MUON_ADJUSTMENTS[None] = _MUON_ADJUSTMENTS["original"]  # torch's default


def _check_ns_coefficients(value):
    """Muon's ``ns_coefficients`` as three floats, or a clear error."""
    if not isinstance(value, tuple | list) or len(value) != 3:
        raise TypeError(f"ns_coefficients must be three numbers (a, b, c), got {value!r}; the default is {MUON_COEFFICIENTS}")
    return tuple(check_real(f"ns_coefficients[{i}]", v) for i, v in enumerate(value))


def orthogonalize(matrix, ns_coefficients=MUON_COEFFICIENTS, ns_steps=5, epsilon=1e-7, *, tall=None):
    r"""Muon's Newton–Schulz iteration: a matrix with the same singular vectors and
    singular values near 1, as torch's ``_zeropower_via_newtonschulz`` (without its
    bfloat16 cast).

    .. math::

        X_0 = \frac{G}{\max(\lVert G \rVert_F,\ \epsilon)}, \qquad
        A = X_i X_i^\top, \qquad
        X_{i+1} = a X_i + (b A + c A^2)\, X_i

    for :math:`i < k`, on :math:`G^\top` instead (and the result transposed back) when
    :math:`G` has more rows than columns, so :math:`A` is the smaller Gram matrix. Both
    orientations give the same matrix up to rounding (:math:`(XX^\top)^j X = X(X^\top X)^j`).

    Parameters
    ----------
    matrix : TensorVariable
        :math:`G`, a matrix.
    ns_coefficients : tuple of three float
        :math:`(a, b, c)`, constants of the graph.
    ns_steps : int
        :math:`k \ge 0`.
    epsilon : float or symbolic scalar
        :math:`\epsilon \ge 0`, the floor of the Frobenius norm :math:`G` is divided by.
    tall : bool, optional
        Whether :math:`G` has more rows than columns (its orientation is fixed when the
        graph is built); default: from its static shape, which must then be known.

    Examples
    --------
    >>> import numpy as np, pytensor.tensor as pt
    >>> from symupdates.transforms import orthogonalize
    >>> G = pt.as_tensor(np.array([[3.0, 0.0], [0.0, 0.5]]))
    >>> np.linalg.svd(orthogonalize(G).eval())[1].round(2)  # 3 and 0.5 become about 1 (0.7 to 1.2)
    array([1.04, 0.71])
    """
    a, b, c = _check_ns_coefficients(ns_coefficients)
    steps = check_count("ns_steps", ns_steps, low=0, high=99)
    if getattr(getattr(matrix, "type", None), "ndim", None) != 2:
        raise ValueError(f"orthogonalize needs a matrix (a 2-d tensor variable), got {matrix!r}")
    if tall is None:
        rows, cols = matrix.type.shape
        if rows is None or cols is None:
            raise ValueError("orthogonalize needs tall= when the matrix's static shape is not known")
        tall = rows > cols
    x = matrix.T if tall else matrix
    eps = epsilon if isinstance(epsilon, pt.TensorVariable) else pt.as_tensor(np.float64(epsilon))
    x = x / pt.maximum(pt.sqrt(sum_of_squares(x)), coef(eps, x))
    a, b, c = (np.asarray(v, dtype=x.dtype) for v in (a, b, c))
    for _ in range(steps):
        gram = pt.dot(x, x.T)
        x = a * x + pt.dot(b * gram + c * pt.dot(gram, gram), x)
    return x.T if tall else x


def scale_by_muon(momentum=0.95, nesterov=True, ns_coefficients=MUON_COEFFICIENTS, epsilon=1e-7, ns_steps=5, adjust_lr_fn=None):
    r"""Muon: momentum, then each matrix replaced by its orthogonalization, as torch.

    For each :math:`m \times n` parameter, with :math:`\operatorname{lerp}(x, y, w) = x + w\,(y - x)`:

    .. math::

        B \leftarrow \operatorname{lerp}(B,\ g,\ 1 - \mu), \qquad
        M = \begin{cases} \operatorname{lerp}(g,\ B,\ \mu) & \text{nesterov} \\ B & \text{otherwise} \end{cases}

        g \leftarrow r(m, n)\ \mathrm{NS}^{(a,b,c)}_{k}(M;\ \epsilon), \qquad
        r(m, n) = \begin{cases} \sqrt{\max(1,\ m/n)} & \text{adjust\_lr\_fn = None, "original"} \\
            0.2\sqrt{\max(m, n)} & \text{adjust\_lr\_fn = "match\_rms\_adamw"} \end{cases}

    with :math:`\mathrm{NS}` the Newton–Schulz iteration of :func:`orthogonalize`, which
    divides :math:`M` by :math:`\max(\lVert M \rVert_F,\ \epsilon)` first: that is where
    epsilon goes. :math:`B` starts at 0. The result is a direction for the learning rate
    to scale (:func:`scale_by_learning_rate`).

    Parameters
    ----------
    momentum : float, shared or symbolic scalar, or schedule
        :math:`\mu \in [0, 1]`. Live hyperparameter ``"momentum"``.
    nesterov : bool
        Use the Nesterov form :math:`\operatorname{lerp}(g, B, \mu)` (the default, as torch).
    ns_coefficients : tuple of three float
        :math:`(a, b, c)` of the iteration (default torch's, ``(3.4445, -4.775, 2.0315)``);
        constants of the graph.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`. Live hyperparameter ``"epsilon"``.
    ns_steps : int
        :math:`k`, the iterations, 0 to 99 (default 5); fixed when the updates are built.
    adjust_lr_fn : None, "original" or "match_rms_adamw"
        The scale :math:`r(m, n)` by the parameter's shape.

    Returns
    -------
    Transform
        State ``"{param}/muon/buffer"`` (:math:`B`).

    Raises
    ------
    ValueError
        When a parameter is not a matrix, naming it (train the others with another rule
        and :func:`~symupdates.merge_updates` the two lists).

    Notes
    -----
    torch's ``Muon`` computes the iteration in bfloat16 (about 3 significant digits);
    here it runs in the parameter's compute dtype, so the tests compare with torch's own
    code with that one cast removed. Each matrix costs :math:`3k` matrix products per
    step, on its smaller side's Gram matrix.

    References
    ----------
    Jordan, K. et al. (2024). Muon: an optimizer for hidden layers in neural networks.
    Liu, J. et al. (2025). Muon is scalable for LLM training. arXiv:2502.16982.

    Examples
    --------
    >>> import symupdates as su
    >>> muon = su.chain(su.scale_by_muon(momentum=0.95), su.scale_by_learning_rate(0.02))
    """
    check_hyperparam("momentum", momentum, **UNIT)
    check_hyperparam("epsilon", epsilon, **NON_NEGATIVE)
    nesterov = check_flag("nesterov", nesterov)
    coefficients = _check_ns_coefficients(ns_coefficients)
    steps = check_count("ns_steps", ns_steps, low=0, high=99)
    if adjust_lr_fn not in _MUON_ADJUSTMENTS:
        raise ValueError(f"adjust_lr_fn must be None, 'original' or 'match_rms_adamw' (as torch's), got {adjust_lr_fn!r}")
    adjust = _MUON_ADJUSTMENTS[adjust_lr_fn]

    def update(directions, params):
        build = current_build()
        for p in params:
            if p.type.ndim != 2:
                name = build.param_names[id(p)]
                raise ValueError(
                    f"muon takes matrices (2-d parameters) only, as torch.optim.Muon; {name!r} has shape "
                    f"{p.get_value(borrow=True).shape}. Split the parameters and give the others another rule: "
                    "su.merge_updates(su.muon(cost, [p for p in params if p.ndim == 2]), "
                    "su.adamw(cost, [p for p in params if p.ndim != 2]))"
                )
        scope = new_scope("muon")
        mu = hyperparam("momentum", momentum, **UNIT)
        eps = hyperparam("epsilon", epsilon, **NON_NEGATIVE)
        out, state_updates = [], []
        for d, p in zip(directions, params, strict=True):
            buffer = new_state(scope, "buffer", like=p)
            buffer_new = _lerp(buffer, d, one_minus(mu))
            state_updates.append((buffer, buffer_new))
            m = _lerp(d, buffer_new, mu) if nesterov else buffer_new
            rows, cols = (s if s is not None else v for s, v in zip(p.type.shape, p.get_value(borrow=True).shape, strict=True))
            ortho = orthogonalize(m, coefficients, steps, eps, tall=rows > cols)
            out.append(scaled(ortho, adjust(p.shape[0], p.shape[1])))
        return out, state_updates

    return update


def accumulate_gradients(every):
    r"""Gradient accumulation: the rest of the chain sees the mean of ``every`` calls' directions.

    With :math:`n` the calls accumulated since the last update (0 to ``every`` - 1) and
    :math:`a` the running mean:

    .. math::

        a \leftarrow a + \frac{g - a}{n + 1}, \qquad g \leftarrow a

    The update (parameters, the rest of the chain's state, the step counter) is applied on
    every ``every``-th call only; then :math:`a` and :math:`n` start again from 0. On the
    other calls only :math:`a` and :math:`n` change, and ``info["applied"]`` is false.

    Put it first in a chain, so that clipping and the rule act on the mean. With a mean
    loss over micro-batches of equal size, ``every`` calls give the parameters one call on
    their union would (to rounding); schedules and the step counter count applied
    updates.

    Parameters
    ----------
    every : int
        :math:`k \ge 1`, the calls per update (1: no accumulation).

    Returns
    -------
    Transform
        State ``"{param}/accumulate/mean"`` (:math:`a`) and the int64
        ``"accumulate/calls"`` (:math:`n`).

    Notes
    -----
    ``optax.MultiSteps(inner, every_k_schedule=k)`` (optax 0.2.8, its default mean of the
    gradients), with the accumulator in the parameter's compute dtype (optax's default
    is float32 whatever the parameters). No epsilon.

    Examples
    --------
    >>> import symupdates as su
    >>> four_micro_batches = su.chain(su.accumulate_gradients(4), su.scale_by_adam(), su.scale_by_learning_rate(1e-3))
    """
    every = check_count("every", every)

    def update(directions, params):
        scope = new_scope("accumulate")
        calls = new_state(scope, "calls", value=0, dtype="int64")
        emit = pt.ge(calls, every - 1)
        out, state_updates, accumulators = [], [], [calls]
        for d, p in zip(directions, params, strict=True):
            mean = new_state(scope, "mean", like=p)
            new = mean + (d - mean) / (calls + 1).astype(d.dtype)
            state_updates.append((mean, pt.switch(emit, pt.zeros_like(new), new)))
            accumulators.append(mean)
            out.append(new)
        state_updates.append((calls, pt.switch(emit, 0, calls + 1).astype("int64")))
        apply_only_when(emit, always=accumulators)
        return out, state_updates

    return update
