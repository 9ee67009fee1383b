"""The gateway-mtls suite passes on the healthy reference mesh and catches each gateway defect.

Each case runs ``pytest -m gateway-mtls`` in a subprocess against a fresh mesh
(with ``--mesh-defect NAME`` where one is named) and reads its JUnit XML: the
checks that fail must be exactly the ones that should catch the defect.
"""
from __future__ import annotations

import os

import pytest

from tests.suite_runner import run_suite

def both_clients(test: str) -> set[str]:
    return {f"{test}[curl]", f"{test}[requests]"}


UNTRUSTED = both_clients("test_mutual_rejects_a_client_of_an_untrusted_ca")
ROTATION = both_clients("test_trust_bundle_rotation_takes_effect_without_restart")

CAUGHT_BY: dict[str | None, set[str]] = {
    None: set(),
    "gateway-no-client-cert-required": both_clients("test_mutual_rejects_a_client_without_certificate"),
    # a gateway that trusts any CA also lets expired and wrongly named certificates in: Envoy's
    # ACCEPT_UNTRUSTED waives every verification failure, not just the unknown issuer
    "gateway-trusts-any-ca": UNTRUSTED | ROTATION
    | both_clients("test_expired_client_certificate_is_rejected")
    | both_clients("test_subject_alt_names_admit_only_the_named_partner")
    | both_clients("test_trusted_cas_from_a_separate_cacert_secret"),
    "gateway-sds-never-reloads": ROTATION,
}


@pytest.mark.defect_catch
@pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")
@pytest.mark.parametrize("defect", list(CAUGHT_BY), ids=lambda d: d or "healthy mesh")
def test_the_suite_fails_exactly_the_checks_that_catch_the_defect(tmp_path, defect):
    run = run_suite("gateway-mtls", tmp_path, defects=(defect,) if defect else ())
    assert run.passed | run.failed, f"the suite did not run:\n{run.output}"
    assert not run.skipped, run.output
    assert run.failed == CAUGHT_BY[defect], run.output
