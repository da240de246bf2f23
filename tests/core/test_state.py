"""Training state: skipping non-finite steps, reset, state_dict, merge_updates, float16.

Every property runs over the registry of rules (tests/rules.py) and is checked bit for
bit (``tobytes``), not to a tolerance: skipping a step, resetting or reloading state
must be exact.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.reference import assert_bitwise_equal, assert_state_dicts_equal, initial_values, pytensor_problem, trained_shapes
from tests.rules import RULES, each_flag_case, each_rule, expected_state_dtype

# Injected NaN/Inf make NumPy warn inside the (discarded) branch of the update.
pytestmark = [
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
]

STEPS = 8
BAD_STEP = 3  # the call (0-based) whose input is NaN or +Inf


def build_case(case, kwargs, **more):
    """The shared problem with its cost scaled by an input (1.0, or NaN/Inf to inject a bad step)."""
    if isinstance(case, str):
        case = RULES[case]
    sign = -1.0 if kwargs.get("maximize") else 1.0
    params, loss = pytensor_problem(sign=sign)
    scale = pt.scalar("scale", dtype="float64")
    updates = case.fn(loss * scale, params, **{"learning_rate": case.lr, **kwargs, **more})
    train = pytensor.function([scale], [], updates=updates)
    return params, updates, train


def restart(params, updates):
    """Re-initialised parameters and reset optimizer state: a fresh run on the same function."""
    for p, value in zip(params, initial_values().values(), strict=True):
        p.set_value(value)
    updates.reset()


def run(params, updates, train, scales):
    """Call the function once per scale; returns the parameters after every call."""
    trajectory = []
    for s in scales:
        train(s)
        trajectory.append([p.get_value() for p in params])
    return trajectory


CASES = pytest.mark.parametrize(("case", "kwargs"), each_flag_case())


# --- skip_nonfinite -----------------------------------------------------------------


@CASES
def test_a_nonfinite_step_equals_the_run_without_it(case, kwargs):
    """NaN and, separately, +Inf at one call: bit-identical to the run without that call."""
    params, updates, train = build_case(case, kwargs, clip_norm=0.5, skip_nonfinite=True)
    restart(params, updates)
    clean = run(params, updates, train, [1.0] * (STEPS - 1))[-1]
    clean_state = updates.state_dict()
    assert int(updates.skipped.get_value()) == 0
    for bad in (np.nan, np.inf):
        restart(params, updates)
        scales = [1.0] * BAD_STEP + [bad] + [1.0] * (STEPS - 1 - BAD_STEP)
        trajectory = run(params, updates, train, scales)
        for a, b in zip(trajectory[BAD_STEP], trajectory[BAD_STEP - 1], strict=True):
            assert_bitwise_equal(a, b, "the bad call changed a parameter")
        for a, b, name in zip(trajectory[-1], clean, trained_shapes(), strict=True):
            assert_bitwise_equal(a, b, name)
        state = updates.state_dict()
        assert_state_dicts_equal(state, clean_state, ignore=[f"{case.name}/skipped"])
        assert int(updates.step.get_value()) == STEPS - 1
        assert int(updates.skipped.get_value()) == 1


@pytest.mark.parametrize("case", each_rule())
def test_one_nonfinite_gradient_skips_every_update(case):
    """Only W2's gradient is bad: all parameters, all state and the step counter keep their values."""
    params, loss = pytensor_problem()
    bad = pt.scalar("bad", dtype="float64")
    grads = pytensor.grad(loss, params)
    w2 = [p.name for p in params].index("W2")
    grads[w2] = grads[w2] + bad
    updates = case.fn(grads, params, learning_rate=case.lr, skip_nonfinite=True)
    train = pytensor.function([bad], updates.info["finite"], updates=updates)
    for _ in range(2):
        assert bool(train(0.0))
    before_params = [p.get_value() for p in params]
    before_state = updates.state_dict()
    for value in (np.nan, np.inf, -np.inf):
        assert not bool(train(value))
    for a, b in zip([p.get_value() for p in params], before_params, strict=True):
        assert_bitwise_equal(a, b)
    assert_state_dicts_equal(updates.state_dict(), before_state, ignore=[f"{case.name}/skipped"])
    assert int(updates.skipped.get_value()) == 3
    assert bool(train(0.0)) and int(updates.step.get_value()) == 3


def test_without_skip_nonfinite_a_nan_step_corrupts_the_state():
    """The failure skip_nonfinite prevents (so the tests above can fail)."""
    params, updates, train = build_case("adam", {})
    train(np.nan)
    assert np.isnan(updates.state["W1/adam/m"].get_value()).all()
    assert updates.skipped is None and "finite" not in updates.info


def test_skip_nonfinite_transform_equals_the_flag():
    kwargs = {"learning_rate": 0.02, "amsgrad": True, "clip_norm": 0.5}
    named = build_case("adam", {}, skip_nonfinite=True, amsgrad=True, clip_norm=0.5)
    params, loss = pytensor_problem()
    scale = pt.scalar("scale", dtype="float64")
    transform = su.chain(
        su.skip_nonfinite(),
        su.clip_by_global_norm(kwargs["clip_norm"]),
        su.off("weight_decay"),
        su.scale_by_adam(amsgrad=True),
        su.scale_by_learning_rate(kwargs["learning_rate"]),
    )
    updates = su.get_updates(transform, loss * scale, params, name="adam")
    chained = (params, updates, pytensor.function([scale], [], updates=updates))
    assert list(named[1].state) == list(updates.state)
    results = []
    for params_, updates_, train in (named, chained):
        restart(params_, updates_)
        results.append((run(params_, updates_, train, [1.0, np.nan, 1.0, np.inf, 1.0])[-1], updates_.state_dict()))
    for a, b in zip(results[0][0], results[1][0], strict=True):
        assert_bitwise_equal(a, b)
    assert_state_dicts_equal(results[0][1], results[1][1])
    assert int(updates.skipped.get_value()) == 2


def test_skip_nonfinite_late_in_the_chain_catches_an_overflow():
    """Finite float32 gradients that overflow inside the rule are caught by a later guard."""
    w = pytensor.shared(np.ones(3, dtype="float32"), name="w")
    g = pt.vector("g", dtype="float32")
    transform = su.chain(su.scale(1e10), su.skip_nonfinite(), su.scale_by_learning_rate(1e-12))
    updates = su.get_updates(transform, [g], [w])
    train = pytensor.function([g], updates.info["finite"], updates=updates)
    assert not bool(train(np.full(3, 1e30, dtype="float32")))  # 1e40 overflows float32
    assert_bitwise_equal(w.get_value(), np.ones(3, dtype="float32"))
    assert bool(train(np.full(3, 1.0, dtype="float32")))
    np.testing.assert_allclose(w.get_value(), 0.99, rtol=1e-6)
    assert (int(updates.step.get_value()), int(updates.skipped.get_value())) == (1, 1)


def test_the_cost_is_checked_too():
    """A non-finite cost with finite gradients (the cost is not differentiated here) is skipped."""
    w = pytensor.shared(np.ones(2), name="w")
    offset = pt.scalar("offset", dtype="float64")
    cost = (w**2).sum() + pytensor.gradient.disconnected_grad(offset)
    updates = su.sgd(cost, [w], learning_rate=0.1, skip_nonfinite=True)
    train = pytensor.function([offset], updates.info["finite"], updates=updates)
    assert not bool(train(np.inf))
    assert_bitwise_equal(w.get_value(), np.ones(2))
    assert bool(train(0.0))
    assert_bitwise_equal(w.get_value(), np.full(2, 0.8))


def test_nonfinite_guard_raises_after_consecutive_skips():
    params, updates, train = build_case("adam", {}, skip_nonfinite=True)
    guard = su.NonFiniteGuard(updates, max_consecutive=3)
    train(np.nan)
    assert guard.check() == 1
    train(np.nan)
    assert guard.check() == 2
    train(1.0)
    assert guard.check() == 0  # a good call ends the run of skips
    train(np.inf)
    train(np.nan)
    assert guard.check() == 2  # two calls between checks: counted as consecutive
    saved = guard.state_dict()
    train(np.nan)
    with pytest.raises(FloatingPointError, match=r"3 calls in a row .*'adam/skipped'.*max_consecutive=3"):
        guard.check()
    guard.load_state_dict(saved)
    assert guard.consecutive == 2
    updates.reset()
    assert guard.check() == 0  # counters went down: the count restarts


# --- reset --------------------------------------------------------------------------


@CASES
def test_reset_and_reinitialised_params_reproduce_the_first_run(case, kwargs):
    params, updates, train = build_case(case, kwargs, clip_norm=0.5, skip_nonfinite=True)
    initial_state = updates.state_dict()
    live = updates.hyperparams["learning_rate"]
    live.set_value(np.float64(0.5 * case.lr))  # a live change survives reset()
    scales = [1.0] * BAD_STEP + [np.nan] + [1.0] * (STEPS - 1 - BAD_STEP)
    restart(params, updates)
    first = run(params, updates, train, scales)
    first_state = updates.state_dict()
    assert int(updates.step.get_value()) == STEPS - 1 and int(updates.skipped.get_value()) == 1
    updates.reset()
    assert float(live.get_value()) == 0.5 * case.lr
    reset_state = updates.state_dict()
    assert_state_dicts_equal(reset_state, initial_state, ignore=["hyperparams/learning_rate"])
    restart(params, updates)
    second = run(params, updates, train, scales)  # the same compiled function: no recompiling
    for a_step, b_step in zip(first, second, strict=True):
        for a, b in zip(a_step, b_step, strict=True):
            assert_bitwise_equal(a, b)
    assert_state_dicts_equal(updates.state_dict(), first_state)


def test_reset_restores_nonzero_initial_values():
    w = pytensor.shared(np.ones(2), name="w")
    updates = su.adagrad((w**2).sum(), [w], initial_accumulator_value=0.25)
    pytensor.function([], [], updates=updates)()
    assert not np.all(updates.state["w/adagrad/sum"].get_value() == 0.25)
    updates.reset()
    assert_bitwise_equal(updates.state["w/adagrad/sum"].get_value(), np.full(2, 0.25))


# --- state_dict / load_state_dict ---------------------------------------------------


def test_state_dict_holds_counters_hyperparams_and_copies():
    params, updates, train = build_case("rmsprop", {"momentum": 0.5, "centered": True}, clip_norm=0.5, skip_nonfinite=True)
    train(1.0)
    train(np.nan)
    state = updates.state_dict()
    assert state["rmsprop/step"] == 1 and state["rmsprop/step"].dtype == np.int64
    assert state["rmsprop/skipped"] == 1 and state["rmsprop/skipped"].dtype == np.int64
    assert {k for k in state if k.startswith("hyperparams/")} == {
        f"hyperparams/{n}" for n in ("clip_norm", "rho", "epsilon", "momentum", "learning_rate", "weight_decay")
    }
    assert updates.hyperparams["weight_decay"].frozen  # 0: no term in the graph, listed all the same
    assert {"W1/rms/square_avg", "W1/rms/grad_avg", "W1/momentum/buffer", "s/momentum/buffer"} <= set(state)
    before = {k: v.copy() for k, v in state.items()}
    state["W1/rms/square_avg"][...] = 7.0  # the dict is a copy: writing to it changes nothing
    train(1.0)  # and training on does not change it
    assert not np.all(updates.state["W1/rms/square_avg"].get_value() == 7.0)
    assert_state_dicts_equal(updates.state_dict(), updates.state_dict())
    assert not np.array_equal(updates.state_dict()["W1/rms/square_avg"], before["W1/rms/square_avg"])


@pytest.mark.parametrize("case", each_rule())
def test_load_state_dict_resumes_bit_for_bit(case):
    params, updates, train = build_case(case, {}, skip_nonfinite=True)
    restart(params, updates)
    run(params, updates, train, [1.0, np.nan, 1.0, 1.0])
    saved_params = [p.get_value() for p in params]
    saved = updates.state_dict()
    updates.hyperparams["learning_rate"].set_value(np.float64(0.5 * case.lr))
    saved_lr = updates.state_dict()
    expected = run(params, updates, train, [1.0] * 4)[-1]
    expected_state = updates.state_dict()
    restart(params, updates)
    run(params, updates, train, [1.0, 1.0])  # wander off, then come back
    updates.load_state_dict(saved_lr)
    for p, v in zip(params, saved_params, strict=True):
        p.set_value(v)
    for a, b in zip(run(params, updates, train, [1.0] * 4)[-1], expected, strict=True):
        assert_bitwise_equal(a, b)
    assert_state_dicts_equal(updates.state_dict(), expected_state)
    updates.load_state_dict(saved)  # the live learning rate comes back with the state
    assert float(updates.hyperparams["learning_rate"].get_value()) == case.lr


def test_load_state_dict_lists_every_mismatch_and_changes_nothing():
    params, updates, train = build_case("adam", {}, skip_nonfinite=True)
    train(1.0)
    good = updates.state_dict()
    bad = {k: v + 1 for k, v in good.items()}
    del bad["W1/adam/v"]
    bad["W2/adam/moment"] = np.zeros((4, 2))
    bad["b1/adam/m"] = np.zeros(5)
    bad["W1/adam/m"] = bad["W1/adam/m"].astype("float32")
    bad["adam/skipped"] = np.int64(-1)
    with pytest.raises(ValueError) as err:
        updates.load_state_dict(bad)
    message = str(err.value)
    for fragment in (
        "state_dict does not match",
        "missing keys ['W1/adam/v']",
        "unexpected keys ['W2/adam/moment']",
        "'b1/adam/m' has shape (5,), expected (4,)",
        "'W1/adam/m' has dtype float32, expected float64",
        "'adam/skipped' is a counter and must not be negative",
    ):
        assert fragment in message
    assert_state_dicts_equal(updates.state_dict(), good)


# --- merge_updates ------------------------------------------------------------------


def test_merge_updates_joins_an_optimizer_and_other_pairs():
    params, loss = pytensor_problem()
    calls = pytensor.shared(np.int64(0), name="calls")
    optimizer = su.adam(loss, params, learning_rate=0.02, skip_nonfinite=True)
    count = (calls, calls + 1)
    merged = su.merge_updates(optimizer, [count], {})
    assert list(merged) == [*optimizer, count]
    assert merged.state == optimizer.state and merged.hyperparams == optimizer.hyperparams
    assert merged.info == optimizer.info
    assert merged.step is optimizer.step and merged.skipped is optimizer.skipped
    train = pytensor.function([], [], updates=merged)
    train()
    train()
    assert int(calls.get_value()) == 2 and int(merged.step.get_value()) == 2
    merged.reset()
    assert int(optimizer.step.get_value()) == 0
    assert int(calls.get_value()) == 2  # not optimizer state: left alone


def test_merge_updates_of_two_optimizers_keeps_both_states():
    params, loss = pytensor_problem()
    shared_lr = pytensor.shared(np.float64(0.01), name="lr")
    first = su.adam(loss, params[:2], learning_rate=shared_lr)
    second = su.adam(loss, params[2:], learning_rate=shared_lr, beta1=0.5)
    merged = su.merge_updates(first, second)
    assert len(merged) == len(first) + len(second)
    assert merged.state["adam/step"] is first.step and merged.state["adam/step_2"] is second.step
    assert merged.hyperparams["learning_rate"] is shared_lr  # listed once
    assert merged.hyperparams["beta1"] is first.hyperparams["beta1"]
    assert merged.hyperparams["beta1_2"] is second.hyperparams["beta1"]
    assert merged.step is first.step
    train = pytensor.function([], [], updates=merged)
    train()
    saved = merged.state_dict()
    train()
    merged.load_state_dict(saved)
    assert int(first.step.get_value()) == 1 and int(second.step.get_value()) == 1
    merged.reset()
    assert int(first.step.get_value()) == 0 and int(second.step.get_value()) == 0


def test_merge_updates_names_the_variable_updated_twice():
    params, loss = pytensor_problem()
    optimizer = su.sgd(loss, params)
    W1 = params[0]
    with pytest.raises(ValueError, match=r"variable 'W1' is updated twice, by lists\[0\]\[0\] and by lists\[1\]\[0\]"):
        su.merge_updates(optimizer, [(W1, W1 * 0.5)])
    with pytest.raises(ValueError, match=r"variable 'W1' is updated twice, by lists\[0\]\[0\] and by lists\[0\]\[1\]"):
        su.merge_updates([(W1, W1 * 0.5), (W1, W1 * 2.0)])
    step = optimizer.step
    with pytest.raises(ValueError, match=r"variable 'sgd/step' is updated twice, by lists\[0\]\[4\] and by lists\[1\]\[0\]"):
        su.merge_updates(optimizer, {step: step + 2})


def test_merge_updates_without_an_optimizer():
    counter = pytensor.shared(np.int64(0), name="counter")
    merged = su.merge_updates([(counter, counter + 2)])
    assert merged.step is None and merged.state == {} and merged.state_dict() == {}
    pytensor.function([], [], updates=merged)()
    assert int(counter.get_value()) == 2


# --- float16 --------------------------------------------------------------------------


def _float16_problem(case, kwargs, dtype):
    values = {k: v.astype(dtype) for k, v in initial_values().items()}
    params = [pytensor.shared(v, name=k) for k, v in values.items()]
    grads = [pt.tensor(f"g_{k}", dtype="float32", shape=(None,) * len(shape)) for k, shape in trained_shapes().items()]
    updates = case.fn(grads, params, **{"learning_rate": case.lr, **kwargs})
    return params, updates, pytensor.function(grads, [], updates=updates)


@CASES
def test_float16_state_is_float32_and_a_zero_gradient_step_is_finite(case, kwargs):
    params, updates, train = _float16_problem(case, kwargs, "float16")
    for var, new in updates:
        assert new.dtype == var.dtype
    for name, var in updates.state.items():
        assert var.dtype == expected_state_dtype(name, "float32"), name
    before = [p.get_value() for p in params]
    zeros = [np.zeros(shape, dtype="float32") for shape in trained_shapes().values()]
    for _ in range(3):
        train(*zeros)
    for p, b in zip(params, before, strict=True):
        value = p.get_value()
        assert value.dtype == np.float16 and np.all(np.isfinite(value))
        default = inspect.signature(case.fn).parameters.get("weight_decay")  # Muon decays by default
        decays = kwargs.get("weight_decay", default and default.default) or kwargs.get("lambd") or case.name == "adamw"  # ASGD's lambd too
        if not decays:  # zero gradient, no decay: no move
            assert_bitwise_equal(value, b)
    for name, var in updates.state.items():
        assert np.all(np.isfinite(var.get_value())), name


@pytest.mark.parametrize("case", each_rule())
def test_float16_step_is_the_float32_step_cast_back(case):
    """float16 parameters: the same float32 computation as float32 parameters, rounded once per step."""
    kwargs = case.weight_decay(0.1)
    half, half_updates, half_train = _float16_problem(case, kwargs, "float16")
    single, single_updates, single_train = _float16_problem(case, kwargs, "float32")
    for p, q in zip(single, half, strict=True):
        p.set_value(q.get_value().astype("float32"))
    rng = np.random.default_rng(0)
    for _ in range(4):
        grads = [rng.normal(size=shape).astype("float32") for shape in trained_shapes().values()]
        half_train(*grads)
        single_train(*grads)
        for p, q in zip(single, half, strict=True):
            assert_bitwise_equal(q.get_value(), p.get_value().astype("float16"), q.name)
            p.set_value(q.get_value().astype("float32"))  # keep the float32 run on the float16 grid
        assert_state_dicts_equal(half_updates.state_dict(), single_updates.state_dict())


def test_float16_epsilon_would_underflow_without_float32_state():
    """The reason for float32 state: adam's epsilon (1e-8) is 0 in float16, and 0/0 is NaN."""
    assert np.float16(1e-8) == 0
    w = pytensor.shared(np.ones(3, dtype="float16"), name="w")
    g = pt.vector("g", dtype="float16")
    updates = su.adam([g], [w], learning_rate=0.1)
    pytensor.function([g], [], updates=updates)(np.zeros(3, dtype="float16"))
    assert_bitwise_equal(w.get_value(), np.ones(3, dtype="float16"))
    assert updates.state["w/adam/v"].dtype == "float32"


# --- hyperparameter values: checked where they enter, and covered by skip_nonfinite ------


def _refused_values(var):
    """Values the argument's rule refuses: NaN, ±Inf and each bound crossed."""
    bounds, bad = var.bounds, [np.nan, np.inf, -np.inf]
    if bounds.get("low") is not None:
        bad.append(bounds["low"] if bounds.get("low_open") else bounds["low"] - 0.5)
    if bounds.get("high") is not None:
        bad.append(bounds["high"] if bounds.get("high_open") else bounds["high"] + 0.5)
    return bad


def _richest(case):
    return {"learning_rate": case.lr, **case.richest, "clip_norm": 1.0}


@pytest.mark.parametrize("case", each_rule())
def test_a_live_hyperparameter_refuses_what_the_optimizer_refuses(case, tmp_path):
    """set_value, load_state_dict and load apply the builder's rule; a refused value changes nothing."""
    params, loss = pytensor_problem()
    kwargs = _richest(case)
    updates = case.fn(loss, params, **kwargs)
    su.save(tmp_path / "good.npz", params, updates)
    assert updates.hyperparams
    for key, var in updates.hyperparams.items():
        assert isinstance(var, su.Hyperparameter)
        before = updates.state_dict()
        for value in _refused_values(var):
            with pytest.raises(ValueError, match=var.argument):
                var.set_value(value)
            if var.argument in kwargs:  # the optimizer refuses the same value
                with pytest.raises(ValueError, match=var.argument):
                    case.fn(loss, params, **{**kwargs, var.argument: value})
            with pytest.raises(ValueError, match=f"hyperparams/{key}"):
                updates.load_state_dict({**before, f"hyperparams/{key}": np.float64(value)})
            with np.load(tmp_path / "good.npz") as f:
                np.savez(tmp_path / "bad.npz", **{**{k: f[k] for k in f.files}, f"updates/hyperparams/{key}": np.float64(value)})
            with pytest.raises(ValueError, match=f"bad.npz.*hyperparams/{key}"):
                su.load(tmp_path / "bad.npz", params, updates)
            assert_state_dicts_equal(updates.state_dict(), before)
        with pytest.raises(TypeError, match=var.argument):
            var.set_value("0.1")


@pytest.mark.parametrize("case", each_rule())
def test_a_nonfinite_hyperparameter_is_skipped_like_a_nonfinite_gradient(case):
    """A user's shared learning rate (its set_value is not ours to check) turned NaN: the call is skipped."""
    lr = pytensor.shared(np.float64(case.lr), name="lr")
    params, loss = pytensor_problem()
    updates = case.fn(loss, params, learning_rate=lr, skip_nonfinite=True)
    train = pytensor.function([], updates.info["finite"], updates=updates, mode="FAST_COMPILE")
    values, state = [p.get_value() for p in params], updates.state_dict()
    for bad in (np.nan, np.inf):
        lr.set_value(np.float64(bad))
        assert not bool(train())
        for p, v in zip(params, values, strict=True):
            assert_bitwise_equal(p.get_value(), v, p.name)
        assert_state_dicts_equal(updates.state_dict(), state, ignore=(f"{case.name}/skipped", "hyperparams/learning_rate"))
    assert (int(updates.step.get_value()), int(updates.skipped.get_value())) == (0, 2)
    lr.set_value(np.float64(case.lr))
    assert bool(train())
    assert int(updates.step.get_value()) == 1


def test_a_schedule_whose_value_is_not_finite_is_skipped():
    factor = pytensor.shared(np.float64(1.0), name="factor")
    w = pytensor.shared(np.ones(2), name="w")
    updates = su.adam((w**2).sum(), [w], learning_rate=lambda k: 0.1 * factor, skip_nonfinite=True)
    train = pytensor.function([], updates.info["finite"], updates=updates, mode="FAST_COMPILE")
    factor.set_value(np.float64(np.nan))
    assert not bool(train())
    assert_bitwise_equal(w.get_value(), np.ones(2))
    factor.set_value(np.float64(1.0))
    assert bool(train())
    assert int(updates.step.get_value()) == 1


@pytest.mark.parametrize("case", each_rule())
def test_forty_parameter_tensors_in_fast_compile(case):
    """Sums over 32+ tensors (global norm, the skip check) run under FAST_COMPILE's Python implementations."""
    rng = np.random.default_rng(0)
    shape = (3,) if 1 in case.ranks else (1, 3)  # rows for a rule of matrices (Muon)
    params = [pytensor.shared(rng.standard_normal(shape), name=f"w{i}") for i in range(40)]
    grads = [pt.tensor(f"g{i}", dtype="float64", shape=(None,) * len(shape)) for i in range(40)]
    updates = case.fn(grads, params, **_richest(case), skip_nonfinite=True)
    train = pytensor.function(grads, [updates.info["grad_norm"], updates.info["finite"]], updates=updates, mode="FAST_COMPILE")
    values = [rng.standard_normal(shape) for _ in range(40)]
    norm, finite = train(*values)
    assert bool(finite) and norm == pytest.approx(np.sqrt(sum((v**2).sum() for v in values)), rel=1e-12)
    before = [p.get_value() for p in params]
    values[37].flat[1] = np.nan
    assert not bool(train(*values)[1])
    for p, v in zip(params, before, strict=True):
        assert_bitwise_equal(p.get_value(), v, p.name)
