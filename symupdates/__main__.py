"""``python -m symupdates COMMAND ...``: the command line of :mod:`symupdates.lab.cli` (needs the lab)."""

from symupdates.lab.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
