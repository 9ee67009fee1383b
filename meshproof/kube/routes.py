"""The ingress gateway reached through an OpenShift Route (``route.openshift.io/v1``).

On OpenShift Service Mesh the gateway Service is usually ClusterIP and the
cluster's router is the way in: a Route to the gateway Service whose host
resolves (``*.apps.<domain>``) to the router.  The router forwards plain HTTP
on port 80 by Host header and passthrough TLS on port 443 by SNI, so only
those two kinds of Route reach the gateway unchanged; an edge or re-encrypt
Route terminates TLS in the router, and the gateway would never see the
client's certificate.
"""
from __future__ import annotations

from typing import Iterable, Mapping

from ..cluster import Endpoint
from .snapshot import ApiObject, labels, name

API_VERSION = "route.openshift.io/v1"
#: OSSM 2's IOR labels the Routes it makes from Gateway hosts; those hosts are the suite's own, not in DNS
IOR_LABEL = ("maistra.io/generated-by", "ior")
#: a Route's TLS termination (None: plain HTTP) -> the router port that carries it unchanged
ROUTER_PORTS = {None: 80, "passthrough": 443}


def route_address(routes: Iterable[ApiObject], svc: ApiObject, sp: Mapping) -> Endpoint | None:
    """Where the router exposes the gateway Service's port ``sp``; None when no admitted Route fits."""
    ports = (svc.get("spec") or {}).get("ports") or []
    for route in sorted(routes, key=name):
        spec = route.get("spec") or {}
        termination = (spec.get("tls") or {}).get("termination")
        if (termination in ROUTER_PORTS and spec.get("host") and _admitted(route) and not _generated(route)
                and (spec.get("to") or {}).get("name") == name(svc) and _targets(spec, sp, len(ports))):
            return Endpoint(spec["host"], ROUTER_PORTS[termination])
    return None


def _targets(spec: Mapping, sp: Mapping, service_ports: int) -> bool:
    """A Route names its port by the Service port's name or the endpoints' port number; none means the only one."""
    target = (spec.get("port") or {}).get("targetPort")
    if target is None:
        return service_ports == 1
    return target in (sp.get("name"), sp.get("targetPort", sp.get("port")))


def _admitted(route: ApiObject) -> bool:
    return any(c.get("type") == "Admitted" and c.get("status") == "True"
               for ingress in (route.get("status") or {}).get("ingress") or []
               for c in ingress.get("conditions") or [])


def _generated(route: ApiObject) -> bool:
    key, value = IOR_LABEL
    return labels(route).get(key) == value
