"""Killing the reference mesh's own gateway Envoy is an infrastructure error, not a non-conformant mesh (issue 9, item 3)."""
from __future__ import annotations

import json
import os

import pytest

from tests.suite_runner import FAST_FAILURE, run_pytest


@pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")
def test_a_dead_gateway_envoy_ends_the_run_as_an_infrastructure_error(tmp_path):
    done = run_pytest(["suites/test_gateway_tls.py", "-m", "gateway-mtls", "-k", "admits_the_trusted_partner",
                       "-p", "tests.gateway.kill_gateway", f"--reports-dir={tmp_path}", *FAST_FAILURE])
    output = done.stdout + done.stderr
    assert done.returncode == 3, output[-3000:]
    assert "not conformant" not in output.lower()
    report = json.loads((tmp_path / "latest" / "conformance.json").read_text())
    assert report["verdict"] == "infrastructure error"
    # the first infrastructure error stops the run (issue 12 item 10): the other check is listed as not run
    assert len(report["failed"]) == 1
    assert [row["check"].split("[")[-1] for row in report["not_run"]] == ["requests]"]
    for row in report["failed"]:
        assert row["kind"] == "suite or infrastructure error"
        assert "reference mesh process 'envoy router~" in row["reason"] and "istio-ingressgateway" in row["reason"]
        assert "(killed by SIGKILL)" in row["reason"]
    results = [json.loads(p.read_text()) for p in (tmp_path / "latest" / "allure-results").glob("*-result.json")]
    assert [r["status"] for r in results] == ["broken"]
