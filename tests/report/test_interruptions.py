"""An interrupted run says "interrupted", whatever the moment and the signal (issue 9, item 4).

A small failing suite runs in a child pytest and is interrupted at marked
moments: while a passing check runs, while a failing check runs, during the
session's final teardown, by SIGINT or SIGTERM, once or twice.  Whatever
happens, the verdict is never "conformant" nor "not conformant", the exit code
is 2, the check that was cut short counts as not run, clean-up finishes, no
traceback is printed, and the evidence on disk is this run's alone.
"""
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.suite_runner import child_env

#: a suite with a passing and a failing check and a session fixture whose teardown takes a moment;
#: it marks each moment it reaches in $MARKS and lingers at $HOLD_AT: a check until the signal ends it,
#: the teardown for 2 s (a signal must not cut it short)
SUITE = """
    import os
    import time
    import pytest
    from helpers import *

    def reached(name, hold=0.0):
        open(os.path.join(os.environ["MARKS"], name), "w").close()
        if os.environ.get("HOLD_AT") == name:  # a check waits for the signal; clean-up is deferred, not cut
            hold = 2.0 if name == "teardown" else 60.0
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            time.sleep(0.01)

    @pytest.fixture(scope="session")
    def mesh():
        yield
        reached("teardown", hold=0.5)
        reached("torn-down")

    @strict
    def test_passes(mesh):
        reached("passing-check")
        becomes("plaintext is reset", answers(None), RESET, FAST)

    @strict
    def test_fails(mesh):
        reached("failing-check")
        becomes("plaintext is reset", answers("hello"), RESET, FAST)
"""

CHECKS = {"passing-check": "test_fake.py::test_passes", "failing-check": "test_fake.py::test_fails"}

SCENARIOS = [
    ("passing-check", ("SIGINT",)),
    ("failing-check", ("SIGINT",)),
    ("failing-check", ("SIGTERM",)),
    ("failing-check", ("SIGINT", "SIGINT")),
    ("passing-check", ("SIGINT", "SIGTERM")),
    ("teardown", ("SIGINT",)),
    ("teardown", ("SIGTERM", "SIGTERM")),
]


def _wait_for(path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert process.poll() is None, f"the run ended before reaching {path.name}"
        assert time.monotonic() < deadline, f"the run never reached {path.name}"
        time.sleep(0.02)


def _interrupted_run(fake_suite, workdir: Path, moment: str, signals: tuple[str, ...]):
    marks = workdir / "marks"
    marks.mkdir()
    env = child_env({"MARKS": str(marks), "HOLD_AT": moment, "PYTHONPATH": os.environ["PYTHONPATH"]})
    process = subprocess.Popen(fake_suite.argv, cwd=workdir, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(marks / moment, process)
        process.send_signal(getattr(signal, signals[0]))
        if len(signals) > 1:  # the second one while the run cleans up
            _wait_for(marks / "teardown", process)
            process.send_signal(getattr(signal, signals[1]))
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, out + err, marks


@pytest.mark.parametrize(("moment", "signals"), SCENARIOS, ids=[f"{m}-{'+'.join(s)}" for m, s in SCENARIOS])
def test_an_interrupted_run_is_never_conformant_nor_not_conformant(fake_suite, pytester, moment, signals):
    fake_suite.write(SUITE)
    code, output, marks = _interrupted_run(fake_suite, pytester.path, moment, signals)
    assert code == 2, output
    assert "Traceback" not in output
    assert (marks / "torn-down").exists(), "clean-up did not finish"
    runs = list((pytester.path / "reports" / "runs").iterdir())  # this run's, and nothing else
    assert len(runs) == 1
    report = json.loads((runs[0] / "conformance.json").read_text())
    assert report["verdict"] == "interrupted"
    assert report["exit_status"] == {"code": 2, "meaning": "interrupted"}
    assert "verdict: interrupted" in output
    if moment in CHECKS:  # the check that was cut short neither passed nor failed
        # the check cut short, and any the run never reached, are listed as not run
        assert CHECKS[moment] in [row["check"] for row in report["not_run"]]
        assert CHECKS[moment] not in [row["check"] for row in report["failed"]]
    assert report["evidence"] == runs[0].name


def test_double_ctrl_c_leaves_only_this_runs_evidence(fake_suite, pytester, monkeypatch):
    """The previous run's report stays in its own directory; ``latest`` moves to the interrupted run."""
    monkeypatch.setenv("MARKS", str(pytester.mkdir("previous-marks")))
    previous = fake_suite(SUITE)
    assert previous.result.ret == 1 and previous.conformance["verdict"] == "not conformant"
    code, output, _ = _interrupted_run(fake_suite, pytester.path, "failing-check", ("SIGINT", "SIGINT"))
    assert code == 2 and "Traceback" not in output
    reports = pytester.path / "reports"
    (run,) = [p for p in (reports / "runs").iterdir() if p != previous.reports]
    assert os.readlink(reports / "latest") == f"runs/{run.name}"
    assert sorted(p.name for p in run.iterdir()) == ["allure-results", "conformance.json", "conformance.yaml",
                                                     "junit.xml"]
    assert json.loads((run / "conformance.json").read_text())["verdict"] == "interrupted"
    assert previous.conformance["verdict"] == "not conformant"  # untouched, in its own directory
