#!/usr/bin/env bash
# `make conformance`: the conformance run, exiting with pytest's own status (README, "Exit codes").
#
# `-c pytest.ini -p fixtures.options` make meshproof's options known before pytest's first parse of the
# command line, so a path option given with a space (`--kubeconfig ~/.kube/other`) is read as the option's
# value and not as a test path outside the project.
set -u
cd "$(dirname "$0")/.."
.venv/bin/python -m pytest -c pytest.ini -p fixtures.options "$@"
exit $?
