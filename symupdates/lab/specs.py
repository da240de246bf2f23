"""The optimizers the lab's commands know, and one entry of a study: a rule and its settings.

:data:`OPTIMIZERS` maps every named rule of :mod:`symupdates.optimizers` to its function;
:class:`OptimizerSpec` is one ``--optimizers`` entry of ``symupdates compare`` (parsed by
:func:`symupdates.lab.cli.parse_optimizers`) or one trial of :mod:`symupdates.lab.search`.

>>> from symupdates.lab.specs import OptimizerSpec
>>> spec = OptimizerSpec("sgd", {"learning_rate": 0.1}, (("learning_rate", "0.1"),))
>>> spec.label, spec.short_label
('sgd:learning_rate=0.1', 'sgd  lr=0.1')
"""

from __future__ import annotations

import dataclasses
import functools
import inspect

from symupdates import optimizers
from symupdates.updates import merge_updates

__all__ = ["MATRIX_RULES", "OPTIMIZERS", "SHORT_NAMES", "OptimizerSpec", "hyperparameters", "number_text"]

#: The optimizers ``--optimizers`` accepts: every named rule of :mod:`symupdates.optimizers`.
OPTIMIZERS = {name: getattr(optimizers, name) for name in optimizers.__all__}

#: Rules that take matrices only, and the rule (at its defaults) that trains the model's
#: other parameters beside them: torch's documented set-up for Muon.
MATRIX_RULES = {"muon": "adamw"}


def hyperparameters(name) -> dict[str, inspect.Parameter]:
    """The keyword arguments of an optimizer function (everything after ``loss_or_grads, params``)."""
    return dict(list(inspect.signature(OPTIMIZERS[name]).parameters.items())[2:])


#: How a legend abbreviates a hyperparameter (:attr:`OptimizerSpec.short_label`).
SHORT_NAMES = {"learning_rate": "lr", "momentum": "μ", "rho": "ρ", "epsilon": "ε", "weight_decay": "wd", "clip_norm": "clip"}


def number_text(value) -> str:
    """A hyperparameter's value as a label shows it: ``1e-04`` as ``0.0001``, ``0.9`` as ``0.9``."""
    return f"{value:g}" if isinstance(value, float) else str(value)


@dataclasses.dataclass(frozen=True)
class OptimizerSpec:
    """One entry of ``--optimizers``: an optimizer name and the hyperparameters given.

    Attributes
    ----------
    name : str
        A key of :data:`OPTIMIZERS`.
    hyperparams : dict
        Keyword arguments for the optimizer function, parsed (floats, booleans, ``None``).
    raw : tuple of (str, str)
        The ``key=value`` pairs as typed, for the label.
    """

    name: str
    hyperparams: dict
    raw: tuple

    @property
    def label(self) -> str:
        """The entry as it would be typed, e.g. ``"adam:learning_rate=1e-4,beta2=0.99"``."""
        if not self.raw:
            return self.name
        return self.name + ":" + ",".join(f"{k}={v}" for k, v in self.raw)

    @property
    def short_label(self) -> str:
        """A legend label: the name, then each hyperparameter that differs from the default,
        abbreviated (:data:`SHORT_NAMES`; ``beta1``/``beta2`` as one pair ``β=(β₁, β₂)``).

        >>> raw = (("learning_rate", "1e-4"), ("beta2", "0.99"), ("epsilon", "1e-8"))
        >>> OptimizerSpec("adam", {"learning_rate": 1e-4, "beta2": 0.99, "epsilon": 1e-8}, raw).short_label
        'adam  lr=1e-4  β=(0.9, 0.99)'
        """
        defaults = {k: p.default for k, p in hyperparameters(self.name).items()}
        raw = dict(self.raw)
        changed = [k for k, v in self.hyperparams.items() if v != defaults.get(k)]
        parts = []
        if "beta1" in changed or "beta2" in changed:
            pair = [raw[k] if k in changed else number_text(defaults[k]) for k in ("beta1", "beta2")]
            parts.append(f"β=({pair[0]}, {pair[1]})")
            changed = [k for k in changed if k not in ("beta1", "beta2")]
        parts[:0] = [f"{SHORT_NAMES.get(k, k)}={raw[k]}" for k in changed]
        return "  ".join([self.name, *parts])

    def optimizer(self):
        """``optimizer(cost, params) -> Updates``, as :func:`~symupdates.lab.fit` takes it.

        A rule that takes matrices only (:data:`MATRIX_RULES`) gets the model's matrices;
        its other parameters (biases) train with the rule listed there, at its defaults,
        and the two update lists are merged.
        """
        rule = functools.partial(OPTIMIZERS[self.name], **self.hyperparams)
        if self.name not in MATRIX_RULES:
            return rule
        others = OPTIMIZERS[MATRIX_RULES[self.name]]

        def split(cost, params):
            matrices = [p for p in params if p.ndim == 2]
            rest = [p for p in params if p.ndim != 2]
            return merge_updates(rule(cost, matrices), others(cost, rest)) if rest else rule(cost, matrices)

        return split
