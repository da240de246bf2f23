"""The README's table of rules is checked against the package, never the other way round.

Each row must name a rule of ``symupdates.optimizers.__all__``, its reference as the
registry has it, and flags the rule really takes. A new rule needs no README row to pass
(the documentation site lists every rule from the package); a row that goes stale fails.
"""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import symupdates as su
from tests.rules import RULES

README = Path(__file__).resolve().parents[2] / "README.md"
_ROW = re.compile(r"^\| `(\w+)` \| `((?:optax\.)?\w+)(?:\([^`]*\))?`[^|]*\| (.*) \|$")


def _rule_rows():
    text = README.read_text(encoding="utf-8")
    table = text.split("## The rules, and how they map to torch.optim", 1)[1].split("\n\n")[2]
    rows = [_ROW.match(line) for line in table.splitlines()[2:]]
    assert all(rows), "every row of the rule table has the form | `rule` | `Torch...` or `optax.name` | flags |"
    return rows


def test_the_readme_rule_table_names_real_rules_their_references_and_flags():
    rows = _rule_rows()
    assert rows
    for row in rows:
        name, named, flags = row.groups()
        assert name in su.optimizers.__all__, name
        kind, _, reference_name = named.rpartition(".")  # `Adam` (torch.optim) or `optax.lion`
        reference = RULES[name].reference
        assert reference is not None and reference.kind == (kind or "torch") and reference.name == reference_name, name
        arguments = inspect.signature(getattr(su, name)).parameters
        for flag in re.findall(r"`(\w+)`", flags):
            assert flag in arguments, (name, flag)
