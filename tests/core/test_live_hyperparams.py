"""Live hyperparameters: one compiled function, hyperparameters changed between calls.

Every float hyperparameter of every rule is a shared scalar in ``updates.hyperparams``;
``set_value`` takes effect at the next call and nothing is recompiled. Every
hyperparameter also takes a NumPy scalar, a shared or symbolic scalar, or a schedule.
Each is checked against torch with the same values changed in its param groups.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors

import symupdates as su

from symupdates import schedules as S
from tests.reference import data, initial_values, max_relative_error, pytensor_problem, require_torch, torch_loss
from tests.rules import RULES, each_rule, each_transform, reference_of, unmoved_later

STEPS = 24
CHANGE_AT = 10

CLIP = (0.05, 0.02)  # clip_norm's start and new value, for every rule


# --- the reference with hyperparameters changed before each step ------------------------

def _reference_run(case, values_at, flags, steps=STEPS):
    """The reference (torch's param group, or optax's injected hyperparameters) with
    ``values_at(k)`` set before update k."""
    return reference_of(case).run(lambda k: {**values_at(k), **flags}, steps)


def _switch_at(start, new, change_at):
    return lambda k: start if k < change_at else new


@pytest.mark.parametrize("case", each_rule())
def test_set_value_between_calls_matches_torch_without_recompiling(case, compiles):
    """Change every hyperparameter mid-training with set_value; torch changes its param group."""
    flags = case.live.flags
    start, new = {**case.live.start, "clip_norm": CLIP[0]}, {**case.live.new, "clip_norm": CLIP[1]}
    params, cost = pytensor_problem()
    updates = case.fn(cost, params, **start, **flags)
    assert set(updates.hyperparams) == set(start)  # every float is live, and nothing else
    train = pytensor.function([], [], updates=updates)
    for k in range(STEPS):
        if k == CHANGE_AT:
            for name, value in new.items():
                updates.hyperparams[name].set_value(value)
        train()
    assert compiles[0] == 1

    theirs = _reference_run(case, _switch_at(start, new, CHANGE_AT), flags)
    assert max_relative_error([p.get_value() for p in params], theirs) <= 1e-10
    # each change alone moves torch's trajectory, so none of them can go unnoticed here
    # (but one that acts on the first step only, as torch's, which must move nothing)
    unchanged = _reference_run(case, lambda k: start, flags)
    for name in new:
        one = _reference_run(case, _switch_at(start, {**start, name: new[name]}, CHANGE_AT), flags)
        if unmoved_later(case.name, name):
            assert max_relative_error(one, unchanged) == 0, name
        else:
            assert max_relative_error(one, unchanged) > 1e-8, name


def _linear(a, b):
    """A schedule moving from a to b over STEPS updates, and the same in Python."""
    return (lambda k: a + (b - a) * k / STEPS), (lambda k: a + (b - a) * k / STEPS)


@pytest.mark.parametrize("case", each_rule())
def test_every_hyperparameter_accepts_a_schedule(case):
    """Every hyperparameter moving every step (schedules), against torch set step by step."""
    flags = case.live.flags
    start, new = {**case.live.start, "clip_norm": CLIP[0]}, {**case.live.new, "clip_norm": CLIP[1]}
    pairs = {name: _linear(start[name], new[name]) for name in start}
    params, cost = pytensor_problem()
    updates = case.fn(cost, params, **{name: ours for name, (ours, _) in pairs.items()}, **flags)
    # Given as schedules, each is listed as a live scale of its schedule, at 1.0.
    assert set(updates.hyperparams) == set(pairs)
    assert all(float(v.get_value()) == 1.0 and not v.frozen for v in updates.hyperparams.values())
    assert set(pairs) <= set(updates.info)
    names = sorted(pairs)
    train = pytensor.function([], [updates.info[n] for n in names], updates=updates)
    record = np.array([[float(x) for x in train()] for _ in range(STEPS)])
    python = {name: py for name, (_, py) in pairs.items()}
    for j, name in enumerate(names):
        if not (case.name == "adagrad" and name == "learning_rate"):  # there info holds the decayed rate applied
            np.testing.assert_allclose(record[:, j], [python[name](k) for k in range(STEPS)], rtol=1e-14, err_msg=name)

    theirs = _reference_run(case, lambda k: {name: py(k) for name, py in python.items()}, flags)
    assert max_relative_error([p.get_value() for p in params], theirs) <= 1e-10


# --- the forms a hyperparameter takes ---------------------------------------------------


def _forms():
    """form -> (learning_rate, momentum, the symbolic inputs to feed, expected hyperparams keys)."""
    lr_in, mu_in = pt.dscalar("lr"), pt.dscalar("mu")
    lr_shared, mu_shared = pytensor.shared(np.float64(0.05), name="my_lr"), pytensor.shared(np.float64(0.9), name="my_mu")
    keys = {"learning_rate", "momentum", "dampening", "weight_decay"}  # every form lists every hyperparameter
    return {
        "float": (0.05, 0.9, [], keys),
        "numpy": (np.float64(0.05), np.float32(0.75), [], keys),
        "shared": (lr_shared, mu_shared, [], keys),
        "symbolic": (lr_in, mu_in, [(lr_in, 0.05), (mu_in, 0.9)], keys),
        "schedule": (S.constant(0.05), S.constant(0.9), [], keys),
        "lambda": (lambda k: 0.05 + 0 * k, lambda k: pt.constant(np.float32(0.75)), [], keys),
    }


@pytest.mark.parametrize("form", list(_forms()))
def test_every_form_of_a_hyperparameter_matches_torch(form, compiles):
    learning_rate, momentum, inputs, listed = _forms()[form]
    params, cost = pytensor_problem()
    updates = su.momentum(cost, params, learning_rate=learning_rate, momentum=momentum)
    assert set(updates.hyperparams) == listed
    if form == "shared":
        assert updates.hyperparams["learning_rate"] is learning_rate
    train = pytensor.function([v for v, _ in inputs], [updates.info["learning_rate"]], updates=updates)
    lrs = [float(train(*[x for _, x in inputs])[0]) for _ in range(STEPS)]
    assert lrs == [0.05] * STEPS
    assert compiles[0] == 1
    mu = float(np.float32(0.75)) if form in ("numpy", "lambda") else 0.9
    theirs = _reference_run(RULES["momentum"], lambda k: {"learning_rate": 0.05, "momentum": mu, "clip_norm": np.inf}, {})
    assert max_relative_error([p.get_value() for p in params], theirs) <= 1e-10


@pytest.mark.parametrize("form", list(_forms()))
def test_no_form_of_a_hyperparameter_upcasts_float32_params(form):
    """float64 hyperparameters in any form leave every tensor of a float32 graph float32."""
    learning_rate, momentum, _, _ = _forms()[form]
    w = pytensor.shared(np.ones((2, 3), dtype="float32"), name="w")
    updates = su.momentum((w**2).sum(), [w], learning_rate=learning_rate, momentum=momentum)
    float64_tensors = [
        v for v in ancestors([new for _, new in updates]) if getattr(v.type, "ndim", 0) > 0 and v.type.dtype == "float64"
    ]
    assert float64_tensors == []
    assert all(new.dtype == var.dtype for var, new in updates)


def test_a_schedule_returning_a_python_float_stays_float64(floatX):
    """A bare float from a schedule is not rounded to floatX (it would be with float32)."""
    w = pytensor.shared(np.ones(2), name="w")
    updates = su.sgd((w**2).sum(), [w], learning_rate=lambda k: 0.1, weight_decay=S.join([lambda k: 0.1, S.constant(0.0)], [5]))
    lr, wd = (updates.info[name] for name in ("learning_rate", "weight_decay"))
    assert lr.dtype == wd.dtype == "float64"
    assert float(lr.eval()) == float(wd.eval()) == 0.1


# --- one compiled function across every kind of change ----------------------------------


def test_one_compiled_function_sees_every_change_at_its_next_call(compiles):
    """set_value, ReduceLROnPlateau, reset and load_state_dict: each acts at the next call."""
    w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    updates = su.momentum((w**2).sum(), [w], learning_rate=0.1, momentum=0.9)
    train = pytensor.function([], updates.info["learning_rate"], updates=updates)
    buffer = updates.state["w/momentum/buffer"]
    assert compiles[0] == 1

    def expected_step(lr, mu):  # torch's SGD momentum on the cost sum(w**2), from the current state
        g = 2 * w.get_value()
        b = g if int(updates.step.get_value()) == 0 else mu * buffer.get_value() + g
        return w.get_value() - lr * b

    assert float(train()) == 0.1
    updates.hyperparams["learning_rate"].set_value(0.01)
    updates.hyperparams["momentum"].set_value(0.5)
    expected = expected_step(0.01, 0.5)
    assert float(train()) == 0.01
    np.testing.assert_allclose(w.get_value(), expected, rtol=1e-15)

    plateau = su.ReduceLROnPlateau(updates, factor=0.5, patience=0)
    plateau.step(1.0)
    plateau.step(1.0)  # no improvement: halve
    expected = expected_step(0.005, 0.5)
    assert float(train()) == 0.005
    np.testing.assert_allclose(w.get_value(), expected, rtol=1e-15)

    snapshot = updates.state_dict()
    train()
    updates.reset()  # step 0 again: the buffer restarts from the gradient
    expected = expected_step(0.005, 0.5)
    train()
    np.testing.assert_allclose(w.get_value(), expected, rtol=1e-15)
    updates.load_state_dict(snapshot)
    assert int(updates.step.get_value()) == 3
    assert compiles[0] == 1  # nothing above rebuilt the function


def test_a_schedule_is_not_recompiled_as_it_moves(compiles):
    w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    updates = su.adam((w**2).sum(), [w], learning_rate=S.exponential_decay(0.1, 0.5), beta1=S.linear_warmup(0.9, 4, 0.5))
    train = pytensor.function([], [updates.info["learning_rate"], updates.info["beta1"]], updates=updates)
    record = [tuple(float(x) for x in train()) for _ in range(6)]
    assert record == [(0.1 * 0.5**k, 0.9 * (0.5 + 0.5 * min(k, 4) / 4)) for k in range(6)]
    assert compiles[0] == 1


def test_reduce_lr_on_plateau_drives_training_like_torch(compiles, torch):
    """The validation-loss loop of the torch docs, on the reference problem, both sides."""
    config = {"factor": 0.5, "patience": 2, "threshold": 0.02}
    params, cost = pytensor_problem()
    updates = su.momentum(cost, params, learning_rate=0.05, momentum=0.9)
    train = pytensor.function([], [cost, updates.info["learning_rate"]], updates=updates)
    plateau = su.ReduceLROnPlateau(updates, **config)
    ours = []
    for _ in range(60):
        loss, lr = train()
        ours.append(float(lr))
        plateau.step(loss)

    X, Y = (torch.tensor(a) for a in data())
    tensors = [torch.tensor(v, requires_grad=True) for v in initial_values().values()]
    opt = torch.optim.SGD(tensors, lr=0.05, momentum=0.9)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **config)
    theirs = []
    for _ in range(60):
        opt.zero_grad()
        loss = torch_loss(torch, tensors, X, Y)
        loss.backward()
        theirs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(loss.item())

    assert ours == theirs
    assert len(set(theirs)) >= 3  # at least two reductions happened
    assert max_relative_error([p.get_value() for p in params], [t.detach().numpy() for t in tensors]) <= 1e-10
    assert compiles[0] == 1


# --- the transforms: every float hyperparameter is live and takes a schedule -------------

#: transform -> (constructor, {hyperparameter: (start value, new value)}); one compiled
#: function per transform runs every change, a second build takes every one as a schedule.
#: The transforms every rule shares; each rule's own transforms are in its registry row.
SHARED_TRANSFORMS = {
    "scale": (su.scale, {"factor": (0.5, 0.2)}),
    "clip_by_norm": (su.clip_by_norm, {"max_norm": (0.05, 0.02)}),
    "clip_by_value": (su.clip_by_value, {"min_value": (-0.02, -0.01), "max_value": (0.02, 0.005)}),
    "clip_by_global_norm": (su.clip_by_global_norm, {"clip_norm": (0.05, 0.02)}),
    "add_decayed_weights": (su.add_decayed_weights, {"weight_decay": (0.1, 0.4)}),
    "scale_by_learning_rate": (su.scale_by_learning_rate, {"learning_rate": (0.1, 0.03)}),
}
TRANSFORMS = [pytest.param(name, make, values, id=name) for name, (make, values) in SHARED_TRANSFORMS.items()]
TRANSFORMS += each_transform()
_HALF = 4  # calls before the change, and after it


def _descend(directions, params):
    """A fixed small descent step after the transform (no hyperparameter of its own)."""
    return [-0.01 * d for d in directions], []


def _with_descent(transform, built):
    return built if transform == "scale_by_learning_rate" else su.chain(built, _descend)


def _transform_run(train, params, updates, before=None, after=None):
    """From the initial parameters and state: _HALF calls, set_value of ``after``, _HALF calls."""
    for p, value in zip(params, initial_values().values(), strict=True):
        p.set_value(value)
    updates.reset()
    for name, value in (before or {}).items():
        updates.hyperparams[name].set_value(np.float64(value))
    for k in range(2 * _HALF):
        if k == _HALF:
            for name, value in (after or {}).items():
                updates.hyperparams[name].set_value(np.float64(value))
        train()
    return [p.get_value() for p in params]


@pytest.mark.parametrize(("transform", "make", "arguments"), TRANSFORMS)
def test_every_transform_hyperparameter_is_live_and_takes_a_schedule(transform, make, arguments, compiles):
    args = {name: a for name, (a, _) in arguments.items()}
    values = dict(arguments)  # every hyperparameter is listed under its argument's name
    start = {name: a for name, (a, _) in values.items()}
    new = {name: b for name, (_, b) in values.items()}

    params, cost = pytensor_problem()
    updates = su.get_updates(_with_descent(transform, make(**args)), cost, params, name="t")
    assert set(updates.hyperparams) == set(values)  # every float is a named shared scalar
    train = pytensor.function([], [], updates=updates)
    unchanged = _transform_run(train, params, updates, before=start)
    changed = _transform_run(train, params, updates, before=start, after=new)
    for name in values:  # each change alone reaches the compiled function (or, listed unmoved, moves nothing)
        one = _transform_run(train, params, updates, before=start, after={name: new[name]})
        if unmoved_later(transform, name):
            assert max_relative_error(one, unchanged) == 0, name
        else:
            assert max_relative_error(one, unchanged) > 1e-8, name
    assert compiles[0] == 1

    # the same change as schedules of the step counter: the same trajectory
    params, cost = pytensor_problem()
    switches = {
        arg: (lambda k, a=a, b=b: pt.switch(pt.lt(k, _HALF), np.float64(a), np.float64(b)))
        for arg, (a, b) in arguments.items()
    }
    scheduled = su.get_updates(_with_descent(transform, make(**switches)), cost, params, name="t")
    assert set(scheduled.hyperparams) == set(values) and set(values) <= set(scheduled.info)  # live scales, at 1.0
    train = pytensor.function([], [scheduled.info[name] for name in values], updates=scheduled)
    record = [train() for _ in range(2 * _HALF)]
    for j, name in enumerate(values):
        assert [float(r[j]) for r in record] == [start[name]] * _HALF + [new[name]] * _HALF, name
    assert max_relative_error([p.get_value() for p in params], changed) <= 1e-14
