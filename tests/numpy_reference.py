"""Every rule's step written out in NumPy: the reference on legs without torch.

The support matrix runs the core suite where torch 2.13.0 cannot be installed (Python
3.12, PyMC's PyTensor). There the parity tests against torch.optim are skipped, and these
steps prove the rules instead: each is the per-step computation of
``../shared/TORCH_SEMANTICS.md`` (torch 2.13's single-tensor code path; optax 0.2.8's for
Lion), in float64, with
the test problem's gradient written by hand (no PyTensor, no autodiff). On the main leg
``tests/core/test_numpy_reference.py`` checks these steps against torch itself, every flag
case with and without clipping, so the reference is proven where torch runs and used
where it does not.

A rule is called with our argument names (``learning_rate``, ``beta1``, ``rho``, ...), as
the symupdates function is; defaults are ours (momentum 0.9).
"""

from __future__ import annotations

import inspect

import numpy as np

from tests.reference import all_values, data, initial_values

CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by (norm + 1e-6)


def problem_loss_and_grads(values, X, Y):
    """The loss of tests/reference.py's problem and its gradient, by hand.

    ``out = tanh(X W1 + b1) W2 s``, ``loss = mean(log cosh(out - Y)) + 0.05 s^2``.
    ``values`` holds the trained tensors; the others are constants at their initial
    values (tests/reference.py's ``training``), and only the trained get a gradient.
    """
    given = list(values)
    values = {**all_values(), **values}
    W1, b1, W2, s = (values[k] for k in ("W1", "b1", "W2", "s"))
    h = np.tanh(X @ W1 + b1)
    hw = h @ W2
    r = hw * s - Y
    loss = np.mean(np.log(np.cosh(r))) + 0.05 * s**2
    d_out = np.tanh(r) / r.size  # d loss / d out
    d_h = (d_out * s) @ W2.T
    d_z = d_h * (1 - h**2)
    grads = {
        "W1": X.T @ d_z,
        "b1": d_z.sum(axis=0),
        "W2": h.T @ (d_out * s),
        "s": np.asarray(np.sum(d_out * hw) + 0.1 * s),
    }
    return loss, {k: grads[k] for k in given}


# --- the rules: init(p, hp) -> state; step(p, g, state, hp, t) -> new p ---------------------
#
# ``g`` arrives after maximize and clipping; coupled weight decay is added by ``_coupled``.


def _coupled(p, g, hp):
    return g + hp["weight_decay"] * p if hp["weight_decay"] else g


def _sgd_like(nesterov):
    def step(p, g, state, hp, t):
        g = _coupled(p, g, hp)
        mu = hp.get("momentum", 0.0)
        if mu:
            if t == 1:
                state["b"] = g.copy()
            else:
                state["b"] = mu * state["b"] + (1 - hp.get("dampening", 0.0)) * g
            d = g + mu * state["b"] if nesterov else state["b"]
        else:
            d = g
        return p - hp["learning_rate"] * d

    return step


def _adagrad(p, g, state, hp, t):
    g = _coupled(p, g, hp)
    lr = hp["learning_rate"] / (1 + (t - 1) * hp["lr_decay"])
    state.setdefault("G", np.full_like(p, hp["initial_accumulator_value"]))
    state["G"] = state["G"] + g * g
    return p - lr * g / (np.sqrt(state["G"]) + hp["epsilon"])


def _adadelta(p, g, state, hp, t):
    g = _coupled(p, g, hp)
    rho, eps = hp["rho"], hp["epsilon"]
    E, D = state.get("E", np.zeros_like(p)), state.get("D", np.zeros_like(p))
    E = rho * E + (1 - rho) * g * g
    delta = np.sqrt(D + eps) / np.sqrt(E + eps) * g
    state["E"], state["D"] = E, rho * D + (1 - rho) * delta * delta
    return p - hp["learning_rate"] * delta


def _rmsprop(p, g, state, hp, t):
    g = _coupled(p, g, hp)
    rho, eps = hp["rho"], hp["epsilon"]
    state["S"] = rho * state.get("S", np.zeros_like(p)) + (1 - rho) * g * g
    if hp["centered"]:
        state["A"] = rho * state.get("A", np.zeros_like(p)) + (1 - rho) * g
        avg = np.sqrt(state["S"] - state["A"] ** 2) + eps
    else:
        avg = np.sqrt(state["S"]) + eps
    if hp["momentum"] > 0:
        state["B"] = hp["momentum"] * state.get("B", np.zeros_like(p)) + g / avg
        return p - hp["learning_rate"] * state["B"]
    return p - hp["learning_rate"] * g / avg


def _decay(p, g, hp, decoupled):
    """Weight decay before a step: decoupled (p shrinks; AdamW, or the flag), else coupled (g grows)."""
    if decoupled or hp.get("decoupled_weight_decay"):
        return p * (1 - hp["learning_rate"] * hp["weight_decay"]), g
    return p, _coupled(p, g, hp)


def _adam_like(decoupled):
    def step(p, g, state, hp, t):
        b1, b2, lr = hp["beta1"], hp["beta2"], hp["learning_rate"]
        p, g = _decay(p, g, hp, decoupled)
        state["m"] = b1 * state.get("m", np.zeros_like(p)) + (1 - b1) * g
        state["v"] = b2 * state.get("v", np.zeros_like(p)) + (1 - b2) * g * g
        v = state["v"]
        if hp["amsgrad"]:
            state["vmax"] = v = np.maximum(state.get("vmax", np.zeros_like(p)), v)
        bc1, bc2 = 1 - b1**t, 1 - b2**t
        return p - (lr / bc1) * state["m"] / (np.sqrt(v) / np.sqrt(bc2) + hp["epsilon"])

    return step


def _adamax(p, g, state, hp, t):
    g = _coupled(p, g, hp)
    b1, b2 = hp["beta1"], hp["beta2"]
    state["m"] = b1 * state.get("m", np.zeros_like(p)) + (1 - b1) * g
    state["u"] = np.maximum(b2 * state.get("u", np.zeros_like(p)), np.abs(g) + hp["epsilon"])
    return p - (hp["learning_rate"] / (1 - b1**t)) * state["m"] / state["u"]


def _nadam(p, g, state, hp, t):
    p, g = _decay(p, g, hp, decoupled=False)
    b1, b2, lr, psi = hp["beta1"], hp["beta2"], hp["learning_rate"], hp["momentum_decay"]
    mu = b1 * (1 - 0.5 * 0.96 ** (t * psi))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * psi))
    state["mu_product"] = state.get("mu_product", 1.0) * mu
    state["m"] = b1 * state.get("m", np.zeros_like(p)) + (1 - b1) * g
    state["v"] = b2 * state.get("v", np.zeros_like(p)) + (1 - b2) * g * g
    denom = np.sqrt(state["v"] / (1 - b2**t)) + hp["epsilon"]
    p = p - lr * (1 - mu) / (1 - state["mu_product"]) * g / denom
    return p - lr * mu_next / (1 - state["mu_product"] * mu_next) * state["m"] / denom


def _radam(p, g, state, hp, t):
    p, g = _decay(p, g, hp, decoupled=False)
    b1, b2, lr = hp["beta1"], hp["beta2"], hp["learning_rate"]
    state["m"] = b1 * state.get("m", np.zeros_like(p)) + (1 - b1) * g
    state["v"] = b2 * state.get("v", np.zeros_like(p)) + (1 - b2) * g * g
    bc1, bc2 = 1 - b1**t, 1 - b2**t
    m_hat = state["m"] / bc1
    rho_inf = 2 / (1 - b2) - 1
    rho_t = rho_inf - 2 * t * b2**t / bc2
    if rho_t <= 5:
        return p - lr * m_hat
    rect = ((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t)) ** 0.5
    return p - lr * m_hat * rect * np.sqrt(bc2) / (np.sqrt(state["v"]) + hp["epsilon"])


def _rprop(p, g, state, hp, t):
    prev = state.get("prev", np.zeros_like(p))
    size = state.get("step_size", np.full_like(p, hp["learning_rate"]))
    sigma = np.sign(g * prev)
    factor = np.where(sigma > 0, hp["eta_plus"], np.where(sigma < 0, hp["eta_minus"], 1.0))
    state["step_size"] = np.clip(size * factor, hp["step_size_min"], hp["step_size_max"])
    state["prev"] = np.where(sigma < 0, 0.0, g)
    return p - np.sign(state["prev"]) * state["step_size"]


def _asgd(p, g, state, hp, t):
    g = _coupled(p, g, hp)
    lr, lambd = hp["learning_rate"], hp["lambd"]
    eta, mu = state.get("eta", lr), state.get("mu", 1.0)
    p = p * (1 - lambd * eta) - eta * g
    state["ax"] = p.copy() if mu == 1 else state["ax"] + (p - state["ax"]) * mu
    state["eta"] = lr / (1 + lambd * lr * t) ** hp["alpha"]
    state["mu"] = 1 / max(1, t - hp["t0"])
    return p


def _lion(p, g, state, hp, t):
    b1, b2 = hp["beta1"], hp["beta2"]
    m = state.get("m", np.zeros_like(p))
    direction = np.sign((1 - b1) * g + b1 * m)
    state["m"] = (1 - b2) * g + b2 * m
    return p - hp["learning_rate"] * (direction + hp["weight_decay"] * p)


def _lerp(start, end, weight):
    """torch's lerp, rounded as torch: from ``start`` below 1/2, back from ``end`` above."""
    return start + weight * (end - start) if weight < 0.5 else end - (end - start) * (1 - weight)


def _adafactor(p, g, state, hp, t):
    lr, eps1, eps2 = hp["learning_rate"], hp["epsilon1"], hp["epsilon2"]
    eps1 = np.finfo(p.dtype).eps if eps1 is None else eps1
    weight = t ** hp["beta2_decay"]
    alpha = max(eps2, np.sqrt(np.mean(p * p))) * min(lr, 1 / t**0.5)
    p = p * (1 - lr * hp["weight_decay"])
    if p.ndim > 1:  # the last two axes factored
        state["row"] = _lerp(state.get("row", 0.0), np.mean(g * g, axis=-1, keepdims=True), weight)
        state["col"] = _lerp(state.get("col", 0.0), np.mean(g * g, axis=-2, keepdims=True), weight)
        v = state["row"] * state["col"] / np.maximum(np.mean(state["row"], axis=-2, keepdims=True), eps1)
    else:
        state["v"] = v = _lerp(state.get("v", 0.0), g * g, weight)
    u = g / np.sqrt(np.maximum(v, eps1 * eps1))
    return p - alpha / max(1.0, np.sqrt(np.mean(u * u)) / hp["clip_threshold"]) * u


def _muon(p, g, state, hp, t):
    mu, lr = hp["momentum"], hp["learning_rate"]
    state["B"] = _lerp(state.get("B", np.zeros_like(p)), g, 1 - mu)
    m = _lerp(g, state["B"], mu) if hp["nesterov"] else state["B"]
    tall = p.shape[0] > p.shape[1]
    x = m.T if tall else m
    x = x / max(np.sqrt(np.sum(x * x)), hp["epsilon"])
    a, b, c = hp["ns_coefficients"]
    for _ in range(hp["ns_steps"]):
        gram = x @ x.T
        x = a * x + (b * gram + c * gram @ gram) @ x
    x = x.T if tall else x
    rows, cols = p.shape
    ratio = 0.2 * np.sqrt(max(rows, cols)) if hp["adjust_lr_fn"] == "match_rms_adamw" else np.sqrt(max(1, rows / cols))
    return p * (1 - lr * hp["weight_decay"]) - lr * ratio * x


STEPS = {
    "sgd": _sgd_like(nesterov=False),
    "momentum": _sgd_like(nesterov=False),
    "nesterov_momentum": _sgd_like(nesterov=True),
    "adagrad": _adagrad,
    "adadelta": _adadelta,
    "rmsprop": _rmsprop,
    "adam": _adam_like(decoupled=False),
    "adamw": _adam_like(decoupled=True),
    "adamax": _adamax,
    "nadam": _nadam,
    "radam": _radam,
    "rprop": _rprop,
    "asgd": _asgd,
    "lion": _lion,
    "adafactor": _adafactor,
    "muon": _muon,
}

_NOT_HYPERPARAMETERS = (
    "loss_or_grads",
    "params",
    "clip_norm",
    "maximize",
    "skip_nonfinite",
)


def hyperparameters(fn, kwargs):
    """The rule's defaults (ours) overridden by ``kwargs``; harness arguments left out."""
    defaults = {
        k: p.default
        for k, p in inspect.signature(fn).parameters.items()
        if k not in _NOT_HYPERPARAMETERS and p.default is not inspect.Parameter.empty
    }
    unknown = set(kwargs) - set(defaults) - set(_NOT_HYPERPARAMETERS)
    if unknown:
        raise TypeError(f"{fn.__name__}: no argument(s) {sorted(unknown)}")
    return {**defaults, **{k: v for k, v in kwargs.items() if k in defaults}}


def run_numpy(fn, kwargs, steps, *, clip_norm=None, seed=0):
    """Train the test problem ``steps`` times with the NumPy step of rule ``fn``.

    ``kwargs`` are the rule's arguments (``maximize`` included: the cost is then the
    negated loss, as in tests/reference.py). Returns the final parameters, in
    :data:`tests.reference.SHAPES` order.
    """
    step = STEPS[fn.__name__]
    hp = hyperparameters(fn, kwargs)
    sign = -1.0 if kwargs.get("maximize") else 1.0
    X, Y = data()
    values = initial_values(seed)
    states = {k: {} for k in values}
    for t in range(1, steps + 1):
        _, grads = problem_loss_and_grads(values, X, Y)
        grads = {k: sign * g for k, g in grads.items()}  # the gradient of the cost, sign * loss
        if clip_norm is not None:
            norm = np.sqrt(sum(np.sum(g * g) for g in grads.values()))
            factor = min(1.0, clip_norm / (norm + CLIP_EPS))
            grads = {k: g * factor for k, g in grads.items()}
        if kwargs.get("maximize"):  # torch negates after clipping, before weight decay
            grads = {k: -g for k, g in grads.items()}
        values = {k: step(values[k], grads[k], states[k], hp, t) for k in values}
    return list(values.values())
