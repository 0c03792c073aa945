# bizpbx: the two set-up commands are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test lab lab-down bench bench-esl lint clean

$(BIN)/bizpbx: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/bizpbx

test: venv
	$(BIN)/pytest

bench: venv
	@for b in bench/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The ESL parser beside genesis's: genesis goes into a virtualenv of its own, never into the project.
BENCH_VENV := .venv-bench
bench-esl:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -e . genesis
	$(BENCH_VENV)/bin/python bench/esl_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The local lab (root): three nspawn machines (pbx, carrier, phone), then playbooks/site.yml on them.
lab: venv
	$(BIN)/python -m bizpbx.lab up
	$(BIN)/python -m bizpbx.lab converge

lab-down: venv
	$(BIN)/python -m bizpbx.lab down
