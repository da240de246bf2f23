"""The shared test problem, and torch.optim and optax runs beside it.

A small non-quadratic model over four tensors of different shapes (a matrix, a vector,
another matrix and a 0-d scalar) trained full-batch; the same computation in PyTensor
and in torch (float64), so parameter trajectories can be compared step by step.

A rule that takes parameters of some ranks only (Muon: matrices) trains only those:
inside :func:`training`, every function here treats the others as constants at their
initial values (tests/conftest.py enters it for a test parametrized with such a rule).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.util

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

SHAPES = {"W1": (3, 4), "b1": (4,), "W2": (4, 2), "s": ()}

#: The names of the parameters trained (the others are constants): see :func:`training`.
_TRAINED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("trained", default=tuple(SHAPES))


@contextlib.contextmanager
def training(ranks):
    """Train only the problem's parameters with ``ranks`` axes; the others stay constants.

    ``training((2,))`` trains W1 and W2 (a rule for matrices, Muon); b1 and s keep their
    initial values in PyTensor, torch, optax and the NumPy steps alike.
    """
    names = tuple(name for name, shape in SHAPES.items() if len(shape) in ranks)
    if not names:
        raise ValueError(f"the test problem has no parameter with {ranks} axes")
    token = _TRAINED.set(names)
    try:
        yield names
    finally:
        _TRAINED.reset(token)


def trained():
    """The names of the parameters trained now (all four, outside :func:`training`)."""
    return _TRAINED.get()


def trained_shapes():
    """The shapes of the parameters trained now, by name (:data:`SHAPES` outside :func:`training`)."""
    return {name: SHAPES[name] for name in trained()}

#: Why a torch comparison is skipped: the legs of the support matrix other than main.
TORCH_MISSING = (
    "torch 2.13.0, the parity reference, is installed on the main leg only (Python 3.11); "
    "on this leg the NumPy reference steps (tests/core/test_numpy_reference.py) prove the rules"
)


def require_torch():
    """torch, set to float64; skips the calling test where torch is not installed (the
    main leg, which has it, runs with ``SYMUPDATES_NO_SKIPS=1``: tests/conftest.py)."""
    torch = pytest.importorskip("torch", reason=TORCH_MISSING)
    torch.set_default_dtype(torch.float64)
    return torch


#: Why an optax comparison is skipped (the rules torch has no twin for, such as Lion).
OPTAX_MISSING = (
    "optax 0.2.8 (with JAX), the reference of the rules torch.optim has no twin for, is installed "
    "on the main leg only; on this leg the NumPy reference steps prove those rules"
)


def require_optax():
    """optax, with JAX in float64; skips the calling test where optax is not installed."""
    optax = pytest.importorskip("optax", reason=OPTAX_MISSING)
    import jax

    jax.config.update("jax_enable_x64", True)
    return optax


def _needs(module, mode):
    """``mode`` as a test parameter, skipped (with the reason) where ``module`` is not installed."""
    missing = importlib.util.find_spec(module) is None
    reason = f"PyTensor's {mode} backend needs {module}, installed on the main leg only"
    return pytest.param(mode, marks=pytest.mark.skipif(missing, reason=reason), id=mode)


#: The backends of the matrix (tests/core/test_backends.py, tests/lab/test_models.py).
BACKENDS = ["NUMBA", "CVM", _needs("jax", "JAX"), _needs("torch", "PYTORCH")]


def all_values(seed=0, dtype="float64"):
    """Every tensor of the problem at its initial value, trained or not."""
    rng = np.random.default_rng(seed)
    values = {name: rng.normal(size=shape) for name, shape in SHAPES.items()}
    values["s"] = np.asarray(1.5)
    return {k: np.asarray(v, dtype=dtype) for k, v in values.items()}


def initial_values(seed=0, dtype="float64"):
    """The initial values of the parameters trained (see :func:`training`), by name."""
    values = all_values(seed, dtype)
    return {k: values[k] for k in trained()}


def _complete(given, seed, make):
    """The four tensors, in order: ``given`` (the trained ones, in order), the others as
    ``make(initial value)`` constants."""
    given = dict(zip(trained(), given, strict=True))
    return [given[k] if k in given else make(v) for k, v in all_values(seed).items()]


def data(seed=1, dtype="float64"):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(16, 3)).astype(dtype)
    Y = np.tanh(X @ rng.normal(size=(3, 2))).astype(dtype)
    return X, Y


def pytensor_problem(dtype="float64", seed=0, sign=1.0, data_seed=1):
    """Shared params and the symbolic cost ``sign * loss`` (on ``data(data_seed)``)."""
    X, Y = data(seed=data_seed, dtype=dtype)
    params = [pytensor.shared(v, name=k) for k, v in initial_values(seed, dtype).items()]
    W1, b1, W2, s = _complete(params, seed, lambda v: pt.as_tensor(v.astype(dtype)))
    out = pt.tanh(pt.as_tensor(X) @ W1 + b1) @ W2 * s
    loss = pt.mean(pt.log(pt.cosh(out - Y))) + 0.05 * pt.sqr(s)
    return params, loss * np.asarray(sign, dtype=dtype)


def torch_loss(torch, tensors, X, Y, seed=0):
    W1, b1, W2, s = _complete(tensors, seed, torch.tensor)
    out = torch.tanh(X @ W1 + b1) @ W2 * s
    return torch.mean(torch.log(torch.cosh(out - Y))) + 0.05 * s**2


def run_torch(make_optimizer, steps, *, clip_norm=None, sign=1.0, make_scheduler=None, seed=0):
    """Train the problem with a torch optimizer; returns final params and applied lrs."""
    torch = require_torch()

    X, Y = (torch.tensor(a) for a in data())
    tensors = [torch.tensor(v, requires_grad=True) for v in initial_values(seed).values()]
    opt = make_optimizer(tensors)
    sched = make_scheduler(opt) if make_scheduler else None
    lrs = []
    for _ in range(steps):
        opt.zero_grad()
        (sign * torch_loss(torch, tensors, X, Y, seed)).backward()
        if clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(tensors, clip_norm)
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        if sched is not None:
            sched.step()
    return [t.detach().numpy() for t in tensors], lrs


def run_optax(make, values_at, steps, *, clip_norm=None, sign=1.0, maximize=False, seed=0):
    """Train the problem with an optax optimizer whose hyperparameters change between updates.

    ``make(**hyperparameters)`` builds it (``optax.lion``); it runs under
    ``optax.inject_hyperparams`` with ``values_at(k)`` (optax's names) set before update
    ``k``. The harness does what optax leaves to the user, as torch does it: clipping
    (``clip_grad_norm_``'s formula; ``clip_norm`` may be a function of ``k``) and then
    ``maximize`` (negating the gradient). Returns the final parameters.
    """
    clip_at = clip_norm if callable(clip_norm) else (lambda k: clip_norm)
    optax = require_optax()
    import jax
    import jax.numpy as jnp

    X, Y = (jnp.asarray(a) for a in data())
    params = [jnp.asarray(v) for v in initial_values(seed).values()]

    def loss(ps):
        W1, b1, W2, s = _complete(ps, seed, jnp.asarray)
        out = jnp.tanh(X @ W1 + b1) @ W2 * s
        return sign * (jnp.mean(jnp.log(jnp.cosh(out - Y))) + 0.05 * s**2)

    grad = jax.jit(jax.grad(loss))
    opt = optax.inject_hyperparams(make)(**values_at(0))
    state = opt.init(params)
    for k in range(steps):
        for name, value in values_at(k).items():
            state.hyperparams[name] = jnp.asarray(value, dtype=jnp.float64)
        grads = grad(params)
        if clip_at(k) is not None:
            norm = jnp.sqrt(sum(jnp.sum(g * g) for g in grads))
            grads = [g * jnp.minimum(1.0, clip_at(k) / (norm + 1e-6)) for g in grads]
        if maximize:
            grads = [-g for g in grads]
        updates, state = opt.update(grads, state, params)
        params = optax.apply_updates(params, updates)
    return [np.asarray(p) for p in params]


def run_ours(build_updates, steps, *, sign=1.0, seed=0, dtype="float64", mode=None, outputs=()):
    """Build updates on the problem, compile once, run ``steps`` calls.

    ``build_updates(cost, params)`` returns an Updates; ``outputs`` names info entries
    to record per step. Returns (final param values, updates, recorded outputs).
    """
    params, cost = pytensor_problem(dtype=dtype, seed=seed, sign=sign)
    updates = build_updates(cost, params)
    f = pytensor.function([], [updates.info[k] for k in outputs], updates=updates, mode=mode)
    record = [f() for _ in range(steps)]
    return [p.get_value() for p in params], updates, record


def assert_bitwise_equal(a, b, what=""):
    """The same dtype, shape and bytes: a skipped, reset or restored step changes nothing."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.dtype == b.dtype and a.shape == b.shape, what
    assert a.tobytes() == b.tobytes(), f"{what}: {a} != {b}"


def assert_state_dicts_equal(a, b, ignore=()):
    """Two ``state_dict()`` s with the same names, each value bit for bit (but ``ignore``)."""
    assert list(a) == list(b)
    for key in a:
        if key not in ignore:
            assert_bitwise_equal(a[key], b[key], key)


def max_relative_error(ours, theirs):
    """Largest per-tensor max|a - b| / max|b| over a list of tensors."""
    worst = 0.0
    for a, b in zip(ours, theirs, strict=True):
        scale = max(np.max(np.abs(b)), 1e-300)
        worst = max(worst, float(np.max(np.abs(np.asarray(a) - b)) / scale))
    return worst
