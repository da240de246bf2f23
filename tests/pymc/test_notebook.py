"""Notebook 09 (symupdates inside PyMC) runs top to bottom and its committed outputs are
current: the checks of tests/lab/test_notebooks.py, on the legs that have PyMC.

Refresh it with a PyMC venv's Python: ``.venv-pymc6/bin/python notebooks/execute.py
notebooks/09_with_pymc.ipynb`` (after ``make test-pymc6``).
"""

from __future__ import annotations

import pytest

pytest.importorskip("pymc", reason="PyMC is installed on the pymc5 and pymc6 legs (make test-pymc5, make test-pymc6)")

from tests.lab import test_notebooks as checks  # noqa: E402
from tests.lab.test_notebooks import kernel  # noqa: E402, F401  (the fixture)


@pytest.mark.parametrize("stem", checks.NEEDS_PYMC)
def test_the_pymc_notebook_runs_and_its_outputs_are_current(stem, tmp_path, kernel):  # noqa: F811
    (path,) = [p for p in checks.ALL_PATHS if p.stem == stem]
    checks.test_notebook_runs_and_its_outputs_are_current(path, tmp_path, kernel)
