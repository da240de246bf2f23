"""Every rule and flag against torch.optim (and the NumPy steps against torch), its manual
chain, and convergence."""

from __future__ import annotations

import inspect

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from tests.numpy_reference import run_numpy
from tests.reference import data, initial_values, max_relative_error, pytensor_problem, run_ours, run_torch, torch_loss
from tests.rules import HARNESS_ARGS, RULES, each_flag_case, each_rule, reference_of

STEPS = 60
#: How close the NumPy steps of tests/numpy_reference.py come to torch in float64, whatever the CPU.
NUMPY_BOUND = 1e-9
CLIP = 0.05  # below the problem's gradient norms for at least the first steps


@pytest.mark.parametrize("clip_norm", [None, CLIP], ids=["noclip", "clip"])
@pytest.mark.parametrize(("case", "kwargs"), each_flag_case())
def test_parity_with_the_reference(case, kwargs, clip_norm):
    reference = reference_of(case)
    kwargs = {"learning_rate": case.lr, **kwargs}
    sign = -1.0 if kwargs.get("maximize") else 1.0
    theirs = reference.run(lambda k: {**kwargs, "clip_norm": clip_norm}, STEPS, sign=sign)
    ours, updates, record = run_ours(
        lambda cost, params: case.fn(cost, params, clip_norm=clip_norm, **kwargs), STEPS, sign=sign, outputs=["grad_norm"]
    )
    assert max_relative_error(ours, theirs) <= 1e-10
    # The NumPy steps that prove the rules where the reference is not installed are exact
    # too, to float64 rounding: NumPy's sums group their terms by the CPU's vector width,
    # so its agreement with torch moves with the machine (1.06e-10 for RMSProp with
    # epsilon 1e-4 and clipping on an AMD EPYC, under 1e-10 on an Intel Xeon).
    assert max_relative_error(run_numpy(case.fn, kwargs, STEPS, clip_norm=clip_norm), theirs) <= NUMPY_BOUND
    if clip_norm is not None:  # clipping really acted on many of the steps compared
        assert sum(float(r[0]) > clip_norm for r in record) >= 10
    assert int(updates.step.get_value()) == STEPS


@pytest.mark.parametrize("clip_norm", [None, CLIP], ids=["noclip", "clip"])
def test_asgd_average_matches_torch(torch, clip_norm):
    """ASGD's averaged parameters, eta and mu equal torch's state, with t0 changed in mid-run."""
    X, Y = (torch.tensor(a) for a in data())
    tensors = [torch.tensor(v, requires_grad=True) for v in initial_values().values()]
    opt = torch.optim.ASGD(tensors, lr=0.05, lambd=0.01, t0=5.0)
    params, cost = pytensor_problem()
    updates = su.asgd(cost, params, learning_rate=0.05, lambd=0.01, t0=5.0, clip_norm=clip_norm)
    step = pytensor.function([], [], updates=updates)
    for k in range(STEPS):
        if k == 30:  # the average restarts at step t0 + 2 = 37: a change of t0 acts on it alone
            opt.param_groups[0]["t0"] = 35.0
            updates.hyperparams["t0"].set_value(35.0)
        opt.zero_grad()
        torch_loss(torch, tensors, X, Y).backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
        opt.step()
        step()
    for p, t in zip(params, tensors, strict=True):
        theirs = opt.state[t]
        assert max_relative_error([updates.state[f"{p.name}/asgd/ax"].get_value()], [theirs["ax"].numpy()]) <= 1e-10
        assert max_relative_error([p.get_value()], [t.detach().numpy()]) <= 1e-10
        assert abs(updates.state["asgd/eta"].get_value() - theirs["eta"].item()) <= 1e-15
        assert updates.state["asgd/mu"].get_value() == theirs["mu"].item() == 1 / (STEPS - 35)
    average = updates.state["W1/asgd/ax"].get_value()
    assert max_relative_error([average], [params[0].get_value()]) > 1e-6  # a real average, not a copy


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_adafactor_factors_the_last_two_axes_as_torch(torch, dtype):
    """A 3-d parameter is factored over its last two axes (the first batched), as torch;
    the row and column statistics equal torch's ``row_var``/``col_var``; epsilon1's
    default is each dtype's machine epsilon (float32's too)."""
    rng = np.random.default_rng(3)
    values = {"P": rng.normal(size=(2, 3, 4)), "v": rng.normal(size=5)}
    target = rng.normal(size=(2, 3, 4))
    params = [pytensor.shared(v.astype(dtype), name=k) for k, v in values.items()]
    P, v = params
    # v's gradients (about 1e-8) have squares below float32's epsilon1 squared, 1.4e-14: its default shows
    cost = pt.sum(pt.sqr(pt.tanh(P) - target.astype(dtype))) + 1e-8 * pt.sum(pt.sqr(v))
    updates = su.adafactor(cost, params, learning_rate=0.05, weight_decay=0.1)
    step = pytensor.function([], [], updates=updates)
    tensors = [torch.tensor(v.astype(dtype), requires_grad=True) for v in values.values()]
    opt = torch.optim.Adafactor(tensors, lr=0.05, weight_decay=0.1)
    target_t = torch.tensor(target.astype(dtype))
    for _ in range(30):
        opt.zero_grad()
        tP, tv = tensors
        (torch.sum((torch.tanh(tP) - target_t) ** 2) + 1e-8 * torch.sum(tv**2)).backward()
        opt.step()
        step()
    bound = 1e-10 if dtype == "float64" else 1e-4
    assert updates.state["P/adafactor/row"].get_value().shape == (2, 3, 1)
    state = opt.state[tensors[0]]
    for ours, theirs in (("P/adafactor/row", "row_var"), ("P/adafactor/col", "col_var")):
        assert updates.state[ours].get_value().dtype == dtype
        assert max_relative_error([updates.state[ours].get_value()], [state[theirs].numpy()]) <= bound
    assert max_relative_error([updates.state["v/adafactor/v"].get_value()], [opt.state[tensors[1]]["variance"].numpy()]) <= bound
    assert max_relative_error([p.get_value() for p in params], [t.detach().numpy() for t in tensors]) <= bound
    assert max_relative_error([p.get_value() for p in params], list(values.values())) > 1e-2  # they moved


def test_adafactor_keeps_a_float32_scalar_and_an_empty_vector_finite():
    """The root mean square of a scalar is its absolute value and that of an empty tensor 0:
    PyTensor 2.38 computed a float32 scalar's as NaN (the property test found it)."""
    params = [pytensor.shared(np.float32(0.189), name="s"), pytensor.shared(np.zeros(0, "float32"), name="e")]
    grads = [pt.scalar("gs", dtype="float32"), pt.vector("ge", dtype="float32")]
    updates = su.adafactor(grads, params, clip_norm=1.0)
    step = pytensor.function(grads, [], updates=updates)
    step(np.float32(-0.413), np.zeros(0, "float32"))
    theirs = 0.189 - min(0.01, 1.0) * 0.189 * np.sign(-0.413)  # the first step moves by lr * rms(p)
    assert params[0].get_value().dtype == np.float32
    np.testing.assert_allclose(params[0].get_value(), theirs, rtol=1e-6)
    assert all(np.all(np.isfinite(v.get_value())) for v in updates.state.values())


def test_parity_with_torch_given_gradients(torch):
    """A list of gradient expressions works like the cost it came from."""
    kwargs = {"learning_rate": 0.02, "amsgrad": True}
    theirs, _ = run_torch(lambda ts: torch.optim.Adam(ts, lr=0.02, amsgrad=True), STEPS)
    ours, _, _ = run_ours(lambda cost, params: su.adam(pytensor.grad(cost, params), params, **kwargs), STEPS)
    assert max_relative_error(ours, theirs) <= 1e-10


@pytest.mark.parametrize("case", each_rule())
def test_defaults_match_the_reference(case):
    """Each hyperparameter default equals the reference's, except the ones the row lists as
    ours (momentum's 0.9); an argument the reference gives no default (optax's learning
    rate) is not compared."""
    reference = reference_of(case)
    ours = {k: p.default for k, p in inspect.signature(case.fn).parameters.items() if p.default is not inspect.Parameter.empty}
    for key, value in reference.our_defaults.items():
        assert ours.pop(key) == value, key
    if reference.negates:
        ours.pop("maximize")  # the harness's (optax and Muon have no flag), as clip_norm and skip_nonfinite
    theirs = reference.defaults()
    translated = reference.translate({k: v for k, v in ours.items() if k not in HARNESS_ARGS})
    compared = {key: value for key, value in translated.items() if key in theirs}
    assert compared, "no default compared"
    for key, value in compared.items():
        assert value == theirs[key], key


def test_parity_is_against_the_pinned_torch(torch):
    """The parity tests compare with torch 2.13.0, the version setup.cfg pins (CPU tensors)."""
    assert torch.__version__.split("+")[0] == "2.13.0"


_SECTIONS = ("Parameters", "Returns", "Notes", "References", "Examples")


@pytest.mark.parametrize("case", each_rule())
def test_docstring_follows_the_numpydoc_conventions(case):
    """Summary, ``.. math::``, then the sections of DESIGN.md in order; epsilon placement in Notes."""
    doc = inspect.getdoc(case.fn)
    assert ".. math::" in doc.split("Parameters\n")[0], "the math comes before Parameters"
    positions = []
    for section in _SECTIONS:
        found = [i for i in range(len(doc)) if doc.startswith(f"\n{section}\n" + "-" * len(section) + "\n", i)]
        assert len(found) == 1, section
        positions.append(found[0])
    assert positions == sorted(positions)
    notes = doc[positions[2] : positions[3]]
    has_epsilon = any(name.startswith("epsilon") for name in inspect.signature(case.fn).parameters)
    assert ("psilon" if has_epsilon else "no epsilon") in notes, "Notes say where epsilon goes"
    assert ">>> " in doc[positions[4] :]


@pytest.mark.parametrize("case", each_rule())
def test_named_optimizer_equals_its_manual_chain(case):
    """The rule equals the chain its row documents, written out by hand."""
    kw = {"learning_rate": case.lr, "clip_norm": 0.5, **case.weight_decay(0.1)}
    named, named_updates, _ = run_ours(lambda c, p: case.fn(c, p, **kw), 20)
    transforms = case.chain(kw["learning_rate"], kw["clip_norm"], 0.1)
    chained, chained_updates, _ = run_ours(lambda c, p: su.get_updates(su.chain(*transforms), c, p, name=case.name), 20)
    for a, b in zip(named, chained, strict=True):
        np.testing.assert_array_equal(a, b)
    assert list(named_updates.state) == list(chained_updates.state)


@pytest.mark.parametrize("case", each_rule())
def test_state_names_are_stable(case):
    _, updates, _ = run_ours(lambda c, p: case.fn(c, p), 0)
    names = list(updates.state)
    assert names[0] == f"{case.name}/step"
    # per-parameter state "W1/adam/m", or the rule's own scalars ("nadam/mu_product")
    assert all(n.split("/")[0] in ("W1", "b1", "W2", "s", case.name) for n in names[1:])
    assert len(set(names)) == len(names)
    for name, var in updates.state.items():
        assert var.name == name


# --- convergence --------------------------------------------------------------------


def _descend(case, cost_fn, x0, steps, settings):
    x0 = np.asarray(x0, dtype="float64")
    shape = x0.shape if x0.ndim in case.ranks else (1, x0.size)  # a row matrix for a rule of matrices (Muon)
    x = pytensor.shared(x0.reshape(shape), name="x")
    cost = cost_fn(x.reshape(x0.shape))
    updates = case.fn(cost, [x], **settings)
    f = pytensor.function([], cost, updates=updates)
    costs = [float(f()) for _ in range(steps)]
    return x.get_value().reshape(x0.shape), costs


@pytest.mark.parametrize("case", each_rule())
def test_converges_on_quadratic(case):
    target = np.array([1.0, -2.0, 0.5])
    scales = np.array([1.0, 3.0, 0.5])
    x, costs = _descend(case, lambda x: pt.sum(scales * pt.sqr(x - target)), np.zeros(3), 3000, case.sensible)
    np.testing.assert_allclose(x, target, atol=2e-2)
    assert costs[-1] < 1e-3 * costs[0]


@pytest.mark.parametrize("case", each_rule())
def test_progresses_on_rosenbrock(case):
    def rosenbrock(x):
        return pt.sqr(1 - x[0]) + 100 * pt.sqr(x[1] - pt.sqr(x[0]))

    x, costs = _descend(case, rosenbrock, [-1.2, 1.0], 3000, case.sensible_rosenbrock)
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


# --- the registry itself ----------------------------------------------------------------


def test_every_registry_row_is_a_public_named_rule():
    """Each row's function is exported by symupdates.optimizers and by symupdates, under its name."""
    for name, case in RULES.items():
        assert name in su.optimizers.__all__, name
        assert name in su.__all__, name
        assert getattr(su.optimizers, name) is case.fn
        assert getattr(su, name) is case.fn


def test_every_named_rule_has_a_registry_row():
    assert sorted(su.optimizers.__all__) == sorted(RULES)


@pytest.mark.parametrize("case", each_rule())
def test_the_registry_row_names_real_arguments_and_state(case):
    """Fields read by name only (ranges, state_ranges, our_defaults) would silently do nothing on a typo."""
    arguments = set(inspect.signature(case.fn).parameters) - {"loss_or_grads", "params"}
    used = {*case.sensible, *case.sensible_rosenbrock, *case.live.flags, *case.in_graph, *case.flags, *case.backend_flags}
    used |= {key for kwargs in case.flag_cases for key in kwargs}
    if case.reference is not None:
        used |= set(case.reference.our_defaults)
    assert used <= arguments, sorted(used - arguments)
    assert set(case.ranges) <= case.float_args, sorted(set(case.ranges) - case.float_args)
    assert case.float_args <= arguments
    _, updates, _ = run_ours(lambda c, p: case.fn(c, p, **case.in_graph, **dict.fromkeys(case.flags, True)), 0)
    for suffix in case.state_ranges:
        assert any(name.endswith(suffix) for name in updates.state), suffix


@pytest.mark.parametrize("case", each_rule())
def test_every_flag_of_the_rule_is_on_in_a_flag_case(case):
    """Each boolean option (skip_nonfinite aside: tests/core/test_state.py) meets the reference switched."""
    flags = [k for k, p in inspect.signature(case.fn).parameters.items() if isinstance(p.default, bool) and k not in HARNESS_ARGS]
    for flag in flags:
        default = inspect.signature(case.fn).parameters[flag].default
        assert any(flag in kwargs and kwargs[flag] != default for kwargs in case.flag_cases), flag
