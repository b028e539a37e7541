# shipmate: the two commands are `make demo` and `make test`.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test check bench install clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,server,postgres]'
	touch $(STAMP)

install: $(STAMP)

## Run the demo on an embedded SQLite database (demo-data/).
demo: $(STAMP)
	$(VENV)/bin/shipmate demo --reset

## Lint, type-check, then the whole test suite on SQLite and PostgreSQL.
test: $(STAMP)
	$(MAKE) --no-print-directory check
	$(PY) -m pytest -n 2 --dist loadgroup -q

## ruff (lint + format check) and mypy (strict on the package).
check: $(STAMP)
	$(VENV)/bin/ruff format --check shipmate tests bench
	$(VENV)/bin/ruff check shipmate tests bench
	$(VENV)/bin/mypy

## Every benchmark; writes docs/benchmarks.md (installs postgresql, nginx, wrk if missing).
bench: $(STAMP)
	bash bench/install-tools.sh
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) demo-data .pytest_cache .mypy_cache .ruff_cache
