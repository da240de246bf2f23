"""The package's shape: one module per idea, no import cycles, no private names across modules,
a core that needs nothing from the lab, and one writer for every file the package writes."""

from __future__ import annotations

import ast
import importlib
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import symupdates

ROOT = Path(symupdates.__file__).resolve().parent


def _modules():
    """Every module of the package: name -> parsed source."""
    out = {"symupdates": ast.parse((ROOT / "__init__.py").read_text())}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="symupdates."):
        path = ROOT.joinpath(*info.name.split(".")[1:])
        path = path / "__init__.py" if info.ispkg else path.with_suffix(".py")
        out[info.name] = ast.parse(path.read_text())
    return out


MODULES = _modules()

#: The lab's extra (scikit-learn, tqdm, matplotlib, rich, optuna) is installed on the main leg only.
LAB_INSTALLED = all(importlib.util.find_spec(m) for m in ("sklearn", "tqdm", "matplotlib", "rich", "optuna"))


def _imports(name, tree, *, everywhere=False):
    """(module imported, names) for each ``import``/``from ... import`` of a module.

    Module level only, unless ``everywhere``: imports inside functions count too.
    """
    nodes = ast.walk(tree) if everywhere else tree.body
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for a in node.names:
                yield a.name, []


def _internal_edges(everywhere):
    edges = {}
    for name, tree in MODULES.items():
        targets = set()
        for module, names in _imports(name, tree, everywhere=everywhere):
            if module.split(".")[0] != "symupdates":
                continue
            for n in names or [None]:  # "from symupdates import monitor" imports a module
                full = f"{module}.{n}" if n and f"{module}.{n}" in MODULES else module
                if full != name:
                    targets.add(full)
        edges[name] = targets
    return edges


def _cycle(edges):
    """A cycle in the import graph, or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in sorted(edges.get(node, ())):
            if nxt == "symupdates" or nxt not in edges:  # the flat API imports everything by design
                continue
            if state.get(nxt) == "open":
                return [*path, node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = "done"
        return None

    for node in sorted(edges):
        if node not in state and (found := visit(node, [])):
            return found
    return None


@pytest.mark.parametrize("everywhere", [False, True], ids=["module-level", "inside-functions-too"])
def test_no_import_cycle(everywhere):
    assert _cycle(_internal_edges(everywhere)) is None


def test_no_module_imports_a_private_name_from_another():
    offenders = [
        (name, module, n)
        for name, tree in MODULES.items()
        for module, names in _imports(name, tree, everywhere=True)
        if module.split(".")[0] == "symupdates"
        for n in names
        if n.startswith("_")
    ]
    assert offenders == []


def test_every_imported_package_name_is_public_in_its_module():
    hidden = []
    for name, tree in MODULES.items():
        for module, names in _imports(name, tree, everywhere=True):
            if module.split(".")[0] != "symupdates" or module not in MODULES:
                continue
            if module.startswith("symupdates.lab") and not LAB_INSTALLED:
                continue  # not importable here; the main leg checks the lab's names
            public = getattr(importlib.import_module(module), "__all__", [])
            hidden += [(name, module, n) for n in names if n not in public and f"{module}.{n}" not in MODULES]
    assert hidden == []


def test_the_core_imports_nothing_from_the_lab():
    core = {n: t for n, t in MODULES.items() if not n.startswith("symupdates.lab")}
    leaks = [(n, m) for n, t in core.items() for m, _ in _imports(n, t, everywhere=True) if m.startswith("symupdates.lab")]
    leaks = [(n, m) for n, m in leaks if n != "symupdates.__main__"]  # `python -m symupdates` is the lab's command
    assert leaks == []


def test_importing_the_core_loads_no_lab_dependency():
    code = (
        "import sys, symupdates; "
        "heavy = [m for m in ('sklearn', 'matplotlib', 'tqdm', 'rich', 'optuna', 'torch', 'jax', 'symupdates.lab') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


_HINT = 'pip install "symupdates[lab]"'
_BLOCK = (  # hides the modules named in argv[1] from every import finder, as if not installed
    "import sys\n"
    "HIDDEN = sys.argv[1].split(',')\n"
    "class Hide:\n"
    "    def __init__(self, inner):\n"
    "        self.inner = inner\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] in HIDDEN:\n"
    "            return None\n"
    "        return self.inner.find_spec(name, path, target)\n"
    "    def __getattr__(self, attribute):  # find_distributions, invalidate_caches\n"
    "        return getattr(self.inner, attribute)\n"
    "sys.meta_path[:] = [Hide(f) for f in sys.meta_path]\n"
)


@pytest.mark.parametrize("missing", ["sklearn", "tqdm", "matplotlib", "rich", "optuna", "sklearn,tqdm,matplotlib,rich,optuna"])
def test_the_lab_without_its_extra_says_what_to_install(missing):
    """With any of the lab's dependencies missing, ``import symupdates.lab`` (and the command
    line) fail with an ImportError naming them and the pip command; the core still imports."""
    code = _BLOCK + (
        "import symupdates, symupdates.optimizers\n"
        "try:\n"
        "    import symupdates.lab\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code, missing], capture_output=True, text=True, check=True)
    assert _HINT in out.stdout, out.stdout + out.stderr
    dists = {"sklearn": "scikit-learn"}
    for module in missing.split(","):
        assert dists.get(module, module) in out.stdout
    command = _BLOCK + "sys.argv = ['symupdates', 'compare']\nimport runpy\nrunpy.run_module('symupdates', run_name='__main__')\n"
    cli = subprocess.run([sys.executable, "-c", command, missing], capture_output=True, text=True, check=False)
    assert cli.returncode != 0 and _HINT in cli.stderr, cli.stderr[-2000:]


def test_the_lab_imports_here_exactly_when_its_extra_is_installed():
    """The real install of this leg: the main leg has the extra, the core and PyMC legs do not."""
    code = "import symupdates.lab"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    if LAB_INSTALLED:
        assert out.returncode == 0, out.stderr[-2000:]
    else:
        assert out.returncode != 0 and _HINT in out.stderr, out.stderr[-2000:]


def test_the_flat_api_defines_nothing():
    tree = MODULES["symupdates"]
    defined = [type(n).__name__ for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef)]
    assert defined == []
    for name in symupdates.__all__:
        assert hasattr(symupdates, name), name


def test_every_module_says_what_it_holds():
    for name, tree in MODULES.items():
        doc = ast.get_docstring(tree)
        assert doc and len(doc.split()) >= 5, f"{name} has no module docstring"


_WRITERS = ("write_text", "write_bytes", "savefig", "savez", "tofile")


def test_every_file_is_written_by_the_one_atomic_writer():
    """Only checkpoint.atomic_write opens files for writing; everything else writes through it."""
    offenders = []
    for name, tree in MODULES.items():
        atomic_blocks = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.With):
                for item in node.items:
                    call = item.context_expr
                    if isinstance(call, ast.Call) and getattr(call.func, "id", getattr(call.func, "attr", "")) == "atomic_write":
                        atomic_blocks.update(id(n) for n in ast.walk(node))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or id(node) in atomic_blocks:
                continue
            func = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if func == "open" and any(
                isinstance(a, ast.Constant) and isinstance(a.value, str) and set(a.value) & set("wax+") for a in node.args[1:2]
            ):
                offenders.append((name, node.lineno, "open for writing"))
            elif func in _WRITERS and name != "symupdates.checkpoint":
                offenders.append((name, node.lineno, func))
    assert offenders == []
