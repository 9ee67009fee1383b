"""Istio's validating webhook (istiod's ``pkg/config/validation/validation.go``) for the kinds the suite applies.

Each function yields (field path, problem) for what istiod refuses at
admission beyond the CRD schema.  Functions are keyed by (group, kind) in
:data:`CHECKS`; a kind without one has only its schema checked.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

from .objectmeta import DNS1123_LABEL

Problems = Iterator[tuple[str, str]]

_TLS_PROTOCOLS = ("HTTPS", "TLS")
_HTTP_PROTOCOLS = ("HTTP", "HTTP2", "GRPC", "GRPC-WEB")


def _selector(selector: Mapping[str, Any] | None, path: str) -> Problems:
    """validateWorkloadSelector: no empty keys, no wildcards."""
    for key, value in ((selector or {}).get("matchLabels") or {}).items():
        if key == "":
            yield f"{path}.matchLabels", f'empty key is not supported in selector: "={value}"'
        if "*" in str(key) or "*" in str(value):
            yield f"{path}.matchLabels", f'wildcard is not supported in selector: "{key}={value}"'


def peer_authentication(manifest: Mapping[str, Any]) -> Problems:
    """ValidatePeerAuthentication; portLevelMtls keys are uint32 in Istio's API, so a name is a conversion error.

    Source: istio/istio pkg/config/validation/validation.go ValidatePeerAuthentication, and its test
    cases pkg/config/validation/testdata/crds/peerauth-invalid.yaml.
    """
    spec = manifest.get("spec") or {}
    ports = spec.get("portLevelMtls")
    if ports is not None and not ((spec.get("selector") or {}).get("matchLabels")):
        yield "spec.portLevelMtls", "mesh/namespace peer authentication cannot have port level mTLS"
    if isinstance(ports, Mapping):
        if not ports:
            yield "spec.portLevelMtls", "port level mTLS, if defined, must have at least one element"
        for port in ports:
            text = str(port)
            if not text.isdigit():
                yield f"spec.portLevelMtls[{port}]", f"type conversion error: {text!r} is not a port number"
            elif not 0 < int(text) <= 65535:
                yield f"spec.portLevelMtls[{port}]", "port must be in range 1..65535"
    yield from _selector(spec.get("selector"), "spec.selector")


def gateway(manifest: Mapping[str, Any]) -> Problems:
    """ValidateGateway and validateServer (hosts, TLS settings matching the protocol, unique port names)."""
    name = str((manifest.get("metadata") or {}).get("name", ""))
    if not DNS1123_LABEL.match(name):
        yield "metadata.name", f"invalid gateway name: {name!r} (a DNS-1123 label, no dots)"
    servers = (manifest.get("spec") or {}).get("servers") or []
    if not servers:
        yield "spec.servers", "gateway must have at least one server"
    seen: set[str] = set()
    for index, server in enumerate(servers):
        where = f"spec.servers[{index}]"
        if not server.get("hosts"):
            yield f"{where}.hosts", "server config must contain at least one host"
        port = server.get("port") or {}
        protocol = str(port.get("protocol", "")).upper()
        port_name = str(port.get("name", ""))  # an absent name is Go's "" and counts as a name
        if port_name in seen:
            yield f"{where}.port.name", f"port names in servers must be unique: duplicate name {port_name!r}"
        seen.add(port_name)
        tls = server.get("tls")
        if protocol in _TLS_PROTOCOLS and tls is None:
            yield f"{where}.tls", "server must have TLS settings for HTTPS/TLS protocols"
        elif tls is not None and protocol not in _TLS_PROTOCOLS and protocol in _HTTP_PROTOCOLS \
                and not (set(tls) <= {"httpsRedirect"}):
            yield f"{where}.tls", "server cannot have TLS settings for plain text HTTP ports"


def service_entry(manifest: Mapping[str, Any]) -> Problems:
    """ValidateServiceEntry: hosts, CIDR addresses only for NONE/STATIC resolution, unique port names and numbers."""
    spec = manifest.get("spec") or {}
    if not spec.get("hosts"):
        yield "spec.hosts", "service entry must have at least one host"
    if str(spec.get("resolution", "NONE")) not in ("NONE", "STATIC"):
        for index, address in enumerate(spec.get("addresses") or []):
            if "/" in str(address):
                yield f"spec.addresses[{index}]", "CIDR addresses are allowed only for NONE/STATIC resolution types"
    names: set[str] = set()
    numbers: set[int] = set()
    for index, port in enumerate(spec.get("ports") or []):
        if port.get("name") in names:
            yield f"spec.ports[{index}].name", f"service entry port name {port.get('name')!r} already defined"
        if port.get("number") in numbers:
            yield f"spec.ports[{index}].number", f"service entry port {port.get('number')} already defined"
        names.add(port.get("name"))
        numbers.add(port.get("number"))


def sidecar(manifest: Mapping[str, Any]) -> Problems:
    """ValidateSidecar: a Sidecar must configure something."""
    spec = manifest.get("spec") or {}
    if not any(spec.get(key) for key in ("egress", "ingress", "outboundTrafficPolicy", "inboundConnectionPool")):
        yield "spec", "sidecar: empty configuration provided"


#: (group, kind) -> the webhook's checks
CHECKS: dict[tuple[str, str], Callable[[Mapping[str, Any]], Problems]] = {
    ("security.istio.io", "PeerAuthentication"): peer_authentication,
    ("networking.istio.io", "Gateway"): gateway,
    ("networking.istio.io", "ServiceEntry"): service_entry,
    ("networking.istio.io", "Sidecar"): sidecar,
}
