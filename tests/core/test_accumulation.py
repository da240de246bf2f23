"""Gradient accumulation (:func:`su.multi_steps`, :func:`su.accumulate_gradients`): against
``optax.MultiSteps``, and k micro-batches against one step on their union."""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.reference import max_relative_error, require_optax

EVERY = 4
UPDATES = 3
ROWS = 8  # per micro-batch


def _data(seed=3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(EVERY * UPDATES * ROWS, 3))
    Y = np.tanh(X @ rng.normal(size=(3, 2)))
    return X, Y


def _model():
    rng = np.random.default_rng(0)
    W = pytensor.shared(rng.normal(size=(3, 2)), name="W")
    b = pytensor.shared(np.zeros(2), name="b")
    X, Y = pt.dmatrix("X"), pt.dmatrix("Y")
    cost = pt.mean(pt.sqr(pt.tanh(X @ W + b) - Y))
    return [W, b], X, Y, cost


def _train(make, every, batches):
    params, X, Y, cost = _model()
    updates = make(cost, params)
    step = pytensor.function([X, Y], updates.info["applied"] if "applied" in updates.info else [], updates=updates)
    applied = [step(x, y) for x, y in batches]
    return params, updates, applied


def _micro_batches():
    X, Y = _data()
    return [(X[i : i + ROWS], Y[i : i + ROWS]) for i in range(0, len(X), ROWS)]


def test_multi_steps_matches_optax_multisteps():
    optax = require_optax()
    import jax
    import jax.numpy as jnp

    params, updates, applied = _train(su.multi_steps(su.adam(learning_rate=0.05), every=EVERY), EVERY, _micro_batches())
    assert [bool(a) for a in applied] == ([False] * (EVERY - 1) + [True]) * UPDATES
    assert int(updates.step.get_value()) == UPDATES  # the step counter counts applied updates

    theirs = [jnp.asarray(v) for v in (np.random.default_rng(0).normal(size=(3, 2)), np.zeros(2))]

    def loss(ps, x, y):
        return jnp.mean((jnp.tanh(x @ ps[0] + ps[1]) - y) ** 2)

    # optax keeps its accumulator in float32 by default; ours is in the parameters' dtype
    opt = optax.MultiSteps(optax.adam(0.05), every_k_schedule=EVERY, accumulator_dtype=jnp.float64)
    state = opt.init(theirs)
    for x, y in _micro_batches():
        grads = jax.grad(loss)(theirs, jnp.asarray(x), jnp.asarray(y))
        change, state = opt.update(grads, state, theirs)
        theirs = optax.apply_updates(theirs, change)
    assert max_relative_error([p.get_value() for p in params], [np.asarray(t) for t in theirs]) <= 1e-10


@pytest.mark.parametrize("rule", ["adam", "momentum", "nadam"])
def test_micro_batches_give_the_step_on_their_union(rule):
    """With a mean loss, EVERY micro-batches per update equal one call on their union, with
    clipping and a schedule that counts updates (to 1e-12 in float64)."""
    make = getattr(su, rule)
    kwargs = {"learning_rate": su.schedules.exponential_decay(0.05, 0.5), "clip_norm": 0.1}
    accumulated, _, _ = _train(su.multi_steps(make(**kwargs), every=EVERY), EVERY, _micro_batches())
    micro = _micro_batches()
    whole = [(np.concatenate([x for x, _ in micro[i : i + EVERY]]), np.concatenate([y for _, y in micro[i : i + EVERY]]))
             for i in range(0, len(micro), EVERY)]
    direct, _, _ = _train(make(**kwargs), 1, whole)
    assert max_relative_error([p.get_value() for p in accumulated], [p.get_value() for p in direct]) <= 1e-12


def test_every_one_is_the_rule_itself_bit_for_bit():
    one, _, _ = _train(su.multi_steps(su.adam(learning_rate=0.05), every=1), 1, _micro_batches())
    plain, _, _ = _train(su.adam(learning_rate=0.05), 1, _micro_batches())
    for a, b in zip(one, plain, strict=True):
        np.testing.assert_array_equal(a.get_value(), b.get_value())


def test_a_nonfinite_micro_batch_is_skipped_whole_and_groups_work():
    params, X, Y, cost = _model()
    W, b = params
    groups = [{"params": [W]}, {"params": [b], "learning_rate": 0.01}]
    updates = su.multi_steps(su.adam(learning_rate=0.05, skip_nonfinite=True), every=2)(cost, groups)
    assert {"group0/learning_rate", "group1/learning_rate"} <= set(updates.hyperparams)
    step = pytensor.function([X, Y], updates.info["applied"], updates=updates, mode="FAST_COMPILE")
    (x, y), (x2, y2) = _micro_batches()[:2]
    step(x, y)
    before = updates.state_dict()
    bad = x2.copy()
    bad[0, 0] = np.nan
    step(bad, y2)  # skipped: the accumulator and its count do not change
    after = updates.state_dict()
    assert int(after.pop("adam/skipped")) == 1 and int(before.pop("adam/skipped")) == 0
    assert all(np.array_equal(before[k], v) for k, v in after.items())
    assert bool(step(x2, y2))  # the second good micro-batch completes the update
    assert int(updates.step.get_value()) == 1 and int(updates.state["accumulate/calls"].get_value()) == 0
