"""Train a softmax regression on synthetic data with each optimizer; print a table.

A stand-in for `make run` until `symupdates compare` exists.
"""

import time

import numpy as np
import pytensor
import pytensor.tensor as pt

import symupdates as su

RULES = {
    "sgd": (su.sgd, {"learning_rate": 0.5}),
    "momentum": (su.momentum, {"learning_rate": 0.05}),
    "nesterov_momentum": (su.nesterov_momentum, {"learning_rate": 0.05}),
    "adagrad": (su.adagrad, {"learning_rate": 0.1}),
    "adadelta": (su.adadelta, {}),
    "rmsprop": (su.rmsprop, {"learning_rate": 0.01}),
    "adam": (su.adam, {"learning_rate": 0.01}),
    "adamw": (su.adamw, {"learning_rate": 0.01}),
    "adamax": (su.adamax, {"learning_rate": 0.02}),
}


def main(steps=300):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(512, 20))
    y = (X @ rng.normal(size=(20, 4))).argmax(axis=1)
    print(f"{'optimizer':<20}{'first loss':>12}{'final loss':>12}{'accuracy':>10}{'seconds':>9}")
    for name, (rule, kwargs) in RULES.items():
        W = pytensor.shared(np.zeros((20, 4)), name="W")
        b = pytensor.shared(np.zeros(4), name="b")
        p = pt.special.softmax(pt.as_tensor(X) @ W + b, axis=-1)
        loss = -pt.mean(pt.log(p[pt.arange(len(y)), y]))
        acc = pt.mean(pt.eq(pt.argmax(p, axis=1), y))
        step = pytensor.function([], [loss, acc], updates=rule(loss, [W, b], clip_norm=5.0, **kwargs))
        start = time.perf_counter()
        history = [step() for _ in range(steps)]
        seconds = time.perf_counter() - start
        print(f"{name:<20}{float(history[0][0]):>12.4f}{float(history[-1][0]):>12.4f}{float(history[-1][1]):>10.3f}{seconds:>9.2f}")


if __name__ == "__main__":
    main()
