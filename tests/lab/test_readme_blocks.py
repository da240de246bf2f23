"""Every code block of the README runs, or (a shell command) names what exists.

The Python blocks are executed in order, each in a fresh namespace after the prelude of
tests/readme_blocks.py (a small model that defines the names the fragments take as
given), in a temporary folder so that a block's files land there. The block that imports
PyMC runs on the legs that have PyMC (tests/pymc/test_readme.py). Shell blocks are
checked line by line: each ``make`` target is in the Makefile, each ``pip install`` names
extras that setup.cfg declares, each ``symupdates`` command line parses.
"""

from __future__ import annotations

import configparser
import re
import shlex

import matplotlib
import pytest

from tests.readme_blocks import PRELUDE, ROOT, blocks, pymc_blocks, run_block, shell_lines

matplotlib.use("Agg")

PYTHON = blocks("python")
NEEDS_PYMC = pymc_blocks()


def test_the_readme_has_the_blocks_this_file_runs():
    assert len(PYTHON) >= 8 and len(NEEDS_PYMC) == 1
    assert len(shell_lines()) >= 6


def _ids(value):
    return f"line{value}" if isinstance(value, int) else ""


@pytest.mark.parametrize("line, text", [b for b in PYTHON if b not in NEEDS_PYMC], ids=_ids)
def test_the_python_block_runs(line, text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_block(line, text, PRELUDE)


def _extras() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    return set(config["options.extras_require"])


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^([\w-]+):", text, re.M)}


@pytest.mark.parametrize("line, command", shell_lines(), ids=_ids)
def test_the_shell_command_names_what_exists(line, command):
    from symupdates.lab.cli import build_parser, parse_optimizers

    words = shlex.split(command)
    if words[0] == "make":
        assert set(words[1:]) <= _make_targets(), f"README line {line}: {command}"
    elif words[:2] == ["pip", "install"]:
        (target,) = words[2:]
        extras = re.fullmatch(r"(?:\.|symupdates)(?:\[([\w,-]+)\])?", target)
        assert extras, f"README line {line}: {command}"
        assert set(filter(None, (extras.group(1) or "").split(","))) <= _extras(), f"README line {line}: {command}"
    elif words[:2] == ["git", "clone"] or words[0] == "cd":
        pass  # getting a checkout: nothing of ours to check
    elif words[0] == "symupdates":
        args = build_parser().parse_args(words[1:])
        if getattr(args, "optimizers", None):  # compare's; the search commands have none
            assert parse_optimizers(args.optimizers)
    else:
        pytest.fail(f"README line {line}: a shell command this test does not know how to check: {command}")
