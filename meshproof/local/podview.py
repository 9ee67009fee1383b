"""``PodView``: what the control plane and kube-proxy know of a running pod (no behaviour, no imports of the mesh)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping


@dataclass
class PodView:
    """What the control plane needs to know about a running pod."""

    namespace: str
    name: str
    ip: str
    labels: Mapping[str, str]
    service_account: str
    container_ports: Mapping[int, str]  # port -> port name ("" if unnamed)
    has_sidecar: bool
    #: ``metadata.annotations`` of the pod
    annotations: Mapping[str, str] = field(default_factory=dict)
    #: ``spec.hostname`` and ``spec.subdomain``: with a headless Service named ``subdomain``, a DNS name of its own
    hostname: str = ""
    subdomain: str = ""
    #: the PeerAuthentications this pod's proxy was started with (only used when pushes are broken)
    policies_at_start: list[dict[str, Any]] = field(default_factory=list)
