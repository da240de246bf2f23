"""The performance suite: ``python benchmarks/run.py [--quick]`` (or ``make bench``)."""
