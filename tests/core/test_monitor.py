"""Monitors: values against NumPy, dtypes, non-finite counts, zero tensors, and that they
reuse the training graph instead of recomputing it."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.tensor.elemwise import CAReduce

import symupdates as su
from symupdates import monitor
from tests.mlp import TinyMLP

NAMES = ["W1", "b1", "W2", "b2"]


def mlp_step(dtype, rule=su.adam, monitors=True, **kwargs):
    model = TinyMLP(n_in=6, hidden=(5,), n_out=3, seed=2, dtype=dtype)
    X, y = pt.matrix("X", dtype=dtype), pt.vector("y", dtype="int64")
    cost = model.loss(X, y)
    grads = pytensor.grad(cost, model.params)
    updates = rule(grads, model.params, **kwargs)
    diag = monitor.standard(updates, model.params, grads, per_param=True) if monitors else {}
    step = pytensor.function([X, y], [cost, *diag.values()], updates=updates)
    grad_fn = pytensor.function([X, y], grads)
    return model, X, y, updates, diag, step, grad_fn


def norm(a):
    return float(np.sqrt(np.sum(np.square(a, dtype="float64"))))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_standard_monitors_match_numpy(dtype, rng):
    model, X, y, updates, diag, step, grad_fn = mlp_step(dtype, learning_rate=0.01)
    X_data, y_data = rng.normal(size=(16, 6)).astype(dtype), rng.integers(0, 3, 16)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for _ in range(3):  # after the first step the biases are non-zero
        before = {p.name: p.get_value() for p in model.params}
        grads = dict(zip(NAMES, grad_fn(X_data, y_data), strict=True))
        out = dict(zip(["cost", *diag], step(X_data, y_data), strict=True))
        after = {p.name: p.get_value() for p in model.params}
        steps = {n: after[n] - before[n] for n in NAMES}
        for n in NAMES:
            np.testing.assert_allclose(out[f"grad_norm/{n}"], norm(grads[n]), rtol=rtol)
            np.testing.assert_allclose(out[f"param_norm/{n}"], norm(before[n]), rtol=rtol)
            np.testing.assert_allclose(out[f"update_norm/{n}"], norm(steps[n]), rtol=rtol)
            if norm(before[n]) > 0:
                np.testing.assert_allclose(out[f"update_ratio/{n}"], norm(steps[n]) / norm(before[n]), rtol=rtol)
            else:
                assert out[f"update_ratio/{n}"] == np.inf
        np.testing.assert_allclose(out["grad_norm"], norm(np.concatenate([g.ravel() for g in grads.values()])), rtol=rtol)
        all_before = np.concatenate([v.ravel() for v in before.values()])
        all_steps = np.concatenate([v.ravel() for v in steps.values()])
        np.testing.assert_allclose(out["param_norm"], norm(all_before), rtol=rtol)
        np.testing.assert_allclose(out["update_norm"], norm(all_steps), rtol=rtol)
        np.testing.assert_allclose(out["update_ratio"], norm(all_steps) / norm(all_before), rtol=rtol)
        assert out["nonfinite_grads"] == 0 and out["nonfinite_updates"] == 0


def test_names_order_and_dtypes(floatX):
    model, X, y, updates, diag, step, _ = mlp_step(floatX)
    globals_ = ["grad_norm", "param_norm", "update_norm", "update_ratio", "nonfinite_grads", "nonfinite_updates"]
    per_param = [f"{kind}/{n}" for kind in ("grad_norm", "param_norm", "update_norm", "update_ratio") for n in NAMES]
    assert list(diag) == globals_ + per_param
    assert list(monitor.standard(updates, model.params, pytensor.grad(model.loss(X, y), model.params))) == globals_
    with pytest.raises(TypeError, match="per_param"):
        monitor.standard(updates, model.params, per_param="yes")
    for name, var in diag.items():
        assert var.type.ndim == 0
        assert var.dtype == ("int64" if name.startswith("nonfinite") else floatX), name


def test_sgd_update_ratio_is_learning_rate_times_grad_over_param():
    w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    cost = 0.5 * pt.sum(w**2)  # gradient w: step -lr * w, ratio lr
    updates = su.sgd(cost, [w], learning_rate=1e-3)
    diag = monitor.update_ratios(updates, [w])
    f = pytensor.function([], list(diag.values()), updates=updates)
    for _ in range(3):
        np.testing.assert_allclose(f(), [1e-3, 1e-3], rtol=1e-9)


def test_grad_norm_is_the_optimizers_own():
    model, X, y, updates, diag, step, _ = mlp_step("float64", clip_norm=1.0)
    assert monitor.standard(updates, model.params)["grad_norm"] is updates.info["grad_norm"]
    f = pytensor.function([X, y], [diag["grad_norm"], updates.info["grad_norm"]])
    rng = np.random.default_rng(0)
    a, b = f(rng.normal(size=(8, 6)), rng.integers(0, 3, 8))
    assert a == b


def test_without_grads_the_gradient_monitors_are_left_out():
    w = pytensor.shared(np.ones(3), name="w")
    diag = monitor.standard([(w, w * 0.5)], [w], per_param=True)  # a plain list of pairs has no info
    assert "grad_norm" not in diag and "grad_norm/w" not in diag and "nonfinite_grads" not in diag
    assert {"param_norm/w", "update_norm/w", "update_ratio/w", "nonfinite_updates"} <= set(diag)


def test_nonfinite_counts():
    w = pytensor.shared(np.ones(5), name="w")
    x = pt.vector("x")
    cost = pt.sum(w * x)  # gradient x
    grads = pytensor.grad(cost, [w])
    x_bad = np.array([1.0, np.nan, np.inf, -np.inf, 2.0])
    skipping = su.sgd(grads, [w], learning_rate=0.1, skip_nonfinite=True)
    diag = monitor.standard(skipping, [w], grads)
    f = pytensor.function([x], [diag["nonfinite_grads"], diag["nonfinite_updates"], diag["update_norm"]],
                          updates=skipping)
    assert [int(v) for v in f(x_bad)[:2]] == [3, 0]  # the update was skipped: the step is 0
    assert f(x_bad)[2] == 0.0
    assert [int(v) for v in f(np.ones(5))[:2]] == [0, 0]

    w.set_value(np.ones(5))
    plain = su.sgd(grads, [w], learning_rate=0.1)
    diag = monitor.standard(plain, [w], grads)
    f = pytensor.function([x], [diag["nonfinite_grads"], diag["nonfinite_updates"]], updates=plain)
    assert [int(v) for v in f(x_bad)] == [3, 3]


def test_zero_parameters_give_zero_or_infinite_ratio():
    b = pytensor.shared(np.zeros(3), name="b")
    c = pytensor.shared(np.zeros(2), name="c")
    ratios = monitor.update_ratios([(b, b + 1.0), (c, c * 2.0)], [b, c])
    f = pytensor.function([], list(ratios.values()))
    assert f() == [np.inf, np.inf, 0.0]  # global (all params zero, something moves), b moves, c does not


def test_state_pairs_are_ignored_and_order_follows_params():
    model, X, y, updates, *_ = mlp_step("float64")
    reordered = [model.params[2], model.params[0]]
    steps = monitor.update_steps(updates, reordered)
    new = dict((id(v), e) for v, e in updates)
    assert steps[0].owner.inputs[0] is new[id(reordered[0])]
    assert list(monitor.param_norms(reordered)) == ["param_norm", "param_norm/W2", "param_norm/W1"]


def test_monitors_reuse_the_training_graph():
    """No second forward or backward pass: with the monitors, the compiled step reads the
    data in exactly as many places as without them, and every monitored norm costs at most
    one reduction per tensor (the global and per-tensor norms share it)."""

    def compiled(monitors):
        model, X, y, updates, diag, step, _ = mlp_step("float64", monitors=monitors)
        nodes = step.maker.fgraph.toposort()
        readers = sum(1 for n in nodes for i in n.inputs if i in step.maker.fgraph.inputs[:1])
        return len(nodes), readers

    (plain_nodes, plain_readers), (mon_nodes, mon_readers) = compiled(False), compiled(True)
    assert mon_readers == plain_readers
    assert mon_nodes > plain_nodes

    model = TinyMLP(n_in=6, hidden=(5,), n_out=3, dtype="float64")
    X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
    grads = pytensor.grad(model.loss(X, y), model.params)
    norms = {**monitor.grad_norms(grads, model.params), **monitor.param_norms(model.params)}

    def reductions(outputs):
        f = pytensor.function([X, y], outputs)
        return sum(isinstance(n.op, CAReduce) or "Dot" in type(n.op).__name__ for n in f.maker.fgraph.apply_nodes)

    # one squared sum per gradient and per parameter, shared by the global and per-tensor norms
    assert reductions([*grads, *norms.values()]) - reductions(grads) == 2 * len(model.params)


def test_bad_input():
    w = pytensor.shared(np.ones(3), name="w")
    v = pytensor.shared(np.ones(2), name="v")
    with pytest.raises(ValueError, match="no pair for the parameter v"):
        monitor.update_norms([(w, w * 2)], [w, v])
    with pytest.raises(TypeError, match="pairs"):
        monitor.update_steps([w], [w])
    with pytest.raises(ValueError, match="grads has 1 expressions but params has 2"):
        monitor.grad_norms([w], [w, v])
    with pytest.raises(TypeError, match="grads must be a list"):
        monitor.grad_norms(w, [w])
    with pytest.raises(ValueError, match="dimensions"):
        monitor.grad_norms([pt.matrix()], [w])
    with pytest.raises(ValueError, match="at least one tensor"):
        monitor.count_nonfinite([])


# ---------------------------------------------------------------------------- Snapshot (host side)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_a_snapshot_gives_the_symbolic_monitors_values(dtype, rng):
    model, X, y, updates, diag, step, _ = mlp_step(dtype, learning_rate=0.01)
    X_data, y_data = rng.normal(size=(16, 6)).astype(dtype), rng.integers(0, 3, 16)
    rtol = 1e-12 if dtype == "float64" else 1e-5
    for _ in range(3):
        snapshot = monitor.Snapshot(model.params)
        out = dict(zip(["cost", *diag], step(X_data, y_data), strict=True))
        host = snapshot.compare(per_param=True)
        assert list(host) == [
            "param_norm", "update_norm", "update_ratio", "nonfinite_updates",
            *(f"{kind}/{n}" for n in NAMES for kind in ("param_norm", "update_norm", "update_ratio")),
        ]  # fmt: skip
        for name, value in host.items():
            assert isinstance(value, int if name == "nonfinite_updates" else float), name
            np.testing.assert_allclose(value, out[name], rtol=rtol, err_msg=name)
    # the first step moves the zero biases: a ratio of inf, as the symbolic one
    model, X, y, updates, diag, step, _ = mlp_step(dtype, learning_rate=0.01)
    snapshot = monitor.Snapshot(model.params)
    step(X_data, y_data)
    assert snapshot.compare(per_param=True)["update_ratio/b1"] == np.inf


def test_a_snapshot_copies_the_values_and_counts_nonfinite_entries():
    w = pytensor.shared(np.array([3.0, 4.0]), name="w")
    b = pytensor.shared(np.zeros(3), name="b")
    snapshot = monitor.Snapshot([w, b])
    assert repr(snapshot) == "Snapshot(w, b)"
    w.get_value(borrow=True)[:] = [0.0, 0.0]  # changing the array in place must not change the snapshot
    out = snapshot.compare(per_param=True)
    assert (out["param_norm"], out["update_norm"], out["update_ratio"]) == (5.0, 5.0, 1.0)
    assert (out["update_ratio/b"], out["nonfinite_updates"]) == (0.0, 0)  # 0 / 0 is 0
    b.set_value(np.array([np.nan, np.inf, 1.0]))
    assert snapshot.compare()["nonfinite_updates"] == 2
    big = pytensor.shared(np.full(4, 1e308), name="big")  # a sum that overflows, no entry that does
    assert monitor.Snapshot([big]).compare()["nonfinite_updates"] == 0
    with pytest.raises(TypeError, match="per_param must be True or False"):
        snapshot.compare(per_param=1)
    with pytest.raises(TypeError, match="params must be a list of shared variables"):
        monitor.Snapshot(w)
