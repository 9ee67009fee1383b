"""Which pods the reference mesh injects: the labels users set on namespaces and pods."""
from __future__ import annotations

import pytest

from meshproof.local.injection import wants_sidecar

ENABLED = {"istio-injection": "enabled"}
OPT_OUT = {"annotations": {"sidecar.istio.io/inject": "false"}}
OPT_IN = {"labels": {"sidecar.istio.io/inject": "true"}}


@pytest.mark.parametrize("namespace, pod, revision, injected", [
    pytest.param(ENABLED, {}, None, True, id="istio-injection=enabled"),
    pytest.param({}, {}, None, False, id="unlabelled namespace"),
    pytest.param({"istio-injection": "disabled"}, OPT_IN, None, False, id="disabled namespace wins over a pod opt-in"),
    pytest.param(ENABLED, OPT_OUT, None, False, id="pod annotation opts out"),
    pytest.param({}, OPT_IN, None, True, id="pod label opts in"),
    pytest.param({"istio.io/rev": "asm-1-24"}, {}, "asm-1-24", True, id="the configured revision"),
    pytest.param({"istio.io/rev": "asm-1-23"}, {}, "asm-1-24", False, id="another revision"),
    pytest.param({"istio.io/rev": "default"}, {}, None, True, id="the default revision without a configured one"),
    pytest.param({"istio-injection": "enabled", "istio.io/rev": "asm-1-23"}, {}, "asm-1-24", True,
                 id="istio-injection beats istio.io/rev"),
])
def test_injection_follows_istio(namespace, pod, revision, injected):
    assert wants_sidecar(namespace, pod, revision) is injected


def test_a_revision_based_mesh_injects_namespaces_labelled_with_its_revision(tmp_path):
    """--revision makes the run label its namespaces istio.io/rev=<rev> (as ASM and the AKS add-on want)."""
    from tests.suite_runner import run_suite

    run = run_suite("strict-mtls", tmp_path, extra=[
        "--revision", "asm-1-24", "-k", "test_legacy_client_is_reset_under_strict_and_served_again_when_permissive or "
                                        "test_in_mesh_traffic_is_mutual_tls_with_the_client_identity"])
    assert run.exit_code == 0, run.output
    assert run.passed == {"test_legacy_client_is_reset_under_strict_and_served_again_when_permissive",
                          "test_in_mesh_traffic_is_mutual_tls_with_the_client_identity"}
