"""Sphinx configuration of the symupdates site: ``make docs`` builds it into docs/_build/html.

Everything the site shows comes from elsewhere in the tree, so that nothing is written
twice: the API pages from the docstrings (numpydoc, one autosummary page per public name,
the lists made here from each module's ``__all__``), the guides from the README's and
CONTRIBUTING's sections (MyST ``include``), the tutorials from the notebooks' stored
outputs (copied in at build time, never executed). Math is rendered by a copy of MathJax
in ``_static/mathjax`` (``make docs`` fetches it from the npm registry), so the site
works offline.
"""

from __future__ import annotations

import importlib
import os
import shutil
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(ROOT))

import symupdates  # noqa: E402

project = "symupdates"
author = "the symupdates developers"
copyright = "2026, the symupdates developers"
release = version = symupdates.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_nb",
]
exclude_patterns = ["_build", "**/.ipynb_checkpoints", "mathjax"]
templates_path = ["_templates"]
suppress_warnings = ["myst.header"]  # the README's sections start at level 2 or 3 inside a page
myst_heading_anchors = 3

autosummary_generate = True
autodoc_default_options = {"members": False}
numpydoc_show_class_members = False
numpydoc_xref_param_type = False
numpydoc_validation_checks: set = set()

nitpicky = True  # every reference must resolve (other projects' names are listed below)

nb_execution_mode = "off"  # the notebooks are shown with the outputs they are committed with
nb_merge_streams = True

html_theme = "pydata_sphinx_theme"
html_title = f"symupdates {version}"
html_static_path = ["_static"]
html_theme_options = {"navigation_with_keys": False, "show_toc_level": 2}
# MathJax from this build, not a CDN: `make docs` copies it into _static/mathjax.
mathjax_path = "mathjax/tex-chtml.js"

#: Inventories of other projects' docs, used only when they exist on this machine
#: (offline machines and clusters have none): SYMUPDATES_INVENTORIES=<folder> with
#: python.inv, numpy.inv, pytensor.inv.
_LINKS = {
    "python": "https://docs.python.org/3/",
    "numpy": "https://numpy.org/doc/stable/",
    "pytensor": "https://pytensor.readthedocs.io/en/latest/",
}
_inventories = Path(os.environ.get("SYMUPDATES_INVENTORIES", DOCS / "_inventories"))
intersphinx_mapping = {
    name: (url, str(_inventories / f"{name}.inv")) for name, url in _LINKS.items() if (_inventories / f"{name}.inv").exists()
}

#: The API pages: a section per module, each listing the public names it defines.
SECTIONS = [
    ("Update rules", "symupdates.optimizers", "The named rules, each a chain of transforms; their math is in each page."),
    ("Transforms", "symupdates.transforms", "The building blocks the rules chain."),
    ("Clipping", "symupdates.clipping", None),
    ("Skipping non-finite steps", "symupdates.nonfinite", None),
    ("Averaged weights", "symupdates.averaging", None),
    ("Gradient accumulation", "symupdates.accumulation", None),
    ("Schedules", "symupdates.schedules", None),
    ("Reduce on plateau", "symupdates.plateau", None),
    ("Updates and training state", "symupdates.updates", None),
    ("Checkpoints", "symupdates.checkpoint", None),
    ("Monitors", "symupdates.monitor", None),
    ("Gradient checking", "symupdates.gradcheck", None),
    ("Writing a rule", "symupdates.build", None),
    ("Composing", "symupdates.base", None),
    ("Numerics", "symupdates.numerics", None),
    ("Argument checks", "symupdates.checks", None),
    ("The lab: training loop", "symupdates.lab.training", None),
    ("The lab: histories", "symupdates.lab.history", None),
    ("The lab: data", "symupdates.lab.datasets", None),
    ("The lab: models", "symupdates.lab.models", None),
    ("The lab: figures", "symupdates.lab.plotting", None),
    ("The lab: the rules the commands know", "symupdates.lab.specs", None),
    ("The lab: hyperparameter search", "symupdates.lab.search", None),
    ("The lab: the command line", "symupdates.lab.cli", None),
]


def public_names() -> dict[str, list[str]]:
    """``{module: [names]}``: every name of ``symupdates.__all__``, of the namespaces
    ``symupdates.monitor`` and ``symupdates.schedules`` and of the lab's modules, under the
    module that defines it."""
    import symupdates.lab  # noqa: F401

    owners: dict[str, list[str]] = {module: [] for _, module, _ in SECTIONS}
    placed = set()
    for _, module, _ in SECTIONS:
        mod = importlib.import_module(module)
        for name in getattr(mod, "__all__", []):
            obj = getattr(mod, name)
            home = getattr(obj, "__module__", None) if callable(obj) else None
            # a name lives where it is defined; an alias or a constant, where it is listed
            if (home == module or home not in owners) and (name, id(obj)) not in placed:  # re-exports once
                owners[module].append(name)
                placed.add((name, id(obj)))
    return owners


def _write_api(app) -> None:
    """docs/api/index.rst: one section per module, an autosummary of its names."""
    owners = public_names()
    lines = ["API reference", "=============", "",
             "Every public name, by the module that defines it; ``import symupdates as su`` exposes the",
             "core's names flat (``su.adam``), the lab's are ``symupdates.lab.<name>``.", ""]  # fmt: skip
    for title, module, blurb in SECTIONS:
        names = owners[module]
        if not names:
            continue
        lines += [title, "-" * len(title), ""] + ([blurb, ""] if blurb else [])
        lines += [f".. module:: {module}", "", ".. autosummary::", "   :toctree: generated", "",
                  *(f"   {name}" for name in sorted(names)), ""]  # fmt: skip
    text = "\n".join(lines) + "\n"
    # autosummary writes a stub per name and never removes one: drop those of names gone
    expected = {f"{module}.{name}.rst" for module, names in owners.items() for name in names}
    for stub in (DOCS / "api" / "generated").glob("*.rst"):
        if stub.name not in expected:
            stub.unlink()
    target = DOCS / "api" / "index.rst"
    target.parent.mkdir(exist_ok=True)
    if not target.exists() or target.read_text() != text:
        target.write_text(text)


def _copy_notebooks(app) -> None:
    """docs/tutorials/: the notebooks as committed (outputs included)."""
    target = DOCS / "tutorials"
    target.mkdir(exist_ok=True)
    for path in sorted((ROOT / "notebooks").glob("[0-9]*.ipynb")):
        copy = target / path.name
        if not copy.exists() or copy.read_bytes() != path.read_bytes():
            shutil.copyfile(path, copy)


#: Names of other projects that have no inventory here (offline): not checked.
nitpick_ignore_regex = [
    ("py:.*", r"(pytensor|numpy|np|collections|typing|matplotlib|optuna|pymc|torch|jax|optax|os|pathlib)(\..*)?"),
    ("py:.*", r"(Variable|TensorVariable|SharedVariable|ndarray|array_like|Mode|Figure|Path|PathLike|Callable|Mapping)"),
    ("py:.*", r"(inspect|argparse|json|csv|io|functools|builtins)(\..*)?"),  # Python's own: no inventory offline
    ("py:.*", r"(open|int|float|str|bool|dict|list|tuple|bytes|object|type|None|Exception|ValueError|TypeError)"),
]


def _documented() -> dict[str, str]:
    """Every documented name, by its short forms, to its page's full name: ``adam``,
    ``symupdates.adam`` and ``su.adam`` to ``symupdates.optimizers.adam``; ``fit`` and
    ``symupdates.lab.fit`` to ``symupdates.lab.training.fit``."""
    out = {}
    for module, names in public_names().items():
        for name in names:
            full = f"{module}.{name}"
            for alias in (name, f"symupdates.{name}", f"su.{name}", f"symupdates.lab.{name}", f"lab.{name}", full):
                out.setdefault(alias, full)
    return out


def _resolve_short_names(app, env, node, contnode):
    """Resolve references by the flat API's names (``symupdates.adam``, ``lab.fit``,
    ``Updates.reset``) to the pages of the modules that define them."""
    from sphinx.util.nodes import make_refnode

    target = node.get("reftarget", "")
    documented = app.config._symupdates_documented
    objects = env.get_domain("py").objects
    context = node.get("py:class")
    candidates = [documented.get(target)]
    owner, _, member = target.rpartition(".")
    if owner in documented:  # a method or attribute: Updates.reset
        candidates.append(f"{documented[owner]}.{member}")
        candidates.append(documented[owner])  # an attribute described in the class's docstring
    if context and not owner:  # `state` in a docstring of Updates: Updates.state, else Updates
        home = documented.get(context) or (f"{node.get('py:module')}.{context}" if node.get("py:module") else None)
        if home:
            candidates += [f"{home}.{target}", home]
    if not owner:  # a module constant (VERDICTS, MNIST_SHAPES): the section of its module
        candidates += [module for _, module, _ in SECTIONS if hasattr(importlib.import_module(module), target)]
    for full in filter(None, candidates):
        found = objects.get(full)
        if found is not None:
            return make_refnode(app.builder, node["refdoc"], found.docname, found.node_id, contnode, full)
    return None


def setup(app):
    app.add_config_value("_symupdates_documented", {}, "env")
    app.connect("config-inited", lambda app, config: (_write_api(app), _copy_notebooks(app)))
    app.connect("config-inited", lambda app, config: setattr(config, "_symupdates_documented", _documented()))
    app.connect("missing-reference", _resolve_short_names)
