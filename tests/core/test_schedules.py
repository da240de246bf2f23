"""Every schedule against its torch.optim.lr_scheduler twin, ReduceLROnPlateau against
torch's, momentum schedules, and bad input.

Torch steps its scheduler after every optimizer step (``run_torch`` records the lr each
``optimizer.step()`` used); our schedules see the step counter k = 0 at the first update.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

import symupdates as su
from symupdates import schedules as S
from tests.reference import max_relative_error, require_torch, run_ours, run_torch
from tests.rules import RULES, torch_twin


class _LazyLRScheduler:
    """``torch.optim.lr_scheduler``, imported on first use (the test is skipped there
    where torch is not installed: :func:`tests.reference.require_torch`)."""

    def __getattr__(self, name):
        return getattr(require_torch().optim.lr_scheduler, name)


L = _LazyLRScheduler()

STEPS = 300

#: name -> (our schedule from the base value v, torch's scheduler from (optimizer, v)).
#: Torch takes its base value from the optimizer's lr, which run_torch sets to v.
SCHEDULES = {
    "constant": (S.constant, None),
    "step_decay": (lambda v: S.step_decay(v, 40, gamma=0.5), lambda o, v: L.StepLR(o, 40, gamma=0.5)),
    "multistep_decay": (
        lambda v: S.multistep_decay(v, [30, 80, 81, 200], gamma=0.3),
        lambda o, v: L.MultiStepLR(o, [30, 80, 81, 200], gamma=0.3),
    ),
    "exponential_decay": (lambda v: S.exponential_decay(v, 0.99), lambda o, v: L.ExponentialLR(o, 0.99)),
    "inverse_time_decay": (
        lambda v: S.inverse_time_decay(v, 0.05),
        lambda o, v: L.LambdaLR(o, lambda k: 1 / (1 + 0.05 * k)),
    ),
    # T below STEPS: torch's cosine carries on past T_max (rises again); so does ours.
    "cosine_decay": (
        lambda v: S.cosine_decay(v, 120, min_value=0.01 * v),
        lambda o, v: L.CosineAnnealingLR(o, 120, eta_min=0.01 * v),
    ),
    "cosine_restarts": (
        lambda v: S.cosine_restarts(v, 7, period_mult=3, min_value=1e-3),
        lambda o, v: L.CosineAnnealingWarmRestarts(o, 7, T_mult=3, eta_min=1e-3),
    ),
    "linear_warmup": (
        lambda v: S.linear_warmup(v, 50, start_factor=0.1),
        lambda o, v: L.LinearLR(o, start_factor=0.1, total_iters=50),
    ),
    "polynomial_decay": (
        lambda v: S.polynomial_decay(v, 250, power=2.0),
        lambda o, v: L.PolynomialLR(o, total_iters=250, power=2.0),
    ),
    "one_cycle": (
        lambda v: S.one_cycle(v, STEPS).learning_rate,
        lambda o, v: L.OneCycleLR(o, v, total_steps=STEPS, cycle_momentum=False),
    ),
    "join-warmup-cosine": (
        lambda v: S.join([S.linear_warmup(v, 30, start_factor=0.1), S.cosine_decay(v, 270)], [30]),
        lambda o, v: L.SequentialLR(o, [L.LinearLR(o, 0.1, total_iters=30), L.CosineAnnealingLR(o, 270)], [30]),
    ),
}


#: Further settings of the same schedules, compared on their learning rates alone.
VARIANTS = {
    "cosine_restarts-mult1": (
        lambda v: S.cosine_restarts(v, 50, min_value=1e-4),
        lambda o, v: L.CosineAnnealingWarmRestarts(o, 50, eta_min=1e-4),
    ),
    "cosine_decay-to-zero": (lambda v: S.cosine_decay(v, 100), lambda o, v: L.CosineAnnealingLR(o, 100)),
    "linear_warmup-decay": (
        lambda v: S.linear_warmup(v, 200, start_factor=1.0, end_factor=0.2),
        lambda o, v: L.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=200),
    ),
    "one_cycle-linear-three_phase": (
        lambda v: S.one_cycle(v, STEPS, pct_start=0.25, anneal_strategy="linear", three_phase=True).learning_rate,
        lambda o, v: L.OneCycleLR(
            o, v, total_steps=STEPS, pct_start=0.25, anneal_strategy="linear", three_phase=True, cycle_momentum=False
        ),
    ),
    "join-constant": (  # torch's ConstantLR is a join of two constants
        lambda v: S.join([S.constant(0.25 * v), S.constant(v)], [40]),
        lambda o, v: L.ConstantLR(o, factor=0.25, total_iters=40),
    ),
    "join-three": (
        lambda v: S.join([S.exponential_decay(v, 0.98), S.step_decay(v, 25, 0.5), S.polynomial_decay(v, 50)], [60, 170]),
        lambda o, v: L.SequentialLR(
            o, [L.ExponentialLR(o, 0.98), L.StepLR(o, 25, 0.5), L.PolynomialLR(o, total_iters=50)], [60, 170]
        ),
    ),
}


def _torch_optimizer(rule, **kwargs):
    reference = torch_twin(RULES[rule])
    return lambda tensors: reference.build(tensors, kwargs)


def _column(record, i=0):
    return np.array([float(r[i]) for r in record])


@pytest.mark.parametrize("rule", ["momentum", "adam"])
@pytest.mark.parametrize("case", list(SCHEDULES))
def test_schedule_matches_torch_scheduler(case, rule):
    """The lr applied at each of 300 steps, and the parameters, equal torch's with its scheduler."""
    ours, theirs = SCHEDULES[case]
    v = RULES[rule].lr
    make_scheduler = None if theirs is None else (lambda opt: theirs(opt, v))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # SequentialLR's deprecation notes on step(0)
        their_params, their_lrs = run_torch(_torch_optimizer(rule, learning_rate=v), STEPS, make_scheduler=make_scheduler)
    fn = RULES[rule].fn
    our_params, _, record = run_ours(lambda c, p: fn(c, p, learning_rate=ours(v)), STEPS, outputs=["learning_rate"])
    our_lrs = _column(record)
    np.testing.assert_allclose(our_lrs, their_lrs, rtol=1e-12, atol=0)
    if case != "constant":  # the schedule really moved the learning rate
        assert max(their_lrs) >= 2 * min(their_lrs)
    assert max_relative_error(our_params, their_params) <= 1e-10


def test_schedule_variants_match_torch_scheduler():
    """More settings, compared on their 300 learning rates, tabulated by one compiled function."""
    v = 0.05
    tables = pytensor.function([], [ours(v)(np.arange(STEPS)) for ours, _ in VARIANTS.values()])()
    for (case, (_, theirs)), ours in zip(VARIANTS.items(), tables, strict=True):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            _, their_lrs = run_torch(_torch_optimizer("sgd", learning_rate=v), STEPS, make_scheduler=lambda o: theirs(o, v))
        np.testing.assert_allclose(ours, their_lrs, rtol=1e-12, atol=0, err_msg=case)
        assert max(their_lrs) >= 2 * min(their_lrs), case


def test_schedules_are_float64_and_exact_under_floatX_float32(floatX):
    """A schedule's value never passes through float32, whatever floatX is."""
    k = np.arange(STEPS)
    for case, (ours, _) in SCHEDULES.items():
        value = ours(0.1)(k)
        assert value.dtype == "float64", case
    value = S.cosine_decay(0.1, 120, min_value=1e-3)(k).eval()
    expected = 1e-3 + (0.1 - 1e-3) * (1 + np.cos(np.pi * k / 120)) / 2
    np.testing.assert_allclose(value, expected, rtol=1e-14)


def test_schedule_with_float32_params_gives_float32_updates(floatX):
    w = pytensor.shared(np.array([1.0, -2.0], dtype="float32"), name="w")
    updates = su.adam((w**2).sum(), [w], learning_rate=S.cosine_decay(0.1, 10), beta1=S.one_cycle(0.1, 10).momentum)
    assert all(new.dtype == var.dtype for var, new in updates)
    f = pytensor.function([], [updates.info["learning_rate"], updates.info["beta1"]], updates=updates)
    lr, beta1 = f()
    assert lr.dtype == beta1.dtype == "float64"
    assert float(lr) == 0.1 and float(beta1) == 0.95
    assert w.get_value().dtype == "float32"


# --- momentum schedules: the same mechanism as learning rates --------------------------


class _Recorder:
    """Wrap a torch scheduler and record a param-group value before each optimizer step."""

    def __init__(self, scheduler, read):
        self.scheduler, self.read = scheduler, read
        self.values = [read(scheduler.optimizer.param_groups[0])]

    def step(self):
        self.scheduler.step()
        self.values.append(self.read(self.scheduler.optimizer.param_groups[0]))


_MOMENTUM_OF = {"momentum": "momentum", "nesterov_momentum": "momentum", "adam": "beta1"}


@pytest.mark.parametrize(
    ("rule", "three_phase"),
    [("momentum", False), ("nesterov_momentum", True), ("adam", False), ("adam", True)],
    ids=["momentum", "nesterov_momentum-three_phase", "adam-beta1", "adam-beta1-three_phase"],
)
def test_one_cycle_cycles_momentum_like_torch(rule, three_phase):
    """OneCycleLR(cycle_momentum=True) drives SGD's momentum and Adam's beta1; so does ours."""
    name, v = _MOMENTUM_OF[rule], RULES[rule].lr
    recorders = []

    def make_scheduler(opt):
        sched = L.OneCycleLR(opt, v, total_steps=STEPS, pct_start=0.2, three_phase=three_phase)
        read = (lambda g: g["betas"][0]) if name == "beta1" else (lambda g: g["momentum"])
        recorders.append(_Recorder(sched, read))
        return recorders[-1]

    their_params, their_lrs = run_torch(_torch_optimizer(rule, learning_rate=v), STEPS, make_scheduler=make_scheduler)
    cycle = S.one_cycle(v, STEPS, pct_start=0.2, three_phase=three_phase)
    fn = RULES[rule].fn
    our_params, _, record = run_ours(
        lambda c, p: fn(c, p, learning_rate=cycle.learning_rate, **{name: cycle.momentum}),
        STEPS,
        outputs=["learning_rate", name],
    )
    their_momenta = recorders[0].values[:STEPS]
    np.testing.assert_allclose(_column(record, 0), their_lrs, rtol=1e-12, atol=0)
    np.testing.assert_allclose(_column(record, 1), their_momenta, rtol=1e-12, atol=0)
    assert min(their_momenta) == pytest.approx(0.85) and max(their_momenta) == pytest.approx(0.95)
    assert max_relative_error(our_params, their_params) <= 1e-10


class _SetEachStep:
    """A torch 'scheduler' that sets a param-group value from a Python formula of k."""

    def __init__(self, optimizer, key, formula):
        self.optimizer, self.key, self.formula, self.k = optimizer, key, formula, 0
        optimizer.param_groups[0][key] = formula(0)

    def step(self):
        self.k += 1
        self.optimizer.param_groups[0][self.key] = self.formula(self.k)


_ANNEALINGS = {
    # a library schedule: linear from 0.5 to 0.99 over 100 steps, then held
    "linear_warmup": (
        S.linear_warmup(0.99, 100, start_factor=0.5 / 0.99),
        lambda k: 0.99 * (0.5 / 0.99 + (1 - 0.5 / 0.99) * min(k, 100) / 100),
    ),
    # a schedule written by hand
    "lambda": (lambda k: 0.99 - 0.49 * pt.exp(-k / 40), lambda k: 0.99 - 0.49 * math.exp(-k / 40)),
}


@pytest.mark.parametrize(("rule", "annealing"), [("momentum", "linear_warmup"), ("nesterov_momentum", "lambda")])
def test_momentum_annealing_matches_torch(rule, annealing):
    """Momentum annealed from 0.5 to 0.99 equals torch with the momentum set before each step."""
    ours, formula = _ANNEALINGS[annealing]
    v = 0.01
    their_params, _ = run_torch(
        _torch_optimizer(rule, learning_rate=v), STEPS, make_scheduler=lambda opt: _SetEachStep(opt, "momentum", formula)
    )
    our_params, _, record = run_ours(
        lambda c, p: RULES[rule].fn(c, p, learning_rate=v, momentum=ours), STEPS, outputs=["momentum"]
    )
    momenta = _column(record)
    np.testing.assert_allclose(momenta, [formula(k) for k in range(STEPS)], rtol=1e-12, atol=0)
    assert momenta[0] == pytest.approx(0.5) and momenta[-1] == pytest.approx(0.99, abs=1e-3)
    assert max_relative_error(our_params, their_params) <= 1e-10


def test_a_schedule_times_a_shared_scale_can_be_reduced_on_plateau():
    """Compose a schedule with a live scale; ReduceLROnPlateau lowers the scale."""
    w = pytensor.shared(np.array([1.0, -2.0]), name="w")
    scale = pytensor.shared(np.float64(1.0), name="scale")
    cosine = S.cosine_decay(0.1, 50)
    updates = su.sgd((w**2).sum(), [w], learning_rate=lambda k: scale * cosine(k))
    plateau = su.ReduceLROnPlateau(scale, factor=0.5, patience=0)
    f = pytensor.function([], updates.info["learning_rate"], updates=updates)
    expected = 0.1 * (1 + np.cos(np.pi * np.arange(6) / 50)) / 2
    lrs = []
    for _ in range(6):
        lrs.append(float(f()))
        plateau.step(1.0)  # flat: every call after the first reduces
    np.testing.assert_allclose(lrs, expected * [1, 1, 0.5, 0.25, 0.125, 0.0625], rtol=1e-14)


# --- ReduceLROnPlateau against torch's -------------------------------------------------


def _plateau_sequences():
    rng = np.random.default_rng(20261122)
    noisy = 1.0 / (1.0 + np.arange(80)) + rng.normal(0.0, 0.02, 80)
    with_nan = noisy.copy()
    with_nan[[0, 5, 6, 7, 30, 31, 32, 33, 34, 50]] = np.nan
    return {
        "improving": np.linspace(1.0, 0.05, 60),
        "flat": np.full(60, 0.5),
        "noisy": noisy,
        "noisy-negative": noisy - 0.5,
        "with_nan": with_nan,
        "all_nan": np.full(40, np.nan),
        "improve_then_stall": np.concatenate([np.linspace(1.0, 0.2, 20), 0.2 + rng.normal(0.0, 1e-3, 60)]),
    }


PLATEAU_CONFIGS = [
    {},
    {"patience": 0},
    {"patience": 2, "factor": 0.5, "cooldown": 3},
    {"mode": "max", "patience": 1, "threshold_mode": "abs", "threshold": 0.01},
    {"mode": "max", "patience": 2, "threshold": 0.1},
    {"patience": 1, "factor": 0.5, "min_lr": 0.01},
    {"patience": 0, "factor": 0.9, "eps": 0.004},
    {"threshold_mode": "abs", "threshold": 0.02, "patience": 3, "cooldown": 1},
]


def _torch_plateau(metrics, lr, **config):
    torch = require_torch()
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = L.ReduceLROnPlateau(opt, **config)
    trace = []
    for m in metrics:
        sched.step(m)
        trace.append((opt.param_groups[0]["lr"], sched.best, sched.num_bad_epochs, sched.cooldown_counter))
    return trace


def _our_plateau(plateau, metrics):
    trace = []
    for m in metrics:
        plateau.step(m)
        trace.append((float(plateau.learning_rate.get_value()), plateau.best, plateau.num_bad_epochs, plateau.cooldown_counter))
    return trace


@pytest.mark.parametrize("config", PLATEAU_CONFIGS, ids=[",".join(f"{k}={v}" for k, v in c.items()) or "defaults" for c in PLATEAU_CONFIGS])
def test_reduce_lr_on_plateau_matches_torch(config):
    """Fed the same metrics, the lr (and best, bad-call and cooldown counters) equal torch's at every call."""
    reduced = 0
    for name, metrics in _plateau_sequences().items():
        w = pytensor.shared(np.zeros(2), name="w")
        updates = su.sgd((w**2).sum(), [w], learning_rate=0.05)
        ours = _our_plateau(su.ReduceLROnPlateau(updates, **config), metrics)
        theirs = _torch_plateau(metrics, 0.05, **config)
        assert ours == theirs, name
        reduced += theirs[-1][0] < 0.05
    assert reduced >= 2  # the comparison covered reductions, not only a constant lr


def test_reduce_lr_on_plateau_state_dict_resumes_exactly():
    metrics = _plateau_sequences()["with_nan"]
    config = {"patience": 2, "factor": 0.5, "cooldown": 2}
    theirs = _torch_plateau(metrics, 0.05, **config)

    lr = pytensor.shared(np.float64(0.05), name="lr")
    first = su.ReduceLROnPlateau(lr, **config)
    head = _our_plateau(first, metrics[:33])
    saved, saved_lr = first.state_dict(), lr.get_value()
    assert all(isinstance(v, np.ndarray) and v.ndim == 0 for v in saved.values())
    _our_plateau(first, metrics[33:])  # train on, then restore into a fresh controller

    lr.set_value(saved_lr)
    second = su.ReduceLROnPlateau(lr, **config)
    second.load_state_dict(saved)
    tail = _our_plateau(second, metrics[33:])
    assert head + tail == theirs


def test_reduce_lr_on_plateau_resumes_from_a_checkpoint(tmp_path):
    """su.save/su.load carry the controller (extra=) and the learning rate (the updates)."""
    metrics = _plateau_sequences()["noisy"]
    config = {"patience": 1, "factor": 0.5, "cooldown": 1}
    theirs = _torch_plateau(metrics, 0.05, **config)

    def build():
        w = pytensor.shared(np.zeros(2), name="w")
        updates = su.sgd((w**2).sum(), [w], learning_rate=0.05)
        return w, updates, su.ReduceLROnPlateau(updates, **config)

    w, updates, plateau = build()
    head = _our_plateau(plateau, metrics[:40])
    su.save(tmp_path / "run.npz", [w], updates, extra={"plateau": plateau})
    w, updates, plateau = build()
    su.load(tmp_path / "run.npz", [w], updates, extra={"plateau": plateau})
    assert head + _our_plateau(plateau, metrics[40:]) == theirs


def test_reduce_lr_on_plateau_keeps_a_float32_learning_rate_float32():
    lr = pytensor.shared(np.float32(0.1), name="lr")
    plateau = su.ReduceLROnPlateau(lr, patience=0, factor=0.5)
    plateau.step(np.float32(1.0))
    plateau.step(np.array(1.0))
    assert lr.get_value().dtype == "float32"
    assert float(lr.get_value()) == pytest.approx(0.05)


# --- bad input ----------------------------------------------------------------------

_c = S.constant(0.1)

BAD_SCHEDULES = [
    (lambda: S.constant(-0.1), ValueError, "value"),
    (lambda: S.step_decay(0.1, 0), ValueError, "step_size"),
    (lambda: S.step_decay(0.1, 2.5), TypeError, "step_size"),
    (lambda: S.step_decay(0.1, True), TypeError, "step_size"),
    (lambda: S.step_decay(-0.1, 10), ValueError, "init_value"),
    (lambda: S.step_decay(0.1, 10, gamma=float("nan")), ValueError, "gamma must be finite"),
    (lambda: S.multistep_decay(0.1, [30, 30]), ValueError, "milestones must be strictly increasing"),
    (lambda: S.multistep_decay(0.1, [50, 30]), ValueError, "milestones must be strictly increasing"),
    (lambda: S.multistep_decay(0.1, []), ValueError, "milestones is empty"),
    (lambda: S.multistep_decay(0.1, 30), TypeError, "milestones must be a list"),
    (lambda: S.multistep_decay(0.1, [-1, 3]), ValueError, r"milestones\[0\]"),
    (lambda: S.exponential_decay(0.1, -0.5), ValueError, "gamma"),
    (lambda: S.exponential_decay(float("inf"), 0.9), ValueError, "init_value must be finite"),
    (lambda: S.exponential_decay("0.1", 0.9), TypeError, "init_value must be a number"),
    (lambda: S.inverse_time_decay(0.1, -1.0), ValueError, "decay_rate"),
    (lambda: S.cosine_decay(0.1, 0), ValueError, "decay_steps"),
    (lambda: S.cosine_decay(0.1, 100, min_value=-1e-3), ValueError, "min_value"),
    (lambda: S.cosine_restarts(0.1, 10, period_mult=0), ValueError, "period_mult"),
    (lambda: S.cosine_restarts(0.1, 10, period_mult=1.5), TypeError, "period_mult"),
    (lambda: S.linear_warmup(0.1, 0), ValueError, "warmup_steps"),
    (lambda: S.linear_warmup(0.1, 10, start_factor=-0.1), ValueError, "start_factor"),
    (lambda: S.polynomial_decay(0.1, 10, power=0.0), ValueError, "power"),
    (lambda: S.one_cycle(0.1, 100, pct_start=1.0), ValueError, "pct_start"),
    (lambda: S.one_cycle(0.1, 100, pct_start=0.005), ValueError, "warm-up longer than one step"),
    (lambda: S.one_cycle(0.1, 100, anneal_strategy="cosine"), ValueError, "anneal_strategy"),
    (lambda: S.one_cycle(0.1, 100, pct_start=0.6, three_phase=True), ValueError, "pct_start about 0.5 or less"),
    (lambda: S.one_cycle(0.1, 100, div_factor=0.0), ValueError, "div_factor"),
    (lambda: S.one_cycle(0.1, 100, base_momentum=1.5), ValueError, "base_momentum"),
    (lambda: S.one_cycle(0.1, 100, three_phase="yes"), TypeError, "three_phase"),
    (lambda: S.one_cycle(0.1, 1), ValueError, "total_steps"),
    (lambda: S.join([], []), TypeError, "schedules must be a non-empty list"),
    (lambda: S.join([_c], [10]), ValueError, "1 schedules need 0 boundaries"),
    (lambda: S.join([_c, _c], [0]), ValueError, r"boundaries\[0\]"),
    (lambda: S.join([_c, _c, _c], [20, 10]), ValueError, "boundaries must be strictly increasing"),
    (lambda: S.join([_c, 0.1], [10]), TypeError, r"schedules\[1\]"),
    (lambda: S.constant(0.1)(0.5), TypeError, "integer step counter"),
]


@pytest.mark.parametrize(("make", "error", "match"), BAD_SCHEDULES, ids=[m for _, _, m in BAD_SCHEDULES])
def test_bad_schedule_arguments_raise_clear_errors(make, error, match):
    with pytest.raises(error, match=match):
        make()


def _sgd_with(learning_rate):
    w = pytensor.shared(np.zeros(3), name="w")
    return su.sgd((w**2).sum(), [w], learning_rate=learning_rate)


@pytest.mark.parametrize(
    ("learning_rate", "error", "match"),
    [
        (lambda k: pt.ones(3) * 0.1, ValueError, "must return a scalar"),
        (lambda k: "0.1", TypeError, "not a scalar"),
        (S.join([lambda k: pt.ones(3), S.constant(0.1)], [5]), ValueError, r"schedules\[0\] must return a scalar"),
        (S.one_cycle(0.1, 100), TypeError, "learning_rate must be a float"),  # the pair, not .learning_rate
    ],
    ids=["vector", "string", "join-piece", "one_cycle-pair"],
)
def test_a_schedule_that_does_not_return_a_scalar_is_an_error_before_compiling(learning_rate, error, match):
    with pytest.raises(error, match=match):
        _sgd_with(learning_rate)


BAD_PLATEAU = [
    ({"mode": "minimum"}, ValueError, "mode"),
    ({"threshold_mode": "relative"}, ValueError, "threshold_mode"),
    ({"factor": 1.0}, ValueError, "factor"),
    ({"factor": -0.1}, ValueError, "factor"),
    ({"patience": -1}, ValueError, "patience"),
    ({"patience": 1.5}, TypeError, "patience"),
    ({"cooldown": -1}, ValueError, "cooldown"),
    ({"min_lr": -1.0}, ValueError, "min_lr"),
    ({"eps": float("nan")}, ValueError, "eps"),
    ({"threshold": -1e-4}, ValueError, "threshold"),
]


@pytest.mark.parametrize(("kwargs", "error", "match"), BAD_PLATEAU, ids=[m + "-" + str(list(k.values())[0]) for k, _, m in BAD_PLATEAU])
def test_bad_plateau_arguments_raise_clear_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        su.ReduceLROnPlateau(_sgd_with(0.1), **kwargs)


def test_bad_plateau_targets_and_metrics_raise_clear_errors():
    w = pytensor.shared(np.ones(2), name="w")
    no_rate = su.get_updates(su.scale(-0.1), (w**2).sum(), [w])
    with pytest.raises(ValueError, match=r"no live learning rate to reduce \(their hyperparams are \['factor'\]\)"):
        su.ReduceLROnPlateau(no_rate)
    scheduled = _sgd_with(S.cosine_decay(0.1, 10))  # a schedule's live scale is what it lowers
    assert su.ReduceLROnPlateau(scheduled).learning_rate is scheduled.hyperparams["learning_rate"]
    with pytest.raises(TypeError, match="target must be an Updates"):
        su.ReduceLROnPlateau(0.1)
    with pytest.raises(TypeError, match="float shared scalar"):
        su.ReduceLROnPlateau(pytensor.shared(np.ones(2)))
    plateau = su.ReduceLROnPlateau(_sgd_with(0.1))
    for metric in ["1.0", np.ones(2), None, True]:
        with pytest.raises(TypeError, match="metric"):
            plateau.step(metric)
    assert plateau.last_epoch == 0  # nothing was counted


def test_bad_plateau_state_dicts_raise_and_change_nothing():
    plateau = su.ReduceLROnPlateau(_sgd_with(0.1))
    plateau.step(1.0)
    good = plateau.state_dict()
    bad = [
        ([1, 2], TypeError, "mapping"),
        ({k: v for k, v in good.items() if k != "best"}, ValueError, r"missing keys \['best'\]"),
        ({**good, "extra": 1}, ValueError, r"unexpected keys \['extra'\]"),
        ({**good, "best": np.nan}, ValueError, "best"),
        ({**good, "num_bad_epochs": np.int64(-1)}, ValueError, "num_bad_epochs"),
        ({**good, "cooldown_counter": 1.5}, ValueError, "cooldown_counter"),
    ]
    for state, error, match in bad:
        with pytest.raises(error, match=match):
            plateau.load_state_dict(state)
    assert plateau.best == 1.0 and plateau.last_epoch == 1
