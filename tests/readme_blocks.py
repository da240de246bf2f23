"""The README's code blocks, extracted, for the tests that run them.

``python`` blocks are executed by :func:`run_block` (tests/lab/test_readme_blocks.py; the
one that imports PyMC by tests/pymc/test_readme.py). The fragments that use names they do
not define (``loss``, ``params``, ``X``, ``evaluate``...) run after :data:`PRELUDE`, a
small model that defines them. Shell blocks are checked line by line: ``make`` targets exist,
``pip install`` names real extras and ``symupdates`` command lines parse.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

_BLOCK = re.compile(r"^```(\w*)\n(.*?)^```$", re.S | re.M)

#: What the README's fragments take as given: a two-layer classifier on digits-sized
#: inputs, its cost (``loss`` and ``cost``), its parameters and an ``evaluate()``.
PRELUDE = """
import numpy as np, pytensor, pytensor.tensor as pt
import symupdates as su

rng = np.random.default_rng(0)
X, y = pt.matrix("X", dtype="float64"), pt.vector("y", dtype="int64")
W1 = pytensor.shared(rng.normal(0, 0.1, (64, 16)), name="W1")
b1 = pytensor.shared(np.zeros(16), name="b1")
W2 = pytensor.shared(rng.normal(0, 0.1, (16, 10)), name="W2")
b2 = pytensor.shared(np.zeros(10), name="b2")
params = [W1, b1, W2, b2]
logits = pt.maximum(X @ W1 + b1, 0) @ W2 + b2
loss = cost = -pt.mean(pt.special.log_softmax(logits, axis=-1)[pt.arange(y.shape[0]), y])
X_data, y_data = rng.normal(size=(32, 64)), rng.integers(0, 10, 32)
_cost = pytensor.function([X, y], cost)


def evaluate():
    return _cost(X_data, y_data)
"""


def blocks(language: str) -> list[tuple[int, str]]:
    """``(line number, text)`` of every README block fenced as ``language`` ("" for unmarked)."""
    text = README.read_text(encoding="utf-8")
    return [(text[: m.start()].count("\n") + 1, m.group(2)) for m in _BLOCK.finditer(text) if m.group(1) == language]


def run_block(line: int, text: str, prelude: str = "") -> dict:
    """Execute the README block that starts at ``line`` (after ``prelude``) in a fresh
    namespace, and return the namespace; a traceback names the block's line."""
    namespace = {"__name__": f"readme_line{line}"}
    if prelude:
        exec(compile(prelude, "<prelude>", "exec"), namespace)
    exec(compile(text, f"README.md, block at line {line}", "exec"), namespace)
    return namespace


def pymc_blocks() -> list[tuple[int, str]]:
    """The Python blocks that import PyMC (run on the legs that have it)."""
    return [(line, text) for line, text in blocks("python") if re.search(r"^import pymc", text, re.M)]


def shell_lines() -> list[tuple[int, str]]:
    """Every command of the README's shell blocks (``bash`` or unmarked): comments stripped,
    ``a && b`` split in two, a leading ``time`` and environment assignments dropped."""
    lines = []
    for start, text in blocks("bash") + blocks(""):
        for offset, line in enumerate(text.splitlines(), start=1):
            for command in line.split(" #", 1)[0].split("&&"):
                words = re.sub(r"\$\([^)]*\)", "SUBST", command).split()  # $(mktemp -d) is one word
                while words and (words[0] == "time" or re.fullmatch(r"[A-Z_]+=\S*", words[0])):
                    words.pop(0)
                if words:
                    lines.append((start + offset, " ".join(words)))
    return lines
