"""Gradient checking: passes on the MLP in both dtypes, catches planted wrong gradients
and names the parameter, labels kinks, controls the step, evaluates in float64, fails
on NaN and infinite gradients or costs, and checks the labels it is given."""

import math
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.graph.replace import graph_replace
from pytensor.graph.traversal import ancestors

from symupdates.gradcheck import (
    DOUBTFUL_MAX,
    NOISE_NOTE,
    OK_MAX,
    SUSPICIOUS_MAX,
    check_grad,
    float64_graph,
    relative_error,
    verdict,
)
from tests.mlp import TinyMLP


class PlantedGrad(Op):
    """The identity, with a gradient multiplied by ``factor`` (the true factor is 1)."""

    __props__ = ("factor",)

    def __init__(self, factor):
        self.factor = factor

    def make_node(self, x):
        x = pt.as_tensor_variable(x)
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.array(inputs[0], copy=True)

    def pullback(self, inputs, outputs, cotangents):
        return [cotangents[0] * np.asarray(self.factor, dtype=inputs[0].dtype)]

    def L_op(self, inputs, outputs, cotangents):  # PyTensor 2.38 calls this name
        return self.pullback(inputs, outputs, cotangents)


def mlp_problem(dtype, activation="relu", seed=0, n=40, n_in=12, hidden=(8,), n_out=4):
    rng = np.random.default_rng(seed)
    model = TinyMLP(n_in=n_in, hidden=hidden, n_out=n_out, activation=activation, l2=1e-3, seed=seed, dtype=dtype)
    X = pt.matrix("X", dtype=dtype)
    y = pt.vector("y", dtype="int64")
    givens = {X: rng.normal(size=(n, n_in)).astype(dtype), y: rng.integers(0, n_out, n)}
    return model, X, y, givens


def plant(cost, param, factor):
    """The same cost, with ``param`` read through a PlantedGrad op."""
    return graph_replace(cost, {param: PlantedGrad(factor)(param)}, strict=True)


# ---------------------------------------------------------------- the formula and verdicts


def test_relative_error_formula():
    assert relative_error(0.0, 0.0) == 0.0
    assert relative_error(1.0, 0.0) == 1.0
    assert relative_error(3.0, -3.0) == 2.0
    assert relative_error(2.0, 1.0) == relative_error(1.0, 2.0) == 0.5
    a, n = np.array([1.0, 0.0, -4.0]), np.array([1.5, 0.0, -2.0])
    np.testing.assert_allclose(relative_error(a, n), [0.5 / 1.5, 0.0, 0.5])


def test_verdict_thresholds():
    assert (OK_MAX, SUSPICIOUS_MAX, DOUBTFUL_MAX) == (1e-7, 1e-4, 1e-2)
    assert verdict(0.0) == verdict(OK_MAX) == "ok"
    assert verdict(2 * OK_MAX) == verdict(SUSPICIOUS_MAX) == "suspicious"
    assert verdict(2 * SUSPICIOUS_MAX) == verdict(DOUBTFUL_MAX) == "doubtful"
    assert verdict(2 * DOUBTFUL_MAX) == verdict(float("nan")) == "wrong"


# ---------------------------------------------------------------- correct gradients pass


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_passes_on_the_mlp(dtype, activation):
    model, X, y, givens = mlp_problem(dtype, activation)
    report = check_grad(model.loss(X, y), model.params, givens, n_samples=6, seed=1)
    assert report.ok, str(report)
    assert report.failed == []
    assert list(report.params) == ["W1", "b1", "W2", "b2"]  # every parameter, biases included
    assert all(s.checked == 6 for s in report.params.values() if s.name != "b2")
    assert report.params["b2"].checked == 4  # smaller than n_samples: every coordinate
    assert all(c.verdict == "ok" for c in report.coordinates)
    assert "result: ok" in str(report)


@pytest.mark.parametrize("floatX", ["float32", "float64"])
def test_passes_under_both_floatx(floatX):
    with pytensor.config.change_flags(floatX=floatX):
        model = TinyMLP(n_in=5, hidden=(6,), n_out=3, seed=3)
        X, y = pt.matrix("X"), pt.vector("y", dtype="int64")
        rng = np.random.default_rng(3)
        report = check_grad(model.loss(X, y), model.params, {X: rng.normal(size=(9, 5)), y: rng.integers(0, 3, 9)})
    assert model.dtype == floatX
    assert report.ok, str(report)


def test_float32_model_is_evaluated_in_float64():
    """The float32 analytic gradient, computed in float32, differs from the float64 one
    by far more than OK_MAX; the check sees the float64 one (relative errors ~1e-9)."""
    model, X, y, givens = mlp_problem("float32", "tanh")
    cost = model.loss(X, y)
    grads = pytensor.grad(cost, model.params)
    g32 = pytensor.function([X, y], grads)(*givens.values())
    report = check_grad(cost, model.params, givens, n_samples=50)
    by_coord = {(c.param, c.index): c for c in report.coordinates}
    worst32 = max(
        relative_error(g32[k][c.index], c.analytic)
        for k, p in enumerate(model.params)
        for (name, _), c in by_coord.items()
        if name == p.name
    )
    assert worst32 > 1e-7  # float32 rounding would be visible at the ok threshold
    assert report.ok, str(report)


def test_float64_graph_leaves_no_narrow_floats():
    model, X, y, givens = mlp_problem("float32")
    cost = model.loss(X, y)
    grads = pytensor.grad(cost, model.params)
    replace = {p: pt.tensor(dtype="float64", shape=p.type.shape) for p in model.params}
    replace[X] = pt.matrix(dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        rebuilt = float64_graph([cost, *grads], replace)
    assert [v.dtype for v in rebuilt] == ["float64"] * 5
    floats = {v.dtype for v in ancestors(rebuilt) if getattr(v, "dtype", "").startswith("float")}
    assert floats == {"float64"}


def test_float64_graph_warns_about_what_it_cannot_widen():
    class Float32Only(Op):
        def make_node(self, x):
            return Apply(self, [x], [pt.vector(dtype="float32")])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = inputs[0].astype("float32")

    x = pt.vector("x", dtype="float32")
    y = Float32Only()(x).sum()
    with pytest.warns(RuntimeWarning, match="Float32Only"):
        float64_graph([y], {x: pt.vector(dtype="float64")})


def test_float64_graph_names_an_op_that_refuses_float64():
    class Float32Input(Op):
        def make_node(self, x):
            if x.dtype != "float32":
                raise TypeError("float32 only")
            return Apply(self, [x], [x.type()])

        def perform(self, node, inputs, outputs):
            outputs[0][0] = inputs[0]

    x = pt.vector("x", dtype="float32")
    with pytest.raises(TypeError, match="cannot rebuild Float32Input in float64"):
        float64_graph([Float32Input()(x).sum()], {x: pt.vector(dtype="float64")})


# ---------------------------------------------------------------- wrong gradients are caught


@pytest.mark.parametrize("factor", [2.0, 0.5, -1.0], ids=["twice", "half", "sign"])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("target", ["W2", "b1"])
def test_catches_a_planted_wrong_gradient_and_names_it(dtype, factor, target):
    model, X, y, givens = mlp_problem(dtype, "tanh")
    param = next(p for p in model.params if p.name == target)
    cost = plant(model.loss(X, y), param, factor)
    report = check_grad(cost, model.params, givens, n_samples=5)
    assert not report.ok
    assert report.failed == [target], str(report)
    assert report.params[target].verdict == "wrong"
    # every informative coordinate of the planted parameter is off by the factor
    rows = [c for c in report.coordinates if c.param == target and c.analytic != 0]
    assert rows
    for c in rows:
        assert c.analytic == pytest.approx(factor * c.numeric, rel=1e-5)
    assert f"FAILED in {target}" in str(report)
    assert f"{target}[" in str(report)  # the coordinates are listed


def test_catches_a_small_wrong_factor_as_doubtful():
    model, X, y, givens = mlp_problem("float64", "tanh")
    W1 = model.params[0]
    report = check_grad(plant(model.loss(X, y), W1, 1.001), model.params, givens, n_samples=5)
    assert report.failed == ["W1"]
    assert report.params["W1"].verdict == "doubtful"
    assert report.params["W1"].max_rel_error == pytest.approx(1e-3, rel=1e-2)


def test_checks_user_given_gradients():
    w = pytensor.shared(np.array([0.3, -1.2, 2.0]), name="w")
    cost = pt.sum(pt.sin(w))
    assert check_grad(cost, [w], grads=[pt.cos(w)]).ok
    report = check_grad(cost, [w], grads=[pt.cos(w) + 1e-3 * (w > 1)])
    assert report.failed == ["w"]
    assert [c.index for c in report.coordinates if c.verdict != "ok"] == [(2,)]


def test_the_largest_gradient_coordinate_is_always_sampled():
    """A tensor whose gradient is zero almost everywhere is still checked where it is not."""
    w = pytensor.shared(np.zeros(1000), name="w")
    target = np.zeros(1000)
    target[617] = 1.0
    cost = plant(pt.sum(pt.sqr(w - target)), w, 3.0)
    report = check_grad(cost, [w], n_samples=3, seed=0)
    assert report.coordinates[0].index == (617,)
    assert report.failed == ["w"]


# ---------------------------------------------------------------- kinks


def test_labels_the_relu_kink_in_the_mlp():
    """A hidden unit whose pre-activation for one example is 1e-7 from 0: perturbing its
    weights or bias by h = 1e-5 crosses the ReLU's kink. Those coordinates, and only those,
    are labelled "kink", and the report is still ok."""
    model, X, y, givens = mlp_problem("float64", "relu", n=6)
    X_data = givens[X]
    values = model.initial_values()
    unit = 3
    values["b1"][unit] = -(X_data[0] @ values["W1"][:, unit]) + 1e-7
    model.set_values(values)
    report = check_grad(model.loss(X, y), model.params, givens, n_samples=1000)
    kinks = {(c.param, c.index) for c in report.coordinates if c.verdict == "kink"}
    assert ("b1", (unit,)) in kinks
    assert kinks <= {("b1", (unit,))} | {("W1", (i, unit)) for i in range(X_data.shape[1])}
    for c in report.coordinates:
        if c.verdict == "kink":
            assert c.rel_error > SUSPICIOUS_MAX  # a real false alarm...
            assert "Maximum" in c.note  # ...labelled with the op it crossed
    assert report.ok  # kinks are not failures
    assert report.params["b1"].counts["kink"] == 1
    assert "kink" in str(report)


def test_kink_labels_do_not_hide_a_wrong_gradient():
    model, X, y, givens = mlp_problem("float64", "relu", n=6)
    values = model.initial_values()
    values["b1"][0] = -(givens[X][0] @ values["W1"][:, 0]) + 1e-7
    model.set_values(values)
    cost = plant(model.loss(X, y), model.params[2], -1.0)
    report = check_grad(cost, model.params, givens, n_samples=1000)
    assert report.failed == ["W2"]
    assert report.params["b1"].counts["kink"] == 1


def test_a_smaller_step_avoids_the_kink():
    """Step-size control: with several steps the best non-kink estimate is kept."""
    w = pytensor.shared(np.array([1e-7, -0.5, 0.8]), name="w")
    cost = pt.sum(pt.maximum(w, 0) * np.array([2.0, 3.0, -1.0]))
    single = check_grad(cost, [w], step=1e-5)
    assert [c.verdict for c in single.coordinates if c.index == (0,)] == ["kink"]
    both = check_grad(cost, [w], step=(1e-5, 1e-9))
    first = next(c for c in both.coordinates if c.index == (0,))
    assert first.verdict == "ok" and first.step == pytest.approx(1e-9, rel=1e-6)


@pytest.mark.parametrize(
    "kink",
    [
        lambda w: pt.maximum(w, 0),
        lambda w: w * (w > 0),
        lambda w: pt.abs(w),
        lambda w: pt.switch(w > 0, w, -0.5 * w),
        lambda w: pt.clip(w, 0.0, 5.0),
        lambda w: pt.max(w + np.array([0.3, 0.0, 0.0])) * np.ones(3),
    ],
    ids=["maximum", "comparison", "abs", "switch", "clip", "max-reduction"],
)
def test_other_kinks_are_detected(kink):
    """w[0] = 1e-7 sits within h = 1e-5 of each op's kink; the others are far from it."""
    w = pytensor.shared(np.array([1e-7, 0.3, -0.4]), name="w")
    report = check_grad(pt.sum(kink(w) * np.array([1.0, 0.5, 2.0])), [w])
    first = report.coordinates[[c.index for c in report.coordinates].index((0,))]
    assert first.verdict == "kink", str(report)
    assert first.note.startswith("crossed ")
    assert report.ok
    assert check_grad(pt.sum(kink(w) * np.array([1.0, 0.5, 2.0])), [w], step=1e-9).params["w"].counts["kink"] == 0


def test_smooth_functions_have_no_kinks():
    model, X, y, givens = mlp_problem("float64", "tanh")
    report = check_grad(model.loss(X, y), model.params, givens, n_samples=1000)
    assert sum(s.counts["kink"] for s in report.params.values()) == 0
    assert all(c.note == "" or c.note == NOISE_NOTE for c in report.coordinates)


# ---------------------------------------------------------------- step size and noise


def test_step_size_control_on_a_curved_function():
    """exp(10 w): at s = 1e-2 the truncation error (10 h)^2 / 6 ~ 2e-3 is doubtful; adding
    a smaller step brings it under OK_MAX, and the report says which step was used."""
    w = pytensor.shared(np.array([0.1, -0.2]), name="w")
    cost = pt.sum(pt.exp(10 * w))
    coarse = check_grad(cost, [w], step=1e-2)
    assert {c.verdict for c in coarse.coordinates} == {"doubtful"}
    assert coarse.coordinates[0].rel_error == pytest.approx((10 * 1e-2) ** 2 / 6, rel=0.05)
    controlled = check_grad(cost, [w], step=(1e-2, 1e-5))
    assert controlled.ok
    assert all(c.step == pytest.approx(1e-5, rel=1e-6) for c in controlled.coordinates)


def test_a_tiny_extra_step_cannot_hide_an_error_in_its_noise():
    """At s = 1e-12 the difference quotient is so noisy that a 1% error falls within its
    rounding noise; adding that step to a good one must not turn the verdict into ok."""
    model, X, y, givens = mlp_problem("float64", "tanh")
    cost = plant(model.loss(X, y), model.params[2], 1.01)
    tiny = check_grad(cost, model.params, givens, n_samples=5, step=1e-12)
    assert tiny.params["W2"].within_noise > 0  # the noise would hide it...
    both = check_grad(cost, model.params, givens, n_samples=5, step=(1e-5, 1e-12))
    assert both.failed == ["W2"]  # ...but the estimate above the noise is preferred
    assert both.params["W2"].within_noise == 0


def test_relative_step_scales_with_the_value():
    w = pytensor.shared(np.array([1e3, 0.5]), name="w")
    report = check_grad(pt.sum(w**2), [w], step=1e-6)
    steps = {c.index: c.step for c in report.coordinates}
    assert steps[(0,)] == pytest.approx(1e-3, rel=1e-6)
    assert steps[(1,)] == pytest.approx(1e-6, rel=1e-6)


def test_tiny_gradients_within_rounding_noise_are_not_false_alarms():
    """cost = 1000 + 1e-9 w^2: the difference quotient's rounding error (~1e-8) is larger
    than the gradient (~1e-9), so the relative error is large but carries no information."""
    w = pytensor.shared(np.array([0.7, -1.3]), name="w")
    report = check_grad(1000.0 + 1e-9 * pt.sum(w**2), [w])
    assert report.ok
    assert all(c.note == NOISE_NOTE for c in report.coordinates if c.rel_error > OK_MAX)
    assert any(c.rel_error > OK_MAX for c in report.coordinates)


# ---------------------------------------------------------------- sampling and report


def test_sampling_is_seeded_and_covers_every_parameter():
    model, X, y, givens = mlp_problem("float64", "tanh")
    cost = model.loss(X, y)

    def indices(seed):
        return [(c.param, c.index) for c in check_grad(cost, model.params, givens, n_samples=4, seed=seed).coordinates]

    assert indices(0) == indices(0)
    assert indices(0) != indices(1)
    first = indices(0)
    assert [p for p, _ in first] == ["W1"] * 4 + ["b1"] * 4 + ["W2"] * 4 + ["b2"] * 4
    assert len(set(first)) == len(first)  # distinct coordinates


def test_zero_dimensional_parameters():
    s = pytensor.shared(np.float64(1.5), name="s")
    report = check_grad(pt.sin(s) * s, [s])
    assert [c.index for c in report.coordinates] == [()]
    assert report.coordinates[0].label == "s[]"
    assert report.ok


def test_report_table():
    model, X, y, givens = mlp_problem("float32", "tanh")
    report = check_grad(plant(model.loss(X, y), model.params[3], 2.0), model.params, givens, n_samples=3)
    text = str(report)
    assert repr(report) == text
    lines = text.splitlines()
    assert "float64" in lines[0] and "float32" in lines[0]
    for name in ("W1", "b1", "W2", "b2"):
        assert any(line.startswith(name + " ") for line in lines)
    b2_row = next(line for line in lines if line.startswith("b2 "))
    assert b2_row.endswith("WRONG")
    assert lines[-1] == "result: FAILED in b2"
    with pytest.raises(TypeError, match="report.ok"):
        bool(report)


# ---------------------------------------------------------------- non-finite values


@pytest.mark.parametrize(
    ("analytic", "numeric"),
    [(math.nan, 1.0), (1.0, math.nan), (math.nan, math.nan), (math.inf, math.inf), (math.inf, 1.0), (-math.inf, 0.0)],
    ids=["nan-analytic", "nan-numeric", "nan-both", "inf-inf", "inf-analytic", "minus-inf-vs-zero"],
)
def test_relative_error_of_a_non_finite_value_is_nan_and_fails(analytic, numeric):
    """A NaN or infinite gradient never agrees with anything, not even with itself."""
    r = relative_error(analytic, numeric)
    assert math.isnan(r)
    assert math.isnan(relative_error(numeric, analytic))  # symmetric
    assert verdict(r) == "wrong"
    both = relative_error(np.array([analytic, 1.0]), np.array([numeric, 1.0]))
    assert math.isnan(both[0]) and both[1] == 0.0


NONFINITE_CASES = [
    # d/dw sqrt(w) is inf at 0, and sqrt(0 - h) is NaN
    pytest.param(lambda w: pt.sum(pt.sqrt(w)), [0.0, 1.0, 4.0], [(0,)], "analytic inf", id="sqrt-at-0"),
    # an op whose gradient is NaN while the cost is finite everywhere
    pytest.param(lambda w: pt.sum(w**2) + PlantedGrad(np.nan)(w[1]), [0.5, 1.0, -2.0], [(1,)], "analytic nan", id="nan-gradient-op"),
    # log of a negative number: the cost is NaN, the analytic gradient 1/u is finite
    pytest.param(lambda w: pt.sum(pt.log(w)), [-0.5, 2.0], [(0,), (1,)], "cost nan at x+h", id="log-negative"),
    # exp overflows: the cost is inf and inf - inf is NaN
    pytest.param(lambda w: pt.sum(pt.exp(w)), [800.0, 0.5], [(0,), (1,)], "numeric nan", id="exp-overflow"),
    # a NaN gradient next to a ReLU kink is not excused as a kink
    pytest.param(lambda w: pt.sum(PlantedGrad(np.nan)(pt.maximum(w, 0))), [1e-7, 0.5], [(0,), (1,)], "analytic nan", id="behind-a-kink"),
]


@pytest.mark.parametrize(("make_cost", "values", "bad", "note"), NONFINITE_CASES)
@pytest.mark.parametrize("step", [1e-5, (1e-5, 1e-9)], ids=["one-step", "two-steps"])
def test_a_non_finite_gradient_or_cost_fails_and_is_named(make_cost, values, bad, note, step):
    w = pytensor.shared(np.array(values), name="w")
    report = check_grad(make_cost(w), [w], step=step)
    by_index = {c.index: c for c in report.coordinates}
    for index in bad:
        assert by_index[index].verdict == "non-finite", str(report)
    assert note in " ".join(by_index[i].note for i in bad)
    assert all(c.verdict == "ok" for i, c in by_index.items() if i not in bad), str(report)
    assert not report.ok
    assert report.failed == ["w"]
    summary = report.params["w"]
    assert summary.verdict == "non-finite" and summary.counts["non-finite"] == len(bad)
    assert math.isnan(summary.max_rel_error)
    text = str(report)
    header = text.splitlines()[1].split()
    assert "non-finite" in header  # the column shows when a coordinate is non-finite
    w_row = next(line for line in text.splitlines() if line.startswith("w "))
    assert w_row.endswith("NON-FINITE") and " nan " in w_row
    assert text.splitlines()[-1].startswith("result: FAILED in w")


def test_a_nan_cost_at_the_point_is_reported():
    w = pytensor.shared(np.array([-0.5, 2.0]), name="w")
    report = check_grad(pt.sum(pt.log(w)), [w])
    assert math.isnan(report.cost)
    assert not report.ok
    assert "the cost is nan at the point" in str(report)
    assert math.isfinite(check_grad(pt.sum(w**2), [w]).cost)


def test_a_non_finite_coordinate_is_always_sampled():
    """One infinite gradient entry among 1000 finite ones is checked, with 3 samples."""
    values = np.linspace(1.0, 2.0, 1000)
    values[617] = 0.0
    w = pytensor.shared(values, name="w")
    report = check_grad(pt.sum(pt.sqrt(w)), [w], n_samples=3)
    assert report.coordinates[0].index == (617,)
    assert report.coordinates[0].verdict == "non-finite"
    assert report.failed == ["w"]


def test_the_table_has_no_non_finite_column_when_everything_is_finite():
    w = pytensor.shared(np.array([0.5, -1.0]), name="w")
    report = check_grad(pt.sum(w**3), [w])
    header = str(report).splitlines()[1].split()
    assert header == ["param", "shape", "checked", "ok", "suspicious", "doubtful", "wrong", "kink", "noise", "max",
                      "rel", "error", "verdict"]  # fmt: skip
    assert report.params["w"].counts["non-finite"] == 0


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize("label", [4, 10**9, -1], ids=["n_out", "huge", "negative"])
def test_labels_out_of_range_are_rejected_before_compiling(label, monkeypatch):
    model, X, y, givens = mlp_problem("float64", "tanh")
    givens[y] = givens[y].copy()
    givens[y][5] = label

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled before checking the labels")

    monkeypatch.setattr(pytensor, "function", no_compile)
    with pytest.raises(ValueError, match=rf"y holds label {label} at index 5; labels must be in \[0, 4\) for a model with n_out=4"):
        check_grad(model.loss(X, y), model.params, givens)


# ---------------------------------------------------------------- bad input


def test_bad_input_is_rejected_with_the_argument_named():
    w = pytensor.shared(np.ones(3), name="w")
    x = pt.vector("x")
    cost = pt.sum(w * x)
    with pytest.raises(ValueError, match="inputs without a value: x"):
        check_grad(cost, [w])
    with pytest.raises(TypeError, match="givens must be a dict"):
        check_grad(cost, [w], [np.ones(3)])
    with pytest.raises(ValueError, match="dimensions"):
        check_grad(cost, [w], {x: np.ones((3, 1))})
    with pytest.raises(TypeError, match="cost must be a symbolic scalar"):
        check_grad(w * 2, [w])
    with pytest.raises(ValueError, match="step must be"):
        check_grad(pt.sum(w), [w], step=0.0)
    with pytest.raises(ValueError, match="step must be"):
        check_grad(pt.sum(w), [w], step=())
    with pytest.raises(ValueError, match="n_samples"):
        check_grad(pt.sum(w), [w], n_samples=0)
    with pytest.raises(ValueError, match="grads has 2"):
        check_grad(pt.sum(w), [w], grads=[w, w])
    with pytest.raises(TypeError, match="params"):
        check_grad(pt.sum(w), w)
