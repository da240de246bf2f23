"""Property test: random shapes, dtypes, hyperparameters and gradient scales.

For every rule of the registry (tests/rules.py), hypothesis draws parameter shapes, a
dtype (float32/float64), every hyperparameter within its documented range, a gradient
scale and a few steps of random gradients. No update may change a variable's dtype or
shape, and from finite inputs every parameter and every state variable must stay finite.

Ranges drawn (tests/rules.py's ``RANGES`` and each row's ``ranges``: documented ranges,
with magnitudes bounded so the exact result itself is representable): learning rate in
[0, 10], momentum, dampening and rho in [0, 1] (Nesterov's momentum in (0, 1]), betas in
[0, 1), weight decay in [0, 1], lr_decay and the initial accumulator in [0, 10],
clip_norm in (0, 1000] (so clipping is sometimes active, sometimes not), gradient scales
1e-6 to 1e6. Epsilon is drawn from [1e-10, 1]: the documented range is epsilon >= 0 (as
torch), but with epsilon = 0 a zero gradient gives 0/0 = NaN in adam, adamax, adagrad and
rmsprop, exactly as in torch.

Each graph is compiled once per (rule, flags, dtype), built with the row's ``in_graph``
values (so every live hyperparameter is in the graph), with the gradients as inputs and
unknown static shapes; the examples then change shapes and hyperparameters through
``set_value`` (hyperparameters are live), so few functions are compiled.
"""

from __future__ import annotations

import functools

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.rules import RULES, each_rule

NDIMS = (0, 1, 2)  # one parameter of each rank


def floats(r):
    """The hypothesis strategy of a registry Range."""
    return st.floats(r.low, r.high, exclude_min=r.low_open, exclude_max=r.high_open)


@functools.cache
def compiled(rule, flags, dtype):
    """Parameters, updates and a compiled step taking the gradients as inputs."""
    ndims = [n for n in NDIMS if n in RULES[rule].ranks]
    params = [pytensor.shared(np.ones((2,) * n, dtype=dtype), name=f"p{n}") for n in ndims]
    grads = [pt.tensor(f"g{n}", dtype=dtype, shape=(None,) * n) for n in ndims]
    kwargs = {**RULES[rule].in_graph, **dict.fromkeys(flags, True), "clip_norm": 1.0}
    updates = RULES[rule].fn(grads, params, **kwargs)
    for var, new in updates:  # the symbolic check: every update keeps its variable's type
        assert new.dtype == var.dtype and new.type.ndim == var.type.ndim, var.name
    return params, updates, pytensor.function(grads, [], updates=updates, mode="FAST_COMPILE")


@st.composite
def examples(draw, rule):
    case = RULES[rule]
    flags = tuple(f for f in case.flags if draw(st.booleans()))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    shapes = [(), (draw(st.integers(0, 5)),), (draw(st.integers(1, 4)), draw(st.integers(1, 4)))]
    shapes = [shape for shape in shapes if len(shape) in case.ranks]
    params, updates, _ = compiled(rule, flags, dtype)
    hyper = {}
    for name in updates.hyperparams:
        hyper[name] = draw(floats(case.range_of(name)))
    fills = {suffix: draw(floats(r)) for suffix, r in case.state_ranges.items()}  # state not starting at 0
    scale = 10.0 ** draw(st.integers(-6, 6))
    steps = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return flags, dtype, shapes, hyper, fills, scale, steps, seed


def check_example(rule, example):
    flags, dtype, shapes, hyper, fills, scale, steps, seed = example
    params, updates, step = compiled(rule, flags, dtype)
    rng = np.random.default_rng(seed)
    for p, shape in zip(params, shapes, strict=True):
        p.set_value(rng.normal(size=shape).astype(dtype))
    owners = {p.name: shape for p, shape in zip(params, shapes, strict=True)}
    case = RULES[rule]

    def shape_of(name):  # the state's shape for the new parameter shapes (a scalar's is ())
        owner = name.split("/")[0]
        return case.expected_state_shape(name, owners[owner]) if owner in owners else None

    for name, var in updates.state.items():  # fresh state of the new shapes
        fill = next((v for suffix, v in fills.items() if name.endswith(suffix)), 0)
        var.set_value(np.full(shape_of(name) or (), fill, dtype=var.dtype))
    for name, value in hyper.items():
        updates.hyperparams[name].set_value(np.float64(value))
    variables = [*params, *updates.state.values()]
    for _ in range(steps):
        step(*[(scale * rng.normal(size=shape)).astype(dtype) for shape in shapes])
        for var in variables:
            value = var.get_value()
            assert value.dtype == var.dtype, var.name
            assert value.shape == (shape_of(var.name) or value.shape), var.name
            assert np.all(np.isfinite(value)), f"{var.name} is not finite: {value} ({example})"


@pytest.mark.parametrize("case", each_rule())
def test_updates_keep_dtype_and_shape_and_stay_finite(case):
    rule = case.name

    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(examples(rule))
    def run(example):
        check_example(rule, example)

    run()
