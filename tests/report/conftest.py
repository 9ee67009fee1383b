"""Fake suites run with the reporting plugin, for the tests of the evidence a run leaves."""
from __future__ import annotations

import json
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.suite_runner import ROOT

MARKERS_INI = """\
[pytest]
markers =
    strict-mtls: x
    gateway-mtls: x
    egress-tls: x
"""

#: a fake suite's conftest: a RunInfo per process as fixtures/mesh.py makes it, its mesh once connected
RUN_CONFTEST = """\
import os
import pytest
from meshproof.cluster import MeshInfo
from meshproof.run import RUN_KEY, RunInfo

def pytest_configure(config):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    config.stash[RUN_KEY] = RunInfo(run_id="ab12cd" + worker, backend="local", command="pytest -m strict-mtls")

@pytest.fixture(autouse=True, scope="session")
def _cluster(request):
    run = request.config.stash[RUN_KEY]
    run.mesh = MeshInfo("istio", "1.24.2", "kind", features=frozenset({"sidecar", "peer-authentication"}))
    run.kubernetes_version = "v1.31.0"
"""

#: probes and checks as the suites use them, with no cluster: python_call runs in-process
HELPERS = """\
import pytest
from meshproof.check import becomes, once
from meshproof.outcome import OK, RESET
from meshproof.probe import python_call
from meshproof.timeouts import Timeouts

# a wait that holds ends after its confirmations; the policy is headroom for a loaded machine, which
# only a wait that never holds spends in full
FAST = Timeouts(policy=1.0, poll_interval=0.01, confirmations=2)
strict = pytest.mark.__getattr__("strict-mtls")
gateway = pytest.mark.__getattr__("gateway-mtls")
egress = pytest.mark.__getattr__("egress-tls")

def answers(*bodies):
    '''A probe answering 200 with each body in turn (the last one repeated); None means reset.'''
    seen = []
    def call():
        body = bodies[min(len(seen), len(bodies) - 1)]
        seen.append(body)
        if body is None:
            raise ConnectionResetError("Connection reset by peer")
        return 200, body
    return lambda: python_call("sleep -> details", "curl -sS http://details:9080/", call)
"""


#: a fake suite runs with the reporting plugin only
PLUGIN_ARGS = ("-p", "fixtures.reporting", "-p", "no:cacheprovider")


class FakeRun:
    """A finished fake run: pytest's outcome plus the files the plugin wrote."""

    def __init__(self, result: pytest.RunResult, root: Path) -> None:
        self.result = result
        #: the evidence root; each run writes into runs/<evidence id>/, ``latest`` points at the last one
        self.root = root / "reports"
        runs = sorted((self.root / "runs").iterdir()) if (self.root / "runs").is_dir() else []
        #: this run's own directory (the newest one)
        self.reports = runs[-1] if runs else self.root / "runs" / "none"

    @property
    def conformance(self) -> dict:
        return json.loads((self.reports / "conformance.json").read_text())

    def junit(self) -> dict[str, int]:
        suite = ET.parse(self.reports / "junit.xml").getroot().find("testsuite")
        return {key: int(suite.get(key)) for key in ("tests", "failures", "errors", "skipped")}

    def allure_results(self) -> dict[str, dict]:
        """allure-pytest's result files by test name."""
        files = (self.reports / "allure-results").glob("*-result.json")
        return {data["name"]: data for data in (json.loads(f.read_text()) for f in files)}

    def labels(self, test: str) -> dict[str, str]:
        return {label["name"]: label["value"] for label in self.allure_results()[test]["labels"]}


@pytest.fixture
def fake_suite(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    """Write a fake suite and return a function that runs it with the plugin."""
    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makefile(".ini", pytest=MARKERS_INI)
    pytester.makeconftest(RUN_CONFTEST)
    pytester.makepyfile(helpers=HELPERS)

    def write(source: str, conftest: str = "") -> None:
        """The fake suite's files; ``conftest`` is added to its conftest."""
        pytester.makeconftest(RUN_CONFTEST + textwrap.dedent(conftest))
        pytester.makepyfile(test_fake=textwrap.dedent(source))

    def run(source: str, *args: str, conftest: str = "") -> FakeRun:
        """In a child process: allure-pytest's listener is process-global, so an in-process run
        would share it with the outer session's."""
        write(source, conftest)
        result = pytester.runpytest_subprocess(*PLUGIN_ARGS, *args)
        return FakeRun(result, pytester.path)

    run.write = write
    run.argv = [sys.executable, "-m", "pytest", *PLUGIN_ARGS]
    return run
