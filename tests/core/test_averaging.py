"""Averages of the parameters in the compiled step (:func:`su.ema`, :func:`su.swa`),
against ``torch.optim.swa_utils.AveragedModel`` updated after every ``optimizer.step()``;
the slow weights of :func:`su.lookahead` against ``optax.lookahead``."""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

import symupdates as su
from tests.reference import data, initial_values, max_relative_error, pytensor_problem, require_optax, torch_loss

STEPS = 40


def _torch_average(torch, kind, start, decay_at, clip_norm):
    """Adam on the problem, with an AveragedModel updated after each step from ``start`` on."""
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    X, Y = (torch.tensor(a) for a in data())
    model = torch.nn.Module()
    model.ps = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(v)) for v in initial_values().values()])
    tensors = list(model.ps)
    opt = torch.optim.Adam(tensors, lr=0.02)
    average = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay_at(0)) if kind == "ema" else None)
    for k in range(STEPS):
        opt.zero_grad()
        torch_loss(torch, tensors, X, Y).backward()
        torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
        opt.step()
        if kind == "ema":
            average.multi_avg_fn = get_ema_multi_avg_fn(decay_at(k))
        if k >= start:
            average.update_parameters(model)
    return [p.detach().numpy() for p in average.module.ps], int(average.n_averaged)


@pytest.mark.parametrize("start", [0, 15])
@pytest.mark.parametrize("kind", ["ema", "swa"])
def test_averages_match_torch_averaged_model(torch, kind, start):
    decay_at = lambda k: 0.9 if k < 25 else 0.5  # noqa: E731 - the EMA's decay changed in mid-run
    theirs, n_theirs = _torch_average(torch, kind, start, decay_at, clip_norm=0.05)
    params, cost = pytensor_problem()
    trained = su.adam(cost, params, learning_rate=0.02, clip_norm=0.05)
    updates = su.ema(trained, params, decay=0.9, start=start) if kind == "ema" else su.swa(trained, params, start=start)
    step = pytensor.function([], [], updates=updates)
    for k in range(STEPS):
        if k == 25 and kind == "ema":
            updates.hyperparams["ema/decay"].set_value(0.5)
        step()
    ours = [updates.state[f"{p.name}/{kind}/average"].get_value() for p in params]
    assert max_relative_error(ours, theirs) <= 1e-10
    assert int(updates.state[f"{kind}/n_averaged"].get_value()) == n_theirs == STEPS - start
    assert max_relative_error(ours, [p.get_value() for p in params]) > 1e-6  # an average, not a copy


def test_swapped_evaluates_with_the_averages_and_puts_the_trained_values_back():
    params, cost = pytensor_problem()
    updates = su.ema(su.adam(cost, params, learning_rate=0.02), params, decay=0.9)
    step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    for _ in range(10):
        step()
    trained = [p.get_value() for p in params]
    averages = [updates.state[f"{p.name}/ema/average"].get_value() for p in params]
    with pytest.raises(RuntimeError, match="inside"), su.swapped(updates, params):
        for p, a in zip(params, averages, strict=True):
            np.testing.assert_array_equal(p.get_value(), a)
        raise RuntimeError("inside")
    for p, t in zip(params, trained, strict=True):
        np.testing.assert_array_equal(p.get_value(), t)


@pytest.mark.parametrize("sync_period", [1, 3])
def test_lookahead_matches_optax(sync_period):
    optax = require_optax()
    import jax
    import jax.numpy as jnp

    X, Y = (jnp.asarray(a) for a in data())

    def loss(ps):
        W1, b1, W2, s = ps
        out = jnp.tanh(X @ W1 + b1) @ W2 * s
        return jnp.mean(jnp.log(jnp.cosh(out - Y))) + 0.05 * s**2

    theirs = optax.LookaheadParams.init_synced([jnp.asarray(v) for v in initial_values().values()])
    opt = optax.lookahead(optax.adam(0.02), sync_period=sync_period, slow_step_size=0.6)
    state = opt.init(theirs)
    for _ in range(STEPS):
        change, state = opt.update(jax.grad(loss)(theirs.fast), state, theirs)
        theirs = optax.apply_updates(theirs, change)

    params, cost = pytensor_problem()
    updates = su.lookahead(su.adam(cost, params, learning_rate=0.02), params, sync_period=sync_period, slow_step_size=0.6)
    step = pytensor.function([], [], updates=updates)
    for _ in range(STEPS):
        step()
    assert max_relative_error([p.get_value() for p in params], [np.asarray(t) for t in theirs.fast]) <= 1e-10
    slow = [updates.state[f"{p.name}/lookahead/slow"].get_value() for p in params]
    assert max_relative_error(slow, [np.asarray(t) for t in theirs.slow]) <= 1e-10
    # reset puts the slow weights back where they started
    updates.reset()
    assert max_relative_error([updates.state[f"{p.name}/lookahead/slow"].get_value() for p in params], list(initial_values().values())) == 0


def test_averages_and_lookahead_count_applied_updates_under_accumulation():
    """Under multi_steps only every k-th call moves the parameters: only those are averaged
    or counted toward a Lookahead synchronization."""
    params, cost = pytensor_problem()
    inner = su.multi_steps(su.sgd(learning_rate=0.1), every=3)(cost, params)
    updates = su.lookahead(su.swa(inner, params), params, sync_period=2)
    step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    for _ in range(9):  # 3 applied updates
        step()
    assert int(updates.state["swa/n_averaged"].get_value()) == 3
    assert int(updates.state["lookahead/steps"].get_value()) == 1  # synced after the 2nd, one since


def test_swapped_finds_the_averages_of_unnamed_parameters():
    w = pytensor.shared(np.array([1.0]))  # no name: its state is named "param0/..."
    updates = su.ema(su.sgd((w**2).sum(), [w], learning_rate=0.25), [w], decay=0.5)
    step = pytensor.function([], [], updates=updates, mode="FAST_COMPILE")
    step()
    step()
    with su.swapped(updates, [w]):
        np.testing.assert_array_equal(w.get_value(), [0.375])
    np.testing.assert_array_equal(w.get_value(), [0.25])
