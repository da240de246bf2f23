"""The documentation site (``make docs``): it builds with warnings as errors, every public
name has a page, no page is left out of the navigation, and a real browser (headless
Chromium) shows the ``adam`` page with its math rendered by the MathJax shipped with the
site, its parameters table and its example.

The site is built once for the module, fresh, into a temporary folder (about a minute).
"""

from __future__ import annotations

import html.parser
import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"

sphinx = pytest.importorskip("sphinx", reason="the docs extra is not installed (pip install '.[docs]')")


def _conf():
    spec = importlib.util.spec_from_file_location("docs_conf", DOCS / "conf.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    fetched = subprocess.run([sys.executable, str(DOCS / "fetch_mathjax.py")], capture_output=True, text=True)
    assert fetched.returncode == 0, fetched.stderr
    out = tmp_path_factory.mktemp("site") / "html"
    build = subprocess.run(
        [sys.executable, "-m", "sphinx", "-E", "-b", "html", "-W", "--keep-going", "-q", str(DOCS), str(out)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-6000:]
    return out


def test_every_public_name_has_a_page(site):
    import symupdates
    import symupdates.lab

    owners = _conf().public_names()
    listed = {name for names in owners.values() for name in names}
    wanted = set(symupdates.lab.__all__) | set(symupdates.monitor.__all__) | set(symupdates.schedules.__all__)
    wanted |= {n for n in symupdates.__all__ if n not in ("monitor", "schedules")}
    assert wanted - listed == set(), "public names the API reference leaves out"
    missing = [f"{module}.{name}" for module, names in owners.items() for name in names
               if not (site / "api" / "generated" / f"{module}.{name}.html").exists()]  # fmt: skip
    assert missing == []


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            href = dict(attrs).get("href")
            if href and not href.startswith(("http:", "https:", "mailto:", "#")):
                self.links.append(href.split("#")[0])


def test_no_page_is_orphaned(site):
    """Every page can be reached from the front page by following links."""
    pages = {p for p in site.rglob("*.html") if not {"_static", "_sources", "_modules"} & set(p.relative_to(site).parts)}
    pages -= {site / "genindex.html", site / "search.html", site / "py-modindex.html"}
    seen, todo = set(), [site / "index.html"]
    while todo:
        page = todo.pop()
        if page in seen or not page.exists():
            continue
        seen.add(page)
        parser = _Links()
        parser.feed(page.read_text(encoding="utf-8"))
        todo += [(page.parent / link).resolve() for link in parser.links if link.endswith(".html")]
    assert sorted(str(p.relative_to(site)) for p in pages - seen) == []


def test_the_notebooks_and_guides_are_pages(site):
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9]*.ipynb"))
    assert sorted(p.stem for p in (site / "tutorials").glob("[0-9]*.html")) == notebooks
    adam_vs_l2 = (site / "tutorials" / "05_adamw_vs_l2.html").read_text(encoding="utf-8")
    assert "data:image/png" in adam_vs_l2 or "<img" in adam_vs_l2  # the stored figures
    for guide in ("install", "quickstart", "pymc", "rules", "schedules", "state", "compare", "search", "add_a_rule",
                  "performance"):  # fmt: skip
        assert (site / "guides" / f"{guide}.html").exists(), guide
    assert (site / "_images" / "cute-dl-curves.png").exists()
    assert (site / "_static" / "mathjax" / "tex-chtml.js").exists()


def _chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


def test_a_browser_shows_the_adam_page_with_rendered_math(site, tmp_path):
    browser = _chromium()
    if browser is None:
        pytest.skip("chromium is not installed (.ci/run installs Debian's chromium)")
    page = site / "api" / "generated" / "symupdates.optimizers.adam.html"
    assert "https://" not in "".join(
        line for line in page.read_text(encoding="utf-8").splitlines() if "mathjax" in line.lower()
    ), "MathJax must come from the site, not a CDN"
    out = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={tmp_path}",
         "--virtual-time-budget=15000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    dom = out.stdout
    assert "<mjx-container" in dom, out.stderr[-2000:]  # MathJax ran and typeset
    text = html_text(dom)
    assert "\\leftarrow" not in text and "\\frac" not in text, "raw LaTeX left on the page"
    assert "Parameters" in text and "learning_rate" in text and "beta2" in text
    assert "Examples" in text and ">>>" in text


def html_text(dom: str) -> str:
    """The visible text of a page: no tags, no scripts, no MathJax's hidden assistive MathML."""
    class Text(html.parser.HTMLParser):
        def __init__(self):
            super().__init__()
            self.parts, self.hidden = [], 0

        def handle_starttag(self, tag, attrs):
            if tag in ("script", "style", "mjx-assistive-mml"):
                self.hidden += 1

        def handle_endtag(self, tag):
            if tag in ("script", "style", "mjx-assistive-mml"):
                self.hidden -= 1

        def handle_data(self, data):
            if not self.hidden:
                self.parts.append(data)

    parser = Text()
    parser.feed(dom)
    return " ".join(parser.parts)


def test_see_also_entries_and_roles_link_to_their_pages(site):
    """The site is built nitpicky (every reference must resolve); here, two of them as links."""
    fit = (site / "api" / "generated" / "symupdates.lab.training.fit.html").read_text(encoding="utf-8")
    assert 'href="symupdates.lab.training.compile_step.html' in fit  # See Also: compile_step
    assert 'href="symupdates.lab.history.History.html' in fit  # :class:`History`
    adam = (site / "api" / "generated" / "symupdates.optimizers.adam.html").read_text(encoding="utf-8")
    assert 'href="symupdates.transforms.scale_by_adam.html' in adam
