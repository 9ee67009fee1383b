"""The egress-tls suite passes on the healthy reference mesh and catches both egress defects.

Each run is ``pytest -m egress-tls`` in a child process, as a user runs it,
with failing waits cut to 3 s; junit XML tells which checks failed.
"""
from __future__ import annotations

import pytest

from meshproof.sslmode import VALID, SslMode
from tests.suite_runner import run_suite

pytestmark = pytest.mark.defect_catch

STRICT_SCOPES = ("namespace-STRICT", "mesh-wide-STRICT")


def each_scope(test: str) -> set[str]:
    return {f"{test}[{scope}]" for scope in STRICT_SCOPES}


TLS_SESSIONS = {
    f"test_the_app_returns_the_rows_over_a_session_the_database_reports_as_tls[{scope}-{mode.value}+mutual-{mutual.value}]"
    for scope in STRICT_SCOPES for mode, mutual in VALID if mode is not SslMode.DISABLE
}
DISABLE_REFUSED = each_scope("test_disable_is_refused_by_the_tls_only_database")
WRONG_CA = each_scope("test_verify_ca_with_another_ca_fails_certificate_verification")
UNLISTED_NAME = each_scope("test_verify_full_to_a_name_not_in_the_certificate_fails")
X509_WITHOUT_CERT = each_scope("test_the_x509_user_without_a_client_certificate_is_denied")
REGISTRY_ONLY = each_scope("test_registry_only_blocks_the_database_until_a_service_entry_registers_it")

ALL_CHECKS = TLS_SESSIONS | DISABLE_REFUSED | WRONG_CA | UNLISTED_NAME | X509_WITHOUT_CERT | REGISTRY_ONLY

#: defect -> the checks that must fail against it (and only those)
CAUGHT_BY = {
    # the outbound tls_inspector waits for client bytes, the client for the server's greeting: every session dies
    "sidecar-inspects-server-first-tcp": ALL_CHECKS,
    # a plaintext session is let in; every TLS check still holds
    "database-does-not-require-tls": DISABLE_REFUSED,
}


def test_every_check_passes_on_the_healthy_reference_mesh(tmp_path):
    run = run_suite("egress-tls", tmp_path)
    assert run.exit_code == 0, run.output
    assert run.passed == ALL_CHECKS, run.output
    assert not run.failed and not run.skipped


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_the_matching_checks_fail_against_a_defective_mesh(defect, tmp_path):
    run = run_suite("egress-tls", tmp_path, defects=(defect,))
    assert run.exit_code == 1, run.output
    assert run.failed == CAUGHT_BY[defect], run.output
    assert run.passed == ALL_CHECKS - CAUGHT_BY[defect]
