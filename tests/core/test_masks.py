"""Weight decay on a subset of the parameters: ``add_decayed_weights(mask=...)``, exact to
``optax.add_decayed_weights(mask=...)`` before a rule (coupled) and after it (decoupled)."""

from __future__ import annotations

import pytensor
import pytest

import symupdates as su
from tests.reference import SHAPES, max_relative_error, pytensor_problem, require_optax, run_optax

STEPS = 40
LR, WD = 0.02, 0.1
MASK = [len(shape) >= 2 for shape in SHAPES.values()]  # W1 and W2 decay; b1 and s do not


@pytest.mark.parametrize("mask", [MASK, su.weights_only], ids=["list", "weights_only"])
@pytest.mark.parametrize("place", ["coupled", "decoupled"])
def test_masked_weight_decay_matches_optax(place, mask):
    optax = require_optax()

    def make(learning_rate, weight_decay):
        decay = optax.add_decayed_weights(weight_decay, mask=MASK)
        steps = [decay, optax.scale_by_adam()] if place == "coupled" else [optax.scale_by_adam(), decay]
        return optax.chain(*steps, optax.scale_by_learning_rate(learning_rate))

    theirs = run_optax(make, lambda k: {"learning_rate": LR, "weight_decay": WD}, STEPS, clip_norm=0.05)
    decay = su.add_decayed_weights(WD, mask=mask)
    steps = [decay, su.scale_by_adam()] if place == "coupled" else [su.scale_by_adam(), decay]
    params, cost = pytensor_problem()
    transform = su.chain(su.clip_by_global_norm(0.05), *steps, su.scale_by_learning_rate(LR))
    step = pytensor.function([], [], updates=su.get_updates(transform, cost, params, name="adam"))
    for _ in range(STEPS):
        step()
    assert max_relative_error([p.get_value() for p in params], theirs) <= 1e-10
    # and the mask acted: decaying every parameter ends elsewhere
    everything = run_optax(
        lambda learning_rate, weight_decay: optax.chain(
            *(
                [optax.add_decayed_weights(weight_decay), optax.scale_by_adam()]
                if place == "coupled"
                else [optax.scale_by_adam(), optax.add_decayed_weights(weight_decay)]
            ),
            optax.scale_by_learning_rate(learning_rate),
        ),
        lambda k: {"learning_rate": LR, "weight_decay": WD},
        STEPS,
        clip_norm=0.05,
    )
    assert max_relative_error(everything, theirs) > 1e-6


def test_masked_decay_adds_nothing_for_the_parameters_left_out():
    params, cost = pytensor_problem()
    grads = pytensor.grad(cost, params)
    with su.building(params, grads) as _:
        directions, _ = su.add_decayed_weights(WD, mask=su.weights_only)(grads, params)
    for d, g, on in zip(directions, grads, MASK, strict=True):
        assert (d is g) != on
