"""Removing what earlier runs left behind (Ctrl-C, a killed CI job), found by label."""
from __future__ import annotations

from typing import Any

from kubernetes.dynamic.exceptions import ResourceNotFoundError

from ..errors import MeshproofError
from ..run import MANAGED_BY_LABEL, MANAGED_BY_VALUE
from ..timeouts import DEFAULT as DEFAULT_TIMEOUTS
from .ledger import Ledger
from .teardown import tear_down

#: every kind a run may create, the kube backend's own objects included
SWEPT_KINDS = (
    ("v1", "Namespace"), ("v1", "Secret"), ("v1", "Service"), ("v1", "ServiceAccount"), ("v1", "ConfigMap"),
    ("apps/v1", "Deployment"),
    ("security.istio.io/v1", "PeerAuthentication"), ("security.istio.io/v1", "AuthorizationPolicy"),
    ("networking.istio.io/v1", "Gateway"), ("networking.istio.io/v1", "VirtualService"),
    ("networking.istio.io/v1", "DestinationRule"), ("networking.istio.io/v1", "ServiceEntry"),
    ("networking.istio.io/v1", "Sidecar"), ("maistra.io/v1", "ServiceMeshMember"),
)


def leftovers(dyn: Any) -> Ledger:
    """Every object labelled as the suite's, in a ledger so it is torn down like a run's."""
    found = Ledger()
    for api_version, kind in SWEPT_KINDS:
        try:
            resource = dyn.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            continue  # kind not served here (no OSSM, older Istio): nothing of it to sweep
        listing = resource.get(label_selector=f"{MANAGED_BY_LABEL}={MANAGED_BY_VALUE}").to_dict()
        for item in listing.get("items") or []:
            found.record({"apiVersion": api_version, "kind": kind,
                          "metadata": {"name": item["metadata"]["name"],
                                       "namespace": item["metadata"].get("namespace", "")}})
    return found


def sweep_all(dyn: Any, *, timeout: float = DEFAULT_TIMEOUTS.delete) -> list[str]:
    """Delete every leftover; returns what was deleted, raises naming the first that stayed."""
    result = tear_down(dyn, leftovers(dyn), timeout=timeout)
    if result.failures:
        raise MeshproofError(f"{len(result.failures)} leftovers could not be removed ({result.failures[0]}); "
                             f"{len(result.deleted)} were")
    return result.deleted
