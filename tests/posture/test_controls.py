"""The controls registry names every check of the suites, and the controls section adds their outcomes up."""
from __future__ import annotations

import ast
from dataclasses import dataclass

import pytest

from meshproof.capabilities import CHECK_CONTROLS, CONTROLS, controls_of
from meshproof.controls import control_status, controls_section
from tests.suite_runner import ROOT


def suite_checks() -> set[str]:
    names = set()
    for path in (ROOT / "suites").glob("test_*.py"):
        tree = ast.parse(path.read_text())
        names |= {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}
    return names


def test_every_check_of_the_suites_evidences_some_control_and_the_registry_names_no_other():
    assert suite_checks() - set(CHECK_CONTROLS) == set()
    assert set(CHECK_CONTROLS) - suite_checks() == set()
    assert all(CHECK_CONTROLS.values())


def test_every_mapping_names_a_registered_control_and_every_control_is_evidenced_by_some_check():
    named = {key for keys in CHECK_CONTROLS.values() for key in keys}
    assert named - set(CONTROLS) == set()
    assert set(CONTROLS) - named == set()


def test_a_node_id_with_parameters_finds_its_checks_controls():
    nodeid = "suites/test_gateway_tls.py::test_mutual_rejects_a_client_without_certificate[curl]"
    assert "PCI DSS v4.0 8.3.2" in controls_of(nodeid)
    assert controls_of("suites/test_x.py::test_unknown") == ()


@pytest.mark.parametrize(("outcomes", "status"), [
    (["passed", "failed"], "failed"), (["passed", "error"], "error"), (["passed", "skipped"], "evidenced"),
    (["skipped"], "not evidenced"), ([], "not evidenced")])
def test_control_status(outcomes, status):
    assert control_status(outcomes) == status


@dataclass(frozen=True)
class Check:
    nodeid: str
    outcome: str


def test_the_section_lists_each_control_with_its_checks_and_status():
    identity = "suites/test_tls_posture.py::test_every_workload_holds_the_spiffe_identity_of_its_service_account_from_the_mesh_root"
    rotation = "suites/test_tls_posture.py::test_workload_certificate_is_renewed_before_expiry_without_a_failed_request"
    section = controls_section([Check(identity, "passed"),
                                {"nodeid": rotation, "outcome": "failed", "reason": "NOT CONFORMANT: serial unchanged"}])
    by_control = {(entry["framework"], entry["control"]): entry for entry in section}
    assert len(section) == len(CONTROLS)
    ia9 = by_control[("NIST SP 800-53 rev. 5", "IA-9")]
    assert ia9["status"] == "evidenced" and ia9["checks"] == [{"check": identity, "outcome": "passed"}]
    sc12 = by_control[("NIST SP 800-53 rev. 5", "SC-12")]
    assert sc12["status"] == "failed" and {"check": rotation, "outcome": "failed"} in sc12["checks"]
    assert by_control[("PCI DSS v4.0", "1.3.2")] == {
        "framework": "PCI DSS v4.0", "control": "1.3.2", "title": CONTROLS["PCI DSS v4.0 1.3.2"].title,
        "status": "not evidenced", "checks": []}


def test_a_check_failed_by_the_suites_own_machinery_marks_its_controls_error_never_failed():
    """A failure that proved nothing (meshproof.verdict: not a NOT CONFORMANT assertion) is no evidence against
    a control: an auditor must not read "failed" where the suite, not the mesh, broke."""
    rotation = "suites/test_tls_posture.py::test_workload_certificate_is_renewed_before_expiry_without_a_failed_request"
    broken = {"nodeid": rotation, "outcome": "failed",
              "reason": "InfrastructureError: infrastructure error: reference mesh process 'pilot-agent' exited"}
    sc12 = {(e["framework"], e["control"]): e for e in controls_section([broken])}[("NIST SP 800-53 rev. 5", "SC-12")]
    assert sc12["status"] == "error" and sc12["checks"] == [{"check": rotation, "outcome": "error"}]
