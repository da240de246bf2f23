"""The contenders that are not PyTensor: torch.optim, optax under ``jax.jit``, plain NumPy.

Each factory returns a callable doing one full step (W1: forward, backward, clipping,
Adam; W2: the Adam update alone) that returns when the work is done. They start from the
same initial values as the PyTensor graphs (``benchmarks.graphs``) and use the same
hyperparameters; torch and JAX are imported only when their contender is built.
"""

from __future__ import annotations

import numpy as np

from benchmarks.graphs import CLIP_NORM, RULES, initial_values

ADAM = RULES["adam"]
TORCH_VARIANTS = {"torch default": {}, "torch foreach": {"foreach": True}, "torch fused": {"fused": True}}


# ---------------------------------------------------------------- torch


def _torch_adam(params, variant):
    import torch

    h = ADAM
    return torch.optim.Adam(params, lr=h["learning_rate"], betas=(h["beta1"], h["beta2"]), eps=h["epsilon"], **TORCH_VARIANTS[variant])


def torch_w1(variant, X, y, seed=0):
    """``torch.nn`` MLP; ``zero_grad``, backward, ``clip_grad_norm_(5.0)``, ``Adam.step()``."""
    import torch

    values = initial_values(seed)
    layers = []
    for i in range(0, len(values), 2):
        W, b = values[i], values[i + 1]
        lin = torch.nn.Linear(W.shape[0], W.shape[1])
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers += [lin, torch.nn.ReLU()]
    model = torch.nn.Sequential(*layers[:-1])
    params = list(model.parameters())
    opt = _torch_adam(params, variant)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y.astype(np.int64))
    foreach = TORCH_VARIANTS[variant].get("foreach") or TORCH_VARIANTS[variant].get("fused")

    def step():
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(model(Xt), yt)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM, foreach=foreach)
        opt.step()
        return loss.detach()

    return step


def torch_w2(variant, values, grads):
    """``Adam.step()`` on parameters whose ``.grad`` is already set."""
    import torch

    params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.from_numpy(g)  # shares the gradient's memory
    opt = _torch_adam(params, variant)
    return opt.step


# ---------------------------------------------------------------- optax


def optax_w1(X, y, seed=0):
    """The same MLP in JAX; one ``jax.jit``-compiled step with ``optax.clip_by_global_norm``
    and ``optax.adam``, parameters and optimizer state donated (updated in place)."""
    import jax
    import jax.numpy as jnp
    import optax

    h = ADAM
    opt = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.adam(h["learning_rate"], h["beta1"], h["beta2"], h["epsilon"]))
    params = [jnp.asarray(v) for v in initial_values(seed)]

    def loss_fn(params, X, y):
        h_ = X
        for i in range(0, len(params), 2):
            h_ = h_ @ params[i] + params[i + 1]
            if i < len(params) - 2:
                h_ = jax.nn.relu(h_)
        logp = jax.nn.log_softmax(h_, axis=1)
        return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

    def train_step(params, state, X, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, X, y)
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state, loss

    jitted = jax.jit(train_step, donate_argnums=(0, 1))
    carry = {"params": params, "state": opt.init(params)}
    Xj, yj = jnp.asarray(X), jnp.asarray(y)

    def step():
        carry["params"], carry["state"], loss = jitted(carry["params"], carry["state"], Xj, yj)
        return loss.block_until_ready()

    return step


def _optax_jitted(opt, values, grads):
    """``opt``'s update and ``apply_updates`` in one ``jax.jit``, parameters and state
    donated (updated in place). Returns ``(step, carry)``; ``carry["params"]`` holds the
    parameters."""
    import jax
    import jax.numpy as jnp
    import optax

    def update(params, state, grads):
        updates, state = opt.update(grads, state, params)
        return optax.apply_updates(params, updates), state

    jitted = jax.jit(update, donate_argnums=(0, 1))
    params = [jnp.asarray(v) for v in values]
    carry = {"params": params, "state": opt.init(params)}
    gs = [jnp.asarray(g) for g in grads]

    def step():
        carry["params"], carry["state"] = jitted(carry["params"], carry["state"], gs)
        return jax.block_until_ready(carry["params"])

    return step, carry


def optax_w2(values, grads):
    """``optax.adam`` update and ``apply_updates`` in one ``jax.jit``, parameters and state donated."""
    import optax

    h = ADAM
    step, _ = _optax_jitted(optax.adam(h["learning_rate"], h["beta1"], h["beta2"], h["epsilon"]), values, grads)
    return step


# ---------------------------------------------------------------- NumPy


class NumpyAdam:
    """torch's Adam written in NumPy with in-place operations and one scratch buffer per parameter."""

    def __init__(self, params):
        h = ADAM
        self.params = params
        self.lr, self.b1, self.b2, self.eps = (np.float32(h[k]) for k in ("learning_rate", "beta1", "beta2", "epsilon"))
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.tmp = [np.empty_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        b1, b2 = self.b1, self.b2
        step_size = np.float32(self.lr / (1 - float(b1) ** self.t))
        inv_sqrt_bc2 = np.float32(1 / np.sqrt(1 - float(b2) ** self.t))
        for p, g, m, v, tmp in zip(self.params, grads, self.m, self.v, self.tmp, strict=True):
            m *= b1
            np.multiply(g, np.float32(1) - b1, out=tmp)
            m += tmp
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= np.float32(1) - b2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp *= inv_sqrt_bc2
            tmp += self.eps
            np.divide(m, tmp, out=tmp)
            tmp *= step_size
            p -= tmp


def numpy_w1(X, y, seed=0):
    """The MLP's forward and backward pass by hand in NumPy, clipping, then :class:`NumpyAdam`."""
    params = initial_values(seed)
    opt = NumpyAdam(params)
    n = X.shape[0]
    rows = np.arange(n)

    def step():
        W1, b1, W2, b2, W3, b3 = params
        h1 = X @ W1
        h1 += b1
        a1 = np.maximum(h1, 0)
        h2 = a1 @ W2
        h2 += b2
        a2 = np.maximum(h2, 0)
        z = a2 @ W3
        z += b3
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        s = e.sum(axis=1, keepdims=True)
        loss = float(np.mean(np.log(s[:, 0]) - z[rows, y]))
        dz = e / s
        dz[rows, y] -= 1
        dz /= n
        d2 = dz @ W3.T
        d2 *= h2 > 0
        d1 = d2 @ W2.T
        d1 *= h1 > 0
        grads = [X.T @ d1, d1.sum(axis=0), a1.T @ d2, d2.sum(axis=0), a2.T @ dz, dz.sum(axis=0)]
        norm = np.sqrt(sum(float(np.dot(g.ravel(), g.ravel())) for g in grads))
        scale = np.float32(min(1.0, CLIP_NORM / (norm + 1e-6)))
        for g in grads:
            g *= scale
        opt.step(grads)
        return loss

    return step


def numpy_w2(values, grads):
    """:class:`NumpyAdam` on copies of ``values`` with the given gradients."""
    opt = NumpyAdam([v.copy() for v in values])
    return lambda: opt.step(grads)


# ---------------------------------------------------------------- W4: many tensors


def torch_w4(variant, values, grads):
    """``clip_grad_norm_(5.0)`` and ``Adam.step()`` on parameters whose ``.grad`` is set.

    The clipping scales the gradients in place, so they are copies; after the first call
    their norm is 5 and later calls scale them by about 1, the same work each time.
    Returns ``(step, values)``: ``values()`` gives the parameters as NumPy arrays.
    """
    import torch

    params = [torch.nn.Parameter(torch.from_numpy(v.copy())) for v in values]
    for p, g in zip(params, grads, strict=True):
        p.grad = torch.from_numpy(g.copy())
    opt = _torch_adam(params, variant)
    foreach = bool(TORCH_VARIANTS[variant])

    def step():
        torch.nn.utils.clip_grad_norm_(params, CLIP_NORM, foreach=foreach)
        opt.step()

    return step, lambda: [p.detach().numpy() for p in params]


def optax_w4(values, grads):
    """``optax.clip_by_global_norm`` then ``optax.adam`` and ``apply_updates`` in one
    ``jax.jit``, parameters and state donated. Returns ``(step, values)``; the first call
    traces and compiles."""
    import optax

    h = ADAM
    opt = optax.chain(optax.clip_by_global_norm(CLIP_NORM), optax.adam(h["learning_rate"], h["beta1"], h["beta2"], h["epsilon"]))
    step, carry = _optax_jitted(opt, values, grads)
    return step, lambda: [np.asarray(p) for p in carry["params"]]
