"""OpenShift: the ingress gateway reached through a Route, from recorded objects of an OSSM 2 cluster."""
from __future__ import annotations

import pytest
import yaml
from kubernetes import client

from meshproof.cluster import Endpoint
from meshproof.kube import cluster as kube_cluster_module
from meshproof.kube.ingress import service_port
from meshproof.kube.routes import route_address

from .clusters import kube_cluster
from .fake_dynamic import FakeDynamic, FakeResource
from .recorded import DATA

RECORDED = yaml.safe_load((DATA / "routes" / "ossm2.yaml").read_text())
SERVICE, ROUTES = RECORDED["service"], RECORDED["routes"]


@pytest.mark.parametrize("port, expected", [
    (80, Endpoint("istio-ingressgateway-istio-system.apps.ocp4.example.com", 80)),
    (443, Endpoint("gateway-tls-istio-system.apps.ocp4.example.com", 443)),
    (15021, None),
], ids=["plain route by port name", "passthrough route by target port number", "no route to the port"])
def test_admitted_plain_or_passthrough_route_to_the_gateway_is_used(port, expected):
    assert route_address(ROUTES, SERVICE, service_port(SERVICE, port)) == expected


def test_route_without_a_port_fits_only_a_single_port_service():
    route = {**ROUTES[0], "spec": {**ROUTES[0]["spec"], "port": None}}
    single = {**SERVICE, "spec": {**SERVICE["spec"], "ports": [SERVICE["spec"]["ports"][1]]}}
    assert route_address([route], SERVICE, service_port(SERVICE, 80)) is None
    assert route_address([route], single, service_port(single, 80)) == Endpoint(route["spec"]["host"], 80)


def test_ossm2_gateway_without_load_balancer_or_node_port_is_reached_through_its_route(monkeypatch):
    mesh = kube_cluster(FakeDynamic({"Route": FakeResource(ROUTES, kind="Route")}), "ossm2")
    monkeypatch.setattr(mesh._core, "read_namespaced_service", lambda name, namespace: SERVICE)
    monkeypatch.setattr(mesh._core, "list_node", lambda: client.V1NodeList(items=[]))
    tried = []
    monkeypatch.setattr(kube_cluster_module, "tcp_reachable", lambda endpoint, timeout: tried.append(endpoint) or "")
    assert mesh.ingress_endpoint(443) == Endpoint("gateway-tls-istio-system.apps.ocp4.example.com", 443)
    assert tried == [Endpoint("gateway-tls-istio-system.apps.ocp4.example.com", 443)]


def test_routes_are_not_looked_for_off_openshift():
    mesh = kube_cluster(FakeDynamic({}), "upstream")
    assert mesh._route_address(SERVICE, 443) is None
