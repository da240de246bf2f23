"""Every rule and flag against torch.optim, its manual chain, and convergence."""

from __future__ import annotations

import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import torch

import symupdates as su
from tests.cases import FLAG_CASES, LR, RULES, SENSIBLE, SENSIBLE_ROSENBROCK, case_id, to_torch
from tests.reference import max_relative_error, run_ours, run_torch

STEPS = 60
CLIP = 0.05  # below the problem's gradient norms for at least the first steps

torch.set_default_dtype(torch.float64)


@pytest.mark.parametrize("clip_norm", [None, CLIP], ids=["noclip", "clip"])
@pytest.mark.parametrize(("rule", "kwargs"), FLAG_CASES, ids=[case_id(*c) for c in FLAG_CASES])
def test_parity_with_torch(rule, kwargs, clip_norm):
    fn, torch_name, _ = RULES[rule]
    kwargs = {"learning_rate": LR[rule], **kwargs}
    sign = -1.0 if kwargs.get("maximize") else 1.0
    torch_cls = getattr(torch.optim, torch_name)
    theirs, _ = run_torch(lambda ts: torch_cls(ts, **to_torch(rule, kwargs)), STEPS, clip_norm=clip_norm, sign=sign)
    ours, updates, record = run_ours(
        lambda cost, params: fn(cost, params, clip_norm=clip_norm, **kwargs), STEPS, sign=sign, outputs=["grad_norm"]
    )
    assert max_relative_error(ours, theirs) <= 1e-10
    if clip_norm is not None:  # clipping really acted on many of the steps compared
        assert sum(float(r[0]) > clip_norm for r in record) >= 10
    assert int(updates.step.get_value()) == STEPS


def test_parity_with_torch_given_gradients():
    """A list of gradient expressions works like the cost it came from."""
    kwargs = {"learning_rate": 0.02, "amsgrad": True}
    theirs, _ = run_torch(lambda ts: torch.optim.Adam(ts, lr=0.02, amsgrad=True), STEPS)
    ours, _, _ = run_ours(lambda cost, params: su.adam(pytensor.grad(cost, params), params, **kwargs), STEPS)
    assert max_relative_error(ours, theirs) <= 1e-10


_TORCH_NAMES = {"learning_rate": "lr", "epsilon": "eps", "rho": "rho"}


@pytest.mark.parametrize("rule", sorted(RULES))
def test_defaults_match_torch(rule):
    """Each hyperparameter default equals torch's (momentum's 0.9 and SGD's lr aside)."""
    fn, torch_name, _ = RULES[rule]
    ours = {k: p.default for k, p in inspect.signature(fn).parameters.items() if p.default is not inspect.Parameter.empty}
    theirs = {k: p.default for k, p in inspect.signature(getattr(torch.optim, torch_name)).parameters.items()}
    for key, value in ours.items():
        if key in ("clip_norm", "skip_nonfinite") or (rule in ("sgd", "momentum", "nesterov_momentum") and key in ("learning_rate", "momentum")):
            continue
        if key in ("beta1", "beta2"):
            assert value == theirs["betas"][key == "beta2"], key
        elif key == "rho" and rule == "rmsprop":
            assert value == theirs["alpha"]
        else:
            assert value == theirs[_TORCH_NAMES.get(key, key)], key
    if rule in ("momentum", "nesterov_momentum"):  # ours, where torch's is 0
        assert ours["momentum"] == 0.9


def test_parity_is_against_the_pinned_torch():
    """The parity tests compare with torch 2.13.0, the version setup.cfg pins (CPU tensors)."""
    assert torch.__version__.split("+")[0] == "2.13.0"


_SECTIONS = ("Parameters", "Returns", "Notes", "References", "Examples")


@pytest.mark.parametrize("rule", sorted(RULES))
def test_docstring_follows_the_numpydoc_conventions(rule):
    """Summary, ``.. math::``, then the sections of DESIGN.md in order; epsilon placement in Notes."""
    doc = inspect.getdoc(RULES[rule][0])
    assert ".. math::" in doc.split("Parameters\n")[0], "the math comes before Parameters"
    positions = []
    for section in _SECTIONS:
        found = [i for i in range(len(doc)) if doc.startswith(f"\n{section}\n" + "-" * len(section) + "\n", i)]
        assert len(found) == 1, section
        positions.append(found[0])
    assert positions == sorted(positions)
    notes = doc[positions[2] : positions[3]]
    has_epsilon = "epsilon" in inspect.signature(RULES[rule][0]).parameters
    assert ("psilon" if has_epsilon else "no epsilon") in notes, "Notes say where epsilon goes"
    assert ">>> " in doc[positions[4] :]


def _manual_chain(rule, kw):
    """The documented composition of each rule, written out by hand."""
    lr = su.scale_by_learning_rate(kw["learning_rate"])
    clip = [su.clip_by_global_norm(kw["clip_norm"])]
    return {
        "sgd": [*clip, su.add_decayed_weights(0.1), lr],
        "momentum": [*clip, su.add_decayed_weights(0.1), su.trace(0.9), lr],
        "nesterov_momentum": [*clip, su.add_decayed_weights(0.1), su.trace(0.9, nesterov=True), lr],
        "adagrad": [*clip, su.add_decayed_weights(0.1), su.scale_by_adagrad(), lr],
        "adadelta": [*clip, su.add_decayed_weights(0.1), su.scale_by_adadelta(), lr],
        "rmsprop": [*clip, su.add_decayed_weights(0.1), su.scale_by_rms(), lr],
        "adam": [*clip, su.add_decayed_weights(0.1), su.scale_by_adam(), lr],
        "adamw": [*clip, su.scale_by_adam(), su.add_decayed_weights(0.1), lr],
        "adamax": [*clip, su.add_decayed_weights(0.1), su.scale_by_adamax(), lr],
    }[rule]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_named_optimizer_equals_its_manual_chain(rule):
    fn = RULES[rule][0]
    kw = {"learning_rate": LR[rule], "clip_norm": 0.5}
    named, named_updates, _ = run_ours(lambda c, p: fn(c, p, weight_decay=0.1, **kw), 20)
    chained, chained_updates, _ = run_ours(lambda c, p: su.get_updates(su.chain(*_manual_chain(rule, kw)), c, p, name=rule), 20)
    for a, b in zip(named, chained, strict=True):
        np.testing.assert_array_equal(a, b)
    assert list(named_updates.state) == list(chained_updates.state)


@pytest.mark.parametrize("rule", sorted(RULES))
def test_state_names_are_stable(rule):
    _, updates, _ = run_ours(lambda c, p: RULES[rule][0](c, p), 0)
    names = list(updates.state)
    assert names[0] == f"{rule}/step"
    assert all(n.split("/")[0] in ("W1", "b1", "W2", "s") for n in names[1:])
    assert len(set(names)) == len(names)
    for name, var in updates.state.items():
        assert var.name == name


# --- convergence --------------------------------------------------------------------


def _descend(rule, cost_fn, x0, steps, settings):
    x = pytensor.shared(np.asarray(x0, dtype="float64"), name="x")
    updates = RULES[rule][0](cost_fn(x), [x], **settings[rule])
    f = pytensor.function([], cost_fn(x), updates=updates)
    costs = [float(f()) for _ in range(steps)]
    return x.get_value(), costs


@pytest.mark.parametrize("rule", sorted(RULES))
def test_converges_on_quadratic(rule):
    target = np.array([1.0, -2.0, 0.5])
    scales = np.array([1.0, 3.0, 0.5])
    x, costs = _descend(rule, lambda x: pt.sum(scales * pt.sqr(x - target)), np.zeros(3), 3000, SENSIBLE)
    np.testing.assert_allclose(x, target, atol=2e-2)
    assert costs[-1] < 1e-3 * costs[0]


@pytest.mark.parametrize("rule", sorted(RULES))
def test_progresses_on_rosenbrock(rule):
    def rosenbrock(x):
        return pt.sqr(1 - x[0]) + 100 * pt.sqr(x[1] - pt.sqr(x[0]))

    x, costs = _descend(rule, rosenbrock, [-1.2, 1.0], 3000, SENSIBLE_ROSENBROCK)
    assert np.all(np.isfinite(x))
    assert costs[-1] < 0.25 * costs[0]
    assert np.mean(costs[-100:]) < np.mean(costs[100:200])


def test_hyperparams_and_info_are_exposed():
    w = pytensor.shared(np.ones(3), name="w")
    updates = su.adam((w**2).sum(), [w], learning_rate=0.1, clip_norm=1.0, weight_decay=0.01)
    assert set(updates.hyperparams) == {"clip_norm", "weight_decay", "beta1", "beta2", "epsilon", "learning_rate"}
    f = pytensor.function([], [updates.info["grad_norm"], updates.info["learning_rate"]], updates=updates)
    norm, lr = f()
    assert float(norm) == pytest.approx(np.sqrt(12))
    assert float(lr) == 0.1
    assert isinstance(updates, list) and all(len(pair) == 2 for pair in updates)
    assert updates.step.dtype == "int64"
