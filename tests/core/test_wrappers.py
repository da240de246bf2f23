"""The shared properties of every wrapper in the table (tests/wrappers.py): dtype, live
hyperparameters without recompiling (set between calls, and as schedules of the step
counter), reset, save/load, skipping non-finite calls and bad input.

Exact properties are checked bit for bit (``tobytes``), parameters and every state
variable alike. Each wrapper's parity with its reference is in its own file
(test_averaging.py, test_accumulation.py, test_groups.py, test_masks.py).
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors

import symupdates as su

from tests.reference import assert_bitwise_equal, assert_state_dicts_equal, initial_values, max_relative_error, pytensor_problem
from tests.wrappers import BAD_CALL, CHANGE_AT, STEPS, WRAPPERS

# Injected NaN/Inf make NumPy warn inside the (discarded) branch of the update.
pytestmark = [
    pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning"),
    pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning"),
]

EACH = pytest.mark.parametrize(
    "case", [pytest.param(case, id=case.name) for case in WRAPPERS]
)

#: The input each call scales the cost by: every call's gradient differs (micro-batches).
SCALES = tuple(float(s) for s in np.linspace(0.5, 1.5, STEPS))


def build(case, values=None, **options):
    """Fresh parameters, the row's updates (at its start values unless ``values`` are given)
    on the cost scaled by an input, and the compiled function."""
    params, loss = pytensor_problem()
    scale = pt.scalar("scale", dtype="float64")
    updates = case.build(
        loss * scale, params, dict(case.start if values is None else values), **options
    )
    return params, updates, pytensor.function([scale], [], updates=updates)


def snapshot(params, updates):
    """Copies of the parameters (``"params/W1"``) and of the whole state dict."""
    return {
        **{f"params/{p.name}": p.get_value() for p in params},
        **updates.state_dict(),
    }


def restart(params, updates):
    """Re-initialised parameters and reset state: a fresh run on the same function."""
    for p, value in zip(params, initial_values().values(), strict=True):
        p.set_value(value)
    updates.reset()


def restore(params, updates, saved):
    """Load a :func:`snapshot` back."""
    for p in params:
        p.set_value(saved[f"params/{p.name}"])
    updates.load_state_dict(
        {k: v for k, v in saved.items() if not k.startswith("params/")}
    )


def run(params, updates, train, scales):
    """One call per scale; the snapshot after each."""
    trajectory = []
    for s in scales:
        train(s)
        trajectory.append(snapshot(params, updates))
    return trajectory


def with_bad_call(bad):
    """:data:`SCALES` without its last call, with ``bad`` inserted at :data:`BAD_CALL`."""
    return [*SCALES[:BAD_CALL], bad, *SCALES[BAD_CALL : STEPS - 1]]


def largest_change(a, b):
    """The largest relative difference between two snapshots' float arrays (hyperparameters aside)."""
    keys = [k for k in b if not k.startswith("hyperparams/") and b[k].dtype.kind == "f"]
    return max_relative_error([a[k] for k in keys], [b[k] for k in keys])


# --- dtype ----------------------------------------------------------------------------


def _float64_tensors(exprs):
    return [
        v
        for v in ancestors(exprs)
        if isinstance(v.type, pt.TensorType)
        and v.type.ndim > 0
        and v.dtype == "float64"
    ]


@EACH
def test_float32_params_give_float32_updates_and_state(floatX, case):
    """No float64 tensor anywhere in the update graphs; state in the parameters' dtype,
    scalar coefficients float64, counters int64."""
    params, cost = pytensor_problem(dtype="float32")
    values = {name: np.float64(value) for name, value in case.start.items()}
    updates = case.build(cost, params, values, skip_nonfinite=True)
    for var, new in updates:
        assert new.dtype == var.dtype, var.name
    assert _float64_tensors([new for _, new in updates]) == []
    assert case.state_names(params) <= set(updates.state)
    names = {p.name for p in params}
    for name, var in updates.state.items():
        if name in case.counters:
            assert var.dtype == "int64", name
        elif name.split("/")[0] in names:
            assert var.dtype == "float32", name
        else:  # a scalar coefficient
            assert var.dtype == "float64", name
    assert set(case.counters) <= set(updates.state)


# --- live hyperparameters -------------------------------------------------------------


@EACH
def test_every_hyperparameter_is_live_without_recompiling(case, compiles):
    """Each hyperparameter's set_value between calls moves the run, on the one compiled
    function; all changed at once, the run goes on exactly as a fresh build with the new
    values from the same state."""
    params, updates, train = build(case)
    assert set(updates.hyperparams) == set(case.live)
    for name, value in case.start.items():
        assert float(updates.hyperparams[name].get_value()) == value, name

    def changed_run(names):
        restart(params, updates)
        for name, value in case.start.items():
            updates.hyperparams[name].set_value(value)
        for k, s in enumerate(SCALES):
            if k == CHANGE_AT:
                at_change = snapshot(params, updates)
                for name in names:
                    updates.hyperparams[name].set_value(case.new[name])
            train(s)
        return at_change, snapshot(params, updates)

    _, unchanged = changed_run(())
    for name in case.live:
        assert largest_change(changed_run([name])[1], unchanged) > 1e-8, name
    at_change, changed = changed_run(list(case.live))
    assert compiles[0] == 1

    fresh_params, fresh, fresh_train = build(case, case.new)
    restore(
        fresh_params,
        fresh,
        {
            **at_change,
            **{f"hyperparams/{k}": np.float64(v) for k, v in case.new.items()},
        },
    )
    for s in SCALES[CHANGE_AT:]:
        fresh_train(s)
    assert_state_dicts_equal(snapshot(fresh_params, fresh), changed)


@EACH
def test_every_hyperparameter_takes_a_schedule_of_the_step_counter(case):
    """The change of the live test as schedules of the step counter (the updates applied
    before a call, ``updates.step``, as for every hyperparameter of a rule): the same run,
    bit for bit, and each value applied published as ``info[name]``."""
    params, updates, train = build(case)
    for k, s in enumerate(SCALES):
        if k == CHANGE_AT:
            switch_at = int(updates.step.get_value())
            for name, value in case.new.items():
                updates.hyperparams[name].set_value(value)
        train(s)
    changed = snapshot(params, updates)

    def switching(start, new):
        return lambda k: pt.switch(
            pt.lt(k, switch_at), np.float64(start), np.float64(new)
        )

    params, loss = pytensor_problem()
    scale = pt.scalar("scale", dtype="float64")
    values = {name: switching(start, new) for name, (start, new) in case.live.items()}
    scheduled = case.build(loss * scale, params, values)
    # each schedule is listed as its live multiplier
    assert set(scheduled.hyperparams) == set(case.live)
    names = list(case.live)
    train = pytensor.function(
        [scale],
        [scheduled.step, *(scheduled.info[n] for n in names)],
        updates=scheduled,
    )
    for s in SCALES:
        step, *applied = train(s)
        expected = {name: case.live[name][int(step) >= switch_at] for name in names}
        assert dict(zip(names, map(float, applied), strict=True)) == expected, int(step)
    hyperparams = [f"hyperparams/{name}" for name in names]
    assert_state_dicts_equal(snapshot(params, scheduled), changed, ignore=hyperparams)


# --- reset ----------------------------------------------------------------------------


@EACH
def test_reset_and_reinitialised_params_reproduce_the_first_run(case):
    params, updates, train = build(case, skip_nonfinite=True)
    initial = updates.state_dict()
    name, (_, new) = next(iter(case.live.items()))
    updates.hyperparams[name].set_value(new)  # a live change survives reset()
    scales = with_bad_call(np.nan)
    restart(params, updates)
    first = run(params, updates, train, scales)
    updates.reset()
    assert float(updates.hyperparams[name].get_value()) == new
    assert_state_dicts_equal(
        updates.state_dict(), initial, ignore=[f"hyperparams/{name}"]
    )
    restart(params, updates)
    second = run(params, updates, train, scales)
    for a, b in zip(first, second, strict=True):
        assert_state_dicts_equal(a, b)


# --- save / load ----------------------------------------------------------------------


@EACH
def test_save_and_load_mid_run_resume_bit_for_bit(case, tmp_path):
    """A checkpoint (su.save/su.load, into a fresh build) and a state dict (in process)
    taken mid-run, with a skipped call and changed hyperparameters before it: continuing
    from either is the uninterrupted run, bit for bit."""
    params, updates, train = build(case, skip_nonfinite=True)
    for name, value in case.new.items():  # to be restored from the checkpoint
        updates.hyperparams[name].set_value(value)
    first, rest = with_bad_call(np.nan)[: BAD_CALL + 3], SCALES[BAD_CALL + 2 :]
    run(params, updates, train, first)
    su.save(tmp_path / "mid.npz", params, updates)
    mid = snapshot(params, updates)
    expected = run(params, updates, train, rest)[-1]
    assert int(updates.skipped.get_value()) == 1

    restart(params, updates)
    run(params, updates, train, SCALES[:2])  # wander off, then come back
    restore(params, updates, mid)
    assert_state_dicts_equal(run(params, updates, train, rest)[-1], expected)

    fresh_params, fresh, fresh_train = build(case, skip_nonfinite=True)
    run(fresh_params, fresh, fresh_train, SCALES[:2])
    su.load(tmp_path / "mid.npz", fresh_params, fresh)
    assert_state_dicts_equal(run(fresh_params, fresh, fresh_train, rest)[-1], expected)


# --- skip_nonfinite -------------------------------------------------------------------


@EACH
def test_a_nonfinite_call_changes_nothing_and_equals_the_run_without_it(case):
    """NaN and, separately, +Inf at one call (a micro-batch, under accumulation): every
    parameter and state variable keeps its bits at that call, only the skip counter moves,
    and the run ends as the run without that call."""
    params, updates, train = build(case, skip_nonfinite=True)
    skipped = next(k for k, var in updates.state.items() if var is updates.skipped)
    restart(params, updates)
    clean = run(params, updates, train, SCALES[: STEPS - 1])[-1]
    for bad in (np.nan, np.inf):
        restart(params, updates)
        trajectory = run(params, updates, train, with_bad_call(bad))
        before, at = trajectory[BAD_CALL - 1], trajectory[BAD_CALL]
        assert int(at[skipped]) == int(before[skipped]) + 1
        assert_state_dicts_equal(at, before, ignore=[skipped])
        assert_state_dicts_equal(trajectory[-1], clean, ignore=[skipped])
        assert int(updates.skipped.get_value()) == 1


# --- bad input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "bad"),
    [
        pytest.param(case, bad, id=f"{case.name}:{bad.what}")
        for case in WRAPPERS
        for bad in case.bad_args
    ],
)
def test_bad_arguments_raise_a_clear_error_before_compiling(case, bad, compiles):
    params, cost = pytensor_problem()
    with pytest.raises(bad.error) as raised:
        case.build(cost, params, dict(case.start), **bad.kwargs)
    assert type(raised.value) is bad.error
    for fragment in bad.match:
        assert fragment in str(raised.value), (fragment, str(raised.value))
    assert compiles[0] == 0
    for p, value in zip(params, initial_values().values(), strict=True):
        assert_bitwise_equal(p.get_value(), value, p.name)
