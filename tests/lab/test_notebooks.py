"""The tutorial notebooks run top to bottom, and their committed outputs are current.

Each notebook of ``notebooks/`` is executed on a temporary copy (the committed file is
never rewritten) by a kernel that runs this interpreter, as ``make notebooks`` does
(``notebooks/execute.py``). A test fails when a cell raises, when the notebook runs out
of its time budget, or when the committed outputs are stale:

* every code cell of the committed notebook was executed, in order, in one session
  (execution counts 1, 2, ..., n) and none of its outputs is an error;
* cell by cell, the fresh run produces the same rich outputs (figures, HTML, results:
  the same kinds, in the same order) and the same printed text once numbers and
  absolute paths are masked. Numbers move with timings and with floating point across
  machines; names, messages, table layouts and the number of figures do not. stderr is
  not compared.

Notebook 09 (``09_with_pymc``) needs PyMC, which the main leg cannot hold beside its
PyTensor: tests/pymc/test_notebook.py runs it, with these same checks, on the PyMC legs.

A cell tagged ``output-depends-on-machine`` (notebook 02's MNIST cell, which runs only
where MNIST is cached) is exempt from the comparison, not from running.
Refresh the committed outputs with ``make notebooks``.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re

import nbformat
import pytest

from notebooks.execute import NEEDS_PYMC, NOTEBOOKS, execute, kernel_for_this_python

ALL_PATHS = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))
PATHS = [p for p in ALL_PATHS if p.stem not in NEEDS_PYMC]
#: Seconds for a whole notebook: a guard against a hung cell, far above the usual minute.
BUDGET = 900
EXEMPT_TAG = "output-depends-on-machine"

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_PATH = re.compile(r"(?<![\w.])/(?:[\w.+\-]+/)*[\w.+\-]+")
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b")
_LAYOUT = re.compile(r"[\s\u2500-\u257f]+")  # whitespace and box-drawing characters (table borders)


def _masked(text: str) -> str:
    text = _PATH.sub("<path>", _ANSI.sub("", text))
    return _LAYOUT.sub(" ", _NUMBER.sub("#", text)).strip()


def _signature(cell) -> tuple:
    """What a code cell shows, up to numbers: its stdout and its rich outputs in order."""
    stdout = "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")
    rich = [
        (o.output_type, sorted(o.data), _masked(o.data.get("text/plain", "")))
        for o in cell.outputs
        if o.output_type in ("display_data", "execute_result")
    ]
    errors = [(o.ename, o.evalue) for o in cell.outputs if o.output_type == "error"]
    return _masked(stdout), rich, errors


def _code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


@pytest.fixture(scope="module")
def kernel():
    with kernel_for_this_python() as name:
        yield name


def test_every_notebook_is_found():
    names = [p.stem[:2] for p in ALL_PATHS]
    assert names == [f"{i:02d}" for i in range(1, 11)], names
    assert all(any(p.stem == stem for p in ALL_PATHS) for stem in NEEDS_PYMC)


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_and_its_outputs_are_current(path, tmp_path, kernel):
    committed = nbformat.read(path, as_version=4)
    cells = _code_cells(committed)
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name} was not executed top to bottom in one session (execution counts {counts}); "
        f"run `make notebooks`"
    )
    for i, cell in enumerate(cells):
        assert not [o for o in cell.outputs if o.output_type == "error"], f"{path.name}: code cell {i + 1} holds an error"
        undrawn = [o for o in cell.outputs if o.output_type in ("display_data", "execute_result")
                   and o.data.get("text/plain", "").startswith("<Figure") and "image/png" not in o.data]  # fmt: skip
        assert not undrawn, f"{path.name}: code cell {i + 1} shows a figure as text, not drawn (no inline backend?)"

    fresh = execute(copy.deepcopy(committed), tmp_path, timeout=BUDGET)

    fresh_cells = _code_cells(fresh)
    assert [c.source for c in fresh_cells] == [c.source for c in cells]
    stale = []
    for i, (old, new) in enumerate(zip(cells, fresh_cells, strict=True)):
        if EXEMPT_TAG in old.metadata.get("tags", []):
            continue
        if _signature(old) != _signature(new):
            stale.append(f"code cell {i + 1}:\n  committed {_signature(old)}\n  now       {_signature(new)}")
    assert not stale, f"{path.name} has stale outputs; run `make notebooks`.\n" + "\n".join(stale)


#: What a tutorial may import: the standard library, the package and its dependencies. No
#: local helper modules, so nothing a reader needs is hidden outside the notebook.
ALLOWED_IMPORTS = {"functools", "json", "os", "pathlib", "tempfile", "time", "warnings",
                   "IPython", "matplotlib", "numpy", "pytensor", "symupdates", "pymc"}  # fmt: skip
_IMPORT = re.compile(r"^\s*(?:from\s+([\w.]+)\s+import\s+(.+)|import\s+([\w., ]+))", re.M)


@pytest.mark.parametrize("path", ALL_PATHS, ids=[p.stem for p in ALL_PATHS])
def test_notebook_imports_only_public_names(path):
    source = "\n".join(cell.source for cell in _code_cells(nbformat.read(path, as_version=4)))
    for origin, names, modules in _IMPORT.findall(source):
        for module in [origin] if origin else [m.split(" as ")[0].strip() for m in modules.split(",")]:
            assert module.split(".")[0] in ALLOWED_IMPORTS, f"{path.name} imports {module}"
            assert not any(part.startswith("_") for part in module.split(".")), f"{path.name} imports {module}"
        assert not re.search(r"(?:^|[\s,(])_\w", names), f"{path.name} imports a private name from {origin}: {names}"
        if origin.split(".")[0] == "symupdates":  # only names the module lists as public, or its modules
            public = importlib.import_module(origin).__all__
            imported = [n.split(" as ")[0].strip() for n in names.strip("()").split(",") if n.strip()]
            hidden = [n for n in imported if n not in public and importlib.util.find_spec(f"{origin}.{n}") is None]
            assert not hidden, f"{path.name} imports {hidden} from {origin}, which is not in its __all__"
    assert not re.search(r"\b(?:su|symupdates(?:\.\w+)*)\._\w", source), f"{path.name} uses a private name of symupdates"


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("lr = 0.1  : final loss 0.241, ratio 3.4e-03", "lr = # : final loss #, ratio #"),
        ("figure: /tmp/compare-x1/curves.png", "figure: <path>"),
        ("┃ adam │ 96.38 ┃\n┡━━━━━━┩", "adam #"),
        ("Step(outputs=['loss', 'grad_norm/W1'])", "Step(outputs=['loss', 'grad_norm/W#'])"),
    ],
)
def test_masking_keeps_words_and_drops_numbers_paths_and_borders(text, masked):
    assert _masked(text) == masked
