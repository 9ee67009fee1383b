"""Issue 12 item 2: the Gateway the fixture produces names a Secret that exists where the gateway's pods run.

Istio resolves a plain ``credentialName`` in the namespace of the gateway
proxy (istio.io "Secure Gateways": the Secret "must be in the same namespace as
the gateway deployment"), not the root namespace: the AKS add-on runs it in
aks-istio-ingress, revisioned installs often in istio-ingress.  Every object
sent is checked against the real CRD schemas (``../shared/istio``).
"""
from __future__ import annotations

import pytest

from fixtures.gateway import Ingress, Material, gateway_namespace, ingress_selector
from fixtures.workloads import Policies
from meshproof.cluster import Endpoint
from meshproof.pki import GatewayMaterial
from meshproof.run import RunInfo
from meshproof.timeouts import DEFAULT
from meshproof.workload import Workload

from .clusters import kube_cluster
from .crd_schemas import crd_problems, shared_istio
from .fake_server import FakeServer
from .recorded import load, platforms
from .schemas import problems


class Options:
    """pytest's config as the fixtures read it: no --ingress-namespace or --ingress-selector given."""

    def getoption(self, name):
        return None


@pytest.fixture(scope="module")
def material(tmp_path_factory) -> Material:
    pki = GatewayMaterial.create("frontend-abc123.apps.example.com")
    directory = tmp_path_factory.mktemp("pki")
    written = pki.write(directory)
    return Material(pki, directory, {n: (str(c), str(k)) for n, (c, k) in written.items()})


@pytest.mark.parametrize("platform", platforms())
def test_the_gateways_credential_is_where_the_gateway_pods_run(platform, material, monkeypatch):
    _, expect = load(platform)
    server = FakeServer()
    mesh = kube_cluster(server, platform)
    monkeypatch.setattr(mesh, "ingress_endpoint", lambda port: Endpoint("127.0.0.1", 1))
    config = Options()
    run = RunInfo("abc123", "kube")
    policies = Policies(mesh, run, DEFAULT)
    backend = Workload("ingress-abc123", "httpbin", 8080)
    ingress = Ingress(mesh, policies, material, backend, DEFAULT, gateway_namespace(config, mesh.mesh()),
                      ingress_selector(config, mesh.mesh()))
    ingress.serve("MUTUAL", trust=(material.pki.acme,))

    gateway_ns, gateway_svc = expect["ingress"].split("/")
    [gw] = [b for b in server.sent if b["kind"] == "Gateway"]
    credential = gw["spec"]["servers"][0]["tls"]["credentialName"]
    assert server.find("Secret", gateway_ns, credential) is not None, (
        f"Gateway names {credential}; Secrets: {[k for k in server.objects if k[0] == 'Secret']}")
    [svc] = [s for s in load(platform)[0].gateway_services
             if (s["metadata"]["namespace"], s["metadata"]["name"]) == (gateway_ns, gateway_svc)]
    assert gw["spec"]["selector"] == svc["spec"]["selector"] == ingress.selector
    assert ingress.namespace == gateway_ns

    for body in server.sent:
        assert problems(body) == [], body["kind"]
        if shared_istio() and "istio.io" in body["apiVersion"]:
            assert crd_problems(body) == [], body["kind"]
    policies.remove_all()
    assert not [k for k in server.objects if k[0] in ("Secret", "Gateway", "VirtualService")]
    mesh.close()
