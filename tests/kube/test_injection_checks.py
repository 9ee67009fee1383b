"""Issue 12 item 5: after readiness every in-mesh pod has a sidecar; OSSM 2 pods wait for the namespace to join."""
from __future__ import annotations

import pytest

from fixtures.workloads import Deployer
from meshproof.errors import InfrastructureError, MeshproofError
from meshproof.kube.pods import to_pod
from meshproof.run import RunInfo
from meshproof.timeouts import DEFAULT
from meshproof.workload import Workload

from .clusters import kube_cluster
from .fake_server import FakeServer


def pod(name: str, namespace: str, *containers: str) -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "labels": {"app": "details"}},
            "spec": {"containers": [{"name": c} for c in containers]}}


def deployer_over(platform: str, pods: list[dict]):
    mesh = kube_cluster(FakeServer(), platform)
    mesh.wait_ready = lambda namespace, selector, timeout: [to_pod(p) for p in pods]  # type: ignore[method-assign]
    return Deployer(mesh, RunInfo("abc123", "kube"), DEFAULT), mesh


def test_a_pod_without_sidecar_in_a_mesh_namespace_is_an_infrastructure_error():
    deployer, _ = deployer_over("upstream", [pod("details-1", "bookinfo-abc123", "details")])
    namespace = deployer.namespace("bookinfo", injected=True)
    with pytest.raises(InfrastructureError) as err:
        deployer.ready(Workload(namespace, "details", 9080))
    assert str(err.value) == ("pod bookinfo-abc123/details-1 has no istio-proxy sidecar although its namespace is in "
                              "the mesh (istio-injection=enabled): the injector did not select it")


def test_pods_with_a_sidecar_or_outside_the_mesh_pass():
    deployer, _ = deployer_over("upstream", [pod("details-1", "bookinfo-abc123", "details", "istio-proxy")])
    deployer.ready(Workload(deployer.namespace("bookinfo", injected=True), "details", 9080))
    bare, _ = deployer_over("upstream", [pod("sleep-1", "legacy-abc123", "sleep")])
    bare.ready(Workload(bare.namespace("legacy", injected=False), "sleep"))


def test_ambient_pods_have_no_sidecar_by_design():
    deployer, _ = deployer_over("ambient", [pod("details-1", "bookinfo-abc123", "details")])
    deployer.ready(Workload(deployer.namespace("bookinfo", injected=True), "details", 9080))


def test_ossm2_deployments_are_applied_only_once_the_member_is_ready():
    server = FakeServer()
    reads = []

    def control_plane(kind):
        """OSSM's operator: the member turns Ready on the third look."""
        if kind != "ServiceMeshMember":
            return
        reads.append(kind)
        member = server.find("ServiceMeshMember", "bookinfo-abc123", "default")
        if member is not None and len(reads) >= 3:
            member["status"] = {"conditions": [{"type": "Reconciled", "status": "True"},
                                               {"type": "Ready", "status": "True"}]}

    server.on_read.append(control_plane)
    mesh = kube_cluster(server, "ossm2")
    deployer = Deployer(mesh, RunInfo("abc123", "kube"), DEFAULT)
    namespace = deployer.namespace("bookinfo", injected=True)
    deployer.apply("bookinfo/details.yaml", namespace)
    kinds = [a[1] for a in server.audit if a[0] == "apply"]
    assert kinds.index("ServiceMeshMember") < kinds.index("Deployment")
    assert len(reads) >= 3 and server.find("ServiceMeshMember", namespace, "default")["status"]["conditions"][1]["status"] == "True"
    mesh.close()


def test_an_ossm2_member_that_never_turns_ready_is_one_line():
    server = FakeServer()
    mesh = kube_cluster(server, "ossm2", workload_ready=0.3)
    deployer = Deployer(mesh, RunInfo("abc123", "kube"), DEFAULT)
    with pytest.raises(MeshproofError) as err:
        deployer.namespace("bookinfo", injected=True)
    assert str(err.value) == ("ServiceMeshMember bookinfo-abc123/default Ready: not done after 0.3s "
                              "(no conditions yet)")
    mesh.close()
