"""The table of wrappers: one :class:`WrapperCase` row per wrapper drives the shared tests
of tests/core/test_wrappers.py.

The registry (tests/rules.py) has a row per named rule; this table has one per thing that
wraps or composes rules: the averages of the parameters (``ema``, ``swa``),
``lookahead``, gradient accumulation (the ``accumulate_gradients`` transform and
``multi_steps``), torch-style parameter groups and masked weight decay. dtype, live
hyperparameters without recompiling (set between calls, and as schedules), reset,
save/load, ``skip_nonfinite`` and bad input all iterate :data:`WRAPPERS`. Parity with each wrapper's reference stays in its own file
(test_averaging.py: torch's ``AveragedModel`` and ``optax.lookahead``;
test_accumulation.py: ``optax.MultiSteps``; test_groups.py: torch's ``param_groups``;
test_masks.py: optax's masked ``add_decayed_weights``).

Adding a wrapper: append one ``WrapperCase(...)`` to :data:`WRAPPERS`. Every row puts its
wrapper around Adam (NAdam for the groups, whose scalar state each group names) on the
shared problem of tests/reference.py, whose cost the tests scale by an input so that a
call's gradient can be made NaN or +Inf. Fields:

``name``
    The test id.
``build``
    ``build(cost, params, values, /, *, skip_nonfinite=False, **options) -> Updates``: the
    wrapper (and the rule inside it) on ``params``. ``values`` holds every hyperparameter,
    by the name ``updates.hyperparams`` lists it under (``"ema/decay"``,
    ``"group1/learning_rate"``): the tests pass the ``start`` or the ``new`` values of
    ``live``. ``skip_nonfinite`` reaches the rule (or ``get_updates``). ``options`` are the
    wrapper's own arguments that are not hyperparameters (``start``, ``sync_period``,
    ``every``, ``mask``, the second group's entries) or a hyperparameter's argument itself
    (``decay``); they override what the build passes, and ``bad_args`` give bad ones. The
    build is the same in float32 and float64: nothing in it depends on the dtype.
``live``
    ``{name: (start, new)}`` for every hyperparameter the updates list, the rule's as well
    as the wrapper's: the live test checks that ``updates.hyperparams`` holds exactly these
    names, each at its start value, that each change alone between calls moves the
    parameters or the state, that all of them changed at once continue exactly as a
    fresh build with the new values would from the same state, and that the same change
    given as schedules of the step counter is the same run. So each ``start`` must be a
    value that keeps its term in the graph (no weight decay of 0) and each ``new`` value
    must move something within a few calls.
``state``
    The state the wrapper adds or names, ``"{param}"`` standing for each parameter's name
    (``"{param}/ema/average"``, ``"ema/n_averaged"``): the dtype test checks it is in
    ``updates.state``, which reset, save and load act on.
``counters``
    Every int64 state variable of the updates built with ``skip_nonfinite=True``, the
    rule's step and skip counters included. Other state has its parameter's dtype when it
    is named after a parameter (``"W1/ema/average"``), else it is a float64 scalar
    (``"group0/nadam/mu_product"``).
``bad_args``
    :class:`~tests.rules.BadArg` s: ``options`` the wrapper must refuse, before anything is
    compiled, with the error and the message fragments given.

The numbers of calls are shared (:data:`BAD_CALL`, :data:`CHANGE_AT`, :data:`STEPS`); each
row sets its wrapper's own counts (``start``, ``sync_period``, ``every``) so that these
calls land where the wrapper does something.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import symupdates as su
from tests.rules import BadArg

#: Calls per run of the shared tests.
STEPS = 15
#: The call (0-based) before which the live test changes the hyperparameters.
CHANGE_AT = 6
#: The call (0-based) the skip test makes NaN, then +Inf: Lookahead's synchronizing call
#: (``sync_period`` 5), the middle micro-batch of an accumulation window (``every`` 3), a
#: call that would take an average (``start`` 2).
BAD_CALL = 4

SYNC_PERIOD = 5
EVERY = 3
START = 2

#: Adam's hyperparameters, start and new values, as the rows around it list them.
ADAM = {
    "learning_rate": (0.02, 0.05),
    "beta1": (0.9, 0.5),
    "beta2": (0.999, 0.9),
    "epsilon": (1e-8, 0.5),
    "weight_decay": (0.01, 0.1),
}

#: NAdam's, per parameter group (each group different from the other).
NADAM_GROUP0 = {
    "learning_rate": (0.02, 0.05),
    "beta1": (0.9, 0.5),
    "beta2": (0.999, 0.9),
    "epsilon": (1e-8, 0.5),
    "momentum_decay": (4e-3, 0.5),
    "weight_decay": (0.01, 0.1),
}
NADAM_GROUP1 = {
    "learning_rate": (0.005, 0.03),
    "beta1": (0.8, 0.3),
    "beta2": (0.99, 0.8),
    "epsilon": (1e-6, 0.3),
    "momentum_decay": (1e-2, 0.2),
    "weight_decay": (0.1, 0.02),
}


def _frozen(mapping):
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True)
class WrapperCase:
    """One wrapper: how to build it on the shared problem, its hyperparameters, state and bad arguments."""

    name: str
    build: Callable[..., su.Updates]
    live: Mapping[str, tuple[float, float]]
    state: tuple[str, ...]
    counters: tuple[str, ...]
    bad_args: tuple[BadArg, ...] = field(default_factory=tuple)

    def __post_init__(self):
        object.__setattr__(self, "live", _frozen(self.live))

    @property
    def start(self):
        """Every hyperparameter at its start value, by name."""
        return {name: start for name, (start, _) in self.live.items()}

    @property
    def new(self):
        """Every hyperparameter at its new value, by name."""
        return {name: new for name, (_, new) in self.live.items()}

    def state_names(self, params):
        """:attr:`state` with ``"{param}"`` spelled out for each of ``params``."""
        return (
            {name.format(param=p.name) for name in self.state for p in params}
            if self.state
            else set()
        )


def _adam(values, prefix=""):
    """The rule's arguments from ``values``: the hyperparameters listed under ``prefix``
    (``"group0/"``), not those a wrapper names (``"ema/decay"``)."""
    return {
        key[len(prefix) :]: value
        for key, value in values.items()
        if key.startswith(prefix) and "/" not in key[len(prefix) :]
    }


def _ema(cost, params, values, /, *, skip_nonfinite=False, **options):
    trained = su.adam(cost, params, **_adam(values), skip_nonfinite=skip_nonfinite)
    return su.ema(
        trained, params, **{"decay": values["ema/decay"], "start": START, **options}
    )


def _swa(cost, params, values, /, *, skip_nonfinite=False, **options):
    trained = su.adam(cost, params, **_adam(values), skip_nonfinite=skip_nonfinite)
    return su.swa(trained, params, **{"start": START, **options})


def _lookahead(cost, params, values, /, *, skip_nonfinite=False, **options):
    fast = su.adam(cost, params, **_adam(values), skip_nonfinite=skip_nonfinite)
    arguments = {
        "sync_period": SYNC_PERIOD,
        "slow_step_size": values["lookahead/slow_step_size"],
        **options,
    }
    return su.lookahead(fast, params, **arguments)


def _accumulate_gradients(cost, params, values, /, *, skip_nonfinite=False, **options):
    transform = su.chain(
        su.accumulate_gradients(**{"every": EVERY, **options}),
        su.clip_by_global_norm(values["clip_norm"]),
        su.scale_by_adam(values["beta1"], values["beta2"], values["epsilon"]),
        su.scale_by_learning_rate(values["learning_rate"]),
    )
    return su.get_updates(
        transform, cost, params, name="adam", skip_nonfinite=skip_nonfinite
    )


def _multi_steps(cost, params, values, /, *, skip_nonfinite=False, **options):
    arguments = {
        "rule": su.adam(**_adam(values), skip_nonfinite=skip_nonfinite),
        "every": EVERY,
        **options,
    }
    return su.multi_steps(**arguments)(cost, params)


def _parameter_groups(cost, params, values, /, *, skip_nonfinite=False, **options):
    """NAdam with the matrices in one group and the rest in another; ``options`` are more
    entries of the second group."""
    W1, b1, W2, s = params
    groups = [
        {"params": [W1, W2], **_adam(values, "group0/")},
        {"params": [b1, s], **_adam(values, "group1/"), **options},
    ]
    return su.nadam(
        cost, groups, clip_norm=values["clip_norm"], skip_nonfinite=skip_nonfinite
    )


def _masked_weight_decay(cost, params, values, /, *, skip_nonfinite=False, **options):
    """AdamW's chain with the decay on the weight matrices only (``su.weights_only``)."""
    transform = su.chain(
        su.scale_by_adam(values["beta1"], values["beta2"], values["epsilon"]),
        su.add_decayed_weights(
            **{
                "weight_decay": values["weight_decay"],
                "mask": su.weights_only,
                **options,
            }
        ),
        su.scale_by_learning_rate(values["learning_rate"]),
    )
    return su.get_updates(
        transform, cost, params, name="adamw", skip_nonfinite=skip_nonfinite
    )


WRAPPERS = (
    WrapperCase(
        name="ema",
        build=_ema,
        live={**ADAM, "ema/decay": (0.9, 0.5)},
        state=("{param}/ema/average", "ema/n_averaged"),
        counters=("adam/step", "adam/skipped", "ema/n_averaged"),
        bad_args=(
            BadArg(
                "negative-decay",
                {"decay": -0.1},
                ValueError,
                ("decay", "[0.0, 1.0]", "-0.1"),
            ),
            BadArg("nan-decay", {"decay": float("nan")}, ValueError, ("decay", "nan")),
            BadArg("decay-string", {"decay": "0.9"}, TypeError, ("decay", "'0.9'")),
            BadArg("start-float", {"start": 1.5}, TypeError, ("start", "1.5")),
        ),
    ),
    WrapperCase(
        name="swa",
        build=_swa,
        live=ADAM,
        state=("{param}/swa/average", "swa/n_averaged"),
        counters=("adam/step", "adam/skipped", "swa/n_averaged"),
        bad_args=(
            BadArg("start-bool", {"start": True}, TypeError, ("start", "True")),
            BadArg(
                "start-negative", {"start": -3}, ValueError, ("start", ">= 0", "-3")
            ),
        ),
    ),
    WrapperCase(
        name="lookahead",
        build=_lookahead,
        live={**ADAM, "lookahead/slow_step_size": (0.5, 0.8)},
        state=("{param}/lookahead/slow", "lookahead/steps"),
        counters=("adam/step", "adam/skipped", "lookahead/steps"),
        bad_args=(
            BadArg(
                "sync-float", {"sync_period": 2.5}, TypeError, ("sync_period", "2.5")
            ),
            BadArg(
                "sync-negative",
                {"sync_period": -3},
                ValueError,
                ("sync_period", ">= 1", "-3"),
            ),
            BadArg(
                "negative-step-size",
                {"slow_step_size": -0.5},
                ValueError,
                ("slow_step_size", "[0.0, 1.0]", "-0.5"),
            ),
            BadArg(
                "infinite-step-size",
                {"slow_step_size": float("inf")},
                ValueError,
                ("slow_step_size", "inf"),
            ),
        ),
    ),
    WrapperCase(
        name="accumulate_gradients",
        build=_accumulate_gradients,
        live={
            "clip_norm": (1.0, 0.05),
            **{k: ADAM[k] for k in ("learning_rate", "beta1", "beta2", "epsilon")},
        },
        state=("{param}/accumulate/mean", "accumulate/calls"),
        counters=("adam/step", "adam/skipped", "accumulate/calls"),
        bad_args=(
            BadArg("every-zero", {"every": 0}, ValueError, ("every", ">= 1", "0")),
            BadArg("every-string", {"every": "3"}, TypeError, ("every", "'3'")),
        ),
    ),
    WrapperCase(
        name="multi_steps",
        build=_multi_steps,
        live=ADAM,
        state=("{param}/accumulate/mean", "accumulate/calls"),
        counters=("adam/step", "adam/skipped", "accumulate/calls"),
        bad_args=(
            BadArg("every-float", {"every": 1.5}, TypeError, ("every", "1.5")),
            BadArg(
                "every-negative", {"every": -2}, ValueError, ("every", ">= 1", "-2")
            ),
            BadArg(
                "rule-a-name",
                {"rule": "adam"},
                TypeError,
                ("rule", "su.adam(learning_rate=1e-3)", "'adam'"),
            ),
        ),
    ),
    WrapperCase(
        name="parameter_groups",
        build=_parameter_groups,
        live={
            "clip_norm": (1.0, 0.05),
            **{f"group0/{k}": v for k, v in NADAM_GROUP0.items()},
            **{f"group1/{k}": v for k, v in NADAM_GROUP1.items()},
        },
        state=("group0/nadam/mu_product", "group1/nadam/mu_product"),
        counters=("nadam/step", "nadam/skipped"),
        bad_args=(
            BadArg(
                "torch-spelling",
                {"lr": 0.1},
                TypeError,
                ("params[1]", "'lr'", "learning_rate"),
            ),
            BadArg(
                "unknown-key",
                {"rho": 0.9},
                TypeError,
                ("params[1]", "'rho'", "its arguments are"),
            ),
            BadArg(
                "clip-in-group",
                {"clip_norm": 1.0},
                ValueError,
                ("params[1]", "clip_norm", "every group"),
            ),
            BadArg(
                "bad-value", {"beta2": 1.0}, ValueError, ("beta2", "[0.0, 1.0)", "1.0")
            ),
            BadArg(
                "empty-group",
                {"params": []},
                ValueError,
                ("params[1]['params'] is empty",),
            ),
            BadArg(
                "slash-name",
                {"name": "a/b"},
                ValueError,
                ("params[1]['name']", "'a/b'", "without '/'"),
            ),
            BadArg(
                "same-names",
                {"name": "group0"},
                ValueError,
                ("names must differ", "'group0'"),
            ),
        ),
    ),
    WrapperCase(
        name="masked_weight_decay",
        build=_masked_weight_decay,
        live={
            k: ADAM[k]
            for k in ("beta1", "beta2", "epsilon", "weight_decay", "learning_rate")
        },
        state=(),
        counters=("adamw/step", "adamw/skipped"),
        bad_args=(
            BadArg(
                "mask-length",
                {"mask": (True, False)},
                ValueError,
                ("mask has 2 entries for 4 parameters",),
            ),
            BadArg(
                "mask-of-ints",
                {"mask": [1, 0, 1, 0]},
                TypeError,
                ("mask", "True or False", "1", "W1"),
            ),
            BadArg(
                "mask-giving-ndim",
                {"mask": lambda p: p.type.ndim},
                TypeError,
                ("mask(param)", "True or False", "2"),
            ),
            BadArg(
                "mask-a-name",
                {"mask": "weights_only"},
                TypeError,
                ("mask", "su.weights_only", "'weights_only'"),
            ),
            BadArg(
                "negative-decay",
                {"weight_decay": -0.01},
                ValueError,
                ("weight_decay", "-0.01"),
            ),
        ),
    ),
)
