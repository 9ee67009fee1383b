"""The kube backend: root namespace and trust domain read from istiod's mesh ConfigMap; refused objects never sent."""
from __future__ import annotations

import pytest

from meshproof.errors import ConfigError
from meshproof.kube.meshconfig import read_mesh_config
from meshproof.meshconfig import MeshConfig

from .fake_dynamic import FakeDynamic, FakeResource


def cm(name: str, mesh: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": "istio-system"},
            "data": {"mesh": mesh}}


def dyn(*configmaps: dict) -> FakeDynamic:
    return FakeDynamic({"ConfigMap": FakeResource(list(configmaps), kind="ConfigMap")})


def test_the_istio_configmap_names_root_namespace_and_trust_domain():
    found = read_mesh_config(dyn(cm("istio", "rootNamespace: mesh-root\ntrustDomain: example.org\n")), "istio-system", "")
    assert found == MeshConfig("mesh-root", "example.org")


def test_a_revision_reads_istio_dash_revision():
    """pilot/pkg/bootstrap/mesh.go getMeshConfigMapName: istio-<revision> unless the revision is default."""
    api = dyn(cm("istio", "trustDomain: default.example\n"), cm("istio-asm-1-24", "trustDomain: asm.example\n"))
    assert read_mesh_config(api, "istio-system", "asm-1-24").trust_domain == "asm.example"
    assert read_mesh_config(api, "istio-system", "default").trust_domain == "default.example"


def test_without_the_configmap_or_the_fields_istiods_defaults_apply():
    """pkg/config/mesh/mesh.go DefaultMeshConfig: rootNamespace istio-system, trustDomain cluster.local."""
    assert read_mesh_config(dyn(), "istio-system", None) == MeshConfig("istio-system", "cluster.local")
    assert read_mesh_config(dyn(cm("istio", "accessLogFile: /dev/stdout\n")), "istio-system", None) == MeshConfig()


def test_a_mesh_that_is_not_meshconfig_is_one_line_naming_the_configmap():
    with pytest.raises(ConfigError, match=r"^ConfigMap istio-system/istio: data\.mesh: [^\n]*$"):
        read_mesh_config(dyn(cm("istio", "- a list\n")), "istio-system", None)


def test_an_object_a_cluster_refuses_is_never_sent():
    """Admission (meshproof.validation) runs on the kube backend too, before anything is applied."""
    from meshproof.policies import peer_authentication

    from .clusters import kube_cluster

    class Recording:
        sent: list = []

        def server_side_apply(self, **kw):
            self.sent.append(kw)

    recording = Recording()
    cluster = kube_cluster(FakeDynamic({"PeerAuthentication": recording}))
    bad = peer_authentication("bookinfo", "strict")
    with pytest.raises(ConfigError, match=r"^PeerAuthentication bookinfo/default refused: spec\.mtls\.mode: "):
        cluster.apply(bad)
    assert recording.sent == []
    cluster.apply(peer_authentication("bookinfo", "STRICT"))
    assert [kw["body"]["spec"] for kw in recording.sent] == [{"mtls": {"mode": "STRICT"}}]
