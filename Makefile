# meshproof: `make conformance` proves mTLS on a mesh, `make test` tests meshproof itself.
# Every target bootstraps what it needs (Debian packages, venv, Node packages) idempotently.

PYTHON := .venv/bin/python
PYTEST := $(PYTHON) -m pytest
# a cluster to test instead of the embedded reference mesh: make conformance KUBE_CONTEXT=my-cluster
KUBE_CONTEXT ?=
BACKEND_ARGS := $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT),)
# extra pytest arguments, e.g. ARGS="-m strict-mtls -n 2" (an -n here wins over WORKERS)
ARGS ?=
# pytest-xdist workers of `make conformance`: the run mostly waits (policy windows, probes), so twice the cores pays
WORKERS ?= $(shell echo $$(( 2 * $$(nproc) )))
conformance: export PYTEST_ADDOPTS := -n $(WORKERS) $(PYTEST_ADDOPTS)

.PHONY: bootstrap conformance test report report-screenshot bench clean

bootstrap:
	@bash scripts/bootstrap.sh

# GNU make exits 2 whatever a recipe's status was; it names pytest's status in its last line
# ("Error 3"). scripts/conformance.sh, which this target runs, exits with pytest's own status.
conformance: bootstrap
	@bash scripts/conformance.sh $(BACKEND_ARGS) $(ARGS)

test: bootstrap
	$(PYTEST) tests --reports-dir=reports/selftest -n 4 --dist worksteal $(ARGS)

report:
	bash scripts/build-report.sh

report-screenshot: report
	bash scripts/screenshot-report.sh

bench: bootstrap
	$(PYTHON) scripts/benchmark.py

# removes what ended runs left; live runs are listed as skipped; make clean FORCE=RUN_ID removes a live one
clean:
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m meshproof.sweep $(BACKEND_ARGS) $(if $(FORCE),--force $(FORCE)) --reports reports; \
	else rm -rf reports; fi
	rm -rf .pytest_cache
