"""Test configuration: FAST_COMPILE by default (as PyTensor's own suite), seeded data.

The backend matrix (tests/test_backends.py) compiles with Numba, the C VM and JAX
explicitly; everything else uses FAST_COMPILE so the suite stays fast.
"""

import numpy as np
import pytensor
import pytest

pytensor.config.mode = "FAST_COMPILE"


@pytest.fixture(params=["float64", "float32"], ids=["floatX=float64", "floatX=float32"])
def floatX(request):
    """Run a test under both values of ``pytensor.config.floatX``."""
    with pytensor.config.change_flags(floatX=request.param):
        yield request.param


@pytest.fixture
def rng():
    return np.random.default_rng(20261122)
