"""The one table of optimizers that drives every shared test.

``RULES`` maps each named optimizer to its torch.optim twin; ``FLAG_CASES`` lists every
flag combination the parity tests run; ``SENSIBLE`` gives settings that converge on the
convergence problems. To add a rule, add a row here.
"""

from __future__ import annotations

import symupdates as su

#: rule name -> (symupdates function, torch.optim class name, torch kwargs the rule implies)
RULES = {
    "sgd": (su.sgd, "SGD", {}),
    "momentum": (su.momentum, "SGD", {}),
    "nesterov_momentum": (su.nesterov_momentum, "SGD", {"nesterov": True}),
    "adagrad": (su.adagrad, "Adagrad", {}),
    "adadelta": (su.adadelta, "Adadelta", {}),
    "rmsprop": (su.rmsprop, "RMSprop", {}),
    "adam": (su.adam, "Adam", {}),
    "adamw": (su.adamw, "AdamW", {}),
    "adamax": (su.adamax, "Adamax", {}),
}

LR = {"sgd": 0.1, "momentum": 0.05, "nesterov_momentum": 0.05, "adagrad": 0.1, "adadelta": 1.0,
      "rmsprop": 0.01, "adam": 0.02, "adamw": 0.02, "adamax": 0.02}

#: (rule, keyword arguments beyond the learning rate); each also runs with clipping on.
FLAG_CASES = [
    ("sgd", {}),
    ("sgd", {"weight_decay": 0.1}),
    ("sgd", {"maximize": True}),
    ("momentum", {}),
    ("momentum", {"momentum": 0.5, "dampening": 0.3}),
    ("momentum", {"weight_decay": 0.1}),
    ("momentum", {"maximize": True}),
    ("nesterov_momentum", {}),
    ("nesterov_momentum", {"momentum": 0.7, "weight_decay": 0.1}),
    ("nesterov_momentum", {"maximize": True}),
    ("adagrad", {}),
    ("adagrad", {"lr_decay": 0.05}),
    ("adagrad", {"initial_accumulator_value": 0.2, "epsilon": 1e-3}),
    ("adagrad", {"weight_decay": 0.1, "maximize": True}),
    ("adadelta", {}),
    ("adadelta", {"rho": 0.5, "epsilon": 1e-3}),
    ("adadelta", {"weight_decay": 0.1}),
    ("adadelta", {"maximize": True}),
    ("rmsprop", {}),
    ("rmsprop", {"rho": 0.9, "epsilon": 1e-4}),
    ("rmsprop", {"momentum": 0.5}),
    ("rmsprop", {"centered": True}),
    ("rmsprop", {"centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("rmsprop", {"maximize": True}),
    ("adam", {}),
    ("adam", {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3}),
    ("adam", {"amsgrad": True}),
    ("adam", {"weight_decay": 0.1}),
    ("adam", {"amsgrad": True, "weight_decay": 0.1, "maximize": True}),
    ("adamw", {}),
    ("adamw", {"weight_decay": 0.3}),
    ("adamw", {"amsgrad": True, "weight_decay": 0.1}),
    ("adamw", {"maximize": True}),
    ("adamax", {}),
    ("adamax", {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-3}),
    ("adamax", {"weight_decay": 0.1}),
    ("adamax", {"maximize": True}),
]


def case_id(rule, kwargs):
    return rule + "".join(f"-{k}={v}" for k, v in kwargs.items())


def to_torch(rule, kwargs):
    """Translate symupdates keyword arguments into the torch.optim twin's."""
    _, _, implied = RULES[rule]
    out = dict(implied)
    betas = None
    for key, value in kwargs.items():
        if key == "learning_rate":
            out["lr"] = value
        elif key == "epsilon":
            out["eps"] = value
        elif key in ("beta1", "beta2"):
            betas = betas or [0.9, 0.999]
            betas[key == "beta2"] = value
        elif key == "rho" and rule == "rmsprop":
            out["alpha"] = value
        else:
            out[key] = value
    if betas:
        out["betas"] = tuple(betas)
    if rule in ("momentum", "nesterov_momentum"):
        out.setdefault("momentum", 0.9)  # our default; torch's is 0
    return out


#: Settings that reach the minimum of the quadratic and progress on Rosenbrock.
SENSIBLE = {
    "sgd": {"learning_rate": 0.01},
    "momentum": {"learning_rate": 0.002, "momentum": 0.9},
    "nesterov_momentum": {"learning_rate": 0.002, "momentum": 0.9},
    "adagrad": {"learning_rate": 0.5},
    "adadelta": {"learning_rate": 10.0, "rho": 0.95},
    "rmsprop": {"learning_rate": 0.01},
    "adam": {"learning_rate": 0.05},
    "adamw": {"learning_rate": 0.05, "weight_decay": 0.0},
    "adamax": {"learning_rate": 0.05},
}

#: Rosenbrock's curvature (about 1000 near the valley) needs smaller plain-SGD steps.
SENSIBLE_ROSENBROCK = {
    **SENSIBLE,
    "sgd": {"learning_rate": 1e-3},
    "momentum": {"learning_rate": 2e-4, "momentum": 0.9},
    "nesterov_momentum": {"learning_rate": 2e-4, "momentum": 0.9},
}
