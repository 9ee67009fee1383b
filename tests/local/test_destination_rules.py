"""DestinationRule as istiod applies it, checked as data without a running mesh.

The lookup and merge rules are istio/istio pilot/pkg/model/push_context.go
(``setDestinationRules``, ``destinationRule``) and destination_rule.go
(``mergeDestinationRule``); what a cluster gets is pilot/pkg/networking/core/cluster_tls.go.
The suite (suites/test_destination_rule.py) proves the same with traffic.
"""
from __future__ import annotations

from pathlib import Path

import pytest

from meshproof.local.destination_rules import RuleIndex, client_tls, for_client, resolve_host
from meshproof.local.envoy.files import ConfigFiles
from meshproof.local.envoy.model import ClientTls, Destination
from meshproof.local.envoy.sidecar import outbound_cluster
from meshproof.policies import destination_rule

ROOT, SERVER, CLIENT, OTHER = "istio-system", "shop", "front", "other"
DETAILS = f"details.{SERVER}.svc.cluster.local"
ACCOUNTS = (f"spiffe://cluster.local/ns/{SERVER}/sa/details",)
SIDE = Destination(DETAILS, 9080, (("10.244.0.9", 9080),), ACCOUNTS, namespace=SERVER, service_accounts=ACCOUNTS)


def rule(namespace: str, name: str, host: str, mode: str | None, *, created: int = 0, **kw) -> dict:
    manifest = destination_rule(namespace, name, host, mode, **kw)
    manifest["metadata"]["creationTimestamp"] = f"{created:012d}"
    return manifest


def mode_for(rules: list[dict], client: str, port: int = 9080) -> str | None:
    """The tls mode a proxy of ``client`` applies toward details:9080 (None: no rule, auto mTLS)."""
    found = RuleIndex.of(rules, ROOT).lookup(client, DETAILS, SERVER)
    tls = found.tls_for(port) if found else None
    return None if tls is None else tls.get("mode", "DISABLE")


@pytest.mark.parametrize("host, namespace, resolved", [
    ("details", SERVER, DETAILS),
    ("details.shop", CLIENT, "details.shop"),  # dotted: taken as written, so it matches no Service FQDN
    ("*", CLIENT, "*"),
    ("*.shop.svc.cluster.local", CLIENT, "*.shop.svc.cluster.local"),
])
def test_a_short_host_is_a_service_of_the_rules_namespace(host, namespace, resolved):
    assert resolve_host(host, namespace) == resolved


def test_the_client_namespace_wins_then_the_server_namespace_then_the_root():
    root = rule(ROOT, "r", DETAILS, "ISTIO_MUTUAL")
    server = rule(SERVER, "s", "details", "DISABLE")
    client = rule(CLIENT, "c", "*.svc.cluster.local", "ISTIO_MUTUAL")
    assert mode_for([root], OTHER) == "ISTIO_MUTUAL"
    assert mode_for([root, server], OTHER) == "DISABLE"
    assert mode_for([root, server, client], CLIENT) == "ISTIO_MUTUAL"  # any match in the client's own namespace
    assert mode_for([root, server, client], OTHER) == "DISABLE"


def test_a_proxy_of_the_root_namespace_looks_at_the_service_namespace_before_the_roots_exported_rules():
    """The "hack" of push_context.go: the ingress gateway in istio-system is not caught by catch-all rules there."""
    root_wide = rule(ROOT, "r", "*.svc.cluster.local", "ISTIO_MUTUAL")
    server = rule(SERVER, "s", "details", "DISABLE")
    assert mode_for([root_wide, server], ROOT) == "DISABLE"
    root_private = rule(ROOT, "p", DETAILS, "ISTIO_MUTUAL", export_to=["."])
    assert mode_for([root_private, server], ROOT) == "ISTIO_MUTUAL"
    assert mode_for([root_private], OTHER) is None  # private to the root namespace


def test_export_to_decides_who_sees_a_rule():
    assert mode_for([rule(SERVER, "s", "details", "DISABLE", export_to=["."])], SERVER) == "DISABLE"
    assert mode_for([rule(SERVER, "s", "details", "DISABLE", export_to=["."])], CLIENT) is None
    only_client = rule(SERVER, "s", "details", "DISABLE", export_to=[CLIENT])
    assert mode_for([only_client], CLIENT) == "DISABLE"
    assert mode_for([only_client], SERVER) is None and mode_for([only_client], OTHER) is None


def test_the_most_specific_host_not_exported_to_the_client_hides_less_specific_ones():
    """getExportedDestinationRuleFromNamespace returns nothing when the best match is not exported to the client."""
    exact = rule(SERVER, "e", "details", "DISABLE", export_to=["."])
    wildcard = rule(SERVER, "w", f"*.{SERVER}.svc.cluster.local", "ISTIO_MUTUAL")
    assert mode_for([exact, wildcard], SERVER) == "DISABLE"
    # exported index: "." is private-only, so for CLIENT only the wildcard is there
    assert mode_for([exact, wildcard], CLIENT) == "ISTIO_MUTUAL"
    hidden = rule(SERVER, "h", "details", "DISABLE", export_to=[OTHER])
    assert mode_for([hidden, wildcard], CLIENT) is None


def test_rules_for_one_host_merge_and_the_oldest_traffic_policy_wins():
    newer = rule(SERVER, "a-newer", "details", "DISABLE", created=2)
    older = rule(SERVER, "z-older", "details", "ISTIO_MUTUAL", created=1)
    assert mode_for([newer, older], SERVER) == "ISTIO_MUTUAL"
    without_policy = rule(SERVER, "first", "details", None, created=0)
    without_policy["spec"].pop("trafficPolicy")
    assert mode_for([without_policy, newer], SERVER) == "DISABLE"


def test_a_port_level_setting_replaces_the_host_wide_tls_for_its_port_only():
    rules = [rule(SERVER, "s", "details", "DISABLE", port_modes={9080: "ISTIO_MUTUAL"})]
    assert mode_for(rules, SERVER, 9080) == "ISTIO_MUTUAL" and mode_for(rules, SERVER, 9443) == "DISABLE"


def test_what_a_rule_makes_of_a_service_port():
    index = RuleIndex.of
    mutual = index([rule(SERVER, "s", "details", "ISTIO_MUTUAL")], ROOT).lookup(SERVER, DETAILS, SERVER)
    assert client_tls(mutual, SIDE) == ClientTls(True, ACCOUNTS)  # no subjectAltNames: the service's accounts
    named = index([rule(SERVER, "s", "details", "ISTIO_MUTUAL", subject_alt_names=["spiffe://x/ns/a/sa/b"])],
                  ROOT).lookup(SERVER, DETAILS, SERVER)
    assert client_tls(named, SIDE) == ClientTls(True, ("spiffe://x/ns/a/sa/b",))
    no_mode = rule(SERVER, "s", "details", None)
    no_mode["spec"]["trafficPolicy"] = {"tls": {"subjectAltNames": ["a"]}}
    assert client_tls(index([no_mode], ROOT).lookup(SERVER, DETAILS, SERVER), SIDE) == ClientTls(False)  # DISABLE
    assert client_tls(None, SIDE) is None


@pytest.fixture
def files(tmp_path: Path, monkeypatch) -> ConfigFiles:
    monkeypatch.setattr("os.chown", lambda *a: None)
    return ConfigFiles(tmp_path)


def test_the_cluster_follows_the_rule_auto_mtls_otherwise(files):
    def socket(destination: Destination, **kw):
        return outbound_cluster(files, destination, **kw).get("transport_socket")

    outside = Destination(DETAILS, 9080, (("10.244.0.9", 9080),), (), namespace=SERVER, service_accounts=ACCOUNTS)
    assert socket(SIDE) is not None and socket(outside) is None  # auto mTLS: toward sidecars only
    disabled, = for_client([SIDE], [rule(SERVER, "s", "details", "DISABLE")], client_namespace=CLIENT,
                           root_namespace=ROOT)
    assert socket(disabled) is None
    forced, = for_client([outside], [rule(SERVER, "s", "details", "ISTIO_MUTUAL")], client_namespace=CLIENT,
                         root_namespace=ROOT)
    context = socket(forced)["typed_config"]["common_tls_context"]["combined_validation_context"]
    assert [m["matcher"]["exact"] for m in context["default_validation_context"]["match_typed_subject_alt_names"]
            ] == [ACCOUNTS[0], ACCOUNTS[0]]  # as a DNS or a URI SAN
    skipped = socket(forced, verify_identity=False)["typed_config"]["common_tls_context"]
    assert skipped["combined_validation_context"]["default_validation_context"] == {}


def test_the_ingress_gateway_gets_the_rules_of_its_own_namespace_lookup(files):
    """The gateway is a client proxy of the root namespace: the server namespace's exported rule reaches it."""
    from meshproof.local.envoy.gateway import gateway_clusters
    from meshproof.local.envoy.model import GatewayConfig

    seen = for_client([SIDE], [rule(SERVER, "s", "details", "DISABLE")], client_namespace=ROOT, root_namespace=ROOT)
    details, = [c for c in gateway_clusters(files, GatewayConfig([], seen)) if c["name"] == SIDE.cluster_name]
    assert "transport_socket" not in details
    auto, = [c for c in gateway_clusters(files, GatewayConfig([], [SIDE])) if c["name"] == SIDE.cluster_name]
    assert auto["transport_socket"]["name"] == "envoy.transport_sockets.tls"


def test_the_server_namespace_first_defect_turns_the_lookup_order_around():
    rules = [rule(SERVER, "s", "details", "DISABLE"), rule(CLIENT, "c", DETAILS, "ISTIO_MUTUAL")]
    index = RuleIndex.of(rules, ROOT)
    assert index.lookup(CLIENT, DETAILS, SERVER).namespace == CLIENT
    assert index.lookup(CLIENT, DETAILS, SERVER, server_namespace_first=True).namespace == SERVER
