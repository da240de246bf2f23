"""One set of argument checks: flags, "is this off", and a key per hyperparameter whatever its form.

Each test here was an inconsistency between copies of the checks: NumPy booleans accepted
by one flag and refused by another, a zero that switched a term off or not depending on
its Python type, and ``updates.hyperparams`` keys that changed with the argument's form.
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from symupdates import checks
from tests.reference import pytensor_problem

RULES = {name: getattr(su, name) for name in su.optimizers.__all__}


def _flags(fn):
    return [k for k, p in inspect.signature(fn).parameters.items() if isinstance(p.default, bool)]


#: Not a hyperparameter: the value Adagrad's accumulator starts from (state, reset restores it).
STATE_INITIALISERS = {"initial_accumulator_value"}


def _real_args(fn):
    """The hyperparameters a rule takes: its arguments with a float default (clip_norm, and
    counts such as Muon's ``ns_steps``, aside)."""
    return [k for k, p in inspect.signature(fn).parameters.items() if isinstance(p.default, float) and k not in STATE_INITIALISERS]


def _build(rule, **kwargs):
    params, loss = pytensor_problem()
    return RULES[rule](loss, params, **kwargs)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_every_flag_takes_a_numpy_bool_like_a_bool(rule):
    for flag in _flags(RULES[rule]):
        if flag == "nesterov":
            continue
        a, b = _build(rule, **{flag: True}), _build(rule, **{flag: np.True_})
        assert list(a.state) == list(b.state) and list(a.hyperparams) == list(b.hyperparams), flag
        with pytest.raises(TypeError, match=f"{flag} must be True or False, got 1"):
            _build(rule, **{flag: 1})


ZEROS = [0, 0.0, np.float32(0.0), np.float64(0.0), np.int64(0), np.array(0.0)]


@pytest.mark.parametrize("zero", ZEROS, ids=lambda z: f"{type(z).__name__}")
def test_any_real_zero_is_off_whatever_its_type(zero):
    """A zero weight decay adds no term, and is listed the same way, whatever its type."""
    reference = _build("adam", weight_decay=0.0)
    updates = _build("adam", weight_decay=zero)
    assert list(updates.hyperparams) == list(reference.hyperparams)
    frozen = updates.hyperparams["weight_decay"]
    assert frozen.frozen and float(frozen.get_value()) == 0.0
    frozen.set_value(0.0)  # its one value is fine
    with pytest.raises(ValueError, match=r"weight_decay was 0.0 when these updates were built.*pytensor.shared"):
        frozen.set_value(0.1)
    assert checks.is_off(zero)


@pytest.mark.parametrize("value", [pytensor.shared(np.float64(0.0)), lambda k: 0.0 * k, pt.constant(0.0)], ids=["shared", "schedule", "symbolic"])
def test_a_shared_scheduled_or_symbolic_zero_is_on(value):
    assert not checks.is_off(value)
    updates = _build("adam", weight_decay=value)
    assert "weight_decay" in updates.hyperparams and not getattr(updates.hyperparams["weight_decay"], "frozen", False)


def _forms(value):
    return {
        "float": value,
        "numpy": np.float32(value),
        "shared": pytensor.shared(np.float64(value)),
        "schedule": lambda k, v=value: v + 0.0 * k.astype("float64"),
        "symbolic": pt.constant(np.float64(value)),
    }


@pytest.mark.parametrize("form", ["float", "numpy", "shared", "schedule", "symbolic"])
@pytest.mark.parametrize("rule", sorted(RULES))
def test_hyperparams_has_a_key_per_hyperparameter_whatever_its_form(rule, form):
    fn = RULES[rule]
    defaults = {k: p.default for k, p in inspect.signature(fn).parameters.items()}
    args = _real_args(fn)
    for name in args:
        value = defaults[name] if defaults[name] != 0 else 0.1
        if rule == "nesterov_momentum" and name == "dampening":
            continue
        updates = _build(rule, **{name: _forms(value)[form]})
        assert sorted(updates.hyperparams) == sorted(args), (name, form)
        assert name in updates.info, (name, form)


def test_a_scheduled_learning_rate_exposes_a_live_scale_that_plateau_lowers():
    w = pytensor.shared(np.ones(2), name="w")
    updates = su.sgd((w**2).sum(), [w], learning_rate=su.schedules.exponential_decay(0.1, 0.5))
    scale = updates.hyperparams["learning_rate"]
    assert float(scale.get_value()) == 1.0
    step = pytensor.function([], updates.info["learning_rate"], updates=updates, mode="FAST_COMPILE")
    assert float(step()) == 0.1 and float(step()) == 0.05
    plateau = su.ReduceLROnPlateau(updates, factor=0.5, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)  # no improvement: the scale is halved
    assert float(scale.get_value()) == 0.5
    assert float(step()) == pytest.approx(0.0125)


def test_one_transform_runs_on_its_own_in_a_build():
    w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    g = pt.as_tensor(np.array([0.5, 0.5]))
    with su.building([w], [g]) as build:
        directions, state_updates = su.scale_by_adam(0.9, 0.999)([g], [w])
    assert list(build.state) == ["transform/step", "w/adam/m", "w/adam/v"]
    assert sorted(build.hyperparams) == ["beta1", "beta2", "epsilon"]
    assert "grad_norm" in build.info
    np.testing.assert_allclose(directions[0].eval(), [1.0, 1.0], rtol=1e-6)
    with pytest.raises(RuntimeError, match="building"):
        su.scale_by_adam()([g], [w])


def test_check_named_arrays_lists_every_problem():
    expected = {"a": np.zeros(3), "b": np.zeros((2, 2), "float32"), "c": np.zeros(1)}
    given = {"a": np.zeros(4), "b": np.zeros((2, 2)), "d": np.zeros(1)}
    assert checks.check_named_arrays(given, expected, "keys") == [
        "missing keys ['c']",
        "unexpected keys ['d']",
        "'a' has shape (4,), expected (3,)",
        "'b' has dtype float64, expected float32",
    ]


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: checks.check_flag("amsgrad", "yes"), TypeError, "amsgrad must be True or False, got 'yes'"),
        (lambda: checks.check_count("steps", 2.0), TypeError, "steps must be an integer, got 2.0"),
        (lambda: checks.check_count("steps", True), TypeError, "steps must be an integer, got True"),
        (lambda: checks.check_count("steps", 0), ValueError, "steps must be an integer >= 1, got 0"),
        (lambda: checks.check_real("factor", "0.5"), TypeError, "factor must be a number"),
        (lambda: checks.check_real("factor", 1.5, **checks.DECAY), ValueError, r"factor must be in \[0.0, 1.0\), got 1.5"),
    ],
)
def test_checks_name_the_argument_and_the_value(call, error, match):
    with pytest.raises(error, match=match):
        call()


# --- other libraries' spellings, and rules called PyMC/Lasagne style --------------------


SPELLINGS = [
    ("adam", {"lr": 0.1}, "adam() has no argument 'lr'; symupdates calls it learning_rate"),
    ("adam", {"betas": (0.9, 0.99)}, "adam() has no argument 'betas'; symupdates calls it beta1 and beta2"),
    ("adamw", {"eps": 1e-8}, "adamw() has no argument 'eps'; symupdates calls it epsilon"),
    ("rmsprop", {"alpha": 0.9}, "rmsprop() has no argument 'alpha'; symupdates calls it rho"),
    ("adam", {"b1": 0.9}, "adam() has no argument 'b1'; symupdates calls it beta1"),
    ("adamax", {"b2": 0.9}, "adamax() has no argument 'b2'; symupdates calls it beta2"),
    ("momentum", {"nesterov": True}, "Nesterov momentum is its own rule: su.nesterov_momentum"),
    ("sgd", {"nesterov": True}, "Nesterov momentum is its own rule: su.nesterov_momentum"),
    ("sgd", {"momentum": 0.9}, "SGD with momentum is its own rule: su.momentum"),
]


@pytest.mark.parametrize(("rule", "kwargs", "message"), SPELLINGS, ids=[f"{r}-{next(iter(k))}" for r, k, _ in SPELLINGS])
def test_a_torch_or_optax_spelling_gets_a_pointer_to_ours(rule, kwargs, message):
    with pytest.raises(TypeError, match=re.escape(message)):
        RULES[rule](**kwargs)
    params, loss = pytensor_problem()
    with pytest.raises(TypeError, match=re.escape(message)):  # with a cost and params too
        RULES[rule](loss, params, **kwargs)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_a_rule_called_with_hyperparameters_only_is_a_callable_of_loss_and_params(rule):
    """``su.adam(learning_rate=0.01)`` is what ``pm.fit(obj_optimizer=...)`` takes."""
    optimizer = RULES[rule](learning_rate=0.05, clip_norm=1.0)
    assert callable(optimizer)
    params, loss = pytensor_problem()
    later = optimizer(loss, params)
    params2, loss2 = pytensor_problem()
    keyword = optimizer(loss_or_grads=loss2, params=params2)
    assert list(later.state) == list(keyword.state) and float(later.hyperparams["learning_rate"].get_value()) == 0.05
    with pytest.raises(ValueError, match="learning_rate"):  # values are checked at once, not at the later call
        RULES[rule](learning_rate=-1.0)


def test_params_may_be_any_iterable_of_shared_variables():
    params, loss = pytensor_problem()
    updates = su.adam(loss, (p for p in params), learning_rate=0.1)
    assert [var for var, _ in updates][: len(params)] == params
    with pytest.raises(TypeError, match="params must be a list of shared variables, got dict"):
        su.adam(loss, {p.name: p for p in params})


def test_adagrad_publishes_the_decayed_rate_it_applies():
    w = pytensor.shared(np.ones(2), name="w")
    updates = su.adagrad((w**2).sum(), [w], learning_rate=0.5, lr_decay=1.0)
    step = pytensor.function([], updates.info["learning_rate"], updates=updates, mode="FAST_COMPILE")
    assert [float(step()) for _ in range(3)] == pytest.approx([0.5, 0.25, 0.5 / 3], rel=1e-15)


@pytest.mark.parametrize("value", [10**400, np.array(0.25, dtype=object)], ids=["huge-int", "object-array"])
def test_a_hyperparameter_refuses_what_is_not_a_finite_real(value):
    w = pytensor.shared(np.ones(2), name="w")
    updates = su.adam((w**2).sum(), [w], learning_rate=0.1)
    with pytest.raises((TypeError, ValueError), match="learning_rate"):
        updates.hyperparams["learning_rate"].set_value(value)
    assert float(updates.hyperparams["learning_rate"].get_value()) == 0.1
