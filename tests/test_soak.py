"""The soak script reads a run's failed checks as node ids a second pytest can select, and names its lines plainly."""
from __future__ import annotations

import importlib.util
import sys

from tests.suite_runner import ROOT, run_pytest

spec = importlib.util.spec_from_file_location("soak", ROOT / "scripts" / "soak.py")
soak = sys.modules["soak"] = importlib.util.module_from_spec(spec)  # dataclasses look their module up
spec.loader.exec_module(soak)

JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">
<testcase classname="suites.test_peer_authentication" name="test_legacy_client_is_reset_under_strict_and_served_again_when_permissive"><failure message="x"/></testcase>
<testcase classname="suites.test_gateway_tls" name="test_mutual_rejects_a_client_without_certificate[curl]"><error message="y"/></testcase>
<testcase classname="suites.test_gateway_tls" name="test_mutual_rejects_a_client_without_certificate[requests]"/>
<testcase classname="suites.test_gateway_tls" name="test_simple_tls_is_verified_with_the_server_ca[curl]"><skipped/></testcase>
</testsuite></testsuites>"""


def test_failed_and_errored_checks_become_node_ids_pytest_selects(tmp_path):
    junit = tmp_path / "junit.xml"
    junit.write_text(JUNIT)
    failed = soak.failed_checks(junit)
    assert failed == [
        "suites/test_peer_authentication.py::test_legacy_client_is_reset_under_strict_and_served_again_when_permissive",
        "suites/test_gateway_tls.py::test_mutual_rejects_a_client_without_certificate[curl]"]
    done = run_pytest(["--co", "-q", f"--reports-dir={tmp_path / 'reports'}", *failed], timeout=120)
    assert done.returncode == 0 and "2 tests collected" in done.stdout, done.stdout + done.stderr


def test_a_run_line_separates_flaky_from_failed_checks_and_names_leaks():
    run = soak.Run(2, "kabc002", exit_code=1, seconds=41.04, failed=["a", "b"], flaky=["a"],
                   leaks={"netns": ["mp-kabc002w0"]})
    assert run.line(5) == ("run 2/5 kabc002: not conformant (exit 1) in 41.0 s; flaky: a; failed: b; "
                           "leaks: netns mp-kabc002w0")
