"""Run a conformance suite in a child pytest, as a user would, and read which checks failed.

The project's own tests use it to prove each check fails on a mesh with the
matching defect switched on and passes on the healthy one.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: failing waits end fast in defect runs (a pod that never turns ready too); the healthy run keeps the defaults.
#: A defect shows at once, and each check that catches it waits out the policy timeout.
FAST_FAILURE = ["--timeout-policy", "3", "--timeout-workload-ready", "20"]


@dataclass
class SuiteRun:
    exit_code: int
    output: str
    passed: set[str] = field(default_factory=set)
    failed: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)
    #: each failed check -> the first lines of its failure (junit ``message`` and text)
    failures: dict[str, str] = field(default_factory=dict)

    def explain(self, names: set[str] | frozenset[str]) -> str:
        """The failures of ``names`` (e.g. checks that failed unexpectedly), then the run's output tail.

        A full suite's output ends in tables that can hide which step of a check
        failed; the junit record keeps it.
        """
        parts = [f"--- {name}:\n{self.failures.get(name, '(no failure recorded)')}" for name in sorted(names)]
        return "\n".join([*parts, "--- output tail:", self.output])


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child pytest: without the xdist worker variables of the test running it."""
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return {**inherited, **(extra or {})}


#: seconds an interrupted child run gets to remove its reference mesh before it is killed
CHILD_CLEANUP_GRACE = 90


def run_pytest(args: list[str], *, env: dict[str, str] | None = None, timeout: float = 600,
               prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """A child ``pytest`` started in the project root, as a user starts it (``prefix``: e.g. setpriv).

    On a timeout, Ctrl-C or the end of this run, the child is interrupted as a user
    interrupts a run (SIGINT), so it removes its mesh, and waited for; killed only
    if it has not ended after :data:`CHILD_CLEANUP_GRACE` seconds. The exception is
    raised again (subprocess.TimeoutExpired for a timeout).
    """
    argv = [*prefix, sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args]
    with subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          env=child_env(env)) as child:
        try:
            out, err = child.communicate(timeout=timeout)
        except BaseException:
            child.send_signal(signal.SIGINT)
            try:
                child.communicate(timeout=CHILD_CLEANUP_GRACE)
            except BaseException:
                child.kill()
                child.communicate()
            raise
    return subprocess.CompletedProcess(argv, child.returncode, out, err)


#: lines of a check's failure kept for the message of a project test
FAILURE_LINES = 60


def _name(case: ET.Element) -> str:
    return case.get("name", "")


def run_suite(marker: str, workdir: Path, *, defects: tuple[str, ...] = (), extra: list[str] | None = None,
              env: dict[str, str] | None = None, timeout: float = 600) -> SuiteRun:
    junit = workdir / "junit.xml"
    argv = ["suites", "-m", marker, "-q", f"--reports-dir={workdir / 'reports'}", f"--junitxml={junit}"]
    for defect in defects:
        argv += ["--mesh-defect", defect]
    # given later, an option in ``extra`` overrides the fast-failure default
    argv += (FAST_FAILURE if defects else []) + (extra or [])
    done = run_pytest(argv, env=env, timeout=timeout)
    run = SuiteRun(done.returncode, done.stdout[-6000:] + done.stderr[-3000:])
    if junit.exists():
        for case in ET.parse(junit).getroot().iter("testcase"):
            problem = case.find("failure") if case.find("failure") is not None else case.find("error")
            if problem is not None:  # error: broken set-up
                run.failed.add(_name(case))
                text = f"{problem.get('message', '')}\n{problem.text or ''}"
                run.failures[_name(case)] = "\n".join(text.splitlines()[:FAILURE_LINES])
            elif case.find("skipped") is not None:
                run.skipped.add(_name(case))
            else:
                run.passed.add(_name(case))
    return run
