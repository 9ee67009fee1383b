"""Evidence belongs to one run (issue 9, item 5): per-run directories, ``latest`` moved only by runs that ran checks."""
import json
import os
import subprocess

from tests.suite_runner import child_env

SUITE = """
    from helpers import *

    @strict
    def test_reset():
        once("plaintext is reset", answers(None)(), RESET)

    @gateway
    def test_gateway():
        pass
"""


def _runs(root) -> list:
    runs = root / "reports" / "runs"
    return sorted(runs.iterdir()) if runs.is_dir() else []


def test_collect_only_and_usage_errors_leave_the_last_verdict_alone(fake_suite, pytester):
    first = fake_suite(SUITE)
    assert first.result.ret == 0
    latest = pytester.path / "reports" / "latest"
    assert os.readlink(latest) == f"runs/{first.reports.name}"
    before = {p: p.read_bytes() for p in first.reports.rglob("*") if p.is_file()}

    collect = pytester.runpytest_subprocess("-p", "fixtures.reporting", "--collect-only")
    assert collect.ret == 0
    usage = pytester.runpytest_subprocess("-p", "fixtures.reporting", "-m", "strict-mtls and (")
    assert usage.ret == 4
    deselected = pytester.runpytest_subprocess("-p", "fixtures.reporting", "-m", "egress-tls")
    assert deselected.ret == 5

    assert os.readlink(latest) == f"runs/{first.reports.name}"
    assert {p: p.read_bytes() for p in first.reports.rglob("*") if p.is_file()} == before
    # collect-only and the usage error left no directory; the run that selected nothing keeps its own report
    others = [run for run in _runs(pytester.path) if run != first.reports]
    assert [sorted(p.name for p in run.iterdir()) for run in others] == [
        ["allure-results", "conformance.json", "conformance.yaml", "junit.xml"]]
    assert json.loads((others[0] / "conformance.json").read_text())["verdict"] == "no checks run"


def test_two_runs_at_once_in_one_checkout_keep_their_own_evidence(fake_suite, pytester):
    fake_suite.write(SUITE)
    env = child_env({"PYTHONPATH": os.environ["PYTHONPATH"]})
    children = [subprocess.Popen(fake_suite.argv, cwd=pytester.path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT) for _ in range(2)]
    outputs = [child.communicate(timeout=300)[0].decode() for child in children]
    assert [child.returncode for child in children] == [0, 0], outputs
    runs = _runs(pytester.path)
    assert len(runs) == 2
    for run in runs:
        report = json.loads((run / "conformance.json").read_text())
        assert report["evidence"] == run.name and report["statistics"]["checks"] == 2
        # one result per check: no "retries" of the other run's tests
        assert len(list((run / "allure-results").glob("*-result.json"))) == 2
    assert os.readlink(pytester.path / "reports" / "latest") in {f"runs/{run.name}" for run in runs}


def test_reports_dir_is_the_root_of_every_runs_evidence(fake_suite, pytester):
    run = fake_suite(SUITE, "-p", "fixtures.options", f"--reports-dir={pytester.path / 'elsewhere'}")
    assert run.result.ret == 0
    (own,) = (pytester.path / "elsewhere" / "runs").iterdir()
    assert os.readlink(pytester.path / "elsewhere" / "latest") == f"runs/{own.name}"
    assert not (pytester.path / "reports").exists()
