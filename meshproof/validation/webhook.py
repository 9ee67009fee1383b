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


#: (group, kind) -> the webhook's checks
CHECKS: dict[tuple[str, str], Callable[[Mapping[str, Any]], Problems]] = {
    ("security.istio.io", "PeerAuthentication"): peer_authentication,
    ("networking.istio.io", "Gateway"): gateway,
}
