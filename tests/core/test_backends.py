"""The same updates under every backend: Numba (PyTensor's default), the C VM, JAX and PyTorch.

One graph holds every rule of the registry (each on its own copy of the test problem, with
its own data, and with clipping, weight decay and the row's ``backend_flags`` on), so each
backend compiles once; a row's ``broken_backends`` (a PyTensor bug) are checked apart, as
strict xfails.
Results must equal the FAST_COMPILE (Python) reference to 1e-12 in float64. JAX and
PyTorch (the two GPU routes) run where jax and torch are installed: every leg but main
skips them, saying so; the main leg installs both and allows no skip.
"""

from __future__ import annotations

import numpy as np
import pytensor
import pytest

from tests.reference import BACKENDS, pytensor_problem
from tests.rules import RULES, parameters_of

STEPS = 5


def _run_all_rules(mode, same_data=False, cases=None):
    params, pairs, outputs = [], [], []
    for k, case in enumerate(RULES.values() if cases is None else cases):
        with parameters_of(case):
            ps, cost = pytensor_problem(data_seed=1 if same_data else 1 + k)
        updates = case.fn(cost, ps, learning_rate=case.lr, clip_norm=0.5, **case.weight_decay(0.01), **case.backend_flags)
        params += ps
        pairs += updates
        outputs.append(updates.info["learning_rate"])
    f = pytensor.function([], outputs, updates=pairs, mode=mode)
    lrs = [f() for _ in range(STEPS)]
    return [p.get_value() for p in params], lrs


def _working_on(mode):
    """The rows that compile under ``mode``: all but those whose ``broken_backends`` name it."""
    return [case for case in RULES.values() if mode not in case.broken_backends]


@pytest.mark.parametrize("mode", BACKENDS)
def test_backend_matches_reference(mode):
    values, lrs = _run_all_rules(mode, cases=_working_on(mode))
    ref_values, ref_lrs = _run_all_rules("FAST_COMPILE", cases=_working_on(mode))
    for ours, ref in zip(values, ref_values, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(np.array(lrs, dtype=float), np.array(ref_lrs, dtype=float), rtol=1e-12)


@pytest.mark.xfail(
    strict=True,
    reason="PyTensor 3.0.7's PyTorch backend: five or more copies of one subgraph over the same merged "
    "constants give wrong values (each rule alone, or with its own data, is exact); a PyTensor bug",
)
def test_the_pytorch_backend_bug_that_the_data_seeds_avoid():
    """Strict: fails (so the data seeds can go) once PyTensor's PyTorch backend is fixed."""
    pytest.importorskip("torch", reason="PyTensor's PYTORCH backend needs torch, installed on the main leg only")
    values, _ = _run_all_rules("PYTORCH", same_data=True)
    ref_values, _ = _run_all_rules("FAST_COMPILE", same_data=True)
    for ours, ref in zip(values, ref_values, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)


BROKEN = [
    pytest.param(case, mode, marks=pytest.mark.xfail(strict=True, reason=why), id=f"{case.name}-{mode}")
    for case in RULES.values()
    for mode, why in case.broken_backends.items()
]


@pytest.mark.parametrize(("case", "mode"), BROKEN)
def test_a_rule_a_backend_cannot_run_yet(case, mode):
    """Strict: each row's ``broken_backends`` entry is a backend bug that still fails; once
    PyTensor fixes it this passes, fails as an unexpected pass, and the entry can go."""
    pytest.importorskip("torch" if mode == "PYTORCH" else "jax", reason=f"PyTensor's {mode} backend is installed on the main leg only")
    values, _ = _run_all_rules(mode, cases=[case])
    ref_values, _ = _run_all_rules("FAST_COMPILE", cases=[case])
    for ours, ref in zip(values, ref_values, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
