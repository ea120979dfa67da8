# Quick start: `make gui` opens the workbench, `make test` runs the suite, `make selftest`
# checks every analysis on planted ground truths (`make selftest ARGS=--quick` for the fast one).
# Each creates .venv on first use: torch==2.13.0 (CPU build) first, then the
# project pinned by constraints.txt.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.eegmi-installed

.PHONY: setup gui test lint bench selftest clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[test,cluster]"
	touch $(STAMP)

setup: $(STAMP)

gui: setup
	$(VENV)/bin/eegmi gui $(ARGS)

test: setup
	QT_QPA_PLATFORM=offscreen $(PY) -m pytest -q -p no:cacheprovider tests

lint: setup
	$(VENV)/bin/ruff check eegmi app tests benchmarks
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy eegmi

selftest: setup
	$(VENV)/bin/eegmi selftest $(ARGS)

bench: setup
	for b in benchmarks/[!_]*.py; do $(PY) $$b; done

clean:
	rm -rf $(VENV) build *.egg-info
