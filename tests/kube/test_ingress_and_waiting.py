"""The gateway's outside address, and watch-based waits driven by recorded events."""
from __future__ import annotations

import pytest

from meshproof.cluster import Endpoint, parse_selector
from meshproof.errors import ConfigError
from meshproof.kube.ingress import container_port, node_addresses, outside_address
from meshproof.kube.pods import all_ready
from meshproof.kube.waiting import WaitTimeout, wait_until

from .fake_dynamic import FakeResource

NODES = [{"status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.2"},
                                   {"type": "Hostname", "address": "kind-control-plane"}]}},
         {"status": {"addresses": [{"type": "ExternalIP", "address": "203.0.113.9"}]}}]


def service(**status) -> dict:
    return {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
            "spec": {"ports": [{"port": 443, "targetPort": 8443, "nodePort": 31443},
                               {"port": 80, "targetPort": "http2"}]},
            "status": status}


@pytest.mark.parametrize("svc, nodes, expected", [
    (service(loadBalancer={"ingress": [{"ip": "172.18.255.200"}]}), NODES, Endpoint("172.18.255.200", 443)),
    (service(loadBalancer={"ingress": [{"hostname": "a1.elb.example.com"}]}), [], Endpoint("a1.elb.example.com", 443)),
    (service(), NODES, Endpoint("203.0.113.9", 31443)),
    (service(), [], None),
], ids=["load balancer IP", "load balancer hostname", "node port on the external address", "port-forward"])
def test_outside_address(svc, nodes, expected):
    assert outside_address(svc, 443, node_addresses(nodes)) == expected


def test_port_without_node_port_needs_a_port_forward():
    assert outside_address(service(), 80, node_addresses(NODES)) is None


def test_unknown_port_is_one_clear_error():
    with pytest.raises(ConfigError, match=r"^ingress gateway istio-system/istio-ingressgateway has no port 8080 "
                                          r"\(it has 443, 80\)$"):
        outside_address(service(), 8080, [])


def test_named_target_port_is_resolved_on_the_pod():
    pod = {"metadata": {"name": "gw"}, "spec": {"containers": [{"ports": [{"name": "http2", "containerPort": 8080}]}]}}
    assert container_port({"port": 80, "targetPort": "http2"}, pod) == 8080
    assert container_port({"port": 443, "targetPort": 8443}, pod) == 8443


@pytest.mark.parametrize("text", ["", "istio", "=x", "a=b=c"])
def test_bad_ingress_selector_is_a_config_error(text):
    with pytest.raises(ConfigError, match="expected key=value"):
        parse_selector(text)


def test_selector_is_parsed():
    assert parse_selector("istio=ingressgateway, app=gw") == {"istio": "ingressgateway", "app": "gw"}


def pod(name: str, ready: bool, terminating: bool = False) -> dict:
    meta = {"name": name, "namespace": "ns"}
    if terminating:
        meta["deletionTimestamp"] = "2024-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"phase": "Running",
                                         "conditions": [{"type": "Ready", "status": str(ready)}]}}


def test_readiness_comes_from_watch_events():
    resource = FakeResource([pod("details-old", True), pod("details-new", False)],
                            [[("MODIFIED", pod("details-old", True, terminating=True)),
                              ("MODIFIED", pod("details-new", True))]])
    ready = wait_until(resource, all_ready, timeout=5, what="details ready")
    assert [p["metadata"]["name"] for p in ready] == ["details-new"]
    assert resource.watched_from == ["41"]


def test_watch_error_leads_to_a_fresh_list():
    resource = FakeResource([pod("a", False)], [[("ERROR", {"metadata": {"name": "gone"}})],
                                                [("MODIFIED", pod("a", True))]])
    assert wait_until(resource, all_ready, timeout=5, what="a ready")
    assert resource.watched_from == ["41", "41"]


def test_timeout_says_what_was_seen():
    resource = FakeResource([pod("a", False)], [])
    with pytest.raises(WaitTimeout, match=r"^a ready: not done after 0.2s \(a not ready\)$"):
        wait_until(resource, all_ready, timeout=0.2, what="a ready",
                   describe=lambda ps: ", ".join(f"{p['metadata']['name']} not ready" for p in ps))
