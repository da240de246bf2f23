"""Every rule and flag against its step written out in NumPy (tests/numpy_reference.py).

These run on every leg of the support matrix. Where torch is installed (the main leg) the
parity tests (tests/core/test_optimizers.py) check the NumPy steps against torch.optim
too, case by case, so on the legs without torch these prove the rules with the same
1e-10 bound.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

from tests.numpy_reference import STEPS as NUMPY_STEPS
from tests.numpy_reference import hyperparameters, problem_loss_and_grads, run_numpy
from tests.reference import data, initial_values, max_relative_error, pytensor_problem, run_ours
from tests.rules import RULES, each_flag_case

STEPS = 60
CLIP = 0.05  # below the problem's gradient norm for the first steps


@pytest.mark.parametrize("clip_norm", [None, CLIP], ids=["noclip", "clip"])
@pytest.mark.parametrize(("case", "kwargs"), each_flag_case())
def test_rule_equals_its_numpy_steps(case, kwargs, clip_norm):
    kwargs = {"learning_rate": case.lr, **kwargs}
    sign = -1.0 if kwargs.get("maximize") else 1.0
    theirs = run_numpy(case.fn, kwargs, STEPS, clip_norm=clip_norm)
    ours, updates, _ = run_ours(lambda cost, params: case.fn(cost, params, clip_norm=clip_norm, **kwargs), STEPS, sign=sign)
    assert max_relative_error(ours, theirs) <= 1e-10
    assert max_relative_error(theirs, initial_values().values()) > 1e-3, "the trajectory moved"
    assert int(updates.step.get_value()) == STEPS


def test_the_hand_written_gradient_is_pytensors():
    params, cost = pytensor_problem()
    X, Y = data()
    loss, grads = problem_loss_and_grads(initial_values(), X, Y)
    expected = pytensor.function([], [cost, *pytensor.grad(cost, params)])()
    np.testing.assert_allclose(loss, expected[0], rtol=1e-13)
    for ours, theirs in zip(grads.values(), expected[1:], strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-15)


def test_every_rule_has_numpy_steps():
    assert sorted(NUMPY_STEPS) == sorted(RULES)


def test_the_numpy_steps_refuse_an_argument_they_do_not_know():
    with pytest.raises(TypeError, match="lr"):
        hyperparameters(RULES["adam"].fn, {"lr": 0.1})
