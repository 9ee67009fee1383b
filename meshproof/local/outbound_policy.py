"""Sidecar and ServiceEntry as istiod translates them for a client sidecar's outbound listener.

A namespace's Sidecar resource without a workloadSelector (else the root
namespace's) sets ``outboundTrafficPolicy.mode``; under REGISTRY_ONLY only
ServiceEntry hosts and addresses exported to the namespace stay reachable
(istio.io, "Sidecar" and "ServiceEntry" references).
"""
from __future__ import annotations

from typing import Mapping

from .objects import Store


def registry_only(store: Store, namespace: str, root_namespace: str) -> bool:
    """True when outboundTrafficPolicy is REGISTRY_ONLY for ``namespace`` (default ALLOW_ANY)."""
    for scope in (namespace, root_namespace):
        for sidecar in store.of_kind("Sidecar", scope):
            if (sidecar.get("spec") or {}).get("workloadSelector"):
                continue
            mode = (((sidecar.get("spec") or {}).get("outboundTrafficPolicy") or {}).get("mode") or "").upper()
            if mode:
                return mode == "REGISTRY_ONLY"
    return False


def service_entries(store: Store, namespace: str, external_hosts: Mapping[str, str]) -> list[tuple[str, int]]:
    """(address, port) pairs the ServiceEntries exported to ``namespace`` allow.

    ``external_hosts``: DNS names outside the mesh -> their address, for entries naming hosts.
    """
    allowed = []
    for entry in store.of_kind("ServiceEntry"):
        spec = entry.get("spec") or {}
        export = spec.get("exportTo") or ["*"]
        if "*" not in export and not (entry["metadata"]["namespace"] == namespace and "." in export) and namespace not in export:
            continue
        addresses = list(spec.get("addresses") or [])
        addresses += [external_hosts[h] for h in spec.get("hosts") or [] if h in external_hosts]
        for address in addresses:
            for port in spec.get("ports") or []:
                allowed.append((address.split("/")[0], int(port["number"])))
    return allowed
