"""symupdates.lab: the experiment kit on top of the update rules.

A compiled training step (:func:`compile_step`), a training loop with validation, early
stopping and checkpoints (:func:`fit`, :class:`History`, :class:`Patience`,
:class:`TargetAccuracy`), the digits and MNIST datasets (:func:`load_digits`,
:func:`load_mnist`), a small MLP (:func:`mlp`), report figures (:func:`plot_histories`),
the ``symupdates compare`` command (:mod:`symupdates.lab.cli`) and hyperparameter search
on Optuna (:mod:`symupdates.lab.search`, ``symupdates search``).

It needs scikit-learn, tqdm, matplotlib, rich and optuna besides the core's PyTensor and NumPy:
``pip install "symupdates[lab]"``. Without them, importing it raises an ``ImportError``
that says so.

>>> from symupdates import lab
>>> data = lab.load_digits(seed=0, dtype="float64")
>>> data.train[0].shape
(1438, 64)
"""

import importlib.util

#: The lab's own dependencies: import name -> distribution name.
REQUIREMENTS = {"sklearn": "scikit-learn", "tqdm": "tqdm", "matplotlib": "matplotlib", "rich": "rich", "optuna": "optuna"}

_missing = [dist for module, dist in REQUIREMENTS.items() if importlib.util.find_spec(module) is None]
if _missing:
    raise ImportError(
        f"symupdates.lab needs {', '.join(_missing)}, which are not installed; install the lab with "
        f"pip install \"symupdates[lab]\" (the update rules themselves, `import symupdates`, need only "
        f"pytensor and numpy)"
    )

from symupdates.lab.datasets import Dataset, load_digits, load_mnist, minibatches, read_idx  # noqa: E402
from symupdates.lab.history import History  # noqa: E402
from symupdates.lab.models import MLP, mlp  # noqa: E402
from symupdates.lab.plotting import plot_histories  # noqa: E402
from symupdates.lab.training import Patience, Step, TargetAccuracy, compile_step, fit  # noqa: E402

__all__ = [
    "MLP",
    "Dataset",
    "History",
    "Patience",
    "Step",
    "TargetAccuracy",
    "compile_step",
    "fit",
    "load_digits",
    "load_mnist",
    "minibatches",
    "mlp",
    "plot_histories",
    "read_idx",
]
