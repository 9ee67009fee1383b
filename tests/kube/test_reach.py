"""Issue 12 items 6, 8 and 10: native sidecars are containers; a broken path to pods is one infrastructure
error for the run, found once; diagnostics keep to one budget per failure and per run."""
from __future__ import annotations

import threading
import time

import pytest
import urllib3
from kubernetes import client

from meshproof.cluster import Pod
from meshproof.errors import InfrastructureError
from meshproof.kube import cluster as kube_cluster_module
from meshproof.kube.client import one_line
from meshproof.kube.diagnostics import SKIPPED
from meshproof.kube.pods import to_pod

from .clusters import kube_cluster
from .fake_server import FakeServer

#: a pod as Istio 1.27+ injects it on Kubernetes 1.29+: istio-proxy is an init container that keeps running
NATIVE = {"metadata": {"name": "details-1", "namespace": "mp-a", "labels": {"app": "details"}},
          "spec": {"initContainers": [{"name": "istio-validation", "image": "proxyv2"},
                                      {"name": "istio-proxy", "image": "proxyv2", "restartPolicy": "Always"}],
                   "containers": [{"name": "details", "image": "details"}]},
          "status": {"podIP": "10.0.0.5"}}
#: how websocket-client words an exec the API server refused, as the kubernetes client passes it on
REFUSED = ("Handshake status 502 Bad Gateway -+-+- {'audit-id': 'a1', 'cache-control': 'no-cache, private', "
           "'content-type': 'application/json', 'date': 'Sun, 29 Nov 2026 12:00:00 GMT'} -+-+- "
           "b'{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\","
           "\"message\":\"error dialing backend: dial tcp 10.0.0.9:10250: connect: connection refused\",\"code\":502}'")


def test_a_native_sidecar_counts_as_the_pods_sidecar():
    pod = to_pod(NATIVE)
    assert pod.containers == ("details", "istio-proxy")
    assert pod.has_sidecar and pod.app_container == "details"


def test_diagnostics_read_a_native_sidecars_log_and_envoy(monkeypatch):
    mesh = kube_cluster(FakeServer())
    logs, pages = [], []
    monkeypatch.setattr(mesh._core, "list_namespaced_pod", lambda ns, **kw: client.V1PodList(items=[NATIVE]))
    monkeypatch.setattr(mesh._core, "list_namespaced_event", lambda ns, **kw: client.CoreV1EventList(items=[]))
    monkeypatch.setattr(mesh._core, "read_namespaced_pod_log", lambda n, ns, container, **kw: logs.append(container) or "")
    monkeypatch.setattr(mesh, "proxy_admin", lambda pod, page, timeout: pages.append(page) or "{}")
    found = mesh.diagnostics("mp-a")
    assert logs == ["details", "istio-proxy"] and pages == ["config_dump", "clusters"]
    assert "logs/details-1/istio-proxy" in found and SKIPPED not in found


def test_a_refused_exec_is_one_infrastructure_error_and_later_ones_fail_at_once(monkeypatch):
    mesh = kube_cluster(FakeServer())
    calls = []

    def refuse(*args, **kwargs):
        calls.append(kwargs.get("_request_timeout"))
        raise client.ApiException(status=0, reason=REFUSED)

    monkeypatch.setattr(kube_cluster_module, "stream", refuse)
    pod = to_pod(NATIVE)
    with pytest.raises(InfrastructureError) as first:
        mesh.exec(pod, "details", ["curl", "-s", "http://details:9080/"], timeout=15)
    text = str(first.value)
    assert text == ("the suite cannot reach pods through the API server (exec curl -s http://details:9080/ in "
                    "mp-a/details-1/details: 502 Bad Gateway: error dialing backend: dial tcp 10.0.0.9:10250: "
                    "connect: connection refused)")
    for _ in range(16):
        with pytest.raises(InfrastructureError) as again:
            mesh.exec(pod, "details", ["true"], timeout=15)
        assert str(again.value) == text
    assert calls == [15], "the kubelet is asked once; the handshake has the call's timeout"


def test_a_container_that_does_not_exist_is_not_a_broken_path(monkeypatch):
    mesh = kube_cluster(FakeServer())

    def bad_request(*args, **kwargs):
        raise client.ApiException(status=0, reason=REFUSED.replace("502 Bad Gateway", "400 Bad Request"))

    monkeypatch.setattr(kube_cluster_module, "stream", bad_request)
    with pytest.raises(InfrastructureError, match="400 Bad Request"):
        mesh.exec(to_pod(NATIVE), "nope", ["true"], timeout=5)
    assert mesh.reach.cause is None


class SilentKubelet:
    """Accepts a log request and never answers: the read ends only at the request's own timeout."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    def read_namespaced_pod_log(self, name, namespace, container, _request_timeout):
        self.asked.append(_request_timeout)
        threading.Event().wait(_request_timeout)
        raise urllib3.exceptions.ReadTimeoutError(None, "/logs", "Read timed out.")


def test_an_unanswering_kubelet_stops_diagnostics_at_once_and_says_so_once(monkeypatch):
    mesh = kube_cluster(FakeServer(), diagnostics=0.4)
    kubelet = SilentKubelet()
    pods = [dict(NATIVE, metadata={**NATIVE["metadata"], "name": f"details-{i}"}) for i in range(5)]
    monkeypatch.setattr(mesh._core, "list_namespaced_pod", lambda ns, **kw: client.V1PodList(items=pods))
    monkeypatch.setattr(mesh._core, "list_namespaced_event", lambda ns, **kw: client.CoreV1EventList(items=[]))
    monkeypatch.setattr(mesh._core, "read_namespaced_pod_log", kubelet.read_namespaced_pod_log)
    start = time.monotonic()
    found = mesh.diagnostics("mp-a")
    assert time.monotonic() - start < 1.5
    assert len(kubelet.asked) == 1 and kubelet.asked[0] <= 0.4
    assert found[SKIPPED] == ("20 reads skipped (logs/details-0/details, logs/details-0/istio-proxy, "
                              "logs/details-1/details, ...): the suite cannot reach pods through the API server "
                              "(logs of mp-a/details-0/details: Read timed out.)")
    # the next failure asks no kubelet at all
    again = mesh.diagnostics("mp-a")
    assert len(kubelet.asked) == 1 and again[SKIPPED].startswith("20 reads skipped")


def test_the_runs_diagnostics_budget_is_spent_once(monkeypatch):
    mesh = kube_cluster(FakeServer(), diagnostics=0.2)
    monkeypatch.setattr(mesh._core, "list_namespaced_pod", lambda ns, **kw: client.V1PodList(items=[NATIVE]))
    monkeypatch.setattr(mesh._core, "list_namespaced_event", lambda ns, **kw: client.CoreV1EventList(items=[]))

    def slow_log(*a, _request_timeout, **kw):
        threading.Event().wait(min(_request_timeout, 0.1))
        return "line"

    monkeypatch.setattr(mesh._core, "read_namespaced_pod_log", slow_log)
    monkeypatch.setattr(mesh, "proxy_admin", lambda pod, page, timeout: "{}")
    start = time.monotonic()
    for _ in range(10):
        mesh.diagnostics("mp-a")
    assert time.monotonic() - start < 4 * 0.2 + 0.5
    assert "budget" in mesh.diagnostics("mp-a")[SKIPPED]


def closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gateway_service(node_port: int) -> dict:
    return {"metadata": {"name": "istio-ingressgateway", "namespace": "istio-system"},
            "spec": {"type": "NodePort", "selector": {"istio": "ingressgateway"},
                     "ports": [{"name": "https", "port": 443, "targetPort": 8443, "nodePort": node_port}]}}


def test_an_unreachable_node_port_and_a_refused_port_forward_are_one_infrastructure_error(monkeypatch):
    mesh = kube_cluster(FakeServer(), request=0.5)
    port = closed_port()
    gateway_pod = {"metadata": {"name": "istio-ingressgateway-1", "namespace": "istio-system"}, "spec": {}}
    monkeypatch.setattr(mesh._core, "read_namespaced_service", lambda name, namespace: gateway_service(port))
    monkeypatch.setattr(mesh._core, "list_node", lambda: client.V1NodeList(items=[client.V1Node(
        status=client.V1NodeStatus(addresses=[client.V1NodeAddress(address="127.0.0.1", type="InternalIP")]))]))
    monkeypatch.setattr(mesh, "_gateway_pod", lambda: gateway_pod)

    def refused(*args, **kwargs):
        raise client.ApiException(status=0, reason=REFUSED.replace("502 Bad Gateway", "403 Forbidden"))

    monkeypatch.setattr("meshproof.kube.portforward.portforward", refused)
    with pytest.raises(InfrastructureError) as err:
        mesh.ingress_endpoint(443)
    assert str(err.value) == (
        f"the suite cannot reach the ingress gateway istio-system/istio-ingressgateway port 443: 127.0.0.1:{port}: "
        "Connection refused; port-forward: pods/portforward to istio-system/istio-ingressgateway-1:8443: "
        "403 Forbidden: error dialing backend: dial tcp 10.0.0.9:10250: connect: connection refused")
    mesh.close()


def test_a_tunnel_that_fails_later_is_a_machinery_fault_not_a_tls_rejection(monkeypatch):
    import socket

    mesh = kube_cluster(FakeServer(), request=0.5)
    gateway_pod = {"metadata": {"name": "istio-ingressgateway-1", "namespace": "istio-system"}, "spec": {}}
    monkeypatch.setattr(mesh._core, "read_namespaced_service", lambda name, namespace: gateway_service(closed_port()))
    monkeypatch.setattr(mesh._core, "list_node", lambda: client.V1NodeList(items=[]))
    monkeypatch.setattr(mesh, "_gateway_pod", lambda: gateway_pod)
    opened = []

    class Tunnel:
        def socket(self, port):
            return socket.socket()

        def close(self):
            pass

    def flaky(*args, **kwargs):
        opened.append(1)
        if len(opened) > 1:
            raise client.ApiException(status=0, reason=REFUSED)
        return Tunnel()

    monkeypatch.setattr("meshproof.kube.portforward.portforward", flaky)
    endpoint = mesh.ingress_endpoint(443)
    assert mesh.machinery_fault() is None
    with socket.create_connection((endpoint.host, endpoint.port), timeout=2) as conn:
        conn.settimeout(2)
        assert conn.recv(1) == b""  # what a TLS client would take for a rejected handshake
    assert mesh.machinery_fault() == ("pods/portforward to istio-system/istio-ingressgateway-1:8443: 502 Bad Gateway: "
                                      "error dialing backend: dial tcp 10.0.0.9:10250: connect: connection refused")
    mesh.close()
