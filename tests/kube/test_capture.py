"""Issue 15: the wire capture on a cluster, through an ephemeral debug container (meshproof.kube.capture).

Against the strict fake API server with a kubelet that runs the container's real
command (sh, timeout, tcpdump) in a network namespace standing for the pod: the
capture sees a marker cross the pod's eth0, hands the pcap over through the
container's log, and leaves a terminated container and no file behind.  Where
the cluster forbids the container (RBAC, PodSecurity, a runtime without raw
sockets) the capture is "not supported" and says which rule.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from meshproof.errors import InfrastructureError, NotSupported
from meshproof.kube import capture as kube_capture
from meshproof.kube.pods import to_pod
from meshproof.wire import summarize

from .clusters import kube_cluster
from .fake_kubelet import STRATEGIC, EphemeralContainers, PodNetwork
from .fake_server import FakeServer

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or not shutil.which("tcpdump"),
                                reason="needs root and tcpdump for the pod's network namespace")

PORT = 9000
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "tcp-echo-1", "namespace": "mp-a", "labels": {"app": "tcp-echo"}},
       "spec": {"containers": [{"name": "tcp-echo", "image": "docker.io/istio/tcp-echo-server:1.3"},
                               {"name": "istio-proxy", "image": "docker.io/istio/proxyv2:1.28.0"}]},
       "status": {"podIP": "10.254.7.2"}}


@pytest.fixture
def network():
    net = PodNetwork()
    yield net
    net.close()


def cluster_with(network, tmp_path, **kubelet):
    server = FakeServer([POD])
    kubelet.setdefault("images", {kube_capture.DEFAULT_IMAGE})
    containers = EphemeralContainers(server, network, tmp_path, **kubelet)
    mesh = kube_cluster(server)
    mesh.exec, mesh.logs = containers.exec, containers.logs
    return mesh, server, containers


def send_line(network: PodNetwork, line: str) -> None:
    """A server in the pod reads one line; a client in the peer namespace sends it (plaintext, as the control)."""
    server = network.run(network.pod, [sys.executable, "-c", (
        "import socket\ns = socket.create_server(('0.0.0.0', %d))\nprint('up', flush=True)\n"
        "c, _ = s.accept()\nc.sendall(c.recv(4096))\nc.close()" % PORT)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout.readline().strip() == "up"
        client = network.run(network.peer, [sys.executable, "-c", (
            "import socket\nc = socket.create_connection(('%s', %d), timeout=10)\nc.sendall(b'%s\\n')\n"
            "print(c.recv(4096))" % (network.pod_ip, PORT, line))], stdout=subprocess.PIPE, text=True)
        assert line in client.communicate(timeout=30)[0]
    finally:
        server.kill()
        server.wait()


@pytest.mark.parametrize("busybox", [False, True], ids=["dash-coreutils", "busybox"])
def test_the_capture_container_sees_the_wire_and_hands_the_pcap_over_through_its_log(network, tmp_path, busybox):
    """The script runs as the image would run it: busybox's sh, timeout and base64 (netshoot is Alpine-based), or
    dash and coreutils."""
    if busybox and not shutil.which("busybox"):
        pytest.fail("busybox is missing: scripts/bootstrap.sh installs it")
    mesh, server, containers = cluster_with(network, tmp_path, busybox=busybox)
    try:
        pod = to_pod(POD)
        capture = mesh.start_capture(pod, PORT)
        send_line(network, "meshproof-marker-kube")
        pcap = capture.stop()
        second = mesh.start_capture(pod, PORT)  # a second capture in the same pod adds a container of its own
        assert second.stop().startswith(b"\xd4\xc3\xb2\xa1")  # an empty classic pcap, header only
    finally:
        containers.close()
    summary = summarize(pcap, port=PORT, marker=b"meshproof-marker-kube")
    assert summary.marker_seen and summary.connections == 1 and not summary.all_tls, summary.text()

    (body, content_type), _ = containers.patches
    assert content_type == STRATEGIC
    (spec,) = body["spec"]["ephemeralContainers"]
    assert spec["targetContainerName"] == "tcp-echo" and spec["image"] == kube_capture.DEFAULT_IMAGE
    assert spec["securityContext"]["capabilities"] == {"add": ["NET_RAW"]}
    stored = server.find("Pod", "mp-a", "tcp-echo-1")
    names = [c["name"] for c in stored["spec"]["ephemeralContainers"]]
    assert names == [capture.name, second.name] and capture.name != second.name
    states = [s["state"] for s in stored["status"]["ephemeralContainerStatuses"]]
    assert states == [{"terminated": {"exitCode": 0, "reason": "Completed"}}] * 2, "both containers ended"
    assert not os.path.exists(kube_capture.workdir(capture.name)), "the script removes its files"
    assert capture.stop() == b"", "stopped once"


@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_podsecurity_makes_the_capture_not_supported_and_says_so(network, tmp_path, level):
    mesh, server, containers = cluster_with(network, tmp_path, pod_security=level)
    with pytest.raises(NotSupported) as refused:
        mesh.start_capture(to_pod(POD), PORT)
    assert str(refused.value).startswith("PodSecurity admission of namespace mp-a refuses a capture container "
                                         "adding NET_RAW: 403 ")
    assert f'violates PodSecurity "{level}:latest"' in str(refused.value) and "\n" not in str(refused.value)
    assert "ephemeralContainers" not in server.find("Pod", "mp-a", "tcp-echo-1")["spec"]


def test_no_right_to_patch_ephemeral_containers_is_not_supported_naming_the_permission(network, tmp_path):
    mesh, _, _ = cluster_with(network, tmp_path, rbac_denied=True)
    with pytest.raises(NotSupported, match=r"^no permission to patch pods/ephemeralcontainers in namespace mp-a "):
        mesh.start_capture(to_pod(POD), PORT)


def test_a_runtime_that_denies_raw_sockets_is_not_supported(network, tmp_path):
    mesh, _, containers = cluster_with(network, tmp_path, runtime_denies_net_raw=True)
    try:
        with pytest.raises(NotSupported, match=r"^the container runtime denies the capture container the packet "
                                               r"socket \(NET_RAW\): .*tcpdump"):
            mesh.start_capture(to_pod(POD), PORT)
    finally:
        containers.close()


def test_an_image_that_cannot_be_pulled_is_an_infrastructure_error_pointing_at_the_option(network, tmp_path):
    mesh, _, _ = cluster_with(network, tmp_path, images=set())
    with pytest.raises(InfrastructureError, match=r"cannot start: ErrImagePull: .*\(set --capture-image\?\)$"):
        mesh.start_capture(to_pod(POD), PORT)


def test_a_server_without_the_subresource_is_not_supported(tmp_path):
    mesh = kube_cluster(FakeServer([POD]))
    with pytest.raises(NotSupported, match=r"does not serve pods/ephemeralcontainers \(Kubernetes 1.23\+\)"):
        mesh.start_capture(to_pod(POD), PORT)


def test_the_capture_image_follows_the_image_registry_unless_given():
    from meshproof.kube.cluster import KubeCluster

    base = kube_cluster(FakeServer())

    def image(**options) -> str:
        return KubeCluster(base.api, base.dyn, base.platform, base.ingress, **options).capture_image

    assert image() == kube_capture.DEFAULT_IMAGE
    assert image(image_registry="registry.corp.example/mirror") == "registry.corp.example/mirror/nicolaka/netshoot:v0.13"
    assert image(image_registry="registry.corp.example/mirror",
                 capture_image="registry.corp.example/tcpdump:1") == "registry.corp.example/tcpdump:1"
