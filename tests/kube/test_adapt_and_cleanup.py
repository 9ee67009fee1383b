"""What a run applies is adapted to the platform, tracked, and torn down in a safe order."""
from __future__ import annotations

from meshproof.kube.adapt import INJECT_ANNOTATION, Adapter
from meshproof.kube.ingress import find_ingress
from meshproof.kube.ledger import Ledger, Ref
from meshproof.kube.profiles import detect
from meshproof.run import MANAGED_BY_LABEL, RUN_LABEL

from .recorded import load

LABELS = {MANAGED_BY_LABEL: "meshproof", RUN_LABEL: "abc123"}


def obj(api_version, kind, name, namespace="", **extra):
    meta = {"name": name, "labels": dict(LABELS)}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": api_version, "kind": kind, "metadata": meta, **extra}


def adapter(platform: str, registry: str | None = None) -> tuple[Adapter, Ledger]:
    snap, _ = load(platform)
    detected = detect(snap)
    ledger = Ledger()
    return Adapter(detected, find_ingress(snap, detected.mesh), ledger, registry), ledger


def gateway(namespace: str) -> dict:
    return obj("networking.istio.io/v1", "Gateway", "gw", namespace, spec={
        "selector": {"istio": "ingressgateway"},
        "servers": [{"port": {"number": 443, "name": "https", "protocol": "HTTPS"}, "hosts": ["*"],
                     "tls": {"mode": "MUTUAL", "credentialName": "bookinfo-cred"}}]})


def test_teardown_deletes_loose_objects_newest_first_and_namespaces_last():
    ledger = Ledger()
    for m in (obj("v1", "Namespace", "mp-abc123-a"), obj("apps/v1", "Deployment", "details", "mp-abc123-a"),
              obj("security.istio.io/v1", "PeerAuthentication", "default", "istio-system"),
              obj("v1", "Namespace", "mp-abc123-b"), obj("v1", "Secret", "cred", "istio-ingress")):
        ledger.record(m)
    assert [r.describe() for r in ledger.teardown_order()] == [
        "Secret istio-ingress/cred", "PeerAuthentication istio-system/default",
        "Namespace mp-abc123-b", "Namespace mp-abc123-a"]


def test_authorization_policies_of_the_root_and_a_run_namespace_are_torn_down():
    """Issue 14: clean-up removes every AuthorizationPolicy the run applied: the root namespace's by itself,
    a run namespace's with its namespace."""
    ledger = Ledger()
    for m in (obj("v1", "Namespace", "mp-abc123-a"),
              obj("security.istio.io/v1", "AuthorizationPolicy", "details-allow", "mp-abc123-a"),
              obj("security.istio.io/v1", "AuthorizationPolicy", "mesh-deny", "istio-system")):
        ledger.record(m)
    assert [r.describe() for r in ledger.teardown_order()] == [
        "AuthorizationPolicy istio-system/mesh-deny", "Namespace mp-abc123-a"]


def test_destination_rules_of_the_root_a_client_and_a_server_namespace_are_torn_down():
    """Issue 14: clean-up removes every DestinationRule the run applied; the root namespace's (shared, not the
    run's to delete with a namespace) by itself, before the run's namespaces."""
    ledger = Ledger()
    for m in (obj("v1", "Namespace", "mp-abc123-a"), obj("v1", "Namespace", "mp-abc123-b"),
              obj("networking.istio.io/v1", "DestinationRule", "details-disable", "mp-abc123-a"),
              obj("networking.istio.io/v1", "DestinationRule", "precedence-0", "mp-abc123-b"),
              obj("networking.istio.io/v1", "DestinationRule", "precedence-1", "istio-system")):
        ledger.record(m)
    assert [r.describe() for r in ledger.teardown_order()] == [
        "DestinationRule istio-system/precedence-1", "Namespace mp-abc123-b", "Namespace mp-abc123-a"]


def test_reapplying_keeps_the_first_place_and_the_latest_content():
    ledger = Ledger()
    ledger.record(obj("v1", "Secret", "a", "x", data={"ca.crt": "b2xk"}))
    ledger.record(obj("v1", "Secret", "b", "x"))
    ledger.record(obj("v1", "Secret", "a", "x", data={"ca.crt": "bmV3"}))
    assert [r.name for r in ledger.teardown_order()] == ["b", "a"]
    assert ledger.get(Ref("v1", "Secret", "x", "a"))["data"] == {"ca.crt": "bmV3"}


def test_gateway_selects_the_aks_gateway_and_its_secret_is_mirrored_next_to_it():
    adapt, ledger = adapter("aks")
    secret = obj("v1", "Secret", "bookinfo-cred", "mp-abc123-a", type="kubernetes.io/tls", data={"tls.crt": "eA=="})
    assert adapt.adapt(secret) == [secret]
    ledger.record(secret)
    mirrored, gw = adapt.adapt(gateway("mp-abc123-a"))
    assert gw["spec"]["selector"] == {"app": "aks-istio-ingressgateway-external",
                                      "istio": "aks-istio-ingressgateway-external"}
    assert gw["spec"]["servers"][0]["tls"]["credentialName"] == "mp-abc123-a-bookinfo-cred"
    assert mirrored == {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls", "data": {"tls.crt": "eA=="},
                        "metadata": {"name": "mp-abc123-a-bookinfo-cred", "namespace": "aks-istio-ingress",
                                     "labels": LABELS}}


def test_rotated_credential_secret_is_mirrored_again():
    adapt, ledger = adapter("upstream")
    ledger.record(obj("v1", "Secret", "bookinfo-cred", "mp-abc123-a", data={"ca.crt": "b25l"}))
    adapt.adapt(gateway("mp-abc123-a"))
    rotated = obj("v1", "Secret", "bookinfo-cred", "mp-abc123-a", data={"ca.crt": "dHdv"})
    applied = adapt.adapt(rotated)
    assert [(m["metadata"]["namespace"], m["metadata"]["name"]) for m in applied] == [
        ("mp-abc123-a", "bookinfo-cred"), ("istio-system", "mp-abc123-a-bookinfo-cred")]
    assert applied[1]["data"] == {"ca.crt": "dHdv"}


def test_a_credential_not_beside_the_gateway_keeps_its_plain_name():
    """The fixtures write the Secret where the gateway's pods run: Istio reads the plain name there."""
    adapt, ledger = adapter("aks")
    ledger.record(obj("v1", "Secret", "bookinfo-cred", "aks-istio-ingress", data={"tls.crt": "eA=="}))
    [gw] = adapt.adapt(gateway("mp-abc123-a"))
    assert gw["spec"]["servers"][0]["tls"]["credentialName"] == "bookinfo-cred"


def test_gateway_in_the_ingress_namespace_keeps_its_credential():
    adapt, _ = adapter("upstream")
    [gw] = adapt.adapt(gateway("istio-system"))
    assert gw["spec"]["servers"][0]["tls"]["credentialName"] == "bookinfo-cred"


def test_ossm2_namespace_is_enrolled_and_its_pods_annotated():
    adapt, _ = adapter("ossm2")
    ns = obj("v1", "Namespace", "mp-abc123-a")
    ns["metadata"]["labels"]["meshproof.io/mesh-member"] = "true"
    applied = adapt.adapt(ns)
    assert applied[1] == {"apiVersion": "maistra.io/v1", "kind": "ServiceMeshMember",
                          "metadata": {"name": "default", "namespace": "mp-abc123-a", "labels": LABELS},
                          "spec": {"controlPlaneRef": {"name": "basic", "namespace": "istio-system"}}}
    deployment = obj("apps/v1", "Deployment", "details", "mp-abc123-a", spec={"template": {"spec": {"containers": []}}})
    [adapted] = adapt.adapt(deployment)
    assert adapted["spec"]["template"]["metadata"]["annotations"] == {INJECT_ANNOTATION: "true"}


def test_ossm2_outside_member_namespaces_pods_are_left_alone():
    adapt, _ = adapter("ossm2")
    legacy = obj("apps/v1", "Deployment", "sleep", "mp-abc123-legacy", spec={"template": {"spec": {"containers": []}}})
    assert adapt.adapt(legacy) == [legacy]


def test_images_are_rehosted_on_a_private_registry():
    adapt, _ = adapter("upstream", registry="registry.corp.example/mirror/")
    deployment = obj("apps/v1", "Deployment", "d", "n", spec={"template": {"spec": {
        "initContainers": [{"name": "i", "image": "busybox:1.36"}],
        "containers": [{"name": "a", "image": "docker.io/istio/examples-bookinfo-details-v1:1.20.2"},
                       {"name": "b", "image": "localhost:5000/sleep:1"}]}}})
    [adapted] = adapt.adapt(deployment)
    spec = adapted["spec"]["template"]["spec"]
    assert [c["image"] for c in (*spec["initContainers"], *spec["containers"])] == [
        "registry.corp.example/mirror/busybox:1.36",
        "registry.corp.example/mirror/istio/examples-bookinfo-details-v1:1.20.2",
        "registry.corp.example/mirror/sleep:1"]
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"].startswith("docker.io/"), \
        "the caller's manifest must not be changed"
