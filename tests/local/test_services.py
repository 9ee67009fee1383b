"""ClusterIP allocation, kube-proxy's DNAT rules and cluster DNS names, without a running mesh."""
from __future__ import annotations

import ipaddress

import pytest

from meshproof.errors import ConfigError
from meshproof.local.podview import PodView
from meshproof.local.network import SERVICE_CIDR
from meshproof.local.services import ClusterIPs, hosts_lines, kube_proxy_rules, validate_service
from meshproof.local.workloads import pod_requests


def service(name: str = "httpbin", **spec) -> dict:
    return {"kind": "Service", "metadata": {"name": name, "namespace": "ns"},
            "spec": {"selector": {"app": name}, "ports": [{"name": "http", "port": 8000, "targetPort": "http"}], **spec}}


def pod(name: str, ip: str, app: str = "httpbin", **extra) -> PodView:
    return PodView(namespace="ns", name=name, ip=ip, labels={"app": app}, service_account="default",
                   container_ports={8080: "http"}, has_sidecar=False, **extra)


def test_every_service_gets_a_cluster_ip_from_the_service_range_and_keeps_it():
    ips = ClusterIPs()
    first = ips.assign(service("a"), None)
    second = ips.assign(service("b"), None)
    assert first["spec"]["clusterIP"] != second["spec"]["clusterIP"]
    assert all(ipaddress.ip_address(s["spec"]["clusterIP"]) in SERVICE_CIDR for s in (first, second))
    assert ips.assign(service("a"), first)["spec"]["clusterIP"] == first["spec"]["clusterIP"]


def test_a_cluster_ip_cannot_change():
    ips = ClusterIPs()
    first = ips.assign(service(), None)
    with pytest.raises(ConfigError, match="field is immutable"):
        ips.assign(service(clusterIP="10.96.9.9"), first)


def test_an_address_outside_the_service_range_is_refused():
    with pytest.raises(ConfigError, match="not in the service range"):
        ClusterIPs().assign(service(clusterIP="10.244.0.9"), None)


@pytest.mark.parametrize("spec, refusal", [
    ({"type": "LoadBalancer"}, "type LoadBalancer is not modelled"),
    ({"type": "ExternalName"}, "type ExternalName is not modelled"),
    ({"ports": [{"port": 53, "protocol": "ICMP"}]}, "unknown protocol 'ICMP'"),
])
def test_services_the_reference_mesh_cannot_serve_are_refused_in_one_line(spec, refusal):
    with pytest.raises(ConfigError, match=refusal):
        validate_service(service(**spec))


def test_an_address_held_by_another_service_is_refused():
    ips = ClusterIPs()
    taken = ips.assign(service("a"), None)["spec"]["clusterIP"]
    with pytest.raises(ConfigError, match="already allocated"):
        ips.assign(service("b", clusterIP=taken), None)


def test_kube_proxy_dnats_the_cluster_ip_port_to_each_endpoint_target_port():
    svc = ClusterIPs().assign(service(ports=[{"name": "http", "port": 8000, "targetPort": "http"},
                                             {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]), None)
    vip = svc["spec"]["clusterIP"]
    rules = kube_proxy_rules([svc], [pod("a", "10.244.0.5"), pod("b", "10.244.0.6"), pod("x", "10.244.0.7", app="other")])
    lines = rules.splitlines()
    assert f"-d {vip}/32 -p tcp -m tcp --dport 8000 -j KUBE-SVC-" in rules
    assert f"-d {vip}/32 -p udp -m udp --dport 53 -j KUBE-SVC-" in rules
    dnat = sorted(line.rsplit(" ", 1)[1] for line in lines if "DNAT" in line)
    assert dnat == ["10.244.0.5:5353", "10.244.0.5:8080", "10.244.0.6:5353", "10.244.0.6:8080"]
    # the first of two endpoints is taken with probability 1/2, the last always
    assert sum("--probability 0.5000000000" in line for line in lines) == 2


def test_a_pod_without_the_named_target_port_is_no_endpoint():
    svc = ClusterIPs().assign(service(), None)
    bare = PodView(namespace="ns", name="c", ip="10.244.0.8", labels={"app": "httpbin"}, service_account="default",
                   container_ports={9090: "metrics"}, has_sidecar=False)
    assert "DNAT" not in kube_proxy_rules([svc], [bare])


def test_names_resolve_to_the_cluster_ip_or_for_a_headless_service_to_each_pod():
    svc = ClusterIPs().assign(service(), None)
    headless = ClusterIPs().assign(service("web", clusterIP="None"), None)
    pods = [pod("httpbin-1", "10.244.0.5"), pod("web-0", "10.244.0.6", app="web", hostname="web-0", subdomain="web")]
    assert hosts_lines([svc, headless], pods, "ns") == [
        f"{svc['spec']['clusterIP']} httpbin.ns.svc.cluster.local httpbin.ns.svc httpbin.ns httpbin",
        "10.244.0.6 web.ns.svc.cluster.local web.ns.svc web.ns web",
        "10.244.0.6 web-0.web.ns.svc.cluster.local",
    ]
    assert hosts_lines([svc], pods, "elsewhere")[0].endswith("httpbin.ns")


def test_statefulset_pods_are_numbered_with_the_governing_service_as_subdomain():
    sts = {"kind": "StatefulSet", "metadata": {"name": "db", "namespace": "ns"},
           "spec": {"replicas": 3, "serviceName": "db-hl", "template": {"spec": {"containers": []}}}}
    assert [(r.name, r.hostname, r.subdomain) for r in pod_requests(sts)] == [
        ("db-0", "db-0", "db-hl"), ("db-1", "db-1", "db-hl"), ("db-2", "db-2", "db-hl")]
