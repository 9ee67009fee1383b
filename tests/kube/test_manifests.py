"""Every manifest the suite deploys is valid for Kubernetes and Istio before any cluster sees it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshproof.manifests import filled
from meshproof.policies import outbound_traffic_policy, peer_authentication

from .crd_schemas import crd_problems, shared_istio
from .schemas import problems


class _Samples(dict):
    """Typed stand-ins for whole-value ``${NAME}`` placeholders; any other becomes a sample string."""

    def __contains__(self, name: object) -> bool:
        return True

    def __missing__(self, name: str) -> str:
        return f"sample-{name.lower().replace('_', '-')}"


SAMPLES = _Samples(GATEWAY_SELECTOR={"istio": "ingressgateway"}, PORT=443, TLS_MODE="MUTUAL", DB_PORT_NUMBER=3306)

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = sorted(p for ext in ("*.yaml", "*.yml") for p in (ROOT / "manifests").rglob(ext))


def _documents():
    for path in MANIFESTS:
        for index, doc in enumerate(yaml.safe_load_all(path.read_text())):
            if doc:
                name = (doc.get("metadata") or {}).get("name", "?")
                yield pytest.param(doc, id=f"{path.relative_to(ROOT)}#{index}:{doc.get('kind')}/{name}")


def test_there_are_manifests_to_validate():
    assert any(p.parts[-2] == "rbac" for p in MANIFESTS)


@pytest.mark.parametrize("doc", list(_documents()))
def test_manifest_is_valid(doc):
    assert problems(filled([doc], SAMPLES)[0]) == []


@pytest.mark.parametrize("doc, expected", [
    pytest.param({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                  "metadata": {"name": "default"}, "spec": {"mtls": {"mode": "strict"}}},
                 "spec.mtls.mode: 'strict' is not one of", id="lower-case mTLS mode"),
    pytest.param({"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": "gw"},
                  "spec": {"servers": [{"port": {"number": 443, "protocol": "HTTPS"}, "hosts": ["*"],
                                        "tls": {"mode": "MUTUAL", "credentialname": "x"}}]}},
                 "Additional properties are not allowed ('credentialname'", id="misspelt credentialName"),
    pytest.param({"apiVersion": "networking.istio.io/v1", "kind": "Telemetry", "metadata": {"name": "t"},
                  "spec": {}}, "no schema for Istio kind Telemetry", id="Istio kind without a schema"),
    pytest.param({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                  "spec": {"selector": {"matchLabels": {"app": "d"}},
                           "template": {"metadata": {"labels": {"app": "d"}},
                                        "spec": {"contianers": [{"name": "c", "image": "i"}]}}}},
                 "spec.template.spec", id="misspelt containers"),
    pytest.param({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
                  "spec": {"ports": [{"port": "http"}]}},
                 "spec.ports.0.port: 'http' is not of type 'integer'", id="port as a string"),
])
def test_invalid_manifest_is_reported(doc, expected):
    found = problems(doc)
    assert any(expected in p for p in found), found


def _istio_documents():
    for param in _documents():
        doc = param.values[0]
        if any(g in str(doc.get("apiVersion", "")) for g in ("istio.io", "maistra.io")):
            yield param


@pytest.mark.skipif(not shared_istio(), reason="../shared/istio (the real CRD schemas) is not beside the checkout")
@pytest.mark.parametrize("doc", list(_istio_documents()))
def test_istio_manifest_is_valid_for_the_real_crd(doc):
    assert crd_problems(filled([doc], SAMPLES)[0]) == []


@pytest.mark.skipif(not shared_istio(), reason="../shared/istio (the real CRD schemas) is not beside the checkout")
@pytest.mark.parametrize("policy", [
    peer_authentication("istio-system", "STRICT"),
    peer_authentication("ns", None, name="details", selector={"app": "details"}, port_modes={9080: "DISABLE"}),
    outbound_traffic_policy("ns", "REGISTRY_ONLY"),
    {"apiVersion": "maistra.io/v1", "kind": "ServiceMeshMember", "metadata": {"name": "default", "namespace": "ns"},
     "spec": {"controlPlaneRef": {"name": "basic", "namespace": "istio-system"}}},
], ids=["mesh-wide", "port-level", "registry-only", "ossm2-member"])
def test_objects_built_in_code_are_valid_for_the_real_crd(policy):
    assert crd_problems(policy) == []


def test_the_real_crd_check_is_not_toothless():
    if not shared_istio():
        pytest.skip("../shared/istio is not beside the checkout")
    wrong = peer_authentication("ns", "STRICT")
    wrong["spec"]["mtls"]["mod"] = "x"
    assert crd_problems(wrong) and crd_problems({**wrong, "apiVersion": "security.istio.io/v2"})
