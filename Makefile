# bizpbx: the two set-up commands are `make lab` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: venv test lab lab-down vagrant-box vagrant-up vagrant-test vagrant-down bench bench-esl bench-lab fuzz lint clean

$(BIN)/bizpbx: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(BIN)/bizpbx

test: venv
	$(BIN)/pytest

# Benchmarks that print figures, without a lab; the fuzzer and the lab's load have targets of their own.
bench: venv
	@for b in bench/*.py; do case $$b in bench/fuzz_inputs.py|bench/lab_load.py) continue;; esac; echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The input fuzzer: ten million cases by default (about 25 minutes).
fuzz: venv
	$(BIN)/python bench/fuzz_inputs.py

# Calls on the converged lab (make lab with FREESWITCH_PREFIX first): RATE calls/s for SECONDS s,
# routed by the controller and by the static fallback.
RATE ?= 30
SECONDS ?= 30
bench-lab: venv
	$(BIN)/python bench/lab_load.py --rate $(RATE) --seconds $(SECONDS)

# The ESL parser beside genesis's: genesis goes into a virtualenv of its own, never into the project.
BENCH_VENV := .venv-bench
bench-esl:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet -e . genesis
	$(BENCH_VENV)/bin/python bench/esl_bench.py

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis

# The local lab (root): three nspawn machines (pbx, carrier, phone), then playbooks/site.yml on them;
# LAB=cluster: the cluster lab (proxy, pbx1, pbx2, db, carrier, phone, inventory/cluster) beside it.
LAB ?= lab
lab: venv
	$(BIN)/python -m bizpbx_lab --lab $(LAB) up
	$(BIN)/python -m bizpbx_lab --lab $(LAB) converge

lab-down: venv
	$(BIN)/python -m bizpbx_lab --lab $(LAB) down

# The same lab as KVM VMs with Vagrant (libvirt), root: the Debian 12 box built here from
# Debian's packages, then this machine's side (isolated networks, the VMs' own tinyproxy) and
# vagrant up, which converges the three VMs with playbooks/site.yml. vagrant-test runs the
# testinfra suite against them (not part of make test); vagrant-down removes the VMs and networks.
vagrant-box:
	vagrant/build-box.sh

vagrant-up: venv
	$(BIN)/python -m bizpbx_lab.vagrant up
	PATH="$(CURDIR)/$(BIN):$$PATH" vagrant up --provider=libvirt --no-parallel

vagrant-test: venv
	BIZPBX_LAB_VMS=vagrant $(BIN)/pytest tests/hosts

vagrant-down: venv
	vagrant destroy -f
	$(BIN)/python -m bizpbx_lab.vagrant down
