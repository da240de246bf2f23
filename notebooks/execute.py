"""Execute the tutorial notebooks in place with this environment's Python (``make notebooks``).

    .venv/bin/python notebooks/execute.py                            # every notebooks/*.ipynb this Python can run
    .venv/bin/python notebooks/execute.py notebooks/03_*.ipynb       # some of them
    .venv-pymc6/bin/python notebooks/execute.py notebooks/09_with_pymc.ipynb   # needs PyMC

The kernel is the interpreter running this script (``sys.executable``), declared in a
kernelspec written to a temporary ``JUPYTER_PATH``, so a notebook never runs under some
other Python found on ``PATH`` or registered by the user. Each notebook runs in its own
folder; outputs (plots as PNG) are written back into it, and per-cell timings are not
recorded, so re-executing an unchanged notebook changes only what its code prints.
``tests/test_notebooks.py`` runs the same :func:`execute` on temporary copies.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

KERNEL_NAME = "symupdates-tutorials"
NOTEBOOKS = Path(__file__).resolve().parent


@contextlib.contextmanager
def kernel_for_this_python():
    """A kernelspec named :data:`KERNEL_NAME` that starts ``sys.executable``, for the duration."""
    with tempfile.TemporaryDirectory() as folder:
        spec = Path(folder, "kernels", KERNEL_NAME)
        spec.mkdir(parents=True)
        argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
        (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3", "language": "python"}))
        previous = os.environ.get("JUPYTER_PATH")
        os.environ["JUPYTER_PATH"] = folder if previous is None else folder + os.pathsep + previous
        try:
            yield KERNEL_NAME
        finally:
            if previous is None:
                del os.environ["JUPYTER_PATH"]
            else:
                os.environ["JUPYTER_PATH"] = previous


def execute(nb, cwd, *, timeout=900):
    """Run every cell of ``nb`` (a NotebookNode, changed in place) in the folder ``cwd``.

    Needs :func:`kernel_for_this_python` active. ``timeout`` is the budget in seconds for
    the whole notebook, a guard against a hung cell rather than a speed target. Raises
    ``nbclient.exceptions.CellExecutionError`` at the first cell that fails and
    ``CellTimeoutError`` when the budget runs out.
    """
    deadline = time.monotonic() + timeout
    client = NotebookClient(
        nb,
        kernel_name=KERNEL_NAME,
        timeout_func=lambda cell: max(1, int(deadline - time.monotonic())),
        startup_timeout=120,
        resources={"metadata": {"path": str(cwd)}},
        record_timing=False,
        coalesce_streams=True,
    )
    client.execute()
    return nb


#: Notebooks that import PyMC (executed with a PyMC leg's Python: ``make test-pymc6``).
NEEDS_PYMC = ("09_with_pymc",)


def main(paths) -> None:
    if not paths:
        paths = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
        if importlib.util.find_spec("pymc") is None:
            skipped = [p for p in paths if p.stem in NEEDS_PYMC]
            paths = [p for p in paths if p.stem not in NEEDS_PYMC]
            for path in skipped:
                print(f"{path}: not executed, needs PyMC (run it with .venv-pymc6/bin/python after make test-pymc6)")
    paths = [Path(p) for p in paths]
    with kernel_for_this_python():
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            started = time.perf_counter()
            execute(nb, path.parent)
            nbformat.write(nb, path)
            print(f"{path}: {time.perf_counter() - started:.1f} s", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
