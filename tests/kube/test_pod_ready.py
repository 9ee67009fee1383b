"""pod_ready reads the pods' Ready conditions, which the kubelet sets from their readiness probes."""
from __future__ import annotations

import pytest

from .clusters import kube_cluster
from .fake_dynamic import FakeDynamic, FakeResource


def pod(name: str, ready: bool, *, app: str = "httpbin-probes", terminating: bool = False) -> dict:
    meta = {"name": name, "namespace": "ns", "labels": {"app": app}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}


@pytest.mark.parametrize("pods, expected", [
    ([pod("a", True)], True),
    ([pod("a", False)], False),
    ([], False),
    ([pod("a", True), pod("b", False)], False),
    ([pod("old", False, terminating=True), pod("new", True)], True),
    ([pod("other", True, app="httpbin"), pod("a", False)], False),
], ids=["ready", "probe failing", "no pod", "one of two failing", "terminating pod ignored", "other app ignored"])
def test_pod_ready_is_every_selected_live_pod_ready(pods, expected):
    cluster = kube_cluster(FakeDynamic({"Pod": FakeResource(pods)}))
    assert cluster.pod_ready("ns", {"app": "httpbin-probes"}) is expected
