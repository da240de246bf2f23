"""The README's PyMC block runs (tests/lab/test_readme_blocks.py runs the others), and
its posterior means land near the three group means it simulates."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pymc", reason="PyMC is installed on the pymc5 and pymc6 legs (make test-pymc5, make test-pymc6)")

from tests.readme_blocks import pymc_blocks, run_block  # noqa: E402


def test_the_pymc_block_runs_and_fits_the_group_means(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    ((line, text),) = pymc_blocks()
    means = run_block(line, text)["approx"].mean.eval()
    np.testing.assert_allclose(means, [1.7, -0.5, 3.0], atol=0.5)
