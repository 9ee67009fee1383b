"""Cleanup deletes what the run applied and waits as long as the run's timeouts say, not a default."""
from __future__ import annotations

import pytest
from kubernetes import client

from meshproof.cluster import ExecResult, Pod
from meshproof.errors import MeshproofError
from meshproof.kube.ledger import Ledger
from meshproof.kube.teardown import tear_down

from .clusters import kube_cluster
from .fake_dynamic import FakeDynamic, FakeResource

STUCK = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "cred", "namespace": "mp-a", "finalizers": ["x"]}}
GONE = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg", "namespace": "mp-a"}}


class Vanishing(FakeResource):
    """Deleted objects are gone at once."""

    def delete(self, *, name, namespace, body):
        super().delete(name=name, namespace=namespace, body=body)
        self.items = [i for i in self.items if i["metadata"]["name"] != name]


def dynamic() -> FakeDynamic:
    return FakeDynamic({"Secret": FakeResource([STUCK], kind="Secret"),
                        "ConfigMap": Vanishing([GONE], kind="ConfigMap")})


def ledger_of(*objects) -> Ledger:
    ledger = Ledger()
    for obj in objects:
        ledger.record(obj)
    return ledger


def test_one_stuck_object_does_not_stop_the_others():
    dyn = dynamic()
    result = tear_down(dyn, ledger_of(STUCK, GONE), timeout=0.2)
    assert result.deleted == ["ConfigMap mp-a/cfg"]
    assert result.failures == ["Secret mp-a/cred: deleting Secret mp-a/cred: not done after 0.2s (1 objects)"]
    assert dyn.by_kind["Secret"].deleted == ["cred"]


def test_close_waits_as_long_as_the_runs_delete_timeout():
    mesh = kube_cluster(dynamic(), delete=0.3)
    mesh.ledger = ledger_of(STUCK)
    with pytest.raises(MeshproofError, match=r"^cleanup left 1 objects \(Secret mp-a/cred: deleting Secret mp-a/cred: "
                                             r"not done after 0\.3s \(1 objects\)\); run `make clean`$"):
        mesh.close()


def test_diagnostics_read_envoy_within_the_runs_diagnostics_timeout(monkeypatch):
    mesh = kube_cluster(dynamic(), diagnostics=7)
    pod = {"metadata": {"name": "details-1", "namespace": "mp-a"},
           "spec": {"containers": [{"name": "details"}, {"name": "istio-proxy"}]}, "status": {}}
    seen: list[tuple[str, float]] = []

    def exec_(target: Pod, container: str, argv, *, timeout: float) -> ExecResult:
        seen.append((container, timeout))
        return ExecResult(tuple(argv), 0, "{}", "")

    monkeypatch.setattr(mesh._core, "list_namespaced_pod", lambda ns, **kw: client.V1PodList(items=[pod]))
    monkeypatch.setattr(mesh._core, "list_namespaced_event", lambda ns, **kw: client.CoreV1EventList(items=[]))
    monkeypatch.setattr(mesh._core, "read_namespaced_pod_log", lambda *a, **kw: "")
    monkeypatch.setattr(mesh, "exec", exec_)
    found = mesh.diagnostics("mp-a")
    assert found["envoy/details-1/config_dump"] == "{}"
    # each read gets what is left of the failure's 7 s, never more
    assert [c for c, _ in seen] == ["istio-proxy", "istio-proxy"] and all(0 < t <= 7 for _, t in seen)
