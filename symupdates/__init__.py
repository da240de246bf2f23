"""symupdates: symbolic update rules for PyTensor, exact to torch.optim.

>>> import pytensor, pytensor.tensor as pt
>>> import symupdates as su
>>> # updates = su.adam(cost, params, learning_rate=1e-3, clip_norm=5.0)
>>> # train = pytensor.function([X, y], cost, updates=updates)

This module defines nothing itself: it is the flat API of the update-rule library. The
named rules are in :mod:`~symupdates.optimizers`, the transforms they chain in
:mod:`~symupdates.transforms` and :mod:`~symupdates.clipping`, the machinery in
:mod:`~symupdates.base` (``chain``, ``get_updates``), :mod:`~symupdates.build` (what a
transform may call), :mod:`~symupdates.updates` and :mod:`~symupdates.nonfinite`.
Schedules and monitors are namespaces (``su.schedules.cosine_decay``,
``su.monitor.standard``). The experiment kit (training loop, datasets, the MLP, plots,
the ``symupdates`` command) is :mod:`symupdates.lab`, installed with
``pip install "symupdates[lab]"``.
"""

from symupdates import monitor, schedules
from symupdates.accumulation import multi_steps
from symupdates.averaging import ema, lookahead, swa, swapped
from symupdates.base import chain, get_updates
from symupdates.build import (
    Hyperparameter,
    Transform,
    add_info,
    apply_only_when,
    building,
    directions_norm,
    hyperparam,
    hyperparam_off,
    new_scope,
    new_state,
    step_count,
)
from symupdates.checkpoint import load, save
from symupdates.checks import check_hyperparam
from symupdates.clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from symupdates.gradcheck import GradCheckReport, check_grad
from symupdates.nonfinite import NonFiniteGuard, skip_nonfinite
from symupdates.numerics import coef, compute_dtype, global_norm
from symupdates.optimizers import (
    adadelta,
    adafactor,
    adagrad,
    adam,
    adamax,
    adamw,
    asgd,
    lion,
    momentum,
    muon,
    nadam,
    nesterov_momentum,
    radam,
    rmsprop,
    rprop,
    sgd,
)
from symupdates.plateau import ReduceLROnPlateau
from symupdates.transforms import (
    accumulate_gradients,
    add_decayed_weights,
    negate,
    off,
    orthogonalize,
    scale,
    scale_by_adadelta,
    scale_by_adafactor,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_asgd,
    scale_by_decayed_learning_rate,
    scale_by_learning_rate,
    scale_by_lion,
    scale_by_muon,
    scale_by_nadam,
    scale_by_radam,
    scale_by_rms,
    scale_by_rprop,
    trace,
    weights_only,
)
from symupdates.updates import Updates, merge_updates

__version__ = "0.1.0"

__all__ = [
    "GradCheckReport",
    "Hyperparameter",
    "NonFiniteGuard",
    "ReduceLROnPlateau",
    "Transform",
    "Updates",
    "accumulate_gradients",
    "adadelta",
    "adafactor",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "add_info",
    "apply_only_when",
    "asgd",
    "building",
    "chain",
    "check_grad",
    "check_hyperparam",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "coef",
    "compute_dtype",
    "directions_norm",
    "ema",
    "get_updates",
    "global_norm",
    "hyperparam",
    "hyperparam_off",
    "lion",
    "load",
    "lookahead",
    "merge_updates",
    "monitor",
    "nadam",
    "momentum",
    "muon",
    "multi_steps",
    "negate",
    "nesterov_momentum",
    "new_scope",
    "new_state",
    "off",
    "orthogonalize",
    "radam",
    "rmsprop",
    "rprop",
    "save",
    "scale",
    "scale_by_adadelta",
    "scale_by_adafactor",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_asgd",
    "scale_by_decayed_learning_rate",
    "scale_by_learning_rate",
    "scale_by_lion",
    "scale_by_muon",
    "scale_by_nadam",
    "scale_by_radam",
    "scale_by_rms",
    "scale_by_rprop",
    "schedules",
    "sgd",
    "skip_nonfinite",
    "step_count",
    "swa",
    "swapped",
    "trace",
    "weights_only",
]
