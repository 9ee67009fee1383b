"""What the API server says about the mesh, as plain API objects.

Profile and ingress detection are pure functions of a :class:`Snapshot`, so
they are tested from recorded objects of each platform with no cluster.
:func:`meshproof.kube.survey.take_snapshot` fills one from a live API.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Mapping

ApiObject = Mapping[str, Any]


@dataclass(frozen=True)
class Snapshot:
    #: API group names served (``route.openshift.io`` tells OpenShift)
    api_groups: frozenset[str] = frozenset()
    #: CustomResourceDefinition names, e.g. ``peerauthentications.security.istio.io``
    crds: frozenset[str] = frozenset()
    istiod_pods: tuple[ApiObject, ...] = ()
    ztunnel_pods: tuple[ApiObject, ...] = ()
    #: MutatingWebhookConfigurations of the sidecar injector
    webhooks: tuple[ApiObject, ...] = ()
    #: maistra.io ServiceMeshControlPlanes (OSSM 2)
    control_planes: tuple[ApiObject, ...] = ()
    #: sailoperator.io Istio resources (OSSM 3 and the Sail operator)
    sail_istios: tuple[ApiObject, ...] = ()
    #: Services whose selector has an ``istio`` key: ingress gateway candidates
    gateway_services: tuple[ApiObject, ...] = ()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Snapshot":
        """Build from recorded data: the shape of ``tests/kube/data/*.yaml``."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown snapshot keys: {', '.join(sorted(unknown))}")
        values = {k: frozenset(v) if k in ("api_groups", "crds") else tuple(v) for k, v in data.items()}
        return cls(**values)


def labels(obj: ApiObject) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def namespace(obj: ApiObject) -> str:
    return (obj.get("metadata") or {}).get("namespace") or ""


def name(obj: ApiObject) -> str:
    return (obj.get("metadata") or {}).get("name") or ""
