"""The reference mesh's kind table: what it models takes effect, what it does not model is refused in one line.

Issue 10: an object the reference mesh does not model must never be accepted
and ignored (a DestinationRule ``tls.mode: DISABLE`` gives 503 on a cluster,
an ALLOW AuthorizationPolicy 403); a refused object leaves the store as it was.
"""
from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from meshproof.capabilities import FEATURES
from meshproof.errors import ConfigError
from meshproof.local import kinds
from meshproof.local.backend import LocalCluster
from meshproof.manifests import load, placed
from meshproof.meshconfig import MeshConfig, configmap
from meshproof.peerauthn import PERMISSIVE, STRICT
from meshproof.policies import authorization_policy, outbound_traffic_policy, peer_authentication

ROOT = Path(__file__).resolve().parents[1]

#: every modelled kind -> a test (file::function) showing that it takes effect
EFFECT_TESTS = {
    ("", "Namespace"): "tests/test_injection.py::test_a_revision_based_mesh_injects_namespaces_labelled_with_its_revision",
    ("", "Service"): "suites/test_peer_authentication.py::test_in_mesh_clients_keep_working_under_strict",
    ("", "ServiceAccount"): "suites/test_peer_authentication.py::test_in_mesh_traffic_is_mutual_tls_with_the_client_identity",
    ("", "Secret"): "tests/egress/test_reference_mesh_egress.py::"
                    "test_secret_and_config_map_volumes_become_files_and_their_paths_are_translated",
    ("", "ConfigMap"): "tests/test_admission_live.py::test_the_root_namespace_is_read_from_the_mesh_configmap",
    ("apps", "Deployment"): "suites/test_peer_authentication.py::test_sleep_recreated_inside_the_mesh_namespace_gets_details",
    ("apps", "StatefulSet"): "tests/local/test_workloads_and_services.py::"
                             "test_a_statefulset_makes_stably_named_pods_each_reachable_through_its_headless_service",
    ("", "Pod"): "tests/local/test_workloads_and_services.py::"
                 "test_a_bare_pod_runs_under_its_own_name_and_its_spec_is_immutable",
    ("security.istio.io", "PeerAuthentication"):
        "suites/test_peer_authentication.py::test_legacy_client_is_reset_under_strict_and_served_again_when_permissive",
    ("security.istio.io", "AuthorizationPolicy"):
        "suites/test_authorization.py::test_allow_by_principal_admits_sleep_and_forbids_other_and_anonymous_clients",
    ("networking.istio.io", "Gateway"): "suites/test_gateway_tls.py::test_simple_tls_is_verified_with_the_server_ca",
    ("networking.istio.io", "VirtualService"):
        "tests/gateway/test_gateway_config.py::test_a_bound_virtual_service_routes_its_matches_to_the_in_mesh_service",
    ("networking.istio.io", "ServiceEntry"):
        "suites/test_egress_mysql_tls.py::test_registry_only_blocks_the_database_until_a_service_entry_registers_it",
    ("networking.istio.io", "Sidecar"):
        "suites/test_egress_mysql_tls.py::test_registry_only_blocks_the_database_until_a_service_entry_registers_it",
}

NS = "bookinfo"


def test_every_modelled_kind_has_a_test_that_it_takes_effect():
    """Suites' checks run in tests/test_*_defects.py against the healthy reference mesh and each defect."""
    assert set(EFFECT_TESTS) == set(kinds.KINDS)
    for node in EFFECT_TESTS.values():
        path, function = node.split("::")
        assert re.search(rf"^def {function}\(", (ROOT / path).read_text(), re.M), node


def test_every_modelled_kind_names_the_module_that_translates_it():
    """Adding a kind is one module plus one row (issue 11): the row names the module, and the module names the kind."""
    for key, row in kinds.KINDS.items():
        module = importlib.import_module(row.translated_by)
        assert row.kind in inspect.getsource(module), (key, row.translated_by)


def test_the_features_reported_come_from_the_table(monkeypatch):
    """A check needing PeerAuthentication is skipped as not supported once the kind is not modelled."""
    cluster = LocalCluster("kinds-test")
    assert kinds.features() <= set(FEATURES) and cluster.mesh().features == kinds.features()
    assert "peer-authentication" in cluster.mesh().features
    monkeypatch.delitem(kinds.KINDS, ("security.istio.io", "PeerAuthentication"))
    assert not {"peer-authentication", "port-level-mtls", "mesh-wide-policy"} & cluster.mesh().features


@pytest.fixture
def mesh() -> LocalCluster:
    """A reference mesh's API server and control plane, not started: no pods, so nothing but the store to compare."""
    cluster = LocalCluster("kinds-test")
    cluster.store.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    cluster.store.put(configmap("istio-system", None, MeshConfig()))
    return cluster


def snapshot(cluster: LocalCluster) -> dict:
    return dict(cluster.store._objects)


UNMODELLED = [
    ("networking.istio.io/v1", "DestinationRule", {"host": "details", "trafficPolicy": {"tls": {"mode": "DISABLE"}}}),
    ("security.istio.io/v1", "RequestAuthentication", {"jwtRules": [{"issuer": "https://issuer.example"}]}),
    ("telemetry.istio.io/v1", "Telemetry", {"accessLogging": [{"providers": [{"name": "envoy"}]}]}),
    ("networking.istio.io/v1alpha3", "EnvoyFilter", {"configPatches": []}),
    ("gateway.networking.k8s.io/v1", "Gateway", {"gatewayClassName": "istio", "listeners": []}),
    ("gateway.networking.k8s.io/v1", "HTTPRoute", {"parentRefs": [{"name": "gw"}]}),
    ("apps/v1", "DaemonSet", {"selector": {"matchLabels": {"a": "b"}}, "template": {
        "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}),
]


@pytest.mark.parametrize("api, kind, spec", UNMODELLED, ids=[f"{k} {a}" for a, k, _ in UNMODELLED])
def test_an_unmodelled_kind_is_refused_in_one_line_and_nothing_is_stored(mesh, api, kind, spec):
    before = snapshot(mesh)
    with pytest.raises(ConfigError, match=rf"^the reference mesh does not model {kind} \({re.escape(api)}\); "
                                          r"run on a cluster with --kube-context$"):
        mesh.apply({"apiVersion": api, "kind": kind, "metadata": {"name": "x", "namespace": NS}, "spec": spec})
    assert snapshot(mesh) == before


BAD_POLICIES = [
    pytest.param(peer_authentication(NS, STRICT, selector={"app": "details"}) | {"spec": {
        "selector": {"matchLabels": {"app": "details"}}, "portLevelMtls": {"http": {"mode": "STRICT"}}}},
        "spec.portLevelMtls", id="10.1 port name"),
    pytest.param(peer_authentication(NS, STRICT) | {"spec": {"selector": {"matchLabels": {"app": "d"}}, "portLevelMtls": {}}},
                 "spec.portLevelMtls", id="10.1 empty portLevelMtls"),
    pytest.param(peer_authentication(NS, None, selector={"app": "details"}, port_modes={0: STRICT}),
                 "spec.portLevelMtls", id="10.1 port 0"),
    pytest.param(peer_authentication(NS, "strict"), "spec.mtls.mode", id="10.2 lower case"),
    pytest.param(peer_authentication(NS, STRICT) | {"apiVersion": "security.istio.io/v2"},
                 'no matches for kind "PeerAuthentication" in version "security.istio.io/v2"', id="10.3 v2"),
    pytest.param({"apiVersion": "authentication.istio.io/v1alpha1", "kind": "Policy",
                  "metadata": {"name": "default", "namespace": NS}, "spec": {"peers": [{"mtls": {}}]}},
                 'no matches for kind "Policy" in version "authentication.istio.io/v1alpha1"', id="10.3 Policy"),
    pytest.param({"apiVersion": "authentication.istio.io/v1alpha1", "kind": "MeshPolicy",
                  "metadata": {"name": "default"}, "spec": {"peers": [{"mtls": {}}]}},
                 'no matches for kind "MeshPolicy" in version "authentication.istio.io/v1alpha1"', id="10.3 MeshPolicy"),
]


@pytest.mark.parametrize("policy, field", BAD_POLICIES)
def test_a_refused_policy_leaves_the_store_as_it_was_and_a_valid_one_applies_next(mesh, policy, field):
    """Issue 10.1-10.3: refused before it is stored; the store, and so every sidecar's push, is unchanged."""
    details = mesh.control.mtls_of  # the mode the details pod's sidecar would be pushed
    from meshproof.local.podview import PodView

    pod = PodView(NS, "details-1", "10.0.0.2", {"app": "details"}, "details", {9080: "http"}, True)
    before = snapshot(mesh)
    with pytest.raises(ConfigError, match="^[^\n]*$") as caught:
        mesh.apply(policy)
    assert field in str(caught.value)
    assert snapshot(mesh) == before and details(pod).mode == PERMISSIVE
    mesh.apply(peer_authentication(NS, STRICT))
    assert details(pod).mode == STRICT


@pytest.mark.parametrize("obj, field", [
    pytest.param({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v", "namespace": NS},
                  "spec": {"hosts": ["details"], "http": [{"route": [{"destination": {"host": "details"}}]}]}},
                 "spec.gateways", id="sidecar routing"),
    pytest.param({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "v", "namespace": NS},
                  "spec": {"hosts": ["a"], "gateways": ["g"], "http": [{"fault": {"abort": {"httpStatus": 500}},
                                                                         "route": [{"destination": {"host": "d"}}]}]}},
                 "spec.http[0].fault", id="fault injection"),
    pytest.param(authorization_policy(NS, "p", rules=[{"to": [{"operation": {"paths": ["/admin"]}}]}]),
                 "spec.rules[0].to", id="AuthorizationPolicy to.operation"),
    pytest.param(authorization_policy(NS, "p", rules=[{"when": [{"key": "request.headers[x]", "values": ["1"]}]}]),
                 "spec.rules[0].when", id="AuthorizationPolicy when"),
    pytest.param(authorization_policy(NS, "p", action="AUDIT", rules=[{}]), "spec.action", id="AuthorizationPolicy AUDIT"),
    pytest.param(authorization_policy("istio-system", "p", selector={"istio": "ingressgateway"}, rules=[{}]),
                 "spec.selector", id="AuthorizationPolicy on the ingress gateway"),
    pytest.param(outbound_traffic_policy(NS, "REGISTRY_ONLY") | {"spec": {"workloadSelector": {"labels": {"app": "a"}},
                                                                          "outboundTrafficPolicy": {"mode": "ALLOW_ANY"}}},
                 "spec.workloadSelector", id="workload Sidecar"),
])
def test_a_field_the_reference_mesh_does_not_act_on_is_refused_naming_it(mesh, obj, field):
    before = snapshot(mesh)
    with pytest.raises(ConfigError, match=rf"^[^\n]*{re.escape(field)}[^\n]*--kube-context$"):
        mesh.apply(obj)
    assert snapshot(mesh) == before


def test_every_manifest_the_suite_ships_is_admitted(mesh):
    """The suite's own objects pass admission (placeholders filled with values of the right type)."""
    from meshproof.manifests import ROOT as MANIFESTS, filled

    typed = {"GATEWAY_SELECTOR": {"istio": "ingressgateway"}, "PORT": 443, "DB_PORT_NUMBER": 3306,
             "TLS_MODE": "SIMPLE", "HOST": "a.example.com"}
    admitted = set()
    for path in sorted(MANIFESTS.rglob("*.yaml")):
        relative = str(path.relative_to(MANIFESTS))
        if relative.startswith("rbac/"):  # applied by an administrator on a cluster, never by the suite
            continue
        names = set(re.findall(r"\$\{([A-Z0-9_]+)\}", path.read_text()))
        for manifest in filled(placed(load(relative), NS, {}), {n: typed.get(n, "value") for n in names}):
            kinds.admit(manifest, mesh.control)
            admitted.add(manifest["kind"])
    # PeerAuthentication and Sidecar come from meshproof.policies, Namespaces from meshproof.manifests.namespace
    assert admitted == {"Deployment", "Service", "ServiceAccount", "Secret", "ConfigMap", "Gateway", "VirtualService",
                        "ServiceEntry"}


def test_a_root_namespace_selector_policy_is_ignored(mesh):
    """Istio ignores PeerAuthentications with a selector in the root namespace
    (istio/istio pilot/pkg/security/authn/policy_applier.go, ComposePeerAuthentication)."""
    from meshproof.local.podview import PodView

    pod = PodView("istio-system", "gw-1", "10.0.0.3", {"app": "details"}, "d", {9080: ""}, True)
    other = PodView(NS, "details-1", "10.0.0.2", {"app": "details"}, "d", {9080: ""}, True)
    mesh.store.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "istio-system"}})
    mesh.apply(peer_authentication("istio-system", STRICT, name="root-selector", selector={"app": "details"}))
    assert mesh.control.mtls_of(pod).mode == PERMISSIVE and mesh.control.mtls_of(other).mode == PERMISSIVE
