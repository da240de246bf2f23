"""``python -m symupdates COMMAND ...``: the command line of :mod:`symupdates.cli`."""

from symupdates.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
