"""Parameter groups, torch's semantics: ``params`` as a list of dicts.

Each group may set any of the rule's arguments but ``clip_norm`` and ``skip_nonfinite``
(those act on every parameter at once, as ``clip_grad_norm_`` over all of them); what a
group leaves out comes from the call. One step counter; each group's hyperparameters are
live and named ``"{group}/..."``. Checked against torch's ``param_groups``.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

import symupdates as su
from tests.reference import data, initial_values, max_relative_error, pytensor_problem, torch_loss
from tests.rules import RULES, reference_of

STEPS = 40
CHANGE_AT = 20
#: Rules with a torch twin, one of each family (and ASGD's scalar state, NAdam's).
GROUP_RULES = ["sgd", "momentum", "adagrad", "rmsprop", "adam", "adamw", "nadam", "asgd", "rprop"]


def _groups(params, second):
    W1, b1, W2, s = params
    return [{"params": [W1, W2]}, {"params": [b1, s], **second}]


@pytest.mark.parametrize("clip_norm", [None, 0.05], ids=["noclip", "clip"])
@pytest.mark.parametrize("rule", GROUP_RULES)
def test_groups_match_torch_param_groups(torch, rule, clip_norm):
    """Two groups with their own learning rate and weight decay (and, for Adam, amsgrad),
    one global clipping norm; the second group's learning rate changed in mid-run."""
    case = RULES[rule]
    reference = reference_of(case)
    call = {"learning_rate": case.lr, **case.weight_decay(0.01)}
    second = {"learning_rate": case.lr / 3, **case.weight_decay(0.1), **({"amsgrad": True} if rule == "adam" else {})}
    params, cost = pytensor_problem()
    updates = case.fn(cost, _groups(params, second), clip_norm=clip_norm, **call)
    step = pytensor.function([], [], updates=updates)

    X, Y = (torch.tensor(a) for a in data())
    tensors = [torch.tensor(v, requires_grad=True) for v in initial_values().values()]
    opt = reference.target()(
        [{"params": [tensors[0], tensors[2]]}, {"params": [tensors[1], tensors[3]], **reference.translate(second)}],
        **reference.kwargs(call),
    )
    for k in range(STEPS):
        if k == CHANGE_AT:
            updates.hyperparams["group1/learning_rate"].set_value(case.lr / 2)
            opt.param_groups[1]["lr"] = case.lr / 2
        step()
        opt.zero_grad()
        torch_loss(torch, tensors, X, Y).backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
        opt.step()
    assert max_relative_error([p.get_value() for p in params], [t.detach().numpy() for t in tensors]) <= 1e-10
    assert int(updates.step.get_value()) == STEPS  # one counter for every group
    # the groups really differ: the same run without groups ends elsewhere
    plain, plain_cost = pytensor_problem()
    plain_step = pytensor.function([], [], updates=case.fn(plain_cost, plain, clip_norm=clip_norm, **call))
    for _ in range(STEPS):
        plain_step()
    assert max_relative_error([p.get_value() for p in plain], [p.get_value() for p in params]) > 1e-6


def test_names_hyperparameters_state_and_info():
    params, cost = pytensor_problem()
    W1, b1, W2, s = params
    groups = [{"params": [W1, W2], "name": "weights", "weight_decay": 0.01}, {"params": [b1, s], "name": "rest"}]
    updates = su.nadam(cost, groups, learning_rate=0.01, clip_norm=1.0)
    per_group = {"learning_rate", "beta1", "beta2", "epsilon", "momentum_decay", "weight_decay"}
    assert set(updates.hyperparams) == {"clip_norm"} | {f"{g}/{h}" for g in ("weights", "rest") for h in per_group}
    assert updates.hyperparams["rest/weight_decay"].frozen  # 0 in that group: no term, listed all the same
    # a parameter's state keeps its name; a group's scalar state carries the group's name
    assert set(updates.state) == {
        "nadam/step", "weights/nadam/mu_product", "rest/nadam/mu_product",
        *(f"{p.name}/nadam/{m}" for p in params for m in ("m", "v")),
    }
    assert {"weights/learning_rate", "rest/learning_rate", "grad_norm"} <= set(updates.info)


def test_a_shared_or_scheduled_value_from_the_call_is_shared_by_the_groups():
    params, cost = pytensor_problem()
    lr = pytensor.shared(np.float64(0.01), name="lr")
    updates = su.adam(cost, _groups(params, {"weight_decay": 0.1}), learning_rate=lr)
    assert updates.hyperparams["group0/learning_rate"] is lr and "group1/learning_rate" not in updates.hyperparams


def test_gradients_are_given_in_the_order_of_the_groups_parameters():
    params, cost = pytensor_problem()
    groups = _groups(params, {"learning_rate": 0.003})
    ordered = [p for g in groups for p in g["params"]]
    from_cost = su.adam(cost, groups, learning_rate=0.01)
    again, cost2 = pytensor_problem()
    groups2 = _groups(again, {"learning_rate": 0.003})
    from_grads = su.adam(pytensor.grad(cost2, [p for g in groups2 for p in g["params"]]), groups2, learning_rate=0.01)
    step_a, step_b = (pytensor.function([], [], updates=u, mode="FAST_COMPILE") for u in (from_cost, from_grads))
    for _ in range(5):
        step_a()
        step_b()
    for a, b in zip(ordered, [p for g in groups2 for p in g["params"]], strict=True):
        np.testing.assert_array_equal(a.get_value(), b.get_value())


def test_a_rule_called_with_hyperparameters_only_takes_groups():
    params, cost = pytensor_problem()
    make = su.momentum(learning_rate=0.01, momentum=0.5)  # the PyMC / Lasagne form
    updates = make(cost, _groups(params, {"momentum": 0.9}))
    assert float(updates.hyperparams["group1/momentum"].get_value()) == 0.9
    assert float(updates.hyperparams["group0/momentum"].get_value()) == 0.5


def _bad(params):
    """Bad group structures; a bad entry of a group is a row of the wrapper table (tests/wrappers.py)."""
    W1, b1, W2, s = params
    return {
        "no-params-key": ([{"params": [W1, W2]}, {"weight_decay": 0.1}], ValueError, ("params[1]", "no 'params'")),
        "in-two-groups": ([{"params": [W1, W2]}, {"params": [W1, b1, s]}], ValueError, ("'W1'", "params[0]", "params[1]", "one group")),
        "mixed": ([{"params": [W1, W2, b1]}, s], TypeError, ("params[1]", "among parameter groups")),
    }


@pytest.mark.parametrize("what", list(_bad(pytensor_problem()[0])))
def test_bad_groups_raise_a_clear_error(what):
    params, cost = pytensor_problem()
    groups, error, fragments = _bad(params)[what]
    with pytest.raises(error) as raised:
        su.adam(cost, groups, learning_rate=0.01)
    for fragment in fragments:
        assert fragment in str(raised.value), (fragment, str(raised.value))


def test_reduce_lr_on_plateau_names_the_groups_learning_rates():
    params, cost = pytensor_problem()
    updates = su.adam(cost, _groups(params, {"weight_decay": 0.1}), learning_rate=0.01)
    with pytest.raises(ValueError, match=r"per parameter group .*'group0/learning_rate'.*hyperparams\['group0/learning_rate'\]"):
        su.ReduceLROnPlateau(updates)
    plateau = su.ReduceLROnPlateau(updates.hyperparams["group1/learning_rate"], factor=0.5, patience=0)
    plateau.step(1.0)
    plateau.step(2.0)
    assert float(updates.hyperparams["group1/learning_rate"].get_value()) == 0.005
    assert float(updates.hyperparams["group0/learning_rate"].get_value()) == 0.01
