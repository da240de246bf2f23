"""symupdates: symbolic update rules for PyTensor, exact to torch.optim.

>>> import pytensor, pytensor.tensor as pt
>>> import symupdates as su
>>> # updates = su.adam(cost, params, learning_rate=1e-3, clip_norm=5.0)
>>> # train = pytensor.function([X, y], cost, updates=updates)

The package defines nothing itself; see ``base`` (Updates, chain, get_updates),
``transforms`` (building blocks), ``clipping`` and ``optimizers`` (the named rules).
"""

from symupdates.base import chain, get_updates
from symupdates.build import Hyperparameter, Transform, add_info, building, hyperparam, new_scope, new_state, step_count
from symupdates.checks import check_hyperparam
from symupdates.nonfinite import NonFiniteGuard, skip_nonfinite
from symupdates.numerics import coef, compute_dtype
from symupdates.updates import Updates, merge_updates
from symupdates.checkpoint import load, save
from symupdates.clipping import clip_by_global_norm, clip_by_norm, clip_by_value
from symupdates.numerics import global_norm
from symupdates.datasets import Dataset, load_digits, load_mnist, minibatches, read_idx
from symupdates.gradcheck import GradCheckReport, check_grad
from symupdates import monitor
from symupdates.models import MLP, mlp
from symupdates import schedules
from symupdates.schedules import ReduceLROnPlateau
from symupdates.plotting import plot_histories
from symupdates.training import History, Patience, Step, TargetAccuracy, compile_step, fit
from symupdates.optimizers import adadelta, adagrad, adam, adamax, adamw, momentum, nesterov_momentum, rmsprop, sgd
from symupdates.transforms import (
    add_decayed_weights,
    scale,
    scale_by_adadelta,
    scale_by_adagrad,
    scale_by_adam,
    scale_by_adamax,
    scale_by_learning_rate,
    scale_by_rms,
    trace,
)

__version__ = "0.1.0"

__all__ = [
    "Dataset",
    "GradCheckReport",
    "History",
    "Hyperparameter",
    "MLP",
    "NonFiniteGuard",
    "Patience",
    "ReduceLROnPlateau",
    "Step",
    "TargetAccuracy",
    "Transform",
    "Updates",
    "adadelta",
    "adagrad",
    "adam",
    "adamax",
    "adamw",
    "add_decayed_weights",
    "add_info",
    "building",
    "chain",
    "check_grad",
    "check_hyperparam",
    "clip_by_global_norm",
    "clip_by_norm",
    "clip_by_value",
    "coef",
    "compile_step",
    "compute_dtype",
    "fit",
    "get_updates",
    "global_norm",
    "hyperparam",
    "load",
    "load_digits",
    "load_mnist",
    "merge_updates",
    "minibatches",
    "mlp",
    "monitor",
    "momentum",
    "nesterov_momentum",
    "new_scope",
    "new_state",
    "plot_histories",
    "read_idx",
    "rmsprop",
    "save",
    "scale",
    "schedules",
    "scale_by_adadelta",
    "scale_by_adagrad",
    "scale_by_adam",
    "scale_by_adamax",
    "scale_by_learning_rate",
    "scale_by_rms",
    "sgd",
    "skip_nonfinite",
    "step_count",
    "trace",
]
