"""dtype faithfulness: float32 parameters give float32 graphs, whatever the hyperparameters.

Hyperparameters (each rule's ``float_args`` in tests/rules.py) are tried as Python floats,
NumPy float64 scalars, float64 shared variables, float64 symbolic scalars and schedules
returning float64, under both floatX.

The check walks every update expression's whole graph: no tensor (ndim > 0) may be
float64 when the parameters are float32, so a silent upcast-then-downcast fails too.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from pytensor.graph.traversal import ancestors

import symupdates as su
from tests.reference import pytensor_problem
from tests.rules import each_flag_case, each_rule, expected_state_dtype

KINDS = ["python_float", "numpy_float64", "shared_float64", "symbolic_float64", "schedule_float64"]


def _as_kind(value, kind):
    if kind == "python_float":
        return float(value)
    if kind == "numpy_float64":
        return np.float64(value)
    if kind == "shared_float64":
        return pytensor.shared(np.float64(value))
    if kind == "schedule_float64":  # a function of the int64 step counter, float64 valued
        return lambda k: np.float64(value) * pt.exp(-1e-3 * k)
    return pt.scalar(dtype="float64")


def _float64_tensors(exprs):
    return [v for v in ancestors(exprs) if isinstance(v.type, pt.TensorType) and v.type.ndim > 0 and v.dtype == "float64"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("case", "kwargs"), each_flag_case())
def test_float32_params_give_float32_graphs(floatX, case, kwargs, kind):
    params, cost = pytensor_problem(dtype="float32")
    kwargs = {"learning_rate": case.lr, "clip_norm": 0.5, **kwargs}
    kwargs = {k: _as_kind(v, kind) if k in case.float_args else v for k, v in kwargs.items()}
    updates = case.fn(cost, params, **kwargs)
    for var, new in updates:
        assert new.dtype == var.dtype, var.name
    assert _float64_tensors([new for _, new in updates]) == []
    for name, var in updates.state.items():
        assert var.dtype == expected_state_dtype(name, "float32"), name
    if kind == "schedule_float64":  # the schedule really entered the graph, in float64
        scheduled = [k for k in kwargs if k in case.float_args]
        assert all(updates.info[k].dtype == "float64" for k in scheduled), scheduled


@pytest.mark.parametrize("case", each_rule())
def test_state_has_the_params_static_shape(floatX, case):
    values = {"W": np.ones((3, 2), "float32"), "b": np.ones(2, "float32"), "s": np.array(1.0, "float32")}
    values = {k: v for k, v in values.items() if v.ndim in case.ranks}
    params = [pytensor.shared(v, name=k, shape=np.shape(v)) for k, v in values.items()]
    cost = sum(pt.sum(p * (i + 1.0)) for i, p in enumerate(params))
    updates = case.fn(cost, params)
    for name, var in updates.state.items():
        owner = name.split("/")[0]
        if owner in values:
            expected = case.expected_state_shape(name, np.shape(values[owner]))
            assert var.type.shape == expected, name
            assert var.get_value().shape == expected


@pytest.mark.parametrize("case", each_rule())
def test_float32_run_matches_float64_run(floatX, case):
    """A float32 run stays close to the float64 run of the same problem (sanity, not parity)."""
    results = {}
    for dtype in ("float32", "float64"):
        params, cost = pytensor_problem(dtype=dtype)
        f = pytensor.function([], cost, updates=case.fn(cost, params, learning_rate=case.lr, clip_norm=1.0))
        for _ in range(10):
            f()
        results[dtype] = [p.get_value() for p in params]
        assert all(p.dtype == dtype for p in results[dtype])
    for a, b in zip(results["float32"], results["float64"], strict=True):
        np.testing.assert_allclose(a, b, rtol=2e-3, atol=2e-4)


def test_float16_params_keep_float32_state(floatX):
    w = pytensor.shared(np.ones(4, "float16"), name="w")
    updates = su.adam((w.astype("float32") ** 2).sum(), [w], learning_rate=0.1)
    assert updates.state["w/adam/m"].dtype == "float32"
    assert dict(updates)[w].dtype == "float16"
