# The two commands a fresh machine needs: `make run` and `make test`.
# Each creates or refreshes .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_RUN := $(VENV)/.installed-run
STAMP_TEST := $(VENV)/.installed-test

.PHONY: run test notebooks bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_RUN): $(PY) setup.cfg pyproject.toml
	$(PY) -m pip install --quiet -e .
	touch $@

$(STAMP_TEST): $(STAMP_RUN) setup.cfg
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

run: $(STAMP_RUN)
	$(PY) examples/train_all.py

test: $(STAMP_TEST)
	$(PY) -m pytest -n 2 -q

clean:
	rm -rf $(VENV) *.egg-info
