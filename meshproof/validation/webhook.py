"""Istio's validating webhook (istiod's ``pkg/config/validation/validation.go``) for the kinds the suite applies.

Each function yields (field path, problem) for what istiod refuses at
admission beyond the CRD schema.  Functions are keyed by (group, kind) in
:data:`CHECKS`; a kind without one has only its schema checked.
"""
from __future__ import annotations

import re
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


#: AuthorizationPolicy source fields whose values must not be empty strings (security.CheckEmptyValues)
_SOURCE_VALUES = ("principals", "notPrincipals", "namespaces", "notNamespaces", "requestPrincipals",
                  "notRequestPrincipals", "ipBlocks", "notIpBlocks", "remoteIpBlocks", "notRemoteIpBlocks")


def authorization_policy(manifest: Mapping[str, Any]) -> Problems:
    """ValidateAuthorizationPolicy, for the fields of ``rules[].from`` and the action.

    Source: istio/istio pkg/config/validation/validation.go ValidateAuthorizationPolicy.
    """
    spec = manifest.get("spec") or {}
    action = spec.get("action") or "ALLOW"
    rules = spec.get("rules")
    if spec.get("provider") is not None and action != "CUSTOM":
        yield "spec.provider", f"`provider` must not be with non CUSTOM action, found {action}"
    if action == "DENY" and rules is None:
        yield "spec.rules", ("DENY action without `rules` is meaningless as it will never be triggered, add an "
                             "empty rule `{}` if you want it be triggered for every request")
    for index, rule in enumerate(rules or []):
        where = f"spec.rules[{index}]"
        if rule is None:
            yield where, f"`rule` must not be nil, found at rule {index}"
            continue
        if "from" in rule and not rule["from"]:
            yield f"{where}.from", f"`from` must not be empty, found at rule {index}"
        for entry in rule.get("from") or []:
            source = (entry or {}).get("source")
            if source is None:
                yield f"{where}.from", f"`from.source` must not be nil, found at rule {index}"
            elif not any(source.values()):
                yield f"{where}.from", f"`from.source` must not be empty, found at rule {index}"
            else:
                for name in _SOURCE_VALUES:
                    if any(value == "" for value in source.get(name) or []):
                        yield f"{where}.from.source.{name}", f"empty value not allowed, found in {name[0].upper()}{name[1:]}"
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


_WILDCARD_LABEL = re.compile(r"^(\*|(\*|\*-)?[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?)$")
_DOMAIN_LABEL = re.compile(r"^[a-zA-Z0-9]([-a-zA-Z0-9]*[a-zA-Z0-9])?$")
_VISIBILITY = (".", "*")
#: fields a traffic policy (and a port's) may set; one of them must be there
_POLICY_FIELDS = ("outlierDetection", "connectionPool", "loadBalancer", "tls", "portLevelSettings", "tunnel",
                  "proxyProtocol")
_PORT_POLICY_FIELDS = ("outlierDetection", "connectionPool", "loadBalancer", "tls")


def _wildcard_domain(host: str) -> str | None:
    """ValidateWildcardDomain: a wildcard only as (the start of) the first label, DNS-1123 labels after it."""
    if not host:
        return "empty domain name not allowed"
    if len(host) > 255:
        return f"domain name {host!r} too long (max 255)"
    first, _, rest = host.partition(".")
    labels = rest.split(".") if rest else []
    if labels and labels[-1] == "":  # a trailing dot is allowed
        labels.pop()
    bad = next((label for label in [first] if len(label) > 63 or not _WILDCARD_LABEL.match(label)), None)
    bad = bad or next((label for label in labels if len(label) > 63 or not _DOMAIN_LABEL.match(label)), None)
    return f"domain name {host!r} invalid (label {bad!r} invalid)" if bad is not None else None


def _export_to(entries: list[str], namespace: str, path: str) -> Problems:
    """validateExportTo (not for a ServiceEntry): no duplicates (``.`` is the own namespace), ``*`` alone,
    ``.``, ``*`` or a namespace."""
    seen: set[str] = set()
    for entry in entries:
        key = namespace if entry == "." else entry
        if key in seen:
            yield path, (f"duplicate entries in exportTo: . and current namespace {namespace}" if key != entry
                         else f"duplicate entries in exportTo for entry {entry}")
        elif entry == "~":  # pkg/config/visibility Instance.Validate: only a ServiceEntry may hide itself
            yield path, "exportTo ~ (none) is not allowed for Istio configuration objects"
        elif entry not in _VISIBILITY and not DNS1123_LABEL.match(entry):
            yield path, f"only .,*,~, or a valid DNS 1123 label is allowed as exportTo entry, found {entry!r}"
        seen.add(key)
    if "*" in seen and len(entries) > 1:
        yield path, "cannot have both public (*) and non-public exportTo values for a resource"


def _client_tls(tls: Mapping[str, Any] | None, path: str) -> Problems:
    """ValidateTLS (client side): MUTUAL without credentialName needs the client certificate and key."""
    if tls and tls.get("mode") == "MUTUAL" and not tls.get("credentialName"):
        if not tls.get("clientCertificate"):
            yield path, "client certificate required for mutual tls"
        if not tls.get("privateKey"):
            yield path, "private key required for mutual tls"


def destination_rule(manifest: Mapping[str, Any]) -> Problems:
    """ValidateDestinationRule: the host, a traffic policy that sets something (per port too), client TLS, exportTo.

    Source: istio/istio pkg/config/validation/validation.go ValidateDestinationRule, validateTrafficPolicy,
    validatePortTrafficPolicies, validateExportTo; pkg/config/validation/agent ValidateWildcardDomain, ValidateTLS.
    """
    spec = manifest.get("spec") or {}
    problem = _wildcard_domain(str(spec.get("host") or ""))
    if problem:
        yield "spec.host", problem
    policy = spec.get("trafficPolicy")
    if policy is not None:
        if not any(policy.get(key) is not None for key in _POLICY_FIELDS):
            yield "spec.trafficPolicy", "traffic policy must have at least one field"
        yield from _client_tls(policy.get("tls"), "spec.trafficPolicy.tls")
        for index, entry in enumerate(policy.get("portLevelSettings") or []):
            where = f"spec.trafficPolicy.portLevelSettings[{index}]"
            if not (entry or {}).get("port"):
                yield f"{where}.port", "portTrafficPolicy must have valid port"
            if not any((entry or {}).get(key) is not None for key in _PORT_POLICY_FIELDS):
                yield where, "port traffic policy must have at least one field"
            yield from _client_tls((entry or {}).get("tls"), f"{where}.tls")
    namespace = str((manifest.get("metadata") or {}).get("namespace", ""))
    yield from _export_to([str(e) for e in spec.get("exportTo") or []], namespace, "spec.exportTo")


#: (group, kind) -> the webhook's checks
CHECKS: dict[tuple[str, str], Callable[[Mapping[str, Any]], Problems]] = {
    ("security.istio.io", "PeerAuthentication"): peer_authentication,
    ("security.istio.io", "AuthorizationPolicy"): authorization_policy,
    ("networking.istio.io", "DestinationRule"): destination_rule,
    ("networking.istio.io", "Gateway"): gateway,
    ("networking.istio.io", "ServiceEntry"): service_entry,
    ("networking.istio.io", "Sidecar"): sidecar,
}
