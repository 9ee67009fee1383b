"""The strict-mtls suite passes on the healthy reference mesh and catches every defect it claims to."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.suite_runner import run_suite

pytestmark = pytest.mark.defect_catch

LEGACY_RESET = "test_legacy_client_is_reset_under_strict_and_served_again_when_permissive"
IN_MESH = "test_in_mesh_clients_keep_working_under_strict"
XFCC = "test_in_mesh_traffic_is_mutual_tls_with_the_client_identity"
PROXY_NO_CERT = "test_proxy_container_without_client_certificate_is_rejected"
FOREIGN_CA = "test_client_certificate_from_a_foreign_ca_is_rejected"
RECREATED = "test_sleep_recreated_inside_the_mesh_namespace_gets_details"
SDS = "test_certificates_are_delivered_by_sds_not_on_the_proxy_containers_disk"
PROBES_READY = "test_pod_with_http_probes_becomes_and_stays_ready_under_strict"
PROBES_NOT_REWRITTEN = "test_http_probes_fail_under_strict_until_the_injector_rewrites_them"


def precedence(sentence: str) -> str:
    return f"test_policy_precedence[{sentence}]"


MESH_STRICT = precedence("mesh-wide STRICT resets plaintext in every namespace")
NS_OVERRIDES_MESH = precedence("namespace PERMISSIVE overrides mesh-wide STRICT")
NS_UNSET = precedence("namespace UNSET inherits mesh-wide STRICT")
WL_PERMISSIVE = precedence("workload PERMISSIVE inside a STRICT namespace accepts plaintext for that workload only")
WL_UNSET = precedence("workload UNSET inherits the namespace's STRICT")
WL_DISABLE = precedence("workload DISABLE inside a STRICT namespace takes plaintext")
PORT_EXCEPTION = precedence("port-level PERMISSIVE is an exception to a STRICT workload")
PORT_LOCK = precedence("port-level STRICT locks one port of a PERMISSIVE workload")

ALL_CHECKS = {LEGACY_RESET, IN_MESH, XFCC, PROXY_NO_CERT, FOREIGN_CA, RECREATED, SDS, PROBES_READY, PROBES_NOT_REWRITTEN,
              MESH_STRICT, NS_OVERRIDES_MESH, NS_UNSET, WL_PERMISSIVE, WL_UNSET, WL_DISABLE, PORT_EXCEPTION, PORT_LOCK}

#: defect -> the checks that must fail against it (and only those).  Both probe checks begin by proving
#: STRICT in force (legacy sleep reset), so a mesh where STRICT never takes effect fails them there.
CAUGHT_BY = {
    "sidecar-ignores-strict": {LEGACY_RESET, IN_MESH, PROXY_NO_CERT, FOREIGN_CA, PROBES_READY, PROBES_NOT_REWRITTEN,
                               MESH_STRICT, NS_UNSET, WL_PERMISSIVE, WL_UNSET, WL_DISABLE, PORT_EXCEPTION, PORT_LOCK},
    "sidecar-accepts-any-client-cert": {FOREIGN_CA},
    "control-plane-never-pushes": {LEGACY_RESET, IN_MESH, PROXY_NO_CERT, FOREIGN_CA, PROBES_READY, PROBES_NOT_REWRITTEN,
                                   MESH_STRICT, NS_UNSET, WL_PERMISSIVE, WL_UNSET, WL_DISABLE, PORT_EXCEPTION, PORT_LOCK},
    "sidecar-no-mtls-origination": {IN_MESH, XFCC, RECREATED, MESH_STRICT, NS_UNSET, WL_PERMISSIVE, WL_UNSET,
                                    WL_DISABLE, PORT_EXCEPTION, PORT_LOCK},
    "sidecar-certs-on-disk": {SDS},
    # plaintext probes on the app port are reset under STRICT: the pod never turns ready, patched or not
    "injector-does-not-rewrite-probes": {PROBES_READY, PROBES_NOT_REWRITTEN},
}


def test_every_check_passes_on_the_healthy_reference_mesh(tmp_path):
    run = run_suite("strict-mtls", tmp_path)
    assert run.exit_code == 0, run.output
    assert run.passed == ALL_CHECKS, run.output
    assert not run.failed and not run.skipped


def diagnosed_failures(reports: Path) -> dict[str, bool]:
    """Each failed Allure result (by file) -> whether the sidecars' config_dump was attached to them."""
    found = {}
    for path in (reports / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        if result["status"] in ("failed", "broken"):
            names = [a["name"] for a in result.get("attachments", [])]
            found[path.name] = any("config_dump" in name for name in names)
    return found


@pytest.mark.parametrize("defect", sorted(CAUGHT_BY))
def test_the_matching_checks_fail_against_a_defective_mesh(defect, tmp_path):
    run = run_suite("strict-mtls", tmp_path, defects=(defect,))
    assert run.exit_code == 1, run.output
    assert run.failed == CAUGHT_BY[defect], run.output
    assert run.passed == ALL_CHECKS - CAUGHT_BY[defect]
    diagnosed = diagnosed_failures(tmp_path / "reports" / "latest")
    assert len(diagnosed) == len(CAUGHT_BY[defect]) and all(diagnosed.values()), diagnosed
