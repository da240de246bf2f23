r"""The named optimizers, each a short :func:`~symupdates.chain` of transforms.

Every function has the shape ``rule(loss_or_grads, params, <hyperparameters>, *,
<flags>)`` and returns an :class:`~symupdates.Updates`, the list of ``(shared_variable,
new_expression)`` pairs that ``pytensor.function(..., updates=...)`` takes. Each computes
exactly what its ``torch.optim`` twin computes per step (the tests run torch beside it):

=====================  ==========================================  =================================
function               torch.optim                                 chain
=====================  ==========================================  =================================
``sgd``                ``SGD(momentum=0)``                         learning rate
``momentum``           ``SGD(momentum=μ, dampening=τ)``            ``trace``, learning rate
``nesterov_momentum``  ``SGD(momentum=μ, nesterov=True)``          ``trace(nesterov=True)``, lr
``adagrad``            ``Adagrad``                                 ``scale_by_adagrad``, lr / (1 + k·decay)
``adadelta``           ``Adadelta``                                ``scale_by_adadelta``, lr
``rmsprop``            ``RMSprop`` (``alpha`` is ``rho``)          ``scale_by_rms``, [``trace``], lr
``adam``               ``Adam`` (``betas`` are ``beta1, beta2``)   ``scale_by_adam``, lr
``adamw``              ``AdamW``                                   ``scale_by_adam``, decay, lr
``adamax``             ``Adamax``                                  ``scale_by_adamax``, lr
``nadam``              ``NAdam``                                   ``scale_by_nadam``, [decay], lr
``radam``              ``RAdam``                                   ``scale_by_radam``, [decay], lr
``rprop``              ``Rprop``                                   ``scale_by_rprop``, negate
``asgd``               ``ASGD``                                    ``scale_by_asgd`` (the whole step)
``lion``               none (``optax.lion``)                       ``scale_by_lion``, decay, lr
``adafactor``          ``Adafactor`` (``d``: ``clip_threshold``)  ``scale_by_adafactor`` (whole step)
``muon``               ``Muon`` (matrices only)                    ``scale_by_muon``, decay, lr
=====================  ==========================================  =================================

Every chain starts the same way, in torch's order: global-norm clipping (``clip_norm``,
as ``clip_grad_norm_`` before ``step()``), then negation (``maximize``), then coupled L2
weight decay :math:`g \leftarrow g + \lambda p` (``weight_decay``; AdamW instead
decouples it). A flag left at its default of ``None``/``0``/``False`` adds nothing to
the graph; to change such a value while training, pass a shared variable.

The math of each rule is written once, in its transforms' docstrings; each function here
shows its chain as one line.

Called with hyperparameters only, a rule returns a callable of ``(loss_or_grads, params)``
(PyMC and Lasagne style; the values are checked at once): ``su.adam(learning_rate=0.01)``
is what ``pm.fit(obj_optimizer=...)`` takes, as is ``functools.partial(su.adam, ...)``.
Another library's spelling of an argument (``lr=``, ``betas=``, ``eps=``, RMSprop's
``alpha=``) raises a ``TypeError`` that names ours.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping

import numpy as np
import pytensor
from pytensor.compile.sharedvalue import SharedVariable

from symupdates.base import captured, chain, get_updates
from symupdates.build import in_group
from symupdates.checks import NON_NEGATIVE, UNIT, check_flag, check_hyperparam, is_off
from symupdates.clipping import clip_by_global_norm
from symupdates.transforms import (
    MUON_COEFFICIENTS,
    add_decayed_weights,
    negate,
    off,
    scale_by_decayed_learning_rate,
    scale_by_adadelta,
    scale_by_adafactor,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_asgd,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_muon,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rms,
    scale_by_rprop,
    trace,
)

#: The named rules, in the order of the tour (and of ``symupdates compare``).
__all__ = [
    "sgd",
    "momentum",
    "nesterov_momentum",
    "adagrad",
    "adadelta",
    "rmsprop",
    "adam",
    "adamw",
    "adamax",
    "nadam",
    "radam",
    "rprop",
    "asgd",
    "lion",
    "adafactor",
    "muon",
]

_COMMON = """loss_or_grads : Variable or list of Variable
        A scalar cost, or one gradient expression per parameter.
    params : list of SharedVariable, or list of dict
        The float parameters to update; or parameter groups, torch's
        ``[{"params": [W1, W2], "weight_decay": 0.01}, {"params": [b1, b2], "learning_rate": 3e-4}]``:
        a group may set any argument but ``clip_norm`` and ``skip_nonfinite`` (which act
        on all parameters at once), and a ``"name"`` (default ``"group0"``, ...); what it
        leaves out comes from the call. Each group's hyperparameters are then listed as
        ``"{name}/learning_rate"``, ...; one clipping norm over every gradient and one step
        counter serve all groups. Gradients given as a list follow the groups' parameters."""

_FLAGS = """clip_norm : float, shared or symbolic scalar, or schedule, optional
        If given, :math:`c > 0`: first rescale all gradients by
        :math:`\\min(1, c / (\\lVert g \\rVert_2 + 10^{-6}))`, one norm over every tensor,
        exactly as ``torch.nn.utils.clip_grad_norm_``. Live hyperparameter ``"clip_norm"``.
    maximize : bool
        Ascend the cost instead: :math:`g \\leftarrow -g` after clipping.
    skip_nonfinite : bool
        If true, a call whose cost, gradients or hyperparameters hold NaN or ±Inf leaves
        parameters, state and step counter untouched and counts the skip (see
        :func:`~symupdates.skip_nonfinite`).

    Returns
    -------
    Updates
        The ``(shared_variable, new_expression)`` pairs, with ``.state``, ``.step``,
        ``.hyperparams`` (a key per hyperparameter: see :class:`~symupdates.Hyperparameter`)
        and ``.info`` (``"grad_norm"`` and each hyperparameter's value as applied)."""

_LR = """learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\\eta \\ge 0`. Live hyperparameter ``"learning_rate"``."""

_WD = """weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\\lambda \\ge 0`, coupled L2 decay :math:`g \\leftarrow g + \\lambda p` applied
        after clipping. Live hyperparameter ``"weight_decay"``; a real 0 adds no term and is
        listed frozen (pass a shared variable to change it from 0 while training)."""

_DECOUPLED = """decoupled_weight_decay : bool
        Decay the weights directly instead of through the gradient:
        :math:`p \\leftarrow p - \\eta(\\ldots + \\lambda p)`, the AdamW form (torch's flag)."""


def _doc(func):
    """Fill the shared parameter texts into a rule's docstring (its LaTeX is left as written)."""
    for key, text in (("{common}", _COMMON), ("{flags}", _FLAGS), ("{lr}", _LR), ("{wd}", _WD), ("{decoupled}", _DECOUPLED)):
        func.__doc__ = func.__doc__.replace(key, text)
    return func


#: Other libraries' names of our arguments: the pointer a ``TypeError`` gives.
_SPELLINGS = {
    "lr": "learning_rate",
    "eps": "epsilon",
    "betas": "beta1 and beta2",
    "b1": "beta1",
    "b2": "beta2",
    "alpha": "rho",
    "decay": "rho (or weight_decay)",
    "eps_root": "epsilon",
}


def _spelling_error(name: str, parameters, key: str) -> TypeError:
    """The error for an argument another library spells ``key``: what we call it, or which rule to use."""
    if key == "nesterov" and name in ("sgd", "momentum"):
        return TypeError(f"{name}() has no argument 'nesterov'; Nesterov momentum is its own rule: su.nesterov_momentum(...)")
    if key == "momentum" and name == "sgd":
        return TypeError("sgd() has no argument 'momentum'; SGD with momentum is its own rule: su.momentum(..., momentum=0.9)")
    ours = _SPELLINGS.get(key)
    if ours is not None and all(part in parameters for part in ours.split(" (")[0].split(" and ")):
        return TypeError(f"{name}() has no argument {key!r}; symupdates calls it {ours}")
    return TypeError(f"{name}() got an unexpected keyword argument {key!r}; its arguments are {', '.join(parameters)}")


def _rule(fn):
    """Make a rule callable with its hyperparameters only, PyMC/Lasagne style, and point
    other libraries' spellings (``lr=``, ``betas=``, ``eps=``) to ours."""
    name = fn.__name__
    signature = inspect.signature(fn)
    parameters = list(signature.parameters)

    @functools.wraps(fn)
    def rule(*args, **kwargs):
        for key in kwargs:
            if key not in parameters:
                raise _spelling_error(name, parameters, key)
        if not args and "loss_or_grads" not in kwargs and "params" not in kwargs:
            probe = pytensor.shared(np.zeros((1, 1)), name="probe")  # check every value now (a matrix: Muon takes no other)
            fn((probe**2).sum(), [probe], **kwargs)
            return functools.partial(rule, **kwargs)
        bound = signature.bind(*args, **kwargs)
        params = bound.arguments.get("params")
        if isinstance(params, list | tuple) and any(isinstance(group, Mapping) for group in params):
            given = {k: v for k, v in bound.arguments.items() if k not in ("loss_or_grads", "params")}
            return _grouped(fn, parameters, bound.arguments["loss_or_grads"], params, given)
        return fn(*args, **kwargs)

    return rule


#: Arguments that act on every group at once: one clipping norm (``clip_grad_norm_`` over
#: all parameters) and one all-or-nothing skip.
_WHOLE_CALL = ("clip_norm", "skip_nonfinite")


def _check_groups(name, parameters, groups):
    """``[(label, params, overrides)]`` of torch-style parameter groups, or a clear error."""
    specs, owner = [], {}
    for i, group in enumerate(groups):
        where = f"params[{i}]"
        if not isinstance(group, Mapping):
            raise TypeError(
                f"{where} is a {type(group).__name__} among parameter groups (dicts): give every "
                f"parameter in a group, {{'params': [...]}}, or pass a plain list of parameters"
            )
        if "params" not in group:
            raise ValueError(f"{where} (a parameter group) has no 'params': give its parameters, {{'params': [W, b], ...}}")
        members = group["params"]
        members = [members] if isinstance(members, SharedVariable) else list(members)
        if not members:
            raise ValueError(f"{where}['params'] is empty: every parameter group needs at least one parameter")
        label = group.get("name", f"group{i}")
        if not isinstance(label, str) or not label or "/" in label:
            raise ValueError(f"{where}['name'] must be a non-empty string without '/', got {label!r}")
        overrides = {k: v for k, v in group.items() if k not in ("params", "name")}
        for key in overrides:
            if key in _WHOLE_CALL:
                raise ValueError(f"{where} sets {key!r}, which acts on every group at once: pass it to {name}() itself")
            if key not in parameters or key in ("loss_or_grads", "params"):
                raise TypeError(f"{where} (a parameter group): {_spelling_error(name, parameters, key)}")
        for p in members:
            if id(p) in owner:
                raise ValueError(
                    f"parameter {getattr(p, 'name', p)!r} is in params[{owner[id(p)]}] and {where}: a parameter belongs to one group"
                )
            owner[id(p)] = i
        specs.append((label, members, overrides))
    labels = [label for label, _, _ in specs]
    if len(set(labels)) != len(labels):
        raise ValueError(f"parameter group names must differ, got {labels}")
    return specs


def _grouped(fn, parameters, loss_or_grads, groups, given):
    """A rule over torch-style parameter groups: each group's own chain (its hyperparameters
    named ``"{group}/..."``), after one global clipping norm, under one step counter."""
    name = fn.__name__
    specs = _check_groups(name, parameters, groups)
    parts, start = [], 0
    for label, members, overrides in specs:
        one = functools.partial(fn, **{**given, **overrides, "clip_norm": None, "skip_nonfinite": False})
        parts.append((label, range(start, start + len(members)), captured(one, loss_or_grads, members)[1]))
        start += len(members)
    clip_norm, skip = given.get("clip_norm"), check_flag("skip_nonfinite", given.get("skip_nonfinite", False))
    clipping = [clip_by_global_norm(clip_norm)] if clip_norm is not None else []
    params = [p for _, members, _ in specs for p in members]
    return _build(name, [*clipping, _per_group(parts)], loss_or_grads, params, skip)


def _per_group(parts):
    """The transform applying each group's chain to its own slice of the directions."""

    def update(directions, params):
        out, state_updates = list(directions), []
        for label, indices, transform in parts:
            with in_group(label):
                new, more = transform([directions[j] for j in indices], [params[j] for j in indices])
            for j, d in zip(indices, new, strict=True):
                out[j] = d
            state_updates += more
        return out, state_updates

    return update


def _prelude(clip_norm, maximize, weight_decay=None, skip_nonfinite=False):
    """The transforms every rule starts with: clip, negate, coupled weight decay (``None``: the rule has none)."""
    steps = []
    if clip_norm is not None:
        steps.append(clip_by_global_norm(clip_norm))
    if check_flag("maximize", maximize):
        steps.append(negate())
    check_flag("skip_nonfinite", skip_nonfinite)
    if weight_decay is not None:
        steps.append(_weight_decay(weight_decay))
    return steps


def _weight_decay(weight_decay):
    """``add_decayed_weights``, or its frozen placeholder when ``weight_decay`` switches it off."""
    return off("weight_decay", weight_decay) if is_off(weight_decay) else add_decayed_weights(weight_decay)


def _with_torch_weight_decay(
    name, make_rule, loss_or_grads, params, learning_rate, weight_decay, decoupled_weight_decay, clip_norm, maximize, skip_nonfinite
):
    """Build a rule with torch's choice of weight decay: coupled (added to the gradient by
    the prelude) or decoupled (added after ``make_rule()``'s transform, so the learning
    rate scales it: the AdamW form, and optax's for Lion)."""
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("weight_decay", weight_decay, **NON_NEGATIVE)
    decoupled = check_flag("decoupled_weight_decay", decoupled_weight_decay)
    transforms = _prelude(clip_norm, maximize, None if decoupled else weight_decay, skip_nonfinite)
    rule = [make_rule(), *([_weight_decay(weight_decay)] if decoupled else []), scale_by_learning_rate(learning_rate)]
    return _build(name, [*transforms, *rule], loss_or_grads, params, skip_nonfinite)


def _build(name, transforms, loss_or_grads, params, skip_nonfinite):
    return get_updates(chain(*transforms), loss_or_grads, params, name=name, skip_nonfinite=skip_nonfinite)


@_rule
@_doc
def sgd(loss_or_grads, params, learning_rate=1e-3, *, weight_decay=0.0, clip_norm=None, maximize=False, skip_nonfinite=False):
    r"""Stochastic gradient descent, as ``torch.optim.SGD(momentum=0)``.

    .. math::

        p \leftarrow p - \eta\,(g + \lambda p)

    with :math:`g` the gradient after clipping and negation.

    Parameters
    ----------
    {common}
    {lr}
    {wd}
    {flags}

    Notes
    -----
    ``torch.optim.SGD(lr=η, momentum=0, weight_decay=λ)``. torch has no default learning
    rate; ours is 1e-3. There is no epsilon.

    References
    ----------
    Robbins, H. and Monro, S. (1951). A stochastic approximation method. The Annals of
    Mathematical Statistics, 22(3), 400-407.

    See Also
    --------
    momentum, nesterov_momentum

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.sgd((w ** 2).sum(), [w], learning_rate=0.25)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value()
    array([ 0.5, -1. ])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    return _build("sgd", [*transforms, scale_by_learning_rate(learning_rate)], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def momentum(
    loss_or_grads,
    params,
    learning_rate=1e-3,
    momentum=0.9,
    *,
    dampening=0.0,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""SGD with (heavy-ball) momentum, as ``torch.optim.SGD(momentum=μ)``.

    .. math::

        p \leftarrow p - \eta\, \mathrm{trace}_{\mu,\tau}(g + \lambda p)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.trace`.

    Parameters
    ----------
    {common}
    {lr}
    momentum : float, shared or symbolic scalar, or schedule
        :math:`\mu \in [0, 1]`. Live hyperparameter ``"momentum"``.
    dampening : float, shared or symbolic scalar, or schedule
        :math:`\tau \in [0, 1]`, not applied at the first update (as torch).
    {wd}
    {flags}

    Notes
    -----
    The buffer holds gradients, not steps, so a new learning rate applies to the whole
    buffer at once (torch's behaviour). Lasagne's :math:`v \leftarrow \mu v - \eta g` is
    the same under a constant learning rate only. There is no epsilon.

    References
    ----------
    Polyak, B. T. (1964). Some methods of speeding up the convergence of iteration methods.
    USSR Computational Mathematics and Mathematical Physics, 4(5), 1-17.

    See Also
    --------
    trace : the momentum transform.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.momentum((w ** 2).sum(), [w], learning_rate=0.1, momentum=0.9)
    >>> list(updates.state)
    ['momentum/step', 'w/momentum/buffer']
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); _ = step()
    >>> w.get_value().round(4)
    array([0.46])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    rule = [trace(momentum, dampening), *([off("dampening", dampening)] if is_off(dampening) else []), scale_by_learning_rate(learning_rate)]
    return _build("momentum", [*transforms, *rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def nesterov_momentum(
    loss_or_grads, params, learning_rate=1e-3, momentum=0.9, *, weight_decay=0.0, clip_norm=None, maximize=False, skip_nonfinite=False
):
    r"""SGD with Nesterov momentum, as ``torch.optim.SGD(momentum=μ, nesterov=True)``.

    .. math::

        p \leftarrow p - \eta\, \mathrm{trace}^{\text{Nesterov}_{\mu}(g + \lambda p) \;=\; p - \eta\,(g + \mu b)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.trace`.

    Parameters
    ----------
    {common}
    {lr}
    momentum : float, shared or symbolic scalar, or schedule
        :math:`\mu \in (0, 1]`. Live hyperparameter ``"momentum"``.
    {wd}
    {flags}

    Notes
    -----
    Sutskever et al.'s reformulation used by torch (the gradient is taken at the current
    parameters). Under a constant learning rate it equals Lasagne's
    ``nesterov_momentum``. There is no dampening (torch rejects it with Nesterov) and
    no epsilon.

    References
    ----------
    Sutskever, I., Martens, J., Dahl, G. and Hinton, G. (2013). On the importance of
    initialization and momentum in deep learning. ICML.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.nesterov_momentum((w ** 2).sum(), [w], learning_rate=0.1, momentum=0.9)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(4)
    array([0.62])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("momentum", momentum, **UNIT, low_open=True)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    rule = [trace(momentum, nesterov=True), scale_by_learning_rate(learning_rate)]
    return _build("nesterov_momentum", [*transforms, *rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def adagrad(
    loss_or_grads,
    params,
    learning_rate=1e-2,
    epsilon=1e-10,
    *,
    lr_decay=0.0,
    initial_accumulator_value=0.0,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Adagrad, as ``torch.optim.Adagrad``.

    .. math::

        p \leftarrow p - \frac{\eta}{1 + k\,\delta}\, \mathrm{adagrad}_{\epsilon}(g + \lambda p),
        \qquad k = \text{updates applied before this one}

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.scale_by_adagrad` and :func:`~symupdates.scale_by_decayed_learning_rate`.

    Parameters
    ----------
    {common}
    {lr}
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the square root. Live hyperparameter
        ``"epsilon"``.
    lr_decay : float, shared or symbolic scalar, or schedule
        :math:`\delta \ge 0`. Live hyperparameter ``"lr_decay"`` unless it is 0.
    initial_accumulator_value : float
        :math:`G_0 \ge 0`.
    {wd}
    {flags}

    Notes
    -----
    Lasagne and PyMC use :math:`g / \sqrt{G + \epsilon}` (epsilon inside the root).
    ``info["learning_rate"]`` is the decayed :math:`\eta_k`.

    References
    ----------
    Duchi, J., Hazan, E. and Singer, Y. (2011). Adaptive subgradient methods for online
    learning and stochastic optimization. JMLR 12.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.adagrad((w ** 2).sum(), [w], learning_rate=0.5)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value()
    array([ 0.5, -1.5])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("lr_decay", lr_decay, **NON_NEGATIVE)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    if is_off(lr_decay):
        rule = [scale_by_adagrad(initial_accumulator_value, epsilon), off("lr_decay", lr_decay), scale_by_learning_rate(learning_rate)]
    else:
        rule = [scale_by_adagrad(initial_accumulator_value, epsilon), scale_by_decayed_learning_rate(learning_rate, lr_decay)]
    return _build("adagrad", [*transforms, *rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def adadelta(
    loss_or_grads, params, learning_rate=1.0, rho=0.9, epsilon=1e-6, *, weight_decay=0.0, clip_norm=None, maximize=False, skip_nonfinite=False
):
    r"""AdaDelta, as ``torch.optim.Adadelta``.

    .. math::

        p \leftarrow p - \eta\, \mathrm{adadelta}_{\rho,\epsilon}(g + \lambda p)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.scale_by_adadelta`.

    Parameters
    ----------
    {common}
    {lr}
    rho : float, shared or symbolic scalar, or schedule
        :math:`\rho \in [0, 1]`. Live hyperparameter ``"rho"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, *inside* both square roots. Live hyperparameter ``"epsilon"``.
    {wd}
    {flags}

    Notes
    -----
    Lasagne and PyMC place epsilon the same way; their default epsilon is 1e-6 too.

    References
    ----------
    Zeiler, M. D. (2012). ADADELTA: An adaptive learning rate method. arXiv:1212.5701.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.adadelta((w ** 2).sum(), [w])
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(6)
    array([0.996838])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    rule = [scale_by_adadelta(rho, epsilon), scale_by_learning_rate(learning_rate)]
    return _build("adadelta", [*transforms, *rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def rmsprop(
    loss_or_grads,
    params,
    learning_rate=1e-2,
    rho=0.99,
    epsilon=1e-8,
    *,
    momentum=0.0,
    centered=False,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""RMSProp, as ``torch.optim.RMSprop`` (torch's ``alpha`` is ``rho``).

    .. math::

        p \leftarrow p - \eta\, \mathrm{trace}_{\mu}\big(\mathrm{rms}_{\rho,\epsilon}(g + \lambda p)\big) \quad (\text{no trace when } \mu = 0)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.scale_by_rms` and :func:`~symupdates.trace`.

    Parameters
    ----------
    {common}
    {lr}
    rho : float, shared or symbolic scalar, or schedule
        :math:`\rho \in [0, 1]`, the decay of the squared-gradient average. Live
        hyperparameter ``"rho"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the square root. Live hyperparameter
        ``"epsilon"``.
    momentum : float, shared or symbolic scalar, or schedule
        :math:`\mu \in [0, 1]`; 0 (the default) adds no buffer.
    centered : bool
        Normalise by the estimated variance :math:`S - A^2` instead of :math:`S`.
    {wd}
    {flags}

    Notes
    -----
    Lasagne and PyMC use :math:`g / \sqrt{S + \epsilon}` (epsilon inside the root) and a
    default :math:`\rho = 0.9`, learning rate 1.0.

    References
    ----------
    Tieleman, T. and Hinton, G. (2012). Lecture 6.5 - rmsprop. COURSERA: Neural Networks
    for Machine Learning. Graves, A. (2013). Generating sequences with recurrent neural
    networks. arXiv:1308.0850 (the centered form).

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.rmsprop((w ** 2).sum(), [w], learning_rate=0.01)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(6)
    array([0.9])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    check_hyperparam("momentum", momentum, **UNIT)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    rule = [scale_by_rms(rho, epsilon, centered), off("momentum", momentum) if is_off(momentum) else trace(momentum)]
    rule.append(scale_by_learning_rate(learning_rate))
    return _build("rmsprop", [*transforms, *rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def adam(
    loss_or_grads,
    params,
    learning_rate=1e-3,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    *,
    amsgrad=False,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Adam, as ``torch.optim.Adam`` (torch's ``betas`` are ``beta1, beta2``).

    .. math::

        p \leftarrow p - \eta\, \mathrm{adam}_{\beta_1,\beta_2,\epsilon}(g + \lambda p)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.scale_by_adam`.

    Parameters
    ----------
    {common}
    {lr}
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`, decay rates of the first and second moment.
        Live hyperparameters ``"beta1"`` and ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added *outside* the root, after the bias correction. Live
        hyperparameter ``"epsilon"``.
    amsgrad : bool
        Divide by the running maximum of :math:`v` (AMSGrad).
    {wd}
    decoupled_weight_decay : bool
        Decay the weights directly instead, :math:`p \leftarrow p - \eta(\mathrm{adam}(g) +
        \lambda p)`: then this is :func:`adamw` (torch's flag of the same name).
    {flags}

    Notes
    -----
    Weight decay here is coupled L2 (added to the gradient before the moments) unless
    ``decoupled_weight_decay``; :func:`adamw` is the decoupled form with torch's default
    :math:`\lambda = 10^{-2}`. Lasagne and PyMC use the paper's "epsilon hat"
    form, :math:`\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t) \cdot m / (\sqrt v + \hat\epsilon)`,
    which differs from this one while :math:`\sqrt v` is near epsilon.

    References
    ----------
    Kingma, D. P. and Ba, J. (2015). Adam: A method for stochastic optimization. ICLR.

    See Also
    --------
    scale_by_adam : the transform; adamw, adamax

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.adam((w ** 2).sum(), [w], learning_rate=0.1, clip_norm=5.0)
    >>> list(updates.state)
    ['adam/step', 'w/adam/m', 'w/adam/v']
    >>> step = pytensor.function([], updates.info["grad_norm"], updates=updates, mode="FAST_COMPILE")
    >>> round(float(step()), 4)
    4.4721
    >>> w.get_value().round(4)
    array([ 0.9, -1.9])
    """
    rule = functools.partial(scale_by_adam, beta1, beta2, epsilon, amsgrad)
    return _with_torch_weight_decay(
        "adam", rule, loss_or_grads, params, learning_rate, weight_decay, decoupled_weight_decay, clip_norm, maximize, skip_nonfinite
    )


@_rule
@_doc
def adamw(
    loss_or_grads,
    params,
    learning_rate=1e-3,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    *,
    weight_decay=1e-2,
    amsgrad=False,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""AdamW: Adam with decoupled weight decay, as ``torch.optim.AdamW``.

    .. math::

        p \leftarrow p - \eta\,\big(\mathrm{adam}_{\beta_1,\beta_2,\epsilon}(g) + \lambda p\big)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.scale_by_adam`.

    Parameters
    ----------
    {common}
    {lr}
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, outside the root, as in :func:`adam`.
    weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, decoupled: multiplied by the learning rate, not passed
        through the moments. Default ``1e-2`` as in torch. Live hyperparameter
        ``"weight_decay"``.
    amsgrad : bool
        Divide by the running maximum of :math:`v`.
    {flags}

    Notes
    -----
    The chain is ``scale_by_adam``, then ``add_decayed_weights``, then
    ``scale_by_learning_rate``: decay added after the rule is decoupled. Epsilon goes
    where :func:`adam` puts it, outside the root after the bias correction
    (:math:`\sqrt{\hat v} / \sqrt{1-\beta_2^t} + \epsilon`); Lasagne-style "epsilon hat"
    implementations differ while :math:`\sqrt v` is near epsilon.

    References
    ----------
    Loshchilov, I. and Hutter, F. (2019). Decoupled weight decay regularization. ICLR.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.adamw((w ** 2).sum(), [w], learning_rate=0.1, weight_decay=0.5)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(6)
    array([0.85])
    """
    rule = functools.partial(scale_by_adam, beta1, beta2, epsilon, amsgrad)
    return _with_torch_weight_decay(
        "adamw", rule, loss_or_grads, params, learning_rate, weight_decay, True, clip_norm, maximize, skip_nonfinite
    )


@_rule
@_doc
def adamax(
    loss_or_grads,
    params,
    learning_rate=2e-3,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    *,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Adamax, as ``torch.optim.Adamax``.

    .. math::

        p \leftarrow p - \eta\, \mathrm{adamax}_{\beta_1,\beta_2,\epsilon}(g + \lambda p)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (where epsilon goes, the first step):
    :func:`~symupdates.scale_by_adamax`.

    Parameters
    ----------
    {common}
    {lr}
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added to :math:`|g|` inside the maximum (torch's placement;
        Lasagne and the paper add none).
    {wd}
    {flags}

    Notes
    -----
    Epsilon goes inside the maximum, :math:`u \leftarrow \max(\beta_2 u, |g| + \epsilon)`, as
    in torch; it is not added to the denominator afterwards. With :math:`\epsilon > 0`,
    :math:`u \ge \epsilon` keeps the step finite for a zero gradient. Lasagne and the paper use
    :math:`\max(\beta_2 u, |g|)` with no epsilon. The bias correction applies to
    :math:`m` only (:math:`u` needs none).

    References
    ----------
    Kingma, D. P. and Ba, J. (2015). Adam: A method for stochastic optimization. ICLR, section 7.

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0]), name="w")
    >>> updates = su.adamax((w ** 2).sum(), [w], learning_rate=0.1)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(6)
    array([0.9])
    """
    check_hyperparam("learning_rate", learning_rate, **NON_NEGATIVE)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    rule = [scale_by_adamax(beta1, beta2, epsilon), scale_by_learning_rate(learning_rate)]
    return _build("adamax", [*transforms, *rule], loss_or_grads, params, skip_nonfinite)



@_rule
@_doc
def nadam(
    loss_or_grads,
    params,
    learning_rate=2e-3,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    *,
    momentum_decay=4e-3,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""NAdam: Adam with Nesterov momentum, as ``torch.optim.NAdam``.

    .. math::

        p \leftarrow p - \eta\, \mathrm{nadam}_{\beta_1,\beta_2,\epsilon,\psi}(g + \lambda p)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (the momentum schedule, where epsilon
    goes): :func:`~symupdates.scale_by_nadam`.

    Parameters
    ----------
    {common}
    {lr}
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, outside the root of the bias-corrected :math:`v`. Live
        hyperparameter ``"epsilon"``.
    momentum_decay : float, shared or symbolic scalar, or schedule
        :math:`\psi \ge 0` of the momentum schedule
        :math:`\mu_t = \beta_1(1 - \tfrac12 0.96^{t\psi})`. Live hyperparameter
        ``"momentum_decay"``.
    {wd}
    {decoupled}
    {flags}

    Notes
    -----
    ``torch.optim.NAdam(lr=η, betas=(β1, β2), eps=ε, momentum_decay=ψ,
    weight_decay=λ, decoupled_weight_decay=...)``. Epsilon goes outside the root,
    :math:`\sqrt{v/(1-\beta_2^t)} + \epsilon`. The product of the :math:`\mu_t` is the
    scalar state ``"nadam/mu_product"``.

    References
    ----------
    Dozat, T. (2016). Incorporating Nesterov momentum into Adam. ICLR workshop.

    See Also
    --------
    scale_by_nadam : the transform; adam, radam

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.nadam((w ** 2).sum(), [w], learning_rate=0.1)
    >>> list(updates.state)
    ['nadam/step', 'nadam/mu_product', 'w/nadam/m', 'w/nadam/v']
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(4)  # the first step: 0.1 * (1 + mu_2 / (1 - mu_1 mu_2) * 0.1) * sign(g)
    array([ 0.8944, -1.8944])
    """
    rule = functools.partial(scale_by_nadam, beta1, beta2, epsilon, momentum_decay)
    return _with_torch_weight_decay(
        "nadam", rule, loss_or_grads, params, learning_rate, weight_decay, decoupled_weight_decay, clip_norm, maximize, skip_nonfinite
    )


@_rule
@_doc
def radam(
    loss_or_grads,
    params,
    learning_rate=1e-3,
    beta1=0.9,
    beta2=0.999,
    epsilon=1e-8,
    *,
    weight_decay=0.0,
    decoupled_weight_decay=False,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""RAdam: rectified Adam, as ``torch.optim.RAdam``.

    .. math::

        p \leftarrow p - \eta\, \mathrm{radam}_{\beta_1,\beta_2,\epsilon}(g + \lambda p)

    with :math:`g` the gradient after clipping and negation, and each operator a transform of
    the chain, whose docstring holds its exact math (the rectifier, the first steps, where
    epsilon goes): :func:`~symupdates.scale_by_radam`.

    Parameters
    ----------
    {common}
    {lr}
    beta1, beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1, \beta_2 \in [0, 1)`. Live hyperparameters ``"beta1"``, ``"beta2"``.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, added to :math:`\sqrt v` before its bias correction. Live
        hyperparameter ``"epsilon"``.
    {wd}
    {decoupled}
    {flags}

    Notes
    -----
    ``torch.optim.RAdam(lr=η, betas=(β1, β2), eps=ε, weight_decay=λ,
    decoupled_weight_decay=...)``. Epsilon is added to :math:`\sqrt v`, and the sum is
    then divided by :math:`\sqrt{1-\beta_2^t}` (Adam adds epsilon after that division).
    While the variance estimate is unreliable (:math:`\rho_t \le 5`) the step is the
    bias-corrected momentum alone.

    References
    ----------
    Liu, L. et al. (2020). On the variance of the adaptive learning rate and beyond. ICLR.

    See Also
    --------
    scale_by_radam : the transform; adam, nadam

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.radam((w ** 2).sum(), [w], learning_rate=0.1)
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step()
    >>> w.get_value().round(4)  # the first steps are momentum SGD: 0.1 * the gradient
    array([ 0.8, -1.6])
    """
    rule = functools.partial(scale_by_radam, beta1, beta2, epsilon)
    return _with_torch_weight_decay(
        "radam", rule, loss_or_grads, params, learning_rate, weight_decay, decoupled_weight_decay, clip_norm, maximize, skip_nonfinite
    )


@_rule
@_doc
def rprop(
    loss_or_grads,
    params,
    learning_rate=0.01,
    *,
    eta_minus=0.5,
    eta_plus=1.2,
    step_size_min=1e-6,
    step_size_max=50.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Rprop: resilient backpropagation, as ``torch.optim.Rprop``.

    .. math::

        p \leftarrow p - \mathrm{rprop}_{\eta,\eta_-,\eta_+,s_{\min},s_{\max}}(g)

    with :math:`g` the gradient after clipping and negation: each element moves by its own
    step size :math:`s` in the direction of :math:`-\operatorname{sign}(g)`, and :math:`s`
    grows by :math:`\eta_+` while the sign holds and shrinks by :math:`\eta_-` when it
    flips (then the element waits one step). The exact math is in
    :func:`~symupdates.scale_by_rprop`.

    Parameters
    ----------
    {common}
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`, the first step size of every element. It acts on the first
        step only (and the first after ``reset()``), as torch's ``lr`` does. Live
        hyperparameter ``"learning_rate"``.
    eta_minus, eta_plus : float, shared or symbolic scalar, or schedule
        :math:`\eta_- \in (0, 1)` and :math:`\eta_+ > 1`, the factors of the step size
        after a sign flip and while the sign holds. Live hyperparameters ``"eta_minus"``,
        ``"eta_plus"``.
    step_size_min, step_size_max : float, shared or symbolic scalar, or schedule
        :math:`0 \le s_{\min} \le s_{\max}`, the bounds of every step size. Live
        hyperparameters ``"step_size_min"``, ``"step_size_max"``.
    {flags}

    Notes
    -----
    ``torch.optim.Rprop(lr=η, etas=(η₋, η₊), step_sizes=(s_min, s_max))``. No weight
    decay and no epsilon, as torch. Rprop uses only the gradient's sign, so it suits
    full-batch training; with minibatches the sign is noisy.

    References
    ----------
    Riedmiller, M. and Braun, H. (1993). A direct adaptive method for faster
    backpropagation learning: the RPROP algorithm. IEEE ICNN.

    See Also
    --------
    scale_by_rprop : the transform; sgd

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.rprop((w ** 2).sum(), [w], learning_rate=0.1)
    >>> list(updates.state)
    ['rprop/step', 'w/rprop/prev', 'w/rprop/step_size']
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); w.get_value()  # every element moves by the learning rate
    array([ 0.9, -1.9])
    >>> _ = step(); w.get_value()  # the signs held: steps of 0.1 * 1.2
    array([ 0.78, -1.78])
    """
    transforms = _prelude(clip_norm, maximize, None, skip_nonfinite)
    rule = scale_by_rprop(learning_rate, eta_minus, eta_plus, step_size_min, step_size_max)
    return _build("rprop", [*transforms, rule, negate()], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def asgd(
    loss_or_grads,
    params,
    learning_rate=0.01,
    *,
    lambd=1e-4,
    alpha=0.75,
    t0=1e6,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""ASGD: averaged stochastic gradient descent, as ``torch.optim.ASGD``.

    .. math::

        p \leftarrow p + \mathrm{asgd}_{\eta,\lambda,\alpha,t_0}(g + \lambda_{wd}\, p)

    with :math:`g` the gradient after clipping and negation: an SGD step of decaying size
    :math:`\eta_t = \eta / (1 + \lambda\eta(t-1))^\alpha` that also shrinks the weights by
    :math:`1 - \lambda\eta_t`, and the running average :math:`\bar p` of the parameters
    from step :math:`t_0 + 2` on (torch's count), kept as state. The exact math is in
    :func:`~symupdates.scale_by_asgd`.

    Parameters
    ----------
    {common}
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`. Live hyperparameter ``"learning_rate"``; as in torch, a new
        value enters the step after the next one.
    lambd : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, the decay term. Live hyperparameter ``"lambd"``.
    alpha : float, shared or symbolic scalar, or schedule
        :math:`\alpha \ge 0`, the power of the step's decay. Live hyperparameter ``"alpha"``.
    t0 : float, shared or symbolic scalar, or schedule
        :math:`t_0 \ge 0`: averaging starts at step :math:`t_0 + 2` (torch's default,
        :math:`10^6`, means "not within most runs"). Live hyperparameter ``"t0"``.
    {wd}
    {flags}

    Notes
    -----
    ``torch.optim.ASGD(lr=η, lambd=λ, alpha=α, t0=t₀, weight_decay=λ_wd)``. There is
    no epsilon. The averaged parameters are the state ``"{param}/asgd/ax"``: to evaluate
    them, copy them into the parameters (keeping the trained values aside), as one does
    with torch's ``state["ax"]``.

    References
    ----------
    Polyak, B. T. and Juditsky, A. B. (1992). Acceleration of stochastic approximation by
    averaging. SIAM Journal on Control and Optimization 30(4).

    See Also
    --------
    scale_by_asgd : the transform; sgd

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.asgd((w ** 2).sum(), [w], learning_rate=0.1, lambd=0.0, t0=1)
    >>> list(updates.state)
    ['asgd/step', 'asgd/eta', 'asgd/mu', 'w/asgd/ax']
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> for _ in range(5):
    ...     _ = step()
    >>> w.get_value().round(5)  # plain SGD (lambd=0): w * 0.8 ** 5
    array([ 0.32768, -0.65536])
    >>> updates.state["w/asgd/ax"].get_value().round(5)  # the mean of steps t0 + 2 = 3, 4 and 5
    array([ 0.41643, -0.83285])
    """
    check_hyperparam("weight_decay", weight_decay, **NON_NEGATIVE)
    transforms = _prelude(clip_norm, maximize, weight_decay, skip_nonfinite)
    rule = scale_by_asgd(learning_rate, lambd, alpha, t0)
    return _build("asgd", [*transforms, rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def lion(
    loss_or_grads,
    params,
    learning_rate=1e-4,
    beta1=0.9,
    beta2=0.99,
    *,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Lion: evolved sign momentum, as ``optax.lion`` (torch.optim has no Lion).

    .. math::

        p \leftarrow p - \eta\,\bigl(\mathrm{lion}_{\beta_1,\beta_2}(g) + \lambda p\bigr)

    with :math:`g` the gradient after clipping and negation: every element moves by
    :math:`\eta` in the direction of the sign of :math:`(1-\beta_1) g + \beta_1 m`, and
    the momentum :math:`m` decays with :math:`\beta_2`. The exact math is in
    :func:`~symupdates.scale_by_lion`. Weight decay is decoupled, as optax's.

    Parameters
    ----------
    {common}
    {lr}
    beta1 : float, shared or symbolic scalar, or schedule
        :math:`\beta_1 \in [0, 1]`, the weight of the momentum in the step's sign. Live
        hyperparameter ``"beta1"``.
    beta2 : float, shared or symbolic scalar, or schedule
        :math:`\beta_2 \in [0, 1)`, the decay of the momentum. Live hyperparameter
        ``"beta2"``.
    weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, decoupled: :math:`p \leftarrow p - \eta\lambda p` besides
        the step. Live hyperparameter ``"weight_decay"``; a real 0 adds no term.
    {flags}

    Notes
    -----
    ``optax.lion(learning_rate=η, b1=β1, b2=β2, weight_decay=λ)``, optax 0.2.8, whose
    default weight decay is 1e-3; ours is 0, as for every rule here. There is
    no epsilon. Every step has the same size in every element, so Lion wants a learning
    rate 3 to 10 times smaller than AdamW's (and a larger weight decay).

    References
    ----------
    Chen, X. et al. (2023). Symbolic discovery of optimization algorithms. NeurIPS.

    See Also
    --------
    scale_by_lion : the transform; adamw

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    >>> updates = su.lion((w ** 2).sum(), [w], learning_rate=0.1)
    >>> list(updates.state)
    ['lion/step', 'w/lion/m']
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); w.get_value()  # each element moves by the learning rate
    array([ 0.9, -1.9])
    """
    rule = functools.partial(scale_by_lion, beta1, beta2)
    return _with_torch_weight_decay(
        "lion", rule, loss_or_grads, params, learning_rate, weight_decay, True, clip_norm, maximize, skip_nonfinite
    )


@_rule
@_doc
def adafactor(
    loss_or_grads,
    params,
    learning_rate=0.01,
    *,
    beta2_decay=-0.8,
    epsilon1=None,
    epsilon2=1e-3,
    clip_threshold=1.0,
    weight_decay=0.0,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Adafactor: a factored second moment and steps relative to each parameter's size,
    as ``torch.optim.Adafactor``.

    .. math::

        p \leftarrow p\,(1 - \lambda\eta) - \alpha_t\,\frac{u}{\max(1,\ \operatorname{rms}(u)/d)},
        \qquad u = \frac{g}{\sqrt{\max(\hat v,\ \epsilon_1^2)}},
        \qquad \alpha_t = \max\bigl(\epsilon_2, \operatorname{rms}(p)\bigr)\min\bigl(\eta, 1/\sqrt t\bigr)

    with :math:`g` the gradient after clipping and negation, and :math:`\hat v` its
    second moment, factored into a row and a column statistic for a parameter of two
    axes or more (memory :math:`m + n` instead of :math:`mn`). The exact math, and
    where each epsilon goes, is in :func:`~symupdates.scale_by_adafactor`.

    Parameters
    ----------
    {common}
    learning_rate : float, shared or symbolic scalar, or schedule
        :math:`\eta \ge 0`: the relative step is :math:`\min(\eta, 1/\sqrt t)`. Live
        hyperparameter ``"learning_rate"``.
    beta2_decay : float, shared or symbolic scalar, or schedule
        :math:`\tau \le 0`: the second moment's weight on the new gradient is
        :math:`t^{\tau}`. Live hyperparameter ``"beta2_decay"``.
    epsilon1 : float, shared or symbolic scalar, schedule, or None
        :math:`\epsilon_1 \ge 0`, the floor of the second moment (under the square
        root, squared). ``None``: each parameter's machine epsilon, not listed among the
        hyperparameters; a number is the live hyperparameter ``"epsilon1"``.
    epsilon2 : float, shared or symbolic scalar, or schedule
        :math:`\epsilon_2 \ge 0`, the least parameter size the step is relative to.
        Live hyperparameter ``"epsilon2"``.
    clip_threshold : float, shared or symbolic scalar, or schedule
        :math:`d \ge 1`, the largest root mean square of an update (torch's ``d``). Live
        hyperparameter ``"clip_threshold"``.
    weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, decoupled (scaled by :math:`\eta`, as torch). Live
        hyperparameter ``"weight_decay"``; a real 0 adds no term.
    {flags}

    Notes
    -----
    ``torch.optim.Adafactor(lr=η, beta2_decay=τ, eps=(ε₁, ε₂), d=d, weight_decay=λ)``.
    Epsilon :math:`\epsilon_1` floors the second moment under the square root (as
    :math:`\epsilon_1^2`) and the mean row statistic it is divided by;
    :math:`\epsilon_2` floors the parameter's root mean square. The state of an
    :math:`m \times n` matrix is ``"{param}/adafactor/row"`` (:math:`m \times 1`) and
    ``"{param}/adafactor/col"`` (:math:`1 \times n`); vectors and scalars keep
    ``"{param}/adafactor/v"``, their shape.

    References
    ----------
    Shazeer, N. and Stern, M. (2018). Adafactor: adaptive learning rates with sublinear
    memory cost. ICML.

    See Also
    --------
    scale_by_adafactor : the transform; adam

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> W = pytensor.shared(np.full((2, 3), 2.0), name="W")
    >>> updates = su.adafactor((W ** 2).sum(), [W], learning_rate=0.1)
    >>> list(updates.state)
    ['adafactor/step', 'W/adafactor/row', 'W/adafactor/col']
    >>> step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    >>> _ = step(); W.get_value()  # the first step moves each element by rms(W) * lr
    array([[1.8, 1.8, 1.8],
           [1.8, 1.8, 1.8]])
    """
    transforms = _prelude(clip_norm, maximize, None, skip_nonfinite)
    rule = scale_by_adafactor(learning_rate, beta2_decay, epsilon1, epsilon2, clip_threshold, weight_decay)
    return _build("adafactor", [*transforms, rule], loss_or_grads, params, skip_nonfinite)


@_rule
@_doc
def muon(
    loss_or_grads,
    params,
    learning_rate=1e-3,
    *,
    weight_decay=0.1,
    momentum=0.95,
    nesterov=True,
    ns_coefficients=MUON_COEFFICIENTS,
    epsilon=1e-7,
    ns_steps=5,
    adjust_lr_fn=None,
    clip_norm=None,
    maximize=False,
    skip_nonfinite=False,
):
    r"""Muon: momentum orthogonalized by a Newton–Schulz iteration, for matrices, as
    ``torch.optim.Muon``.

    .. math::

        p \leftarrow p - \eta\,\bigl(r(m, n)\ \mathrm{NS}(M) + \lambda p\bigr)

    with :math:`M` the (Nesterov) momentum of the gradient :math:`g` after clipping and
    negation, :math:`\mathrm{NS}(M)` a matrix with :math:`M`'s singular vectors and
    singular values near 1, :math:`r(m, n)` a scale by the parameter's shape and
    :math:`\lambda` decoupled weight decay. The exact math, and where epsilon goes, is
    in :func:`~symupdates.scale_by_muon`.

    Parameters
    ----------
    {common}
        Every parameter must be a matrix (2-d), as torch's; see Raises.
    {lr}
    weight_decay : float, shared or symbolic scalar, or schedule
        :math:`\lambda \ge 0`, decoupled: :math:`p \leftarrow p - \eta\lambda p` besides
        the step (torch's default, 0.1). Live hyperparameter ``"weight_decay"``; a real 0
        adds no term.
    momentum : float, shared or symbolic scalar, or schedule
        :math:`\mu \in [0, 1]`. Live hyperparameter ``"momentum"``.
    nesterov : bool
        The Nesterov form of the momentum (the default, as torch).
    ns_coefficients : tuple of three float
        :math:`(a, b, c)` of the Newton–Schulz polynomial, constants of the graph.
    epsilon : float, shared or symbolic scalar, or schedule
        :math:`\epsilon \ge 0`, the floor of the momentum's Frobenius norm. Live
        hyperparameter ``"epsilon"``.
    ns_steps : int
        Newton–Schulz iterations, 0 to 99.
    adjust_lr_fn : None, "original" or "match_rms_adamw"
        :math:`r(m, n)`: :math:`\sqrt{\max(1, m/n)}` (``None``, ``"original"``) or
        :math:`0.2\sqrt{\max(m, n)}`, which lets Muon reuse AdamW's learning rate and
        weight decay.
    {flags}

    Raises
    ------
    ValueError
        When a parameter is not a matrix. Biases, embeddings' vectors and scalars need
        another rule: build one update list for each part and join them with
        :func:`~symupdates.merge_updates`.

    Notes
    -----
    ``torch.optim.Muon(lr=η, weight_decay=λ, momentum=μ, nesterov=..., ns_coefficients=(a, b, c),
    eps=ε, ns_steps=k, adjust_lr_fn=...)``. Epsilon floors the Frobenius norm the
    momentum is divided by before the iteration. torch runs the iteration in bfloat16;
    here it runs in the parameters' dtype (the parity tests remove torch's cast), so a
    float32 Muon is more precise than torch's, not bit-equal. torch's Muon has no
    ``maximize``; ours negates the gradient as every rule does.

    References
    ----------
    Jordan, K. et al. (2024). Muon: an optimizer for hidden layers in neural networks.
    Liu, J. et al. (2025). Muon is scalable for LLM training. arXiv:2502.16982.

    See Also
    --------
    scale_by_muon : the transform; orthogonalize; merge_updates

    Examples
    --------
    >>> import numpy as np, pytensor
    >>> import symupdates as su
    >>> W = pytensor.shared(np.array([[2.0, 0.0], [0.0, 0.5]]), name="W")
    >>> b = pytensor.shared(np.zeros(2), name="b")
    >>> cost = ((W - 1.0) ** 2).sum() + (b ** 2).sum()
    >>> updates = su.merge_updates(su.muon(cost, [W], learning_rate=0.1, weight_decay=0.0), su.adamw(cost, [b]))
    >>> list(updates.state)[:2]
    ['muon/step', 'W/muon/buffer']
    >>> su.muon(cost, [W, b])
    Traceback (most recent call last):
        ...
    ValueError: muon takes matrices (2-d parameters) only, as torch.optim.Muon; 'b' has shape (2,). Split the parameters and give the others another rule: su.merge_updates(su.muon(cost, [p for p in params if p.ndim == 2]), su.adamw(cost, [p for p in params if p.ndim != 2]))
    """
    rule = functools.partial(scale_by_muon, momentum, nesterov, ns_coefficients, epsilon, ns_steps, adjust_lr_fn)
    return _with_torch_weight_decay(
        "muon", rule, loss_or_grads, params, learning_rate, weight_decay, True, clip_norm, maximize, skip_nonfinite
    )
