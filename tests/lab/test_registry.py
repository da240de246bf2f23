"""The registry of rules (tests/rules.py), the package's named rules and the CLI's list agree.

``symupdates compare --optimizers`` accepts exactly the named rules, and every named rule
is tested through its registry row.
"""

from symupdates import optimizers
from symupdates.lab import cli
from tests.rules import RULES


def test_every_named_rule_has_a_registry_row():
    missing = [name for name in optimizers.__all__ if name not in RULES]
    assert missing == [], f"add a RuleCase row to tests/rules.py for {missing}"


def test_every_named_rule_is_in_the_cli_optimizer_list():
    missing = [name for name in optimizers.__all__ if name not in cli.OPTIMIZERS]
    assert missing == [], f"symupdates.lab.cli.OPTIMIZERS lacks {missing}"
    for name in optimizers.__all__:
        assert cli.OPTIMIZERS[name] is getattr(optimizers, name), name
