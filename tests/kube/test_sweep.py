"""`make clean` finds the suite's objects by label and creation stamp, and removes them in a safe order."""
from __future__ import annotations

from meshproof.kube.ownership import CREATED_BY
from meshproof.kube.sweep import leftovers
from meshproof.run import MANAGED_BY_LABEL, RUN_LABEL

from .fake_server import FakeServer


def made(api_version, kind, name, namespace="", *, stamped=True, run="abc123"):
    meta = {"name": name, "labels": {MANAGED_BY_LABEL: "meshproof", RUN_LABEL: run}}
    if namespace:
        meta["namespace"] = namespace
    if stamped:
        meta["annotations"] = {CREATED_BY: run}
    return {"apiVersion": api_version, "kind": kind, "metadata": meta}


def test_leftovers_are_found_by_label_and_stamp_and_torn_down_namespaces_last():
    server = FakeServer([
        made("v1", "Namespace", "bookinfo-abc123"),
        made("v1", "Secret", "cred", "bookinfo-abc123"),
        made("v1", "Secret", "bookinfo-abc123-cred", "istio-ingress"),
        made("security.istio.io/v1", "PeerAuthentication", "default", "istio-system"),
        # labelled by hand, or by an older meshproof that forced its labels on: not created by meshproof
        made("security.istio.io/v1", "PeerAuthentication", "baseline", "istio-system", stamped=False),
        # stamped by another run than its label says: not this object's creator
        {**made("v1", "Secret", "copied", "team-a", run="abc123"),
         "metadata": {**made("v1", "Secret", "copied", "team-a")["metadata"], "annotations": {CREATED_BY: "zzz999"}}},
    ])
    order = [r.describe() for r in leftovers(server).teardown_order()]
    # the Secret inside the run's namespace goes with it
    assert order == ["PeerAuthentication istio-system/default", "Secret istio-ingress/bookinfo-abc123-cred",
                     "Namespace bookinfo-abc123"]
