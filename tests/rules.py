"""The registry of named rules: one :class:`RuleCase` row per rule drives every shared test.

Modelled on torch's ``OptimizerInfo`` (``torch/testing/_internal/common_optimizers.py``).
Parity with the reference, defaults, dtype, convergence, naming, live hyperparameters,
no recompile, reset, skip, save/load, bad input, properties, backends and graph
structure all iterate :data:`REGISTRY`; no test file keeps a table of rules of its own.

Adding a rule: append one ``RuleCase(...)`` to :data:`REGISTRY` and put the name in
``optimizers.__all__`` (tests/core/test_optimizers.py and tests/lab/test_registry.py
check that the registry, ``__all__`` and the CLI's list agree). Required fields:

``fn``
    The symupdates function; the row's name is ``fn.__name__`` (also the prefix of the
    state names, ``"adam/step"``).
``reference``
    A :class:`Reference`, or ``None`` when nothing is compared: ``kind`` ("torch" or
    "optax"), the class or function ``name``, the reference arguments the rule
    ``implied`` (SGD's ``nesterov=True``), ``renames`` beyond the common ones
    (learning_rate -> lr, epsilon -> eps, the halves of pairs such as beta1/beta2 -> betas in
    ``TORCH_PAIRS``), and ``our_defaults``
    that deliberately differ from the reference's (momentum 0.9, where torch has 0).
    ``Reference.translate`` is the one translation of our arguments into the
    reference's, and ``Reference.run`` trains the test problem with either kind
    (hyperparameters changed between updates through torch's param group or optax's
    ``inject_hyperparams``). Shared tests get the reference with :func:`reference_of`;
    tests that need torch itself (its schedulers) call :func:`torch_twin`, which skips
    them, naming the reference, for a rule compared with optax.
``lr``
    The learning rate of the parity runs (60 steps to 1e-10 on tests/reference.py's
    problem): the trajectory must move, and stay stable.
``flag_cases``
    Keyword arguments beyond the learning rate, one dict per case: every flag away from
    its default at least once, and hyperparameter values (the live test moves every
    hyperparameter against the reference too). Each case runs against the reference
    with and without clipping, in float32, through skip and reset; the first longest is
    the rule's ``richest`` case (checkpoints, state tests).
``sensible``
    Settings that reach the minimum of a 3-d quadratic in 3000 steps
    (``sensible_rosenbrock``, optional: those that progress on Rosenbrock, if different).
``live``
    A :class:`Live`: every float hyperparameter but clip_norm at a ``start`` value and
    the ``new`` value it takes mid-training (each change alone must move the
    reference's trajectory), plus boolean ``flags``. Its names are the rule's
    ``float_args`` (the dtype test tries each in every form); the live test checks that
    ``updates.hyperparams`` holds exactly these.
``chain``
    ``chain(learning_rate, clip_norm, weight_decay)`` -> the transforms the rule is
    documented to be; the rule must equal ``su.chain(*those)`` bit for bit.

Optional fields (empty by default):

``in_graph``
    Nonzero build-time values that keep every live hyperparameter in the graph (a zero
    weight decay adds nothing); the property test builds with them, then draws any value.
``flags``
    Boolean options that change the graph (amsgrad, centered); the property test draws
    each on or off.
``ranges``, ``state_ranges``
    :class:`Range` s the property test draws from: hyperparameters whose range is not
    the shared one in :data:`RANGES` (or that are the rule's own names), and
    ``{state-name suffix: Range}`` for state that does not start at zero (adagrad's sum).
``backend_flags``
    Options on in the backend test's one graph (Numba, C VM, JAX), beyond the learning
    rate, clip_norm=0.5 and weight_decay=0.01.
``bad_args``
    :class:`BadArg` s: bad values of the rule's own arguments, the error and the message
    fragments expected. The arguments every rule shares are tested in
    tests/core/test_errors.py; shared rows are defined below (``NEGATIVE_EPSILON``, ...).
``unmoved_later``
    ``{hyperparameter: why}`` for those whose change in mid-training moves nothing, in
    the reference as here: Rprop's learning rate acts on the first step only (it fills the
    step sizes, as torch's ``lr`` does), and clipping keeps the gradient's sign, all Rprop
    reads; ASGD's t0 moves only the average it keeps. The live tests check that such a
    change moves nothing.
``reduced_state``
    ``{state-name suffix: axes}`` for state whose shape is its parameter's with those
    axes of length 1 (Adafactor's factored row and column statistics); the dtype and
    property tests expect :func:`expected_state_shape`.
``ranks``
    The numbers of axes of the parameters the rule takes (default 0, 1 and 2; Muon takes
    matrices only). The shared problem then trains only its parameters of those ranks
    (tests/reference.py's ``training``), and the dtype and property tests draw only those.
``separate_passes``
    Why the update of a parameter and its state cannot be one fused loop (empty: it is
    one, which tests/core/test_structure.py checks). Adafactor divides the update by its
    own root mean square, a reduction over the whole update; Muon multiplies matrices.
    For such a rule the structure test checks that each variable is still written by
    one elementwise loop.
``matmuls_per_matrix``
    The matrix products the rule itself computes per matrix parameter (Muon's
    Newton-Schulz iteration, 3 per step); the structure test expects exactly these
    beyond the model's own.
``broken_backends``
    ``{backend: why}`` for a backend that cannot run the rule because of a bug of
    PyTensor's: the backend test leaves the rule out of that backend's graph and checks,
    as a strict xfail, that the bug is still there (so the entry goes when it is fixed).
``transforms``
    The rule's own transforms, ``{test id: (constructor, {hyperparameter: (start, new)})}``:
    each float hyperparameter must be live and take a schedule.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import pytest

import symupdates as su
from tests.reference import data, initial_values, require_optax, require_torch, run_optax, torch_loss, training

#: Arguments every rule takes that no reference optimizer does: the harness clips (torch's
#: ``clip_grad_norm_``) and skipping non-finite steps has no counterpart.
HARNESS_ARGS = ("clip_norm", "skip_nonfinite")

#: Our names of torch.optim's arguments, where they differ.
TORCH_NAMES = {"learning_rate": "lr", "epsilon": "eps"}

#: Our names of optax's arguments, where they differ.
OPTAX_NAMES = {"beta1": "b1", "beta2": "b2", "epsilon": "eps"}

#: Our arguments that are one half of a torch pair: name -> (torch's name, index).
TORCH_PAIRS = {
    "beta1": ("betas", 0),
    "beta2": ("betas", 1),
    "eta_minus": ("etas", 0),
    "eta_plus": ("etas", 1),
    "step_size_min": ("step_sizes", 0),
    "step_size_max": ("step_sizes", 1),
    "epsilon1": ("eps", 0),
    "epsilon2": ("eps", 1),
}


@contextlib.contextmanager
def _newton_schulz_in_full_precision():
    """torch's Muon with its one bfloat16 cast (``grad.bfloat16()`` before the Newton-Schulz
    iteration) made a copy in the gradient's own dtype: the rest is torch's code."""
    import torch

    cast = torch.Tensor.bfloat16
    torch.Tensor.bfloat16 = lambda self, *args, **kwargs: self.clone()
    try:
        yield
    finally:
        torch.Tensor.bfloat16 = cast


def _frozen(mapping):
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, eq=False)
class Reference:
    """The implementation a rule is compared with, and the translation of its arguments."""

    kind: str  # "torch" (a torch.optim class) or "optax" (an optax function)
    name: str  # torch.optim.<name> or optax.<name>
    implied: Mapping[str, object] = field(default_factory=dict)  # reference arguments the rule implies
    renames: Mapping[str, str] = field(default_factory=dict)  # our name -> theirs, beyond the common ones
    our_defaults: Mapping[str, object] = field(default_factory=dict)  # our defaults that differ from theirs
    context: Callable[[], contextlib.AbstractContextManager] | None = None  # what the reference runs inside

    def __post_init__(self):
        if self.kind not in ("torch", "optax"):
            raise ValueError(f"Reference kind must be 'torch' or 'optax', got {self.kind!r}")
        for name in ("implied", "renames", "our_defaults"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def __str__(self):
        return f"torch.optim.{self.name}" if self.kind == "torch" else f"optax.{self.name}"

    def target(self):
        """The reference class or function itself (imports torch or optax)."""
        if self.kind == "torch":
            import torch

            return getattr(torch.optim, self.name)
        import optax

        return getattr(optax, self.name)

    @property
    def negates(self):
        """Whether the harness negates the gradient for ``maximize`` (optax, and a torch
        optimizer without the flag: Muon), after clipping, as torch's own flag does."""
        return self.kind == "optax" or "maximize" not in inspect.signature(self.target()).parameters

    def defaults(self):
        """The reference's own defaults, by its argument names."""
        return {k: p.default for k, p in inspect.signature(self.target()).parameters.items() if p.default is not p.empty}

    def translate(self, ours, current=None):
        """Our keyword arguments (no harness arguments) as the reference's keyword arguments.

        ``current`` holds the reference's values now (a torch param group); an argument
        that is half of a pair (beta1 alone) is completed from it, else from the
        reference's defaults. Implied arguments and our differing defaults are not added:
        see :meth:`kwargs`.
        """
        names = {**(TORCH_NAMES if self.kind == "torch" else OPTAX_NAMES), **self.renames}
        out = {}
        for key, value in ours.items():
            if key in HARNESS_ARGS or (key == "maximize" and self.negates):
                raise ValueError(f"{key} is applied by the test harness, not passed to {self}")
            if key in TORCH_PAIRS and self.kind == "torch":
                pair, index = TORCH_PAIRS[key]
                both = list(out.get(pair) or (current if current is not None else self.defaults())[pair])
                both[index] = value
                out[pair] = tuple(both)
            else:
                out[names.get(key, key)] = value
        return out

    def kwargs(self, ours):
        """The reference's constructor arguments for a rule called with ``ours``."""
        return {**self.implied, **self.translate({**self.our_defaults, **ours})}

    def build(self, tensors, ours):
        """The torch optimizer over ``tensors``, set up as the rule called with ``ours``."""
        if self.kind != "torch":
            raise ValueError(f"{self} is not a torch optimizer: use run()")
        return self.target()(tensors, **self.kwargs(ours))

    def run(self, ours_at, steps, *, sign=1.0):
        """The reference's final parameters on tests/reference.py's problem.

        ``ours_at(k)`` gives the rule's arguments before update ``k`` (our names, flags
        included, ``clip_norm`` applied by the harness as ``clip_grad_norm_``); torch
        gets them through its param group, optax through ``inject_hyperparams``.
        """

        def split(k):
            ours = dict(ours_at(k))
            clip_norm = ours.pop("clip_norm", None)
            if self.negates:
                ours.pop("maximize", None)
            return clip_norm, ours

        maximize = self.negates and bool(ours_at(0).get("maximize", False))
        with self.context() if self.context is not None else contextlib.nullcontext():
            if self.kind == "optax":
                values_at = lambda k: self.kwargs(split(k)[1])  # noqa: E731
                clip_at = lambda k: split(k)[0]  # noqa: E731
                return run_optax(self.target(), values_at, steps, clip_norm=clip_at, sign=sign, maximize=maximize)
            torch = require_torch()
            X, Y = (torch.tensor(a) for a in data())
            tensors = [torch.tensor(v, requires_grad=True) for v in initial_values().values()]
            opt = self.build(tensors, split(0)[1])
            for k in range(steps):
                clip_norm, ours = split(k)
                group = opt.param_groups[0]
                group.update(self.translate(ours, current=group))
                opt.zero_grad()
                (sign * torch_loss(torch, tensors, X, Y)).backward()
                if clip_norm is not None:
                    torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
                if maximize:  # after clipping, as torch's own flag
                    for t in tensors:
                        t.grad.neg_()
                opt.step()
            return [t.detach().numpy() for t in tensors]


@dataclass(frozen=True)
class Range:
    """A closed (or half-open) real interval the property test draws a value from."""

    low: float
    high: float
    low_open: bool = False
    high_open: bool = False


#: What the property test draws each shared hyperparameter from (documented ranges, with
#: magnitudes bounded so the exact result is representable; epsilon >= 1e-10 since 0/0 is
#: NaN at epsilon = 0, as in torch).
RANGES = {
    "learning_rate": Range(0.0, 10.0),
    "momentum": Range(0.0, 1.0),
    "dampening": Range(0.0, 1.0),
    "rho": Range(0.0, 1.0),
    "beta1": Range(0.0, 1.0, high_open=True),
    "beta2": Range(0.0, 1.0, high_open=True),
    "epsilon": Range(1e-10, 1.0),
    "weight_decay": Range(0.0, 1.0),
    "clip_norm": Range(0.0, 1000.0, low_open=True),
}


@dataclass(frozen=True)
class Live:
    """Every float hyperparameter at its start value and the value it changes to; other flags."""

    start: Mapping[str, float]
    new: Mapping[str, float]
    flags: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self):
        if set(self.start) != set(self.new):
            raise ValueError(f"Live start and new name different hyperparameters: {sorted(self.start)} != {sorted(self.new)}")
        for name in ("start", "new", "flags"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))


@dataclass(frozen=True)
class BadArg:
    """One bad value of a rule's own argument: the error and the fragments its message holds."""

    what: str  # for the test id, "<rule>:<what>"
    kwargs: Mapping[str, object]
    error: type[Exception]
    match: tuple[str, ...]


NEGATIVE_EPSILON = BadArg("negative-epsilon", {"epsilon": -1e-8}, ValueError, ("epsilon", "-1e-08", "[0.0, inf]"))
BETA1_IS_1 = BadArg("beta1-is-1", {"beta1": 1.0}, ValueError, ("beta1", "[0.0, 1.0)", "1.0"))
NEGATIVE_BETA2 = BadArg("negative-beta2", {"beta2": -0.1}, ValueError, ("beta2", "-0.1"))
RHO_ABOVE_1 = BadArg("rho-above-1", {"rho": 1.5}, ValueError, ("rho", "[0.0, 1.0]", "1.5"))
AMSGRAD_NOT_BOOL = BadArg("amsgrad-not-bool", {"amsgrad": "no"}, TypeError, ("amsgrad", "True or False"))
DECOUPLED_NOT_BOOL = BadArg("decoupled-not-bool", {"decoupled_weight_decay": 1}, TypeError, ("decoupled_weight_decay", "True or False"))
ADAM_FAMILY_BAD_ARGS = (NEGATIVE_EPSILON, BETA1_IS_1, NEGATIVE_BETA2)

#: The live-transform test's row for scale_by_adam (shared by adam and adamw, listed once).
_SCALE_BY_ADAM = {"beta1": (0.9, 0.5), "beta2": (0.999, 0.9), "epsilon": (1e-8, 1e-2)}


@dataclass(frozen=True, eq=False)
class RuleCase:
    """One named rule and everything the shared tests need to know about it (module docstring)."""

    fn: Callable
    reference: Reference | None
    lr: float
    flag_cases: tuple[Mapping[str, object], ...]
    sensible: Mapping[str, object]
    live: Live
    chain: Callable[[float, float, float], list]
    sensible_rosenbrock: Mapping[str, object] | None = None
    in_graph: Mapping[str, float] = field(default_factory=dict)
    flags: tuple[str, ...] = ()
    ranges: Mapping[str, Range] = field(default_factory=dict)
    state_ranges: Mapping[str, Range] = field(default_factory=dict)
    backend_flags: Mapping[str, object] = field(default_factory=dict)
    bad_args: tuple[BadArg, ...] = ()
    transforms: Mapping[str, tuple[Callable, Mapping[str, tuple[float, float]]]] = field(default_factory=dict)
    unmoved_later: Mapping[str, str] = field(default_factory=dict)
    reduced_state: Mapping[str, tuple[int, ...]] = field(default_factory=dict)
    ranks: tuple[int, ...] = (0, 1, 2)
    separate_passes: str = ""
    matmuls_per_matrix: int = 0
    broken_backends: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        object.__setattr__(self, "flag_cases", tuple(_frozen(kw) for kw in self.flag_cases))
        if self.sensible_rosenbrock is None:
            object.__setattr__(self, "sensible_rosenbrock", self.sensible)
        for name in ("sensible", "sensible_rosenbrock", "in_graph", "ranges", "state_ranges", "backend_flags", "transforms", "unmoved_later", "reduced_state", "broken_backends"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))

    def __repr__(self):
        return f"RuleCase({self.name})"

    @property
    def name(self):
        return self.fn.__name__

    @property
    def float_args(self):
        """The float arguments: every live hyperparameter, and clip_norm."""
        return frozenset(self.live.start) | {"clip_norm"}

    def weight_decay(self, value):
        """``{"weight_decay": value}`` for a rule that takes it, else ``{}`` (Rprop has none)."""
        return {"weight_decay": value} if "weight_decay" in inspect.signature(self.fn).parameters else {}

    @property
    def richest(self):
        """The flag case with the most keys (the first, on a tie)."""
        return max(self.flag_cases, key=len)

    def range_of(self, hyperparameter):
        """The range the property test draws ``hyperparameter`` from."""
        if hyperparameter in self.ranges:
            return self.ranges[hyperparameter]
        if hyperparameter in RANGES:
            return RANGES[hyperparameter]
        raise KeyError(f"{self.name}: no range for {hyperparameter!r}; add it to the row's ranges in tests/rules.py")

    def expected_state_shape(self, name, param_shape):
        """The shape of state ``name`` of a parameter of ``param_shape`` (see ``reduced_state``)."""
        shape = list(param_shape)
        for suffix, axes in self.reduced_state.items():
            if name.endswith(f"/{suffix}"):
                for axis in axes:
                    shape[axis] = 1
        return tuple(shape)

    def case_id(self, kwargs):
        return case_id(self.name, kwargs)


def case_id(rule, kwargs):
    """A readable test id: ``adam-amsgrad=True-weight_decay=0.1``."""
    return rule + "".join(f"-{k}={v}" for k, v in kwargs.items())


# --- the registry ---------------------------------------------------------------------

REGISTRY = (
    RuleCase(
        fn=su.sgd,
        reference=Reference("torch", "SGD"),
        lr=0.1,
        flag_cases=({}, {"weight_decay": 0.1}, {"maximize": True}),
        sensible={"learning_rate": 0.01},
        # Rosenbrock's curvature (about 1000 near the valley) needs smaller plain-SGD steps.
        sensible_rosenbrock={"learning_rate": 1e-3},
        live=Live({"learning_rate": 0.1, "weight_decay": 0.1}, {"learning_rate": 0.03, "weight_decay": 0.3}),
        in_graph={"weight_decay": 0.1},
        chain=lambda lr, clip, wd: [su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_learning_rate(lr)],
    ),
    RuleCase(
        fn=su.momentum,
        reference=Reference("torch", "SGD", our_defaults={"momentum": 0.9}),
        lr=0.05,
        flag_cases=({}, {"momentum": 0.5, "dampening": 0.3}, {"weight_decay": 0.1}, {"maximize": True}),
        sensible={"learning_rate": 0.002, "momentum": 0.9},
        sensible_rosenbrock={"learning_rate": 2e-4, "momentum": 0.9},
        live=Live(
            {"learning_rate": 0.05, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.1},
            {"learning_rate": 0.02, "momentum": 0.5, "dampening": 0.4, "weight_decay": 0.0},
        ),
        in_graph={"weight_decay": 0.1, "dampening": 0.1},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.trace(0.9), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            BadArg("above-1", {"momentum": 1.5}, ValueError, ("momentum", "[0.0, 1.0]", "1.5")),
            BadArg("negative", {"momentum": -0.5}, ValueError, ("momentum", "-0.5")),
            BadArg("dampening", {"dampening": 2.0}, ValueError, ("dampening", "2.0")),
        ),
        transforms={"trace": (su.trace, {"momentum": (0.9, 0.5), "dampening": (0.1, 0.3)})},
    ),
    RuleCase(
        fn=su.nesterov_momentum,
        reference=Reference("torch", "SGD", implied={"nesterov": True}, our_defaults={"momentum": 0.9}),
        lr=0.05,
        flag_cases=({}, {"momentum": 0.7, "weight_decay": 0.1}, {"maximize": True}),
        sensible={"learning_rate": 0.002, "momentum": 0.9},
        sensible_rosenbrock={"learning_rate": 2e-4, "momentum": 0.9},
        live=Live(
            {"learning_rate": 0.05, "momentum": 0.7, "weight_decay": 0.1},
            {"learning_rate": 0.02, "momentum": 0.95, "weight_decay": 0.2},
        ),
        in_graph={"weight_decay": 0.1},
        ranges={"momentum": Range(0.0, 1.0, low_open=True)},  # Nesterov's momentum is in (0, 1]
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.trace(0.9, nesterov=True), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            BadArg("zero-momentum", {"momentum": 0.0}, ValueError, ("momentum", "(0.0, 1.0]", "0.0")),
            BadArg("with-dampening", {"dampening": 0.1}, TypeError, ("dampening",)),
        ),
        transforms={"trace-nesterov": (lambda momentum: su.trace(momentum, nesterov=True), {"momentum": (0.9, 0.5)})},
    ),
    RuleCase(
        fn=su.adagrad,
        reference=Reference("torch", "Adagrad"),
        lr=0.1,
        flag_cases=(
            {},
            {"lr_decay": 0.05},
            {"initial_accumulator_value": 0.2, "epsilon": 1e-3},
            {"weight_decay": 0.1, "maximize": True},
        ),
        sensible={"learning_rate": 0.5},
        live=Live(
            {"learning_rate": 0.1, "epsilon": 1e-10, "lr_decay": 0.05, "weight_decay": 0.1},
            {"learning_rate": 0.3, "epsilon": 1e-2, "lr_decay": 0.2, "weight_decay": 0.0},
        ),
        in_graph={"weight_decay": 0.1, "lr_decay": 0.1},
        ranges={"lr_decay": Range(0.0, 10.0)},
        state_ranges={"/adagrad/sum": Range(0.0, 10.0)},  # initial_accumulator_value
        backend_flags={"lr_decay": 0.01},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_adagrad(), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            NEGATIVE_EPSILON,
            BadArg("negative-lr-decay", {"lr_decay": -1.0}, ValueError, ("lr_decay", "-1.0")),
            BadArg("negative-accumulator", {"initial_accumulator_value": -1.0}, ValueError, ("initial_accumulator_value", "-1.0")),
            BadArg("accumulator-not-a-number", {"initial_accumulator_value": "0"}, TypeError, ("initial_accumulator_value", "number")),
        ),
        transforms={"scale_by_adagrad": (lambda epsilon: su.scale_by_adagrad(0.1, epsilon), {"epsilon": (1e-10, 1e-1)})},
    ),
    RuleCase(
        fn=su.adadelta,
        reference=Reference("torch", "Adadelta"),
        lr=1.0,
        flag_cases=({}, {"rho": 0.5, "epsilon": 1e-3}, {"weight_decay": 0.1}, {"maximize": True}),
        sensible={"learning_rate": 10.0, "rho": 0.95},
        live=Live(
            {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6, "weight_decay": 0.1},
            {"learning_rate": 0.5, "rho": 0.5, "epsilon": 1e-3, "weight_decay": 0.2},
        ),
        in_graph={"weight_decay": 0.1},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_adadelta(), su.scale_by_learning_rate(lr)
        ],
        bad_args=(NEGATIVE_EPSILON, RHO_ABOVE_1),
        transforms={"scale_by_adadelta": (su.scale_by_adadelta, {"rho": (0.9, 0.5), "epsilon": (1e-6, 1e-2)})},
    ),
    RuleCase(
        fn=su.rmsprop,
        reference=Reference("torch", "RMSprop", renames={"rho": "alpha"}),
        lr=0.01,
        flag_cases=(
            {},
            {"rho": 0.9, "epsilon": 1e-4},
            {"momentum": 0.5},
            {"centered": True},
            {"centered": True, "momentum": 0.5, "weight_decay": 0.1},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.01},
        live=Live(
            {"learning_rate": 0.01, "rho": 0.99, "epsilon": 1e-8, "momentum": 0.5, "weight_decay": 0.1},
            {"learning_rate": 0.003, "rho": 0.9, "epsilon": 1e-3, "momentum": 0.8, "weight_decay": 0.2},
            flags={"centered": True},
        ),
        in_graph={"weight_decay": 0.1, "momentum": 0.5},
        flags=("centered",),
        backend_flags={"centered": True, "momentum": 0.5},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_rms(), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            NEGATIVE_EPSILON,
            RHO_ABOVE_1,
            BadArg("momentum-above-1", {"momentum": 2.0}, ValueError, ("momentum", "2.0")),
            BadArg("centered-not-bool", {"centered": 1}, TypeError, ("centered", "True or False")),
        ),
        transforms={
            "scale_by_rms": (
                lambda rho, epsilon: su.scale_by_rms(rho, epsilon, centered=True),
                {"rho": (0.99, 0.9), "epsilon": (1e-8, 1e-2)},
            )
        },
    ),
    RuleCase(
        fn=su.adam,
        reference=Reference("torch", "Adam"),
        lr=0.02,
        flag_cases=(
            {},
            {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3},
            {"amsgrad": True},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"amsgrad": True, "weight_decay": 0.1, "maximize": True},
        ),
        sensible={"learning_rate": 0.05},
        live=Live(
            {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.1},
            {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "weight_decay": 0.0},
            flags={"amsgrad": True},
        ),
        in_graph={"weight_decay": 0.1},
        flags=("amsgrad", "decoupled_weight_decay"),
        backend_flags={"amsgrad": True},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_adam(), su.scale_by_learning_rate(lr)
        ],
        bad_args=(*ADAM_FAMILY_BAD_ARGS, AMSGRAD_NOT_BOOL, DECOUPLED_NOT_BOOL),
        transforms={"scale_by_adam": (su.scale_by_adam, _SCALE_BY_ADAM)},
    ),
    RuleCase(
        fn=su.adamw,
        reference=Reference("torch", "AdamW"),
        lr=0.02,
        flag_cases=({}, {"weight_decay": 0.3}, {"amsgrad": True, "weight_decay": 0.1}, {"maximize": True}),
        sensible={"learning_rate": 0.05, "weight_decay": 0.0},
        live=Live(
            {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.3},
            {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "weight_decay": 0.1},
        ),
        in_graph={"weight_decay": 0.1},
        flags=("amsgrad",),
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.scale_by_adam(), su.add_decayed_weights(wd), su.scale_by_learning_rate(lr)
        ],
        bad_args=(*ADAM_FAMILY_BAD_ARGS, AMSGRAD_NOT_BOOL),
    ),
    RuleCase(
        fn=su.adamax,
        reference=Reference("torch", "Adamax"),
        lr=0.02,
        flag_cases=({}, {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3}, {"weight_decay": 0.1}, {"maximize": True}),
        sensible={"learning_rate": 0.05},
        live=Live(
            {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.1},
            {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.9, "epsilon": 0.5, "weight_decay": 0.2},
        ),
        in_graph={"weight_decay": 0.1},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_adamax(), su.scale_by_learning_rate(lr)
        ],
        bad_args=ADAM_FAMILY_BAD_ARGS,
        transforms={"scale_by_adamax": (su.scale_by_adamax, {"beta1": (0.9, 0.5), "beta2": (0.999, 0.9), "epsilon": (1e-8, 0.5)})},
    ),
    RuleCase(
        fn=su.nadam,
        reference=Reference("torch", "NAdam"),
        lr=0.02,
        flag_cases=(
            {},
            {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3, "momentum_decay": 0.1},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.05},
        live=Live(
            {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "momentum_decay": 4e-3, "weight_decay": 0.1},
            {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-2, "momentum_decay": 0.1, "weight_decay": 0.2},
        ),
        in_graph={"weight_decay": 0.1},
        flags=("decoupled_weight_decay",),
        ranges={"momentum_decay": Range(0.0, 1.0)},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_nadam(), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            *ADAM_FAMILY_BAD_ARGS,
            BadArg("negative-momentum-decay", {"momentum_decay": -1.0}, ValueError, ("momentum_decay", "-1.0")),
            DECOUPLED_NOT_BOOL,
        ),
        transforms={
            "scale_by_nadam": (su.scale_by_nadam, {**_SCALE_BY_ADAM, "momentum_decay": (4e-3, 0.1)}),
        },
    ),
    RuleCase(
        fn=su.radam,
        reference=Reference("torch", "RAdam"),
        lr=0.02,
        flag_cases=(
            {},
            {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3},
            {"weight_decay": 0.1},
            {"weight_decay": 0.1, "decoupled_weight_decay": True},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.05},
        # its first steps are momentum SGD at the full rate: Rosenbrock's gradients need a small one
        sensible_rosenbrock={"learning_rate": 5e-3},
        live=Live(
            {"learning_rate": 0.02, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "weight_decay": 0.1},
            {"learning_rate": 0.05, "beta1": 0.5, "beta2": 0.9, "epsilon": 1e-2, "weight_decay": 0.2},
        ),
        in_graph={"weight_decay": 0.1},
        flags=("decoupled_weight_decay",),
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_radam(), su.scale_by_learning_rate(lr)
        ],
        bad_args=(*ADAM_FAMILY_BAD_ARGS, DECOUPLED_NOT_BOOL),
        transforms={"scale_by_radam": (su.scale_by_radam, _SCALE_BY_ADAM)},
    ),
    RuleCase(
        fn=su.rprop,
        reference=Reference("torch", "Rprop"),
        lr=0.02,
        flag_cases=(
            {},
            {"eta_minus": 0.3, "eta_plus": 1.5},
            {"step_size_min": 1e-3, "step_size_max": 0.05},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.01},
        live=Live(
            {"learning_rate": 0.02, "eta_minus": 0.5, "eta_plus": 1.2, "step_size_min": 1e-6, "step_size_max": 50.0},
            {"learning_rate": 0.05, "eta_minus": 0.3, "eta_plus": 1.5, "step_size_min": 0.01, "step_size_max": 0.015},
        ),
        unmoved_later={
            "learning_rate": "it fills the step sizes before the first step, as torch's lr",
            "clip_norm": "clipping scales every gradient alike and keeps its sign, all Rprop reads",
        },
        ranges={
            "eta_minus": Range(0.0, 1.0, low_open=True, high_open=True),
            "eta_plus": Range(1.0, 10.0, low_open=True),
            "step_size_min": Range(0.0, 1.0),
            "step_size_max": Range(0.0, 100.0),
        },
        chain=lambda lr, clip, wd: [su.clip_by_global_norm(clip), su.scale_by_rprop(lr), su.negate()],
        bad_args=(
            BadArg("eta_minus-is-1", {"eta_minus": 1.0}, ValueError, ("eta_minus", "1.0")),
            BadArg("eta_plus-below-1", {"eta_plus": 0.9}, ValueError, ("eta_plus", "0.9")),
            BadArg("negative-step_size_min", {"step_size_min": -1.0}, ValueError, ("step_size_min", "-1.0")),
            BadArg("min-above-max", {"step_size_min": 2.0, "step_size_max": 1.0}, ValueError, ("step_size_min", "step_size_max", "swap")),
        ),
        transforms={
            "scale_by_rprop": (
                su.scale_by_rprop,
                # steps of 0.2 (the test's descent scales by 0.01), so that signs flip within 8 steps
                {
                    "learning_rate": (20.0, 40.0),
                    "eta_minus": (0.5, 0.3),
                    "eta_plus": (1.2, 1.5),
                    "step_size_min": (1e-6, 30.0),
                    "step_size_max": (50.0, 40.0),
                },
            )
        },
    ),
    RuleCase(
        fn=su.asgd,
        reference=Reference("torch", "ASGD"),
        lr=0.05,
        flag_cases=(
            {},
            {"lambd": 0.1, "alpha": 0.5},
            {"t0": 5.0, "lambd": 0.01},
            {"weight_decay": 0.1},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.01},
        sensible_rosenbrock={"learning_rate": 1e-3},
        live=Live(
            {"learning_rate": 0.05, "lambd": 0.01, "alpha": 0.75, "t0": 5.0, "weight_decay": 0.1},
            {"learning_rate": 0.02, "lambd": 0.1, "alpha": 0.5, "t0": 10.0, "weight_decay": 0.2},
        ),
        unmoved_later={"t0": "it changes only the average (state asgd/ax), which test_asgd_average_matches_torch checks"},
        in_graph={"weight_decay": 0.1},
        ranges={"lambd": Range(0.0, 1.0), "alpha": Range(0.0, 2.0), "t0": Range(0.0, 100.0)},
        chain=lambda lr, clip, wd: [su.clip_by_global_norm(clip), su.add_decayed_weights(wd), su.scale_by_asgd(lr)],
        bad_args=(
            BadArg("negative-lambd", {"lambd": -1.0}, ValueError, ("lambd", "-1.0")),
            BadArg("negative-alpha", {"alpha": -0.5}, ValueError, ("alpha", "-0.5")),
            BadArg("negative-t0", {"t0": -1.0}, ValueError, ("t0", "-1.0")),
        ),
        transforms={
            "scale_by_asgd": (
                su.scale_by_asgd,
                {"learning_rate": (0.05, 0.02), "lambd": (0.01, 0.1), "alpha": (0.75, 0.5), "t0": (5.0, 10.0)},
            )
        },
    ),
    RuleCase(
        fn=su.lion,
        reference=Reference("optax", "lion", our_defaults={"weight_decay": 0.0}),
        lr=0.01,
        flag_cases=(
            {},
            {"beta1": 0.5, "beta2": 0.9},
            {"weight_decay": 0.1},
            {"maximize": True},
        ),
        sensible={"learning_rate": 1e-3},
        sensible_rosenbrock={"learning_rate": 1e-4},
        live=Live(
            {"learning_rate": 0.01, "beta1": 0.9, "beta2": 0.99, "weight_decay": 0.1},
            {"learning_rate": 0.02, "beta1": 0.5, "beta2": 0.9, "weight_decay": 0.3},
        ),
        in_graph={"weight_decay": 0.1},
        ranges={"beta1": Range(0.0, 1.0)},
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.scale_by_lion(), su.add_decayed_weights(wd), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            BadArg("beta1-above-1", {"beta1": 1.5}, ValueError, ("beta1", "[0.0, 1.0]", "1.5")),
            BadArg("beta2-is-1", {"beta2": 1.0}, ValueError, ("beta2", "[0.0, 1.0)", "1.0")),
        ),
        # beta1 near 1 makes the sign follow the momentum, so that beta2's change shows within 8 steps
        transforms={"scale_by_lion": (su.scale_by_lion, {"beta1": (0.99, 0.5), "beta2": (0.5, 0.99)})},
    ),
    RuleCase(
        fn=su.adafactor,
        reference=Reference("torch", "Adafactor", renames={"clip_threshold": "d"}),
        lr=0.02,
        flag_cases=(
            {},
            {"beta2_decay": -0.5, "epsilon1": 1e-3, "epsilon2": 1e-2, "clip_threshold": 1.5},
            {"weight_decay": 0.1},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.05},
        sensible_rosenbrock={"learning_rate": 5e-3},
        live=Live(
            {"learning_rate": 0.02, "beta2_decay": -0.8, "epsilon1": 1e-30, "epsilon2": 1e-3, "clip_threshold": 1.0, "weight_decay": 0.1},
            {"learning_rate": 0.05, "beta2_decay": -0.5, "epsilon1": 1e-2, "epsilon2": 2.0, "clip_threshold": 1.2, "weight_decay": 0.3},
        ),
        in_graph={"weight_decay": 0.1, "epsilon1": 1e-3},
        reduced_state={"adafactor/row": (-1,), "adafactor/col": (-2,)},
        separate_passes="the update is divided by its own root mean square, a reduction over all of it",
        broken_backends={
            "PYTORCH": "PyTensor 3.0.7's PyTorch backend: a reduction over an expression of a state variable that the "
            "same call updates fails (TypeError in scalar_from_tensor after a torch.compile graph break); "
            "Adafactor's root mean square of the update is one"
        },
        ranges={
            "beta2_decay": Range(-2.0, 0.0),
            "epsilon1": Range(1e-10, 1.0),
            "epsilon2": Range(0.0, 1.0),
            "clip_threshold": Range(1.0, 10.0),
        },
        chain=lambda lr, clip, wd: [su.clip_by_global_norm(clip), su.scale_by_adafactor(lr, weight_decay=wd)],
        bad_args=(
            BadArg("positive-beta2_decay", {"beta2_decay": 0.5}, ValueError, ("beta2_decay", "0.5")),
            BadArg("negative-epsilon1", {"epsilon1": -1.0}, ValueError, ("epsilon1", "-1.0")),
            BadArg("negative-epsilon2", {"epsilon2": -1e-3}, ValueError, ("epsilon2", "-0.001")),
            BadArg("clip_threshold-below-1", {"clip_threshold": 0.5}, ValueError, ("clip_threshold", "0.5")),
        ),
        transforms={
            "scale_by_adafactor": (
                su.scale_by_adafactor,
                {
                    "learning_rate": (0.02, 0.05),
                    "beta2_decay": (-0.8, -0.5),
                    "epsilon1": (1e-30, 1e-2),
                    "epsilon2": (1e-3, 2.0),
                    "clip_threshold": (1.0, 1.2),
                    "weight_decay": (0.1, 0.3),
                },
            )
        },
    ),
    RuleCase(
        fn=su.muon,
        reference=Reference("torch", "Muon", context=lambda: _newton_schulz_in_full_precision()),
        lr=0.02,
        flag_cases=(
            {},
            {"nesterov": False, "momentum": 0.5},
            {"adjust_lr_fn": "match_rms_adamw", "weight_decay": 0.0, "ns_steps": 3},
            {"ns_coefficients": (2.0, -1.5, 0.5), "epsilon": 0.1, "adjust_lr_fn": "original"},
            {"maximize": True},
        ),
        sensible={"learning_rate": 0.02, "weight_decay": 0.0},
        live=Live(
            {"learning_rate": 0.02, "weight_decay": 0.1, "momentum": 0.95, "epsilon": 1e-7},
            {"learning_rate": 0.05, "weight_decay": 0.3, "momentum": 0.5, "epsilon": 2.0},
        ),
        ranks=(2,),
        separate_passes="the Newton-Schulz iteration multiplies whole matrices",
        matmuls_per_matrix=15,
        chain=lambda lr, clip, wd: [
            su.clip_by_global_norm(clip), su.scale_by_muon(), su.add_decayed_weights(wd), su.scale_by_learning_rate(lr)
        ],
        bad_args=(
            BadArg("momentum-above-1", {"momentum": 1.5}, ValueError, ("momentum", "1.5")),
            BadArg("negative-epsilon", {"epsilon": -1e-7}, ValueError, ("epsilon", "-1e-07")),
            BadArg("two-coefficients", {"ns_coefficients": (3.0, -4.0)}, TypeError, ("ns_coefficients", "three")),
            BadArg("ns_steps-100", {"ns_steps": 100}, ValueError, ("ns_steps", "99", "100")),
            BadArg("ns_steps-float", {"ns_steps": 5.0}, TypeError, ("ns_steps", "5.0")),
            BadArg("unknown-adjust_lr_fn", {"adjust_lr_fn": "rms"}, ValueError, ("adjust_lr_fn", "match_rms_adamw", "'rms'")),
            BadArg("nesterov-not-bool", {"nesterov": "yes"}, TypeError, ("nesterov", "True or False")),
        ),
        transforms={"scale_by_muon": (su.scale_by_muon, {"momentum": (0.95, 0.5), "epsilon": (1e-7, 2.0)})},
    ),
)

#: name -> row, in name order (the order the tests run in).
RULES = {case.name: case for case in sorted(REGISTRY, key=lambda c: c.name)}


# --- parametrization helpers ------------------------------------------------------------


def each_rule(where=None):
    """``pytest.param(case, id=name)`` for every row (for which ``where(case)`` holds):
    ``@pytest.mark.parametrize("case", each_rule())``."""
    return [pytest.param(case, id=name) for name, case in RULES.items() if where is None or where(case)]


def each_flag_case():
    """``pytest.param(case, kwargs, id="adam-amsgrad=True")`` for every flag case of every row."""
    return [pytest.param(case, kwargs, id=case.case_id(kwargs)) for case in REGISTRY for kwargs in case.flag_cases]


def each_transform():
    """``pytest.param(id, constructor, values, id=id)`` for every row's own transforms."""
    return [pytest.param(name, make, values, id=name) for case in REGISTRY for name, (make, values) in case.transforms.items()]


def rule_of(values):
    """The row a test is parametrized with: a :class:`RuleCase`, a rule's name or one of its
    transforms' names among ``values`` (the test's parameters), or ``None``."""
    for value in values:
        if isinstance(value, RuleCase):
            return value
        if isinstance(value, str):
            for case in REGISTRY:
                if value == case.name or value in case.transforms:
                    return case
    return None


def parameters_of(case):
    """A context in which the shared problem trains the parameters ``case`` takes: all of
    them, or those of its ``ranks`` (tests/reference.py's ``training``)."""
    return contextlib.nullcontext() if set(case.ranks) >= {0, 1, 2} else training(case.ranks)


def unmoved_later(owner, hyperparameter):
    """Whether a mid-training change of ``hyperparameter`` of rule or transform ``owner`` moves nothing."""
    return any(
        hyperparameter in case.unmoved_later for case in REGISTRY if owner == case.name or owner in case.transforms
    )


def expected_state_dtype(name, compute_dtype):
    """The dtype of state ``name`` for parameters computing in ``compute_dtype``.

    Counters (``"adam/step"``, ``"skipped"``) are int64; a rule's own scalars, named
    ``"{rule}/{name}"`` without a parameter (NAdam's ``mu_product``), are coefficients and,
    like every coefficient, float64; the state of a parameter has its compute dtype.
    """
    if name.endswith(("/step", "/skipped")):
        return "int64"
    return "float64" if name.count("/") == 1 else compute_dtype


def reference_of(case):
    """The rule's reference (torch or optax); skips the calling test where it is not installed."""
    if case.reference is None:
        pytest.skip(f"{case.name} has no reference")
    require_torch() if case.reference.kind == "torch" else require_optax()
    return case.reference


def torch_twin(case):
    """The rule's torch.optim reference; skips the calling test for a rule compared with something else."""
    if case.reference is None or case.reference.kind != "torch":
        pytest.skip(f"{case.name} has no torch.optim twin; its reference is {case.reference or 'none'}")
    require_torch()
    return case.reference
