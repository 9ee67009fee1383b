"""Every manifest the suite deploys is valid for Kubernetes and Istio before any cluster sees it."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from meshproof.manifests import filled

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
