"""The same updates under every backend: Numba (PyTensor's default), the C VM and JAX.

One graph holds every rule of the registry (each on its own copy of the test problem, with
clipping, weight decay and the row's ``backend_flags`` on), so each backend compiles once.
Results must equal the FAST_COMPILE (Python) reference to 1e-12 in float64.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

from tests.reference import pytensor_problem
from tests.rules import RULES

STEPS = 5
BACKENDS = ["NUMBA", "CVM", "JAX"]


def _run_all_rules(mode):
    params, pairs, outputs = [], [], []
    for case in RULES.values():
        ps, cost = pytensor_problem()
        updates = case.fn(cost, ps, learning_rate=case.lr, clip_norm=0.5, weight_decay=0.01, **case.backend_flags)
        params += ps
        pairs += updates
        outputs.append(updates.info["learning_rate"])
    f = pytensor.function([], outputs, updates=pairs, mode=mode)
    lrs = [f() for _ in range(STEPS)]
    return [p.get_value() for p in params], lrs


@pytest.fixture(scope="module")
def reference():
    return _run_all_rules("FAST_COMPILE")


@pytest.mark.parametrize("mode", BACKENDS)
def test_backend_matches_reference(mode, reference):
    values, lrs = _run_all_rules(mode)
    ref_values, ref_lrs = reference
    for ours, ref in zip(values, ref_values, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.array(lrs, dtype=float), np.array(ref_lrs, dtype=float), rtol=1e-12)


@pytest.mark.parametrize("mode", BACKENDS)
@pytest.mark.filterwarnings("ignore:Skipping Assert:UserWarning")  # JAX drops the shape check of the row indexing
def test_mlp_loss_and_gradients_match_reference_for_batches_over_127_rows(mode):
    """The tutorials' and compare's model under every backend, at a batch size that overflowed
    an int8 row index under JAX (pymc-devs/pytensor#2296)."""
    import pytensor.tensor as pt

    from symupdates.lab.models import mlp

    model = mlp(n_in=6, hidden=(5,), n_out=3, seed=0, dtype="float64")
    X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
    cost = model.loss(X, y)
    outputs = [cost, model.accuracy(X, y), *pytensor.grad(cost, model.params)]
    rng = np.random.default_rng(0)
    X_data, y_data = rng.normal(size=(200, 6)), rng.integers(0, 3, size=200)
    ours = pytensor.function([X, y], outputs, mode=mode)(X_data, y_data)
    ref = pytensor.function([X, y], outputs, mode="FAST_COMPILE")(X_data, y_data)
    for a, b in zip(ours, ref, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
