# meshproof: `make conformance` proves mTLS on a mesh, `make test` tests meshproof itself.
# Every target bootstraps what it needs (Debian packages, venv, Node packages) idempotently.

PYTHON := .venv/bin/python
PYTEST := $(PYTHON) -m pytest
# a cluster to test instead of the embedded reference mesh: make conformance KUBE_CONTEXT=my-cluster
KUBE_CONTEXT ?=
BACKEND_ARGS := $(if $(KUBE_CONTEXT),--kube-context $(KUBE_CONTEXT),)
# extra pytest arguments, e.g. ARGS="-m strict-mtls -n 2"
ARGS ?=

.PHONY: bootstrap conformance test report report-screenshot bench clean

bootstrap:
	@bash scripts/bootstrap.sh

conformance: bootstrap
	$(PYTEST) $(BACKEND_ARGS) $(ARGS)

test: bootstrap
	$(PYTEST) tests --reports-dir=reports/selftest -n 2 $(ARGS)

report:
	bash scripts/build-report.sh

report-screenshot: report
	bash scripts/screenshot-report.sh

bench: bootstrap
	$(PYTHON) scripts/benchmark.py

clean:
	@if [ -x $(PYTHON) ]; then $(PYTHON) -m meshproof.sweep $(BACKEND_ARGS); fi
	rm -rf reports .pytest_cache
