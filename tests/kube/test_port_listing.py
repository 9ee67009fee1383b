"""The contract's reading side on a cluster, as the port sweep and the mesh audit use it: pods of a namespace,
a namespace that may not exist, and the listening sockets read through exec (no API server here)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes import client
from kubernetes.dynamic.exceptions import ForbiddenError, NotFoundError

from meshproof.cluster import PROXY_CONTAINER, ExecResult, Pod
from meshproof.errors import MeshproofError
from meshproof.kube.exec_stream import ExecError
from meshproof.ports import ListeningSocket

from .clusters import kube_cluster
from .fake_dynamic import FakeDynamic, FakeResource

TCP = ("  sl  local_address rem_address   st\n"
       "   0: 00000000:238C 00000000:0000 0A\n")


def _pod(name: str, *, terminating: bool = False) -> dict:
    meta = {"name": name, "namespace": "shop", "labels": {"app": "cart"},
            "annotations": {"traffic.sidecar.istio.io/excludeInboundPorts": "9102"}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"containers": [{"name": "app"}, {"name": PROXY_CONTAINER}]},
            "status": {"podIP": "10.0.0.5"}}


def test_the_pods_of_a_namespace_carry_their_annotations_and_terminating_ones_are_left_out():
    cluster = kube_cluster(FakeDynamic({"Pod": FakeResource([_pod("cart-1"), _pod("cart-0", terminating=True)])}))
    (pod,) = cluster.list_pods("shop")
    assert (pod.name, pod.ip, pod.annotations["traffic.sidecar.istio.io/excludeInboundPorts"]) == ("cart-1", "10.0.0.5",
                                                                                                   "9102")


class _Refusing:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get(self, **_query):
        raise self.error


def test_a_missing_namespace_is_none_and_a_forbidden_one_one_line():
    missing = kube_cluster(FakeDynamic({"Namespace": _Refusing(NotFoundError(client.ApiException(404, "Not Found")))}))
    assert missing.namespace("nope") is None
    forbidden = kube_cluster(FakeDynamic({"Namespace": _Refusing(ForbiddenError(client.ApiException(403, "Forbidden")))}))
    with pytest.raises(MeshproofError, match="cannot read namespace secret-ns"):
        forbidden.namespace("secret-ns")
    present = kube_cluster(FakeDynamic({"Namespace": SimpleNamespace(
        get=lambda **q: SimpleNamespace(to_dict=lambda: {"metadata": {"name": q["name"]}}))}))
    assert present.namespace("shop") == {"metadata": {"name": "shop"}}


def test_sockets_are_read_in_the_sidecar_first_then_in_a_container_that_has_cat(monkeypatch):
    cluster = kube_cluster(FakeDynamic({}))
    tried = []

    def exec_(pod, container, argv, *, timeout, stdin=None):
        tried.append(container)
        if container == PROXY_CONTAINER:
            raise ExecError("exec cat in shop/cart-1/istio-proxy: executable file not found")
        return ExecResult(tuple(argv), 1, TCP, "cat: /proc/net/tcp6: No such file or directory")

    monkeypatch.setattr(cluster, "exec", exec_)
    pod = Pod("shop", "cart-1", {}, ("app", PROXY_CONTAINER), "10.0.0.5")
    assert cluster.listening_sockets(pod) == [ListeningSocket(9100, "0.0.0.0")]
    assert tried == [PROXY_CONTAINER, "app"]


def test_a_pod_none_of_whose_containers_can_print_its_sockets_is_named(monkeypatch):
    cluster = kube_cluster(FakeDynamic({}))
    monkeypatch.setattr(cluster, "exec", lambda pod, container, argv, **kw: ExecResult(tuple(argv), 127, "", "no cat"))
    with pytest.raises(MeshproofError, match="cannot read the listening sockets of pod shop/cart-1: app: no cat"):
        cluster.listening_sockets(Pod("shop", "cart-1", {}, ("app",), "10.0.0.5"))
