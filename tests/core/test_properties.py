"""Property test: random shapes, dtypes, hyperparameters and gradient scales.

For every optimizer, hypothesis draws parameter shapes, a dtype (float32/float64),
every hyperparameter within its documented range, a gradient scale and a few steps of
random gradients. No update may change a variable's dtype or shape, and from finite
inputs every parameter and every state variable must stay finite.

Ranges drawn (documented ranges, with magnitudes bounded so the exact result itself is
representable): learning rate in [0, 10], momentum, dampening and rho in [0, 1]
(Nesterov's momentum in (0, 1]), betas in [0, 1), weight decay in [0, 1], lr_decay and
the initial accumulator in [0, 10], clip_norm in (0, 1000] (so clipping is sometimes
active, sometimes not), gradient scales 1e-6 to 1e6. Epsilon is drawn from [1e-10, 1]:
the documented range is epsilon >= 0 (as torch), but with epsilon = 0 a zero gradient
gives 0/0 = NaN in adam, adamax, adagrad and rmsprop, exactly as in torch.

Each graph is compiled once per (rule, flags, dtype) with the gradients as inputs and
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

from tests.cases import RULES

NDIMS = (0, 1, 2)  # one parameter of each rank
FLAGS = {"adam": ("amsgrad",), "adamw": ("amsgrad",), "rmsprop": ("centered",)}

unit = st.floats(0.0, 1.0)
RANGES = {
    "learning_rate": st.floats(0.0, 10.0),
    "momentum": unit,
    "dampening": unit,
    "rho": unit,
    "beta1": st.floats(0.0, 1.0, exclude_max=True),
    "beta2": st.floats(0.0, 1.0, exclude_max=True),
    "epsilon": st.floats(1e-10, 1.0),
    "weight_decay": unit,
    "lr_decay": st.floats(0.0, 10.0),
    "clip_norm": st.floats(0.0, 1000.0, exclude_min=True),
}
NESTEROV_MOMENTUM = st.floats(0.0, 1.0, exclude_min=True)

# Nonzero values at build time keep every live hyperparameter in the graph (a zero weight
# decay, rmsprop momentum or lr_decay would add nothing); the examples then set any value.
BUILD = {
    "sgd": {"weight_decay": 0.1},
    "momentum": {"weight_decay": 0.1, "dampening": 0.1},
    "nesterov_momentum": {"weight_decay": 0.1},
    "adagrad": {"weight_decay": 0.1, "lr_decay": 0.1},
    "adadelta": {"weight_decay": 0.1},
    "rmsprop": {"weight_decay": 0.1, "momentum": 0.5},
    "adam": {"weight_decay": 0.1},
    "adamw": {"weight_decay": 0.1},
    "adamax": {"weight_decay": 0.1},
}


@functools.cache
def compiled(rule, flags, dtype):
    """Parameters, updates and a compiled step taking the gradients as inputs."""
    params = [pytensor.shared(np.ones((2,) * n, dtype=dtype), name=f"p{n}") for n in NDIMS]
    grads = [pt.tensor(f"g{n}", dtype=dtype, shape=(None,) * n) for n in NDIMS]
    kwargs = {**BUILD[rule], **dict.fromkeys(flags, True), "clip_norm": 1.0}
    updates = RULES[rule][0](grads, params, **kwargs)
    for var, new in updates:  # the symbolic check: every update keeps its variable's type
        assert new.dtype == var.dtype and new.type.ndim == var.type.ndim, var.name
    return params, updates, pytensor.function(grads, [], updates=updates, mode="FAST_COMPILE")


@st.composite
def examples(draw, rule):
    flags = tuple(f for f in FLAGS.get(rule, ()) if draw(st.booleans()))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    shapes = [(), (draw(st.integers(0, 5)),), (draw(st.integers(1, 4)), draw(st.integers(1, 4)))]
    params, updates, _ = compiled(rule, flags, dtype)
    hyper = {}
    for name in updates.hyperparams:
        strategy = NESTEROV_MOMENTUM if (rule, name) == ("nesterov_momentum", "momentum") else RANGES[name]
        hyper[name] = draw(strategy)
    accumulator = draw(st.floats(0.0, 10.0)) if rule == "adagrad" else 0.0
    scale = 10.0 ** draw(st.integers(-6, 6))
    steps = draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**32 - 1))
    return flags, dtype, shapes, hyper, accumulator, scale, steps, seed


def check_example(rule, example):
    flags, dtype, shapes, hyper, accumulator, scale, steps, seed = example
    params, updates, step = compiled(rule, flags, dtype)
    rng = np.random.default_rng(seed)
    for p, shape in zip(params, shapes, strict=True):
        p.set_value(rng.normal(size=shape).astype(dtype))
    owners = {p.name: shape for p, shape in zip(params, shapes, strict=True)}
    for name, var in updates.state.items():  # fresh state of the new shapes
        owner = name.split("/")[0]
        fill = accumulator if name.endswith("/adagrad/sum") else 0
        var.set_value(np.full(owners.get(owner, ()), fill, dtype=var.dtype))
    for name, value in hyper.items():
        updates.hyperparams[name].set_value(np.float64(value))
    variables = [*params, *updates.state.values()]
    for _ in range(steps):
        step(*[(scale * rng.normal(size=shape)).astype(dtype) for shape in shapes])
        for var in variables:
            value = var.get_value()
            assert value.dtype == var.dtype, var.name
            assert value.shape == owners.get(var.name.split("/")[0], value.shape), var.name
            assert np.all(np.isfinite(value)), f"{var.name} is not finite: {value} ({example})"


@pytest.mark.parametrize("rule", sorted(RULES))
def test_updates_keep_dtype_and_shape_and_stay_finite(rule):
    @settings(max_examples=15, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(examples(rule))
    def run(example):
        check_example(rule, example)

    run()
