"""The ingress gateway's configuration, built from stored objects, without a running mesh.

What istiod would compute (servers, routes, credentials) is checked as data;
the Envoy configuration it becomes is checked by Envoy itself in validate mode.
"""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from fixtures.gateway import credential_secret
from meshproof.errors import ConfigError
from meshproof.local.envoy.files import ConfigFiles
from meshproof.local.envoy.gateway import gateway_clusters, gateway_listeners
from meshproof.local.envoy.model import MUTUAL, SIMPLE, Destination, GatewayBehaviour
from meshproof.local.envoy.pieces import BLACKHOLE, ROOT_SECRET, WORKLOAD_SECRET, root_secret, workload_secret
from meshproof.local.gateway_control import fqdn, gateway_config, host_matches, read_credential, validate_gateway
from meshproof.local.objects import Store
from meshproof.local.host import envoy_binary
from meshproof.pki import CertificateAuthority, GatewayMaterial, trust_bundle

HOST = "frontend.apps.example.com"
CREDENTIAL, CREDENTIAL_NAMESPACE = "frontend-credential", "istio-system"
LABELS = {"istio": "ingressgateway", "app": "istio-ingressgateway"}
ECHO = Destination("httpbin.shop.svc.cluster.local", 8080, (("10.244.0.9", 8080),),
                   ("spiffe://cluster.local/ns/shop/sa/httpbin",))


@pytest.fixture(scope="module")
def pki() -> GatewayMaterial:
    return GatewayMaterial.create(HOST)


def credential(pki: GatewayMaterial, *, ca: bytes | None = None) -> dict:
    """The frontend's credential Secret: the server certificate and key, and trusted CAs when given."""
    return credential_secret(CREDENTIAL, CREDENTIAL_NAMESPACE, cert=pki.server.chain_pem, key=pki.server.key_pem(), ca=ca)


def gateway(mode: str | None = SIMPLE, *, name: str = "frontend-gateway", hosts=(HOST,), **tls) -> dict:
    server: dict = {"port": {"number": 443 if mode else 80, "name": "web", "protocol": "HTTPS" if mode else "HTTP"},
                    "hosts": list(hosts)}
    if mode:
        server["tls"] = {"mode": mode, "credentialName": "frontend-credential", **tls}
    return {"apiVersion": "networking.istio.io/v1", "kind": "Gateway", "metadata": {"name": name, "namespace": "shop"},
            "spec": {"selector": {"istio": "ingressgateway"}, "servers": [server]}}


def virtual_service(host: str = HOST, gateways=("frontend-gateway",), destination: str = "httpbin") -> dict:
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "frontend", "namespace": "shop"},
            "spec": {"hosts": [host], "gateways": list(gateways),
                     "http": [{"match": [{"uri": {"prefix": "/headers"}}, {"uri": {"exact": "/"}}],
                               "route": [{"destination": {"host": destination, "port": {"number": 8080}}}]}]}}


def build(*objects: dict, behaviour: GatewayBehaviour = GatewayBehaviour()):
    store = Store()
    for obj in objects:
        store.put(obj)
    return gateway_config(store, namespace="istio-system", labels=LABELS, destinations=[ECHO], behaviour=behaviour)


def files_in(directory: Path) -> ConfigFiles:
    return ConfigFiles(directory, owner_uid=os.getuid())


def only_chain(files: ConfigFiles, config) -> dict:
    listener, = gateway_listeners(files, config)
    chain, = listener["filter_chains"]
    return chain


def tls_context(chain: dict) -> dict:
    return chain["transport_socket"]["typed_config"]


# ---------------------------------------------------------------- validation


@pytest.mark.parametrize("server, message", [
    ({"port": {"number": 443, "protocol": "TCP"}}, "protocol TCP is not supported"),
    ({"port": {"number": 443, "protocol": "HTTPS"}}, "needs a tls block"),
    ({"port": {"number": 443, "protocol": "HTTPS"}, "tls": {"mode": "PASSTHROUGH"}}, "tls.mode 'PASSTHROUGH'"),
    ({"port": {"number": 443, "protocol": "HTTPS"}, "tls": {"mode": "SIMPLE"}}, "credentialName is required"),
    ({"port": {"number": 443, "protocol": "HTTPS"}, "tls": {"mode": "SIMPLE", "credentialName": "c",
                                                           "minProtocolVersion": "TLSv1.3"}}, "minProtocolVersion"),
    ({"port": {"number": 443, "protocol": "HTTPS"}, "tls": {"mode": "SIMPLE", "credentialName": "c",
                                                           "cipherSuites": ["-ALL:AES128-SHA"]}},
     "tls.cipherSuites '-ALL:AES128-SHA': not a suite Istio passes to Envoy"),
    ({"port": {"protocol": "HTTP"}}, "port.number is required"),
])
def test_a_gateway_the_reference_mesh_cannot_serve_is_refused_with_the_field_named(server, message):
    manifest = {"kind": "Gateway", "metadata": {"name": "g", "namespace": "shop"}, "spec": {"servers": [server]}}
    with pytest.raises(ConfigError, match=message):
        validate_gateway(manifest)


# ---------------------------------------------------------------- credentials


def test_a_credential_is_read_from_data_and_string_data(pki):
    store = Store()
    store.put({**credential_secret(CREDENTIAL, CREDENTIAL_NAMESPACE, cert=pki.server.chain_pem),
               "stringData": {"tls.key": pki.server.key_pem().decode(), "ca.crt": pki.acme.cert_pem.decode()}})
    read = read_credential(store, CREDENTIAL_NAMESPACE, CREDENTIAL)
    assert (read.cert_chain, read.key, read.ca) == (pki.server.chain_pem, pki.server.key_pem(), pki.acme.cert_pem)


def test_trusted_cas_come_from_the_cacert_companion_when_the_credential_has_none(pki):
    store = Store()
    store.put(credential(pki))
    store.put(credential_secret(f"{CREDENTIAL}-cacert", CREDENTIAL_NAMESPACE, ca=pki.acme.cert_pem))
    assert read_credential(store, "istio-system", "frontend-credential").ca == pki.acme.cert_pem


def test_sds_secrets_carry_the_certificate_and_the_trust_bundle(pki):
    bundle = trust_bundle(pki.acme, pki.pirate)
    _, secrets = build(gateway(MUTUAL), virtual_service(),
                       credential(pki, ca=bundle))
    assert set(secrets) == {"frontend-credential", "frontend-credential-cacert"}
    assert secrets["frontend-credential-cacert"]["validation_context"]["trusted_ca"]["inline_string"] == bundle.decode()


@pytest.mark.parametrize("mode, files", [
    (SIMPLE, {}),
    (MUTUAL, {"cert": b"x", "key": b"y"}),
], ids=["no credential Secret", "MUTUAL without trusted CAs"])
def test_a_server_without_its_credential_is_not_served(mode, files):
    objects = [gateway(mode), virtual_service()] + ([credential_secret(CREDENTIAL, CREDENTIAL_NAMESPACE, **files)] if files else [])
    config, _ = build(*objects)
    assert config.servers == []


# ---------------------------------------------------------------- routing


@pytest.mark.parametrize("host, expected", [
    ("httpbin", "httpbin.shop.svc.cluster.local"),
    ("httpbin.other", "httpbin.other.svc.cluster.local"),
    ("httpbin.other.svc", "httpbin.other.svc.cluster.local"),
    ("httpbin.other.svc.cluster.local", "httpbin.other.svc.cluster.local"),
])
def test_destination_hosts_resolve_like_kubernetes_dns(host, expected):
    assert fqdn(host, "shop") == expected


@pytest.mark.parametrize("server_host, host, matches", [
    ("*", HOST, True), (HOST, HOST, True), ("shop/" + HOST, HOST, True),
    ("*.apps.example.com", HOST, True), ("other.example.com", HOST, False),
])
def test_server_hosts_match_virtual_service_hosts(server_host, host, matches):
    assert host_matches(server_host, host) is matches


def test_a_bound_virtual_service_routes_its_matches_to_the_in_mesh_service(tmp_path, pki):
    config, _ = build(gateway(SIMPLE), virtual_service(),
                      credential(pki))
    assert config.destinations == [ECHO]
    hcm = only_chain(files_in(tmp_path), config)["filters"][0]["typed_config"]
    vhost, = hcm["route_config"]["virtual_hosts"]
    assert vhost["domains"] == [HOST, f"{HOST}:*"]
    assert [r["match"] for r in vhost["routes"]] == [{"prefix": "/headers"}, {"path": "/"}]
    assert {r["route"]["cluster"] for r in vhost["routes"]} == {ECHO.cluster_name}
    assert hcm["forward_client_cert_details"] == "SANITIZE_SET"


def test_a_virtual_service_of_another_gateway_or_an_unknown_service_gets_no_backend(tmp_path, pki):
    unbound, _ = build(gateway(SIMPLE), virtual_service(gateways=("other-gateway",)), credential(pki))
    assert unbound.servers[0].virtual_hosts == ()
    unknown, _ = build(gateway(SIMPLE), virtual_service(destination="nowhere"), credential(pki))
    assert {r.cluster for r in unknown.servers[0].virtual_hosts[0].routes} == {BLACKHOLE}


def test_plain_http_servers_share_one_chain_and_a_duplicate_tls_match_is_dropped(tmp_path, pki):
    config, _ = build(gateway(None, name="web-a"), gateway(None, name="web-b"), gateway(SIMPLE, name="tls-a"),
                      gateway(SIMPLE, name="tls-b"), credential(pki))
    listeners = {l["name"]: l for l in gateway_listeners(files_in(tmp_path), config)}
    assert len(listeners["0.0.0.0_80"]["filter_chains"]) == 1 and "listener_filters" not in listeners["0.0.0.0_80"]
    assert [c["filter_chain_match"] for c in listeners["0.0.0.0_443"]["filter_chains"]] == [{"server_names": [HOST]}]


# ---------------------------------------------------------------- TLS


def test_simple_serves_the_credential_and_asks_no_client_certificate(tmp_path, pki):
    config, _ = build(gateway(SIMPLE, minProtocolVersion="TLSV1_3"), virtual_service(),
                      credential(pki))
    context = tls_context(only_chain(files_in(tmp_path), config))
    common = context["common_tls_context"]
    assert context["require_client_certificate"] is False
    assert [s["name"] for s in common["tls_certificate_sds_secret_configs"]] == ["frontend-credential"]
    assert "validation_context_sds_secret_config" not in common and "combined_validation_context" not in common
    assert common["tls_params"] == {"tls_minimum_protocol_version": "TLSv1_3"}


def _mutual_context(tmp_path, pki, behaviour=GatewayBehaviour(), **tls) -> dict:
    config, _ = build(gateway(MUTUAL, **tls), virtual_service(),
                      credential(pki, ca=pki.acme.cert_pem), behaviour=behaviour)
    return tls_context(only_chain(files_in(tmp_path), config))


def test_mutual_requires_a_client_certificate_from_the_trusted_cas(tmp_path, pki):
    context = _mutual_context(tmp_path, pki)
    assert context["require_client_certificate"] is True
    assert context["common_tls_context"]["validation_context_sds_secret_config"]["name"] == "frontend-credential-cacert"


def test_subject_alt_names_become_san_matchers(tmp_path, pki):
    context = _mutual_context(tmp_path, pki, subjectAltNames=[GatewayMaterial.GREAT_PARTNER])
    combined = context["common_tls_context"]["combined_validation_context"]
    matchers = combined["default_validation_context"]["match_typed_subject_alt_names"]
    assert {(m["san_type"], m["matcher"]["exact"]) for m in matchers} == {
        ("DNS", GatewayMaterial.GREAT_PARTNER), ("URI", GatewayMaterial.GREAT_PARTNER)}
    assert combined["validation_context_sds_secret_config"]["name"] == "frontend-credential-cacert"


def test_the_defects_loosen_exactly_what_they_name(tmp_path, pki):
    optional = _mutual_context(tmp_path / "a", pki, GatewayBehaviour(client_cert_optional=True))
    assert optional["require_client_certificate"] is False
    any_ca = _mutual_context(tmp_path / "b", pki, GatewayBehaviour(trust_any_ca=True))
    default = any_ca["common_tls_context"]["combined_validation_context"]["default_validation_context"]
    assert any_ca["require_client_certificate"] is True and default["trust_chain_verification"] == "ACCEPT_UNTRUSTED"


def _simple_context(tmp_path, pki, behaviour: GatewayBehaviour) -> dict:
    config, _ = build(gateway(SIMPLE, minProtocolVersion="TLSV1_3"), virtual_service(), credential(pki),
                      behaviour=behaviour)
    return tls_context(only_chain(files_in(tmp_path), config))


def certificate_names(context: dict) -> list[str]:
    return [s["name"] for s in context["common_tls_context"]["tls_certificate_sds_secret_configs"]]


def test_the_own_certificate_defect_swaps_the_simple_servers_certificate_only(tmp_path, pki):
    behaviour = GatewayBehaviour(simple_serves_workload_certificate=True)
    assert certificate_names(_simple_context(tmp_path / "a", pki, behaviour)) == [WORKLOAD_SECRET]
    assert certificate_names(_mutual_context(tmp_path / "b", pki, behaviour)) == ["frontend-credential"]


def test_the_min_version_defect_drops_the_servers_floor_to_envoys_tls_1_2(tmp_path, pki):
    context = _simple_context(tmp_path, pki, GatewayBehaviour(ignores_min_protocol_version=True))
    assert context["common_tls_context"]["tls_params"] == {"tls_minimum_protocol_version": "TLSv1_2"}
    assert certificate_names(context) == ["frontend-credential"]


def test_the_legacy_tls_defect_opens_tls_1_0_and_cbc_suites_over_the_servers_own_floor(tmp_path, pki):
    params = _simple_context(tmp_path, pki, GatewayBehaviour(offers_legacy_tls=True))["common_tls_context"]["tls_params"]
    assert params["tls_minimum_protocol_version"] == "TLSv1_0"
    assert {"ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "AES128-SHA"} <= set(params["cipher_suites"])
    healthy = _simple_context(tmp_path, pki, GatewayBehaviour())["common_tls_context"]["tls_params"]
    assert healthy == {"tls_minimum_protocol_version": "TLSv1_3"}


def test_cipher_suites_reach_envoy_once_each_unless_the_defect_drops_them(tmp_path, pki):
    def params(behaviour: GatewayBehaviour) -> dict:
        config, _ = build(gateway(SIMPLE, cipherSuites=["ECDHE-ECDSA-AES256-GCM-SHA384", "AES128-SHA",
                                                        "ECDHE-ECDSA-AES256-GCM-SHA384"]),
                          virtual_service(), credential(pki), behaviour=behaviour)
        return tls_context(only_chain(files_in(tmp_path), config))["common_tls_context"]["tls_params"]

    assert params(GatewayBehaviour())["cipher_suites"] == ["ECDHE-ECDSA-AES256-GCM-SHA384", "AES128-SHA"]
    assert "cipher_suites" not in params(GatewayBehaviour(ignores_cipher_suites=True))


def test_the_sanitize_defect_strips_xfcc_where_the_healthy_gateway_sets_it(tmp_path, pki):
    def hcm(behaviour: GatewayBehaviour) -> dict:
        config, _ = build(gateway(MUTUAL), virtual_service(), credential(pki, ca=pki.acme.cert_pem),
                          behaviour=behaviour)
        return only_chain(files_in(tmp_path), config)["filters"][0]["typed_config"]

    healthy, sanitized = hcm(GatewayBehaviour()), hcm(GatewayBehaviour(sanitizes_client_cert=True))
    assert healthy["forward_client_cert_details"] == "SANITIZE_SET" and healthy["set_current_client_cert_details"]
    assert sanitized["forward_client_cert_details"] == "SANITIZE"
    assert "set_current_client_cert_details" not in sanitized


def test_envoy_accepts_the_gateway_configuration(tmp_path, pki):
    """Envoy's validate mode loads the listeners and clusters with their SDS files in place."""
    config, secrets = build(gateway(MUTUAL, subjectAltNames=["a.example.com"], maxProtocolVersion="TLSV1_3"),
                            gateway(None, name="web"), virtual_service(),
                            credential(pki, ca=pki.acme.cert_pem))
    files = files_in(tmp_path)
    mesh = CertificateAuthority.create("cluster.local")
    identity = mesh.issue_workload("cluster.local", "istio-system", "istio-ingressgateway-service-account")
    files.publish("sds-default.json", [workload_secret(identity.chain_pem, identity.key_pem())])
    files.publish(f"sds-{ROOT_SECRET}.json", [root_secret(ROOT_SECRET, mesh.cert_pem)])
    for name, resource in secrets.items():
        files.publish(f"sds-{name}.json", [resource])

    def static(resources: list[dict]) -> list[dict]:
        return [{k: v for k, v in r.items() if k != "@type"} for r in resources]

    bootstrap = tmp_path / "validate.json"
    bootstrap.write_text(json.dumps({"node": {"id": "router~validate", "cluster": "istio-ingressgateway"},
                                     "static_resources": {"listeners": static(gateway_listeners(files, config)),
                                                          "clusters": static(gateway_clusters(files, config))}}))
    done = subprocess.run([envoy_binary(), "--mode", "validate", "-c", str(bootstrap), "-l", "error"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
