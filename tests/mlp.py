"""A softmax classifier written with PyTensor alone: the core suite's model.

The core suite runs where the lab (``symupdates.lab``, with its MLP) is not installed, so
gradient checking and monitoring are tested on this one. It computes what the lab's
``mlp`` computes (tests/lab/test_models.py checks that the two agree, value and
gradient, from the same seeded initial values): hidden layers ``phi(h W + b)``, logits, mean cross-entropy through a
log-softmax, plus ``l2 / 2`` times the weights' squared norms; weights ``W1, b1, W2, ...``.
Its loss marks symbolic labels for the host-side label check, as the lab's does.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytensor.tensor as pt
from pytensor.tensor.special import log_softmax

from symupdates.checks import LABEL_TAG


class TinyMLP:
    def __init__(self, n_in, hidden, n_out, *, activation="relu", l2=0.0, seed=0, dtype=None):
        self.dtype = dtype or pytensor.config.floatX
        self.activation, self.l2, self.n_out = activation, l2, n_out
        rng = np.random.default_rng(seed)
        sizes = [n_in, *hidden, n_out]
        self._initial = {}
        for k, (m, n) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1):
            if activation == "tanh":  # the lab's seeded Glorot (tanh) and He (ReLU) draws
                W = rng.uniform(-np.sqrt(6.0 / (m + n)), np.sqrt(6.0 / (m + n)), size=(m, n))
            else:
                W = rng.normal(0.0, np.sqrt(2.0 / m), size=(m, n))
            self._initial[f"W{k}"] = W.astype(self.dtype)
            self._initial[f"b{k}"] = np.zeros(n, dtype=self.dtype)
        self.params = [pytensor.shared(v.copy(), name=k, shape=v.shape) for k, v in self._initial.items()]

    def initial_values(self):
        return {k: v.copy() for k, v in self._initial.items()}

    def set_values(self, values):
        for p in self.params:
            p.set_value(np.asarray(values[p.name], dtype=self.dtype))

    def loss(self, X, y):
        setattr(y.tag, LABEL_TAG, self.n_out)
        h = pt.as_tensor(X)
        for layer in range(0, len(self.params), 2):
            h = h @ self.params[layer] + self.params[layer + 1]
            if layer + 2 < len(self.params):
                h = pt.maximum(h, 0) if self.activation == "relu" else pt.tanh(h)
        rows = pt.arange(np.int64(0), y.shape[0], np.int64(1))
        cost = -pt.mean(log_softmax(h, axis=1)[rows, y])
        if self.l2:
            penalty = sum(pt.sum(pt.sqr(W)) for W in self.params[::2])
            cost = cost + np.asarray(self.l2 / 2, dtype=self.dtype) * penalty
        return cost
