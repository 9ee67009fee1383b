"""Reading, once at start, the API objects that tell which mesh the cluster runs."""
from __future__ import annotations

from typing import Any

from kubernetes import client

from .resources import items
from .snapshot import ApiObject, Snapshot, labels, name

SMCP_CRD = "servicemeshcontrolplanes.maistra.io"
SAIL_CRD = "istios.sailoperator.io"


def take_snapshot(api: client.ApiClient, dyn: Any) -> Snapshot:
    groups = client.ApisApi(api).get_api_versions().groups or []
    crds = frozenset(name(c) for c in _list(dyn, "apiextensions.k8s.io/v1", "CustomResourceDefinition"))
    webhooks = tuple(h for h in _list(dyn, "admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration")
                     if _is_injector(h))
    return Snapshot(
        api_groups=frozenset(g.name for g in groups),
        crds=crds,
        istiod_pods=tuple(_list(dyn, "v1", "Pod", label_selector="app=istiod")),
        ztunnel_pods=tuple(_list(dyn, "v1", "Pod", label_selector="app=ztunnel")),
        webhooks=webhooks,
        control_planes=tuple(_list(dyn, "maistra.io/v2", "ServiceMeshControlPlane") if SMCP_CRD in crds else ()),
        sail_istios=tuple(_list(dyn, "sailoperator.io/v1", "Istio") if SAIL_CRD in crds else ()),
        gateway_services=tuple(s for s in _list(dyn, "v1", "Service")
                               if "istio" in ((s.get("spec") or {}).get("selector") or {})),
    )


def _is_injector(hook: ApiObject) -> bool:
    return "istio.io/rev" in labels(hook) or "sidecar-injector" in name(hook)


def _list(dyn: Any, api_version: str, kind: str, **query: str) -> list[dict]:
    listed = items(dyn, api_version, kind, **query)
    for item in listed:
        item.get("metadata", {}).pop("managedFields", None)
    return listed
