"""Services as a cluster serves them: ClusterIPs, kube-proxy's DNAT on the node, and their DNS names.

Kubernetes rules followed here (kubernetes.io, "Service", "Virtual IPs and
Service Proxies", "DNS for Services and Pods"):

- the API server gives every Service a ClusterIP from the service range
  unless ``spec.clusterIP`` is ``None`` (headless); the field is immutable;
- kube-proxy (iptables mode) DNATs ``ClusterIP:port`` to ``podIP:targetPort``
  of one endpoint, chosen at random, in the *node's* network namespace; a
  named ``targetPort`` is looked up in each pod's container ports, and a pod
  without that name is no endpoint of the port;
- a ClusterIP Service's name resolves to its ClusterIP, a headless Service's
  to its pods' IPs, and a pod whose ``hostname`` and ``subdomain`` name a
  headless Service of its namespace gets ``<hostname>.<subdomain>.<ns>.svc.cluster.local``
  (how a StatefulSet's pods get stable names).

A ClusterIP without endpoints is an address of the node with nothing behind it:
a client is refused, as kube-proxy's REJECT rule refuses it.
"""
from __future__ import annotations

import base64
import copy
import hashlib
import ipaddress
import itertools
from typing import TYPE_CHECKING, Any, Iterable, Mapping

from ..cluster import labels_match
from ..errors import ConfigError
from .network import SERVICE_CIDR

if TYPE_CHECKING:  # the control plane's pod view; imported for types only (it imports this module)
    from .podview import PodView

CLUSTER_DOMAIN = "svc.cluster.local"
HEADLESS = "None"
#: Service types the reference mesh models; NodePort, LoadBalancer and ExternalName are refused
TYPES = ("ClusterIP",)
PROTOCOLS = ("TCP", "UDP", "SCTP")


def where(service: Mapping[str, Any]) -> str:
    return f"Service {service['metadata'].get('namespace')}/{service['metadata']['name']}"


def validate_service(service: Mapping[str, Any]) -> None:
    """Refuse, in one line, what the reference mesh does not model or the API server rejects."""
    spec = service.get("spec") or {}
    kind = spec.get("type", "ClusterIP")
    if kind not in TYPES:
        raise ConfigError(f"{where(service)}: type {kind} is not modelled by the reference mesh (only ClusterIP and headless)")
    for port in spec.get("ports") or []:
        if str(port.get("protocol", "TCP")) not in PROTOCOLS:
            raise ConfigError(f"{where(service)}: port {port.get('port')} has unknown protocol {port.get('protocol')!r}")


def cluster_ip(service: Mapping[str, Any]) -> str | None:
    """The Service's virtual IP; None for a headless Service."""
    address = (service.get("spec") or {}).get("clusterIP")
    return None if address in (None, HEADLESS) else str(address)


class ClusterIPs:
    """The API server's ClusterIP allocator over :data:`SERVICE_CIDR` (its first address is the API's own)."""

    def __init__(self) -> None:
        self._taken: dict[str, tuple[str, str]] = {}  # address -> (namespace, name)
        self._next = itertools.islice(SERVICE_CIDR.hosts(), 1, None)

    def assign(self, manifest: Mapping[str, Any], previous: Mapping[str, Any] | None) -> dict[str, Any]:
        """A copy of the Service with ``spec.clusterIP``/``clusterIPs`` set; a re-applied one keeps its address.

        Raises ConfigError for a changed ClusterIP (immutable), an address outside
        the range or one another Service holds.
        """
        service = copy.deepcopy(dict(manifest))
        spec = service.setdefault("spec", {})
        owner = (service["metadata"]["namespace"], service["metadata"]["name"])
        asked = spec.get("clusterIP") or None
        kept = ((previous or {}).get("spec") or {}).get("clusterIP")
        if previous is not None and asked is not None and asked != kept:
            raise ConfigError(f"{where(service)}: spec.clusterIP: Invalid value: {asked!r}: field is immutable")
        address = asked or kept
        if address == HEADLESS:
            spec["clusterIP"] = HEADLESS
            return service
        if address is None:
            address = next(a for a in map(str, self._next) if a not in self._taken)
        elif ipaddress.ip_address(address) not in SERVICE_CIDR:
            raise ConfigError(f"{where(service)}: spec.clusterIP {address} is not in the service range {SERVICE_CIDR}")
        elif self._taken.get(address, owner) != owner:
            raise ConfigError(f"{where(service)}: spec.clusterIP {address} is already allocated")
        self._taken[address] = owner
        spec["clusterIP"], spec["clusterIPs"] = address, [address]
        return service

    def release(self, service: Mapping[str, Any]) -> None:
        address = cluster_ip(service)
        if address is not None:
            self._taken.pop(address, None)


def selects(service: Mapping[str, Any], pod: "PodView") -> bool:
    selector = (service.get("spec") or {}).get("selector") or {}
    return bool(selector) and service["metadata"]["namespace"] == pod.namespace and labels_match(pod.labels, selector)


def target_port(port: Mapping[str, Any], pod: "PodView") -> int | None:
    """``targetPort`` on ``pod`` (defaults to ``port``); None when a named one is not among its container ports."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, str) and not target.isdigit():
        return next((number for number, name in pod.container_ports.items() if name == target), None)
    return int(target)


def endpoints(service: Mapping[str, Any], port: Mapping[str, Any], pods: Iterable["PodView"]) -> list[tuple[str, int]]:
    """(pod IP, target port) of every pod the Service selects that has the port."""
    found = []
    for pod in pods:
        if selects(service, pod):
            target = target_port(port, pod)
            if target is not None:
                found.append((pod.ip, target))
    return found


def fqdn(service: Mapping[str, Any]) -> str:
    return f"{service['metadata']['name']}.{service['metadata']['namespace']}.{CLUSTER_DOMAIN}"


def hosts_lines(services: Iterable[Mapping[str, Any]], pods: Iterable["PodView"], client_namespace: str) -> list[str]:
    """/etc/hosts lines for what cluster DNS answers a pod of ``client_namespace``."""
    pods = list(pods)
    lines = []
    for service in services:
        name, namespace = service["metadata"]["name"], service["metadata"]["namespace"]
        names = [fqdn(service), f"{name}.{namespace}.svc", f"{name}.{namespace}"]
        if namespace == client_namespace:
            names.append(name)
        address = cluster_ip(service)
        if address is not None:
            lines.append(f"{address} {' '.join(names)}")
            continue
        members = [p for p in pods if selects(service, p)]
        lines += [f"{p.ip} {' '.join(names)}" for p in members]
        lines += [f"{p.ip} {p.hostname}.{fqdn(service)}" for p in members if p.hostname and p.subdomain == name]
    return lines


def _chain(prefix: str, *parts: object) -> str:
    """kube-proxy's chain names: a prefix and a hash of what the chain stands for (at most 28 characters)."""
    digest = hashlib.sha256("/".join(map(str, parts)).encode()).digest()
    return prefix + base64.b32encode(digest).decode()[:16]


def kube_proxy_rules(services: Iterable[Mapping[str, Any]], pods: Iterable["PodView"]) -> str:
    """The node's nat table as kube-proxy's iptables mode writes it (for ``iptables-restore``).

    KUBE-SERVICES matches ``ClusterIP:port`` (per protocol) and jumps to the
    port's KUBE-SVC chain, which picks one KUBE-SEP endpoint with equal
    probability and DNATs to ``podIP:targetPort``.
    """
    pods = list(pods)
    chains, rules = ["KUBE-SERVICES"], ["-A PREROUTING -j KUBE-SERVICES", "-A OUTPUT -j KUBE-SERVICES"]
    for service in services:
        address = cluster_ip(service)
        if address is None:
            continue
        for port in (service.get("spec") or {}).get("ports") or []:
            protocol = str(port.get("protocol", "TCP")).lower()
            found = endpoints(service, port, pods)
            if not found:
                continue
            svc = _chain("KUBE-SVC-", where(service), port["port"], protocol)
            chains.append(svc)
            rules.append(f"-A KUBE-SERVICES -d {address}/32 -p {protocol} -m {protocol} --dport {port['port']} -j {svc}")
            for index, (ip, target) in enumerate(found):
                sep = _chain("KUBE-SEP-", where(service), port["port"], protocol, ip, target)
                chains.append(sep)
                remaining = len(found) - index
                pick = f" -m statistic --mode random --probability {1 / remaining:.10f}" if remaining > 1 else ""
                rules.append(f"-A {svc}{pick} -j {sep}")
                rules.append(f"-A {sep} -p {protocol} -m {protocol} -j DNAT --to-destination {ip}:{target}")
    return "\n".join(["*nat", *(f":{c} - [0:0]" for c in chains), *rules, "COMMIT", ""])
