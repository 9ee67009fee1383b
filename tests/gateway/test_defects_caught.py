"""The gateway-mtls suite passes on the healthy reference mesh and catches each gateway defect.

Each case runs ``pytest -m gateway-mtls`` in a subprocess against a fresh mesh
(with ``--mesh-defect NAME`` where one is named) and reads its JUnit XML: the
checks that fail must be exactly the ones that should catch the defect.
"""
from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SUITE = "suites/test_gateway_tls.py"
#: short waits: a defect shows at once, and each caught check otherwise waits out the policy timeout
FAST = ["--timeout-policy", "3"]


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


def run_suite(tmp_path: Path, defect: str | None) -> dict[str, str]:
    """Test name -> passed / failed / skipped / error, from the subprocess's JUnit XML."""
    junit = tmp_path / "junit.xml"
    argv = [sys.executable, "-m", "pytest", SUITE, "-m", "gateway-mtls", "-p", "no:cacheprovider", "-q",
            "--junitxml", str(junit), "--reports-dir", str(tmp_path / "reports"), *FAST]
    if defect:
        argv += ["--mesh-defect", defect]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert junit.exists(), f"the suite did not run:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    results = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        states = {child.tag for child in case}
        results[case.get("name")] = next((s for s in ("error", "failure", "skipped") if s in states), "passed")
    return results


@pytest.mark.defect_catch
@pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")
@pytest.mark.parametrize("defect", list(CAUGHT_BY), ids=lambda d: d or "healthy mesh")
def test_the_suite_fails_exactly_the_checks_that_catch_the_defect(tmp_path, defect):
    results = run_suite(tmp_path, defect)
    assert results, "no test ran"
    assert not {name for name, state in results.items() if state in ("error", "skipped")}, results
    failed = {name for name, state in results.items() if state == "failure"}
    assert failed == CAUGHT_BY[defect]
