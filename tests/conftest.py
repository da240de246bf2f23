"""Test configuration: FAST_COMPILE by default (as PyTensor's own suite), seeded data,
the ``torch`` fixture, and the main leg's rule that nothing is skipped.

The backend matrix (tests/core/test_backends.py) compiles with Numba, the C VM, JAX and
PyTorch explicitly; everything else uses FAST_COMPILE so the suite stays fast.
"""

import contextlib
import os

import numpy as np
import pytensor
import pytest

from tests.reference import require_torch

try:  # PyTensor 3
    from pytensor.compile.maker import FunctionMaker
except ImportError:  # PyTensor 2.38
    from pytensor.compile.function.types import FunctionMaker
from tests.rules import parameters_of, rule_of

pytensor.config.mode = "FAST_COMPILE"


@pytest.fixture
def torch():
    """torch 2.13.0 in float64, the parity reference; the test is skipped (with the reason)
    on a leg of the support matrix without it."""
    return require_torch()


def pytest_sessionfinish(session, exitstatus):
    """``SYMUPDATES_NO_SKIPS=1`` (the main leg): a skipped test fails the run.

    The main leg installs everything, so nothing there may be skipped; the other legs
    skip the torch and JAX comparisons, each with its reason (``pytest -rs`` lists them).
    """
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("SYMUPDATES_NO_SKIPS") == "1" and skipped and exitstatus == 0:
        reporter.write_line(f"SYMUPDATES_NO_SKIPS=1 but {skipped} test(s) were skipped: see `pytest -rs`", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(params=["float64", "float32"], ids=["floatX=float64", "floatX=float32"])
def floatX(request):
    """Run a test under both values of ``pytensor.config.floatX``."""
    with pytensor.config.change_flags(floatX=request.param):
        yield request.param


@pytest.fixture(autouse=True)
def _the_parameters_the_rule_takes(request):
    """A test parametrized with a rule that takes some ranks only (Muon: matrices) trains
    only the shared problem's parameters of those ranks (tests/reference.py's ``training``)."""
    callspec = getattr(request.node, "callspec", None)
    case = rule_of(callspec.params.values()) if callspec is not None else None
    with parameters_of(case) if case is not None else contextlib.nullcontext():
        yield


@pytest.fixture
def compiles(monkeypatch):
    """The number of functions PyTensor builds while the test runs."""
    count = [0]
    original = FunctionMaker.__init__

    def counting(self, *args, **kwargs):
        count[0] += 1
        original(self, *args, **kwargs)

    monkeypatch.setattr(FunctionMaker, "__init__", counting)
    return count


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
