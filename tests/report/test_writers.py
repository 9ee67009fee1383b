"""The report writers on their own: verdicts, Allure environment and categories."""
import json
import re

import pytest

from meshproof import report
from meshproof.capabilities import CAPABILITIES
from meshproof.report import Check, RunFacts


@pytest.mark.parametrize(("outcomes", "verdict"), [
    (["passed", "passed"], "success"),
    (["passed", "not-supported"], "partial"),
    (["passed", "skipped"], "partial"),
    (["passed", "failed", "not-supported"], "failure"),
    (["error"], "failure"),
    (["not-supported", "skipped"], "not-run"),
    ([], "not-run"),
])
def test_capability_verdict(outcomes, verdict):
    checks = [Check(f"t{i}", outcome, ("strict-mtls",)) for i, outcome in enumerate(outcomes)]
    assert report.capability_results(checks)["strict-mtls"].result == verdict


def test_every_registered_capability_has_a_section_and_unknown_markers_are_ignored():
    results = report.capability_results([Check("t", "passed", ("strict-mtls", "no-such-capability"))])
    assert list(results) == list(CAPABILITIES)
    assert results["strict-mtls"].passed == 1


@pytest.mark.parametrize(("message", "kind"), [  # meshproof.verdict decides, report uses it
    ("AssertionError: NOT CONFORMANT: plaintext is reset: expected RESET, saw OK(200)", "mesh is not conformant"),
    ("NOT CONFORMANT: no certificate on disk", "mesh is not conformant"),
    ("AssertionError: assert 1 == 2", "suite or infrastructure error"),
    ("meshproof.errors.PreflightError: no cluster", "suite or infrastructure error"),
])
def test_failure_kind(message, kind):
    assert report.failure_kind(message) == kind


def test_not_supported_is_told_from_skipped_by_the_reason():
    assert report.skip_outcome("not supported: ingress-gateway") == "not-supported"
    assert report.skip_outcome("Not supported by this mesh") == "not-supported"
    assert report.skip_outcome("needs a second CA (not supported yet)") == "skipped"


def test_environment_properties_lead_with_the_verdict_and_list_every_setting():
    facts = RunFacts("kube", ["ab12", "ab12w1"], {"profile": "asm", "version": "1.23.4-asm.1", "platform": "gke"},
                     "v1.30.2", "pytest -m strict-mtls", settings={"-m": "strict-mtls", "--timeout-policy": "3.0"},
                     commit="0123abcd")
    conformance = {"verdict": "not conformant", "exit_status": {"code": 1}}
    assert report.environment_properties(facts, conformance).splitlines() == [
        "verdict=not conformant", "exit.code=1",
        "backend=kube", "mode=default", "mesh.profile=asm", "mesh.version=1.23.4-asm.1", "mesh.platform=gke",
        "kubernetes.version=v1.30.2", "run.id=ab12,ab12w1", f"meshproof.version={report.__version__}",
        "meshproof.commit=0123abcd", "setting.-m=strict-mtls", "setting.--timeout-policy=3.0",
    ]


def test_a_defect_run_says_so_in_its_mode():
    facts = RunFacts("local", settings={"--mesh-defect": "sidecar-ignores-strict"})
    assert facts.mode == "defects: sidecar-ignores-strict"
    assert "mode=defects: sidecar-ignores-strict" in report.environment_properties(facts).splitlines()


def test_categories_separate_non_conformance_from_errors_in_allure_2_and_3():
    first, second = report.categories()
    assert (first["name"], second["name"]) == ("Mesh is not conformant", "Suite or infrastructure error")
    assert first["matchedStatuses"] == ["failed"] and set(second["matchedStatuses"]) == {"failed", "broken"}
    message = "AssertionError: NOT CONFORMANT: gateway accepts no client certificate\ncurl -sS https://gw\nexit 0"
    assert re.fullmatch(first["messageRegex"], message)  # Allure 2 (Java) matches the whole message
    assert re.search(first["messageRegex"], message)  # Allure 3 (JavaScript) searches
    assert not re.search(first["messageRegex"], "PreflightError: no cluster")
    assert "(?" not in first["messageRegex"]  # no inline flags: JavaScript rejects them


def test_write_allure_metadata(tmp_path):
    written = report.write_allure_metadata(RunFacts("local", ["ff00aa"]), tmp_path / "allure-results")
    assert [p.name for p in written] == ["environment.properties", "categories.json"]
    assert json.loads(written[1].read_text()) == report.categories()
    assert "run.id=ff00aa\n" in written[0].read_text()


def test_run_facts_from_workers_merge_into_one_run():
    first = RunFacts("local", ["aaw0"], {"profile": "istio"}, "v1.31.0", "")
    merged = RunFacts(command="pytest -n 2").merge(first).merge(RunFacts("local", ["aaw1"]))
    assert merged == RunFacts("local", ["aaw0", "aaw1"], {"profile": "istio"}, "v1.31.0", "pytest -n 2")
