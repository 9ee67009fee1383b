"""The verdict is decided in one place and never lies (issue 9, items 3 and 4)."""
import pytest

from meshproof import verdict
from meshproof.verdict import NOT_CONFORMANT_KIND as NC, SUITE_ERROR_KIND as SE


@pytest.mark.parametrize(("kinds", "passed", "interrupted", "status", "expected"), [
    ([], 3, False, 0, verdict.CONFORMANT),
    ([NC], 2, False, 1, verdict.NOT_CONFORMANT_VERDICT),
    ([NC, SE], 2, False, 1, verdict.NOT_CONFORMANT_VERDICT),  # a rule broken while the machinery was healthy
    ([SE], 2, False, 1, verdict.INFRASTRUCTURE_ERROR),
    ([], 0, False, 3, verdict.INFRASTRUCTURE_ERROR),  # pytest.exit(returncode=3) from the cluster fixture
    ([], 5, True, 0, verdict.INTERRUPTED),
    ([NC], 1, True, 1, verdict.INTERRUPTED),
    ([], 1, False, 2, verdict.INTERRUPTED),
    ([], 0, False, 0, verdict.NO_CHECKS_RUN),
], ids=["all-passed", "mesh-broke-a-rule", "rule-and-error", "error", "exit-3", "signal", "signal-after-failure",
        "pytest-interrupted", "nothing-passed"])
def test_run_verdict(kinds, passed, interrupted, status, expected):
    assert verdict.run_verdict(kinds, passed=passed, interrupted=interrupted, exit_status=status) == expected


def test_exit_codes_follow_the_brief():
    assert [v.exit_code for v in (verdict.CONFORMANT, verdict.NOT_CONFORMANT_VERDICT, verdict.INTERRUPTED,
                                  verdict.INFRASTRUCTURE_ERROR)] == [0, 1, 2, 3]


def test_a_failure_under_broken_machinery_names_the_cause_and_claims_nothing():
    error = verdict.machinery_failure(
        "AssertionError: NOT CONFORMANT: gateway rejects no client cert: expected TLS_REJECTED, saw REFUSED\ncurl ...",
        ["reference mesh process 'envoy istio-ingressgateway' exited (killed by SIGKILL)"])
    text = str(error)
    assert text.startswith("infrastructure error: reference mesh process 'envoy istio-ingressgateway' exited")
    assert "NOT CONFORMANT" not in text and "saw REFUSED" in text
    assert not isinstance(error, AssertionError)  # Allure files it as broken, not failed
    assert verdict.failure_kind(f"{type(error).__module__}.{type(error).__name__}: {text}") == SE


#: a fake suite whose "machinery" breaks in the middle: the conftest hands the plugin a health query
MACHINERY_CONFTEST = """
import pytest
from fixtures.machinery import MACHINERY_KEY

BROKEN = []

@pytest.fixture(autouse=True, scope="session")
def _machinery(request):
    request.config.stash[MACHINERY_KEY] = lambda: list(BROKEN)
"""

BREAKS_MIDWAY = """
    import conftest
    from helpers import *

    @strict
    def test_plaintext_is_reset():
        once("plaintext is reset", answers(None)(), RESET)

    @gateway
    def test_gateway_dies_then_check_fails():
        conftest.BROKEN.append("reference mesh process 'envoy istio-ingressgateway' exited (killed by SIGKILL)")
        becomes("gateway answers", answers(None), OK(200), FAST)

    @gateway
    def test_later_check_also_fails():
        becomes("gateway answers", answers(None), OK(200), FAST)
"""


def test_a_dead_machinery_process_makes_failures_infrastructure_errors(fake_suite):
    run = fake_suite(BREAKS_MIDWAY, conftest=MACHINERY_CONFTEST)
    assert run.result.ret == 3
    out = run.result.stdout.str()
    assert "NOT CONFORMANT" not in out and "verdict: not conformant" not in out
    assert "verdict: infrastructure error" in out
    report = run.conformance
    assert report["verdict"] == "infrastructure error"
    assert report["exit_status"] == {"code": 3, "meaning": "usage or infrastructure error"}
    assert {row["kind"] for row in report["failed"]} == {"suite or infrastructure error"}
    assert all("envoy istio-ingressgateway" in row["reason"] for row in report["failed"])
    results = run.allure_results()
    assert results["test_later_check_also_fails"]["status"] == "broken"
    assert results["test_plaintext_is_reset"]["status"] == "passed"
