"""The W1 training step as PyTensor graphs: built by symupdates and written by hand.

W1 is an MLP 784-256-256-10 (ReLU, softmax cross-entropy), batch 128, float32. The
hand-written updates are the zero-abstraction baseline: the same formulas as
``torch.optim`` (and so as symupdates), written the way a PyTensor user would write them
directly, with the hyperparameters as float32 constants. ``tests/test_structure.py``
inspects these graphs; ``benchmarks/run.py`` times them.
"""

from __future__ import annotations

import time

import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates as su

SIZES = (784, 256, 256, 10)
BATCH = 128
CLIP_NORM = 5.0
#: The rules of W1 and their hyperparameters (torch's defaults, except the learning rates).
RULES = {
    "adam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "sgd": {"learning_rate": 0.01},
    "momentum": {"learning_rate": 0.01, "momentum": 0.9},
    "rmsprop": {"learning_rate": 1e-3, "rho": 0.99, "epsilon": 1e-8},
    "nadam": {"learning_rate": 2e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8, "momentum_decay": 4e-3},
    "radam": {"learning_rate": 1e-3, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
    "lion": {"learning_rate": 1e-4, "beta1": 0.9, "beta2": 0.99},
}


def initial_values(seed=0, sizes=SIZES, dtype="float32"):
    """He-initialised weights and zero biases, ``[W1, b1, W2, b2, ...]``, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    values = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        values.append((rng.standard_normal((n_in, n_out)) * np.sqrt(2.0 / n_in)).astype(dtype))
        values.append(np.zeros(n_out, dtype=dtype))
    return values


def batch(seed=1, sizes=SIZES, batch_size=BATCH, dtype="float32"):
    """One minibatch ``(X, y)``: standard normal inputs and uniform integer labels."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch_size, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch_size).astype("int32")
    return X, y


def mlp_cost(seed=0, sizes=SIZES, dtype="float32"):
    """Fresh shared parameters and the symbolic mean cross-entropy: ``(params, X, y, cost)``."""
    names = [f"{kind}{i + 1}" for i in range(len(sizes) - 1) for kind in ("W", "b")]
    params = [pytensor.shared(v, name=n) for v, n in zip(initial_values(seed, sizes, dtype), names, strict=True)]
    X = pt.matrix("X", dtype=dtype)
    y = pt.vector("y", dtype="int32")
    h = X
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i < len(params) - 2:
            h = pt.maximum(h, 0)
    logp = h - pt.logsumexp(h, axis=1, keepdims=True)
    rows = pt.arange(np.int64(0), y.shape[0], np.int64(1))  # int64 bounds, as in symupdates.models (JAX)
    cost = -pt.mean(logp[rows, y])
    return params, X, y, cost


def hand_updates(rule, loss_or_grads, params, clip_norm=CLIP_NORM, live=False):
    """The update list of ``rule`` written directly in PyTensor, with global-norm clipping.

    Same formulas as torch (``clip_grad_norm_`` then the optimizer's step); constants
    are float32, the step counter an int64 shared scalar. ``loss_or_grads`` is a cost
    or the list of gradients, as for symupdates. With ``live=True`` every hyperparameter
    is a float64 shared scalar cast to float32 where it meets a tensor, as symupdates
    makes them (changeable between calls): the same graph inputs, written by hand.
    """
    h = dict(RULES[rule], clip_norm=clip_norm)
    if live:
        h = {k: pytensor.shared(np.float64(v), name=f"hand/{k}") for k, v in h.items() if v is not None}

    def _f32(x):
        return x.astype("float32") if live else np.float32(x)

    grads = pytensor.grad(loss_or_grads, params) if isinstance(loss_or_grads, pt.TensorVariable) else list(loss_or_grads)
    if clip_norm is not None:
        norm = pt.sqrt(pt.add(*[pt.sum(pt.sqr(g)) for g in grads]))
        scale = pt.minimum(np.float32(1), _f32(h["clip_norm"]) / (norm + np.float32(1e-6)))
        grads = [g * scale for g in grads]
    step = pytensor.shared(np.int64(0), name="hand/step")
    t = (step + 1).astype("float32")
    lr = _f32(h["learning_rate"])
    updates = [(step, step + 1)]
    if rule == "nadam":  # the momentum schedule and its running product, once for every tensor
        b1, psi = _f32(h["beta1"]), _f32(h["momentum_decay"])
        mu = b1 * (np.float32(1) - np.float32(0.5) * np.float32(0.96) ** (t * psi))
        mu_next = b1 * (np.float32(1) - np.float32(0.5) * np.float32(0.96) ** ((t + np.float32(1)) * psi))
        mu_product = pytensor.shared(np.float32(1), name="hand/mu_product")
        product = mu_product * mu
        updates.append((mu_product, product))

    def state(p, name):
        return pytensor.shared(np.zeros_like(p.get_value()), name=f"{p.name}/hand/{name}")

    def moments(p, g):
        """Adam's two moments of ``g``: ``(m, v, m_new, v_new)`` (also NAdam's and RAdam's)."""
        b1, b2 = _f32(h["beta1"]), _f32(h["beta2"])
        m, v = state(p, "m"), state(p, "v")
        return m, v, b1 * m + (np.float32(1) - b1) * g, b2 * v + (np.float32(1) - b2) * g * g

    for p, g in zip(params, grads, strict=True):
        if rule == "sgd":
            updates.append((p, p - lr * g))
        elif rule == "momentum":
            mu = _f32(h["momentum"])
            b = state(p, "buffer")
            b_new = mu * b + g  # torch: the first step copies g into the zero buffer; mu * 0 + g == g
            updates += [(b, b_new), (p, p - lr * b_new)]
        elif rule == "rmsprop":
            rho, eps = _f32(h["rho"]), _f32(h["epsilon"])
            s = state(p, "square_avg")
            s_new = rho * s + (np.float32(1) - rho) * g * g
            updates += [(s, s_new), (p, p - lr * g / (pt.sqrt(s_new) + eps))]
        elif rule == "adam":
            b1, b2, eps = _f32(h["beta1"]), _f32(h["beta2"]), _f32(h["epsilon"])
            m, v, m_new, v_new = moments(p, g)
            bc1 = np.float32(1) - b1**t
            sqrt_bc2 = pt.sqrt(np.float32(1) - b2**t)
            updates += [(m, m_new), (v, v_new), (p, p - lr * (m_new / bc1) / (pt.sqrt(v_new) / sqrt_bc2 + eps))]
        elif rule == "nadam":
            b2, eps = _f32(h["beta2"]), _f32(h["epsilon"])
            m, v, m_new, v_new = moments(p, g)
            denom = pt.sqrt(v_new / (np.float32(1) - b2**t)) + eps
            step_g = lr * (np.float32(1) - mu) / (np.float32(1) - product)
            step_m = lr * mu_next / (np.float32(1) - product * mu_next)
            updates += [(m, m_new), (v, v_new), (p, p - step_g * g / denom - step_m * m_new / denom)]
        elif rule == "radam":
            b1, b2, eps = _f32(h["beta1"]), _f32(h["beta2"]), _f32(h["epsilon"])
            m, v, m_new, v_new = moments(p, g)
            bc2 = np.float32(1) - b2**t
            m_hat = m_new / (np.float32(1) - b1**t)
            rho_inf = np.float32(2) / (np.float32(1) - b2) - np.float32(1)
            rho_t = rho_inf - np.float32(2) * t * b2**t / bc2
            rect = pt.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            adaptive = m_hat * rect * pt.sqrt(bc2) / (pt.sqrt(v_new) + eps)
            updates += [(m, m_new), (v, v_new), (p, p - lr * pt.switch(pt.gt(rho_t, 5), adaptive, m_hat))]
        elif rule == "lion":
            b1, b2 = _f32(h["beta1"]), _f32(h["beta2"])
            m = state(p, "m")
            direction = pt.sign((np.float32(1) - b1) * g + b1 * m)
            updates += [(m, (np.float32(1) - b2) * g + b2 * m), (p, p - lr * direction)]
        else:
            raise ValueError(f"unknown rule {rule!r}")
    return updates


def su_updates(rule, loss_or_grads, params, clip_norm=CLIP_NORM, skip_nonfinite=False):
    """The update list of ``rule`` built by symupdates (every hyperparameter live)."""
    return getattr(su, rule)(loss_or_grads, params, clip_norm=clip_norm, skip_nonfinite=skip_nonfinite, **RULES[rule])


def hand_live_updates(rule, loss_or_grads, params, clip_norm=CLIP_NORM):
    """:func:`hand_updates` with live (shared) hyperparameters."""
    return hand_updates(rule, loss_or_grads, params, clip_norm, live=True)


#: The PyTensor contenders: symupdates, by hand with constants, by hand with shared scalars.
BUILDERS = {"su": su_updates, "hand": hand_updates, "hand_live": hand_live_updates}


def train_step(which, rule="adam", mode=None, clip_norm=CLIP_NORM, seed=0):
    """Compile one W1 training step ``f(X, y) -> cost``; ``which`` is a key of :data:`BUILDERS`.

    Returns ``(f, params)``.
    """
    params, X, y, cost = mlp_cost(seed)
    build = BUILDERS[which]
    f = pytensor.function([X, y], cost, updates=build(rule, cost, params, clip_norm), mode=mode)
    return f, params


def monitored_train_step(rule="adam", per_param=False, mode=None, clip_norm=CLIP_NORM, seed=0):
    """The symupdates W1 step returning ``su.monitor.standard`` diagnostics beside the cost.

    Returns ``(f, params)``; ``f(X, y)`` returns ``[cost, *diagnostics]``.
    """
    params, X, y, cost = mlp_cost(seed)
    grads = pytensor.grad(cost, params)
    updates = su_updates(rule, grads, params, clip_norm)
    diagnostics = su.monitor.standard(updates, params, grads, per_param=per_param)
    f = pytensor.function([X, y], [cost, *diagnostics.values()], updates=updates, mode=mode)
    return f, params


def fit_train_step(update_ratio=False, rule="adam", mode=None, clip_norm=CLIP_NORM, seed=0):
    """The symupdates W1 step as :func:`symupdates.lab.fit` compiles it: the cost, the
    gradient norm and the learning rate, and with ``update_ratio`` the update ratio (what
    ``monitor_every=1`` adds; with a larger ``monitor_every`` the ratio is taken on the
    host by :class:`symupdates.monitor.Snapshot`).

    Returns ``(f, params)``; ``f(X, y)`` returns the list of outputs.
    """
    params, X, y, cost = mlp_cost(seed)
    updates = su_updates(rule, cost, params, clip_norm)
    outputs = [cost, updates.info["grad_norm"], updates.info["learning_rate"]]
    if update_ratio:
        outputs.append(su.monitor.update_ratios(updates, params)["update_ratio"])
    return pytensor.function([X, y], outputs, updates=updates, mode=mode), params


def update_step(which, rule="adam", mode=None, clip_norm=CLIP_NORM, seed=0):
    """Compile the W1 parameter update alone, ``f(*grads)``: the optimizer's part of W1.

    Returns ``(f, params)``.
    """
    params = [pytensor.shared(v, name=f"p{i}") for i, v in enumerate(initial_values(seed))]
    grads = [pt.tensor(f"g{i}", dtype=p.dtype, shape=(None,) * p.type.ndim) for i, p in enumerate(params)]
    build = BUILDERS[which]
    f = pytensor.function(grads, [], updates=build(rule, grads, params, clip_norm), mode=mode)
    return f, params


def skip_step(values, grads, skip_nonfinite, clip_norm=None, mode=None):
    """Adam's update alone (as :func:`w2_step`, symupdates), with or without ``skip_nonfinite``."""
    params = [pytensor.shared(v, name=f"p{i}") for i, v in enumerate(values)]
    grad_vars = [pytensor.shared(g, name=f"g{i}", borrow=True) for i, g in enumerate(grads)]
    updates = su.adam(grad_vars, params, clip_norm=clip_norm, skip_nonfinite=skip_nonfinite, **RULES["adam"])
    return pytensor.function([], [], updates=updates, mode=mode)


def read_gradients(grads, mode=None):
    """One read of every gradient and nothing else (a plain ``sum`` of each): the least a
    check must add when it has to see every gradient before the update writes anything."""
    grad_vars = [pytensor.shared(g, name=f"g{i}", borrow=True) for i, g in enumerate(grads)]
    return pytensor.function([], [pt.sum(g) for g in grad_vars], mode=mode)


def w2_step(which, values, grads, mode=None):
    """W2: compile Adam's update alone (no clipping) for parameters ``values``, with the
    gradients ``grads`` held in shared variables, so a call ``f()`` is just the update.

    Returns ``(f, params)``; ``values`` are copied.
    """
    params = [pytensor.shared(v, name=f"p{i}") for i, v in enumerate(values)]
    grad_vars = [pytensor.shared(g, name=f"g{i}", borrow=True) for i, g in enumerate(grads)]
    build = BUILDERS[which]
    f = pytensor.function([], [], updates=build("adam", grad_vars, params, clip_norm=None), mode=mode)
    return f, params


# ---------------------------------------------------------------- W4: many tensors

#: W4 splits this many float32 parameters into 10 to 300 tensors.
W4_TOTAL = 10**6


def many_tensors(n, total=W4_TOTAL, seed=0):
    """``(values, grads)``: ``total`` float32 parameters in ``n`` vectors of (nearly) equal
    length, and a gradient for each, as NumPy arrays."""
    rng = np.random.default_rng(seed)
    sizes = [total // n + (i < total % n) for i in range(n)]
    values = [rng.standard_normal(s).astype("float32") for s in sizes]
    grads = [rng.standard_normal(s).astype("float32") for s in sizes]
    return values, grads


def hand_packed_updates(rule, loss_or_grads, params, clip_norm=CLIP_NORM):
    """Adam with clipping, every tensor packed into one buffer: a multi-tensor path.

    The gradients and parameters are raveled and concatenated, the moments live in one
    flat buffer each, the update is one loop over all of it, and the new parameters are
    split back into their tensors. The same formulas as :func:`hand_updates`; what it
    changes is the number of nodes (a fixed few, plus a reshape per tensor) at the price
    of copying the parameters and gradients in and the parameters out.
    """
    if rule != "adam":
        raise ValueError(f"the packed path is written for adam only, got {rule!r}")
    h = RULES["adam"]
    lr, b1, b2, eps = (np.float32(h[k]) for k in ("learning_rate", "beta1", "beta2", "epsilon"))
    grads = list(loss_or_grads)
    sizes = [int(np.prod(p.get_value(borrow=True).shape)) for p in params]
    g = pt.concatenate([x.ravel() for x in grads]) if len(grads) > 1 else grads[0].ravel()
    p = pt.concatenate([x.ravel() for x in params]) if len(params) > 1 else params[0].ravel()
    if clip_norm is not None:
        norm = pt.sqrt(pt.sum(pt.sqr(g)))
        g = g * pt.minimum(np.float32(1), np.float32(clip_norm) / (norm + np.float32(1e-6)))
    step = pytensor.shared(np.int64(0), name="packed/step")
    t = (step + 1).astype("float32")
    m = pytensor.shared(np.zeros(sum(sizes), "float32"), name="packed/m")
    v = pytensor.shared(np.zeros(sum(sizes), "float32"), name="packed/v")
    m_new = b1 * m + (np.float32(1) - b1) * g
    v_new = b2 * v + (np.float32(1) - b2) * g * g
    p_new = p - lr * (m_new / (np.float32(1) - b1**t)) / (pt.sqrt(v_new) / pt.sqrt(np.float32(1) - b2**t) + eps)
    pieces = pt.split(p_new, sizes, n_splits=len(sizes)) if len(sizes) > 1 else [p_new]
    news = [(q, piece.reshape(q.shape)) for q, piece in zip(params, pieces, strict=True)]
    return [*news, (m, m_new), (v, v_new), (step, step + 1)]


BUILDERS["hand_packed"] = hand_packed_updates


def w4_updates(which, values, grads):
    """W4: Adam with global-norm clipping at :data:`CLIP_NORM` built by ``which`` (a key of
    :data:`BUILDERS`) for the parameters ``values`` (copied), the gradients ``grads`` held
    in shared variables.

    Returns ``(updates, seconds spent building them, params)``.
    """
    params = [pytensor.shared(v, name=f"p{i}") for i, v in enumerate(values)]
    grad_vars = [pytensor.shared(g, name=f"g{i}", borrow=True) for i, g in enumerate(grads)]
    t0 = time.perf_counter()
    updates = BUILDERS[which]("adam", grad_vars, params, clip_norm=CLIP_NORM)
    return updates, time.perf_counter() - t0, params


def w4_step(which, values, grads, mode=None):
    """:func:`w4_updates` compiled: returns ``(f, seconds spent building the updates,
    params)``; a call ``f()`` is one update."""
    updates, built, params = w4_updates(which, values, grads)
    return pytensor.function([], [], updates=updates, mode=mode), built, params
