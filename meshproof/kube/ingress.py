"""Finding the ingress gateway and the address at which it is reached from outside.

Pure functions over API objects; the port-forward fallback lives in
:mod:`meshproof.kube.portforward`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from ..cluster import Endpoint, MeshInfo, selector_text
from ..errors import ConfigError
from ..profiles import DEFAULT_INGRESS_SELECTORS, PLATFORM_INGRESS, PROFILES
from .snapshot import ApiObject, Snapshot, name, namespace


@dataclass(frozen=True)
class IngressGateway:
    namespace: str
    service: str
    #: the Service's pod selector; Gateways applied by the suite select these pods
    selector: Mapping[str, str]

    def describe(self) -> str:
        return f"{self.namespace}/{self.service}"


def _wanted_selectors(mesh: MeshInfo, selector: Mapping[str, str] | None) -> tuple[Mapping[str, str], ...]:
    """The user's selector, or the gateway labels usual on the mesh's platform."""
    return (selector,) if selector else PLATFORM_INGRESS.get(mesh.platform, DEFAULT_INGRESS_SELECTORS)


def find_ingress(snap: Snapshot, mesh: MeshInfo, *, in_namespace: str | None = None,
                 selector: Mapping[str, str] | None = None) -> IngressGateway | None:
    wanted = _wanted_selectors(mesh, selector)
    record = PROFILES.get(mesh.profile)
    preferred = (mesh.root_namespace, *(record.ingress_namespaces if record else ()))
    for sel in wanted:
        found = [s for s in snap.gateway_services
                 if _selects(s, sel) and in_namespace in (None, namespace(s))]
        found.sort(key=lambda s: (namespace(s) not in preferred, namespace(s), name(s)))
        if found:
            svc = found[0]
            return IngressGateway(namespace(svc), name(svc), dict(svc["spec"]["selector"]))
    return None


def describe_search(mesh: MeshInfo, in_namespace: str | None, selector: Mapping[str, str] | None) -> str:
    sels = _wanted_selectors(mesh, selector)
    where = f"namespace {in_namespace}" if in_namespace else "any namespace"
    text = " or ".join(selector_text(s) for s in sels)
    return f"no Service selecting {text} in {where}"


def _selects(svc: ApiObject, sel: Mapping[str, str]) -> bool:
    have = (svc.get("spec") or {}).get("selector") or {}
    return all(have.get(k) == v for k, v in sel.items())


def service_port(svc: ApiObject, port: int) -> Mapping:
    for p in (svc.get("spec") or {}).get("ports") or []:
        if p.get("port") == port:
            return p
    offered = ", ".join(str(p.get("port")) for p in (svc.get("spec") or {}).get("ports") or [])
    raise ConfigError(f"ingress gateway {namespace(svc)}/{name(svc)} has no port {port} (it has {offered})")


def node_addresses(nodes: Iterable[ApiObject]) -> list[str]:
    """External addresses first: they are the ones reachable from outside a cloud VPC."""
    found: list[tuple[int, str]] = []
    for node in nodes:
        for addr in (node.get("status") or {}).get("addresses") or []:
            rank = {"ExternalIP": 0, "InternalIP": 1}.get(addr.get("type"))
            if rank is not None:
                found.append((rank, addr["address"]))
    return [a for _, a in sorted(found, key=lambda r: r[0])]


def outside_address(svc: ApiObject, port: int, nodes: list[str]) -> Endpoint | None:
    """LoadBalancer address, else a node port; None means only a port-forward will do."""
    sp = service_port(svc, port)
    for ingress in ((svc.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []:
        host = ingress.get("ip") or ingress.get("hostname")
        if host:
            return Endpoint(host, port)
    if sp.get("nodePort") and nodes:
        return Endpoint(nodes[0], int(sp["nodePort"]))
    return None


def container_port(sp: Mapping, pod: ApiObject) -> int:
    """The pod port behind a Service port (``targetPort`` may be a number or a port name)."""
    target = sp.get("targetPort", sp.get("port"))
    if isinstance(target, int) or str(target).isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for cp in container.get("ports") or []:
            if cp.get("name") == target:
                return int(cp["containerPort"])
    raise ConfigError(f"pod {name(pod)} has no port named {target!r}")
