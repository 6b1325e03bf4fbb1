# The two commands of the README: `make demo` and `make test`. Each installs what it needs
# into a local virtualenv (.venv) first.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint install bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,bench,lint]'
	touch $(STAMP)

install: $(STAMP)

# `make demo KEEP=DIR` keeps the demo's project and state in DIR (otherwise a temporary
# directory, removed at the end)
demo: $(STAMP)
	$(BIN)/python scripts/demo.py $(if $(KEEP),--keep '$(KEEP)')

test: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -p no:cacheprovider

# the unit tests: no test that needs the simulated toolchain (`slow`, tests/conftest.py)
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -n 2 -m "not slow" -p no:cacheprovider

lint: $(STAMP)
	$(BIN)/ruff check simpulse scripts tests
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python scripts/bench_overhead.py
	$(BIN)/python scripts/bench_learning.py --quick

clean:
	rm -rf $(VENV) lean_fixtures/.lake lean_fixtures/.simpulse
