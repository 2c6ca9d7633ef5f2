# certbot-dns-hostinger: `make demo` and `make test` work on a fresh Debian/Ubuntu machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
READY := $(VENV)/.ready

.PHONY: help demo test lint typecheck unit docs bench soak dist deb system-deps build-deps clean

help:
	@echo "make demo    issue a certificate end to end in a local sandbox"
	@echo "make test    lint, type-check, run every test and build the docs"
	@echo "make unit    the fast tests only (no Pebble, packaging or root; under a minute)"
	@echo "make docs    build the HTML docs into docs/_build/html"
	@echo "make bench   benchmark propagation waits and API calls (prints a table)"
	@echo "make soak    30+ sandbox issuances with random faults (prints a summary)"
	@echo "make dist    build the sdist and wheel into dist/"
	@echo "make deb     build dist/python3-certbot-dns-hostinger_<version>-1_all.deb"

system-deps:
	@sh tools/install-system-deps.sh

build-deps:
	@sh tools/install-build-deps.sh

$(READY): setup.cfg pyproject.toml | system-deps
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,lint,docs]' build
	@touch $@

venv: $(READY)

lint: $(READY)
	$(BIN)/ruff check .

typecheck: $(READY)
	$(BIN)/mypy

# The fast tests: no Pebble, no packaging, no root; on both cores, well under a minute.
UNIT_TESTS := not issuance and not debian and not packaging and not root

unit: $(READY)
	$(BIN)/pytest -n 2 -m "$(UNIT_TESTS)"

docs: $(READY)
	$(BIN)/sphinx-build -q -W --keep-going -b html docs docs/_build/html

test: system-deps build-deps $(READY)
	$(MAKE) --no-print-directory lint typecheck docs
	$(BIN)/pytest

demo: system-deps $(READY)
	$(BIN)/python -m tools.demo

bench: system-deps $(READY)
	$(BIN)/python -m tools.bench

soak: system-deps $(READY)
	$(BIN)/python -m tools.soak

dist: $(READY)
	rm -rf dist
	$(BIN)/python -m build --outdir dist .

# Debian's tools and Python only: no venv needed, the checkout stays clean (see debian/).
deb: build-deps
	@sh tools/build-deb.sh dist

clean:
	rm -rf $(VENV) build dist *.egg-info docs/_build .mypy_cache .ruff_cache .pytest_cache
