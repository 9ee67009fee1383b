"""What istiod computes for the ingress gateway: servers, routes and credentials.

Pure functions from the stored ``Gateway``, ``VirtualService`` and ``Secret``
objects to a :class:`GatewayConfig` and the SDS secrets it names, so that a
changed Secret becomes a changed secret file and nothing else.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from ..cluster import labels_match
from ..errors import ConfigError
from .services import CLUSTER_DOMAIN
from .envoy.model import (
    MUTUAL, SIMPLE, TLS_VERSIONS, Destination, GatewayBehaviour, GatewayConfig, GatewayRoute, GatewayServer,
    GatewayTls, VirtualHost,
)
from .envoy.pieces import BLACKHOLE, certificate_secret, root_secret
from .objects import Store

PROTOCOLS = ("HTTP", "HTTPS")
#: the Gateway tls.cipherSuites Istio passes to Envoy (BoringSSL's non-PSK suites, OpenSSL names; istio
#: pkg/config/security ValidCipherSuites); it drops any other name and every repeat (FilterCipherSuites)
GATEWAY_CIPHER_SUITES = (
    "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305",
    "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA", "ECDHE-RSA-AES256-SHA",
    "AES128-GCM-SHA256", "AES256-GCM-SHA384", "AES128-SHA", "AES256-SHA", "DES-CBC3-SHA",
)
#: Secret keys Istio accepts for a gateway credential, in its order of preference
CERT_KEYS, KEY_KEYS, CA_KEYS = ("tls.crt", "cert"), ("tls.key", "key"), ("ca.crt", "cacert")
CACERT_SUFFIX = "-cacert"


@dataclass(frozen=True)
class Credential:
    """A ``credentialName`` Secret (and its ``<name>-cacert`` companion) read for the gateway."""

    name: str
    cert_chain: bytes | None
    key: bytes | None = None
    ca: bytes | None = None

    def sds_resources(self) -> dict[str, dict[str, Any]]:
        """SDS resource name -> secret: the server certificate, and the trusted client CAs if any."""
        found = {}
        if self.cert_chain and self.key:
            found[self.name] = certificate_secret(self.name, self.cert_chain, self.key)
        if self.ca:
            found[self.name + CACERT_SUFFIX] = root_secret(self.name + CACERT_SUFFIX, self.ca)
        return found


def _where(manifest: Mapping[str, Any]) -> str:
    meta = manifest.get("metadata") or {}
    return f"{manifest.get('kind')} {meta.get('namespace')}/{meta.get('name')}"


def validate_gateway(manifest: Mapping[str, Any]) -> None:
    """Reject what the reference mesh cannot serve faithfully, naming the field, instead of ignoring it."""
    for index, server in enumerate((manifest.get("spec") or {}).get("servers") or []):
        where = f"{_where(manifest)}: servers[{index}]"
        port = server.get("port") or {}
        protocol = str(port.get("protocol", "")).upper()
        if not isinstance(port.get("number"), int):
            raise ConfigError(f"{where}: port.number is required")
        if protocol not in PROTOCOLS:
            raise ConfigError(f"{where}: protocol {protocol or '(none)'} is not supported (use {' or '.join(PROTOCOLS)})")
        tls = server.get("tls")
        if protocol == "HTTPS" and not tls:
            raise ConfigError(f"{where}: an HTTPS server needs a tls block")
        if not tls:
            continue
        if tls.get("mode") not in (SIMPLE, MUTUAL):
            raise ConfigError(f"{where}: tls.mode {tls.get('mode')!r} is not supported (use SIMPLE or MUTUAL)")
        if not tls.get("credentialName"):
            raise ConfigError(f"{where}: tls.credentialName is required (file-mounted certificates are not supported)")
        for suite in tls.get("cipherSuites") or ():
            if suite not in GATEWAY_CIPHER_SUITES:
                raise ConfigError(f"{where}: tls.cipherSuites {suite!r}: not a suite Istio passes to Envoy (one of "
                                  f"{', '.join(GATEWAY_CIPHER_SUITES)}); Istio drops it with a warning, the reference "
                                  "mesh refuses it")
        for field in ("minProtocolVersion", "maxProtocolVersion"):
            if field in tls and tls[field] not in TLS_VERSIONS:
                raise ConfigError(f"{where}: tls.{field} {tls[field]!r} is not one of {', '.join(TLS_VERSIONS)}")


def secret_data(secret: Mapping[str, Any]) -> dict[str, bytes]:
    """A Secret's ``data`` (base64) merged with its ``stringData``, as the API server would store it."""
    data = {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}
    data.update({k: v.encode() for k, v in (secret.get("stringData") or {}).items()})
    return data


def _first(data: Mapping[str, bytes], keys: Iterable[str]) -> bytes | None:
    return next((data[k] for k in keys if data.get(k)), None)


def read_credential(store: Store, namespace: str, name: str) -> Credential | None:
    secret = store.get("Secret", namespace, name)
    if secret is None:
        return None
    data = secret_data(secret)
    ca = _first(data, CA_KEYS)
    if ca is None:
        companion = store.get("Secret", namespace, name + CACERT_SUFFIX)
        ca = _first(secret_data(companion), CA_KEYS) if companion else None
    return Credential(name, _first(data, CERT_KEYS), _first(data, KEY_KEYS), ca)


def _selects(gateway: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    selector = (gateway.get("spec") or {}).get("selector") or {}
    return labels_match(labels, selector)


def _host(name: str) -> str:
    """A Gateway host may carry a namespace (``ns/host``); the gateway serves the host part."""
    return name.split("/", 1)[1] if "/" in name else name


def host_matches(server_host: str, host: str) -> bool:
    server_host = _host(server_host)
    return server_host in ("*", host) or (server_host.startswith("*.") and host.endswith(server_host[1:]))


def fqdn(host: str, namespace: str) -> str:
    """A VirtualService destination host, resolved like Kubernetes DNS from the VirtualService's namespace."""
    if host.endswith("." + CLUSTER_DOMAIN):
        return host
    dots = host.count(".")
    if dots == 0:
        return f"{host}.{namespace}.{CLUSTER_DOMAIN}"
    if dots == 1:
        return f"{host}.{CLUSTER_DOMAIN}"
    return f"{host}.cluster.local" if host.endswith(".svc") else host


def _cluster_of(route: Mapping[str, Any], namespace: str, destinations: list[Destination]) -> str:
    """The first destination of an http route; one that names no known Service port gets a 503."""
    target = ((route.get("route") or [{}])[0]).get("destination") or {}
    name = fqdn(str(target.get("host", "")), namespace)
    port = (target.get("port") or {}).get("number")
    for destination in destinations:
        if destination.fqdn == name and port in (None, destination.port):
            return destination.cluster_name
    return BLACKHOLE


def _routes(virtual_service: Mapping[str, Any], destinations: list[Destination]) -> tuple[GatewayRoute, ...]:
    namespace = virtual_service["metadata"]["namespace"]
    routes = []
    for http in (virtual_service.get("spec") or {}).get("http") or []:
        cluster = _cluster_of(http, namespace, destinations)
        for match in http.get("match") or [{}]:
            uri = (match or {}).get("uri") or {}
            routes.append(GatewayRoute(("path", uri["exact"]) if "exact" in uri else ("prefix", uri.get("prefix", "/")), cluster))
    return tuple(routes)


def _bound(virtual_service: Mapping[str, Any], gateway: Mapping[str, Any]) -> bool:
    vs_namespace = virtual_service["metadata"]["namespace"]
    wanted = {g if "/" in g else f"{vs_namespace}/{g}" for g in (virtual_service.get("spec") or {}).get("gateways") or []}
    return f"{gateway['metadata']['namespace']}/{gateway['metadata']['name']}" in wanted


def _server(gateway: Mapping[str, Any], index: int, spec: Mapping[str, Any], credentials: Mapping[str, Credential],
            virtual_services: list[dict[str, Any]], destinations: list[Destination]) -> GatewayServer | None:
    port = spec["port"]
    name = f"{str(port.get('protocol', 'http')).lower()}.{port['number']}.{index}.{gateway['metadata']['name']}.{gateway['metadata']['namespace']}"
    hosts = tuple(_host(h) for h in spec.get("hosts") or ["*"])
    virtual_hosts = tuple(
        VirtualHost(host, _routes(vs, destinations))
        for vs in virtual_services if _bound(vs, gateway)
        for host in (vs.get("spec") or {}).get("hosts") or []
        if any(host_matches(h, host) for h in hosts)
    )
    tls = spec.get("tls")
    if not tls:
        return GatewayServer(name, int(port["number"]), hosts, None, virtual_hosts)
    credential = credentials.get(tls["credentialName"])
    if credential is None or not credential.cert_chain or (tls["mode"] == MUTUAL and not credential.ca):
        return None  # Istio's gateway cannot serve it either: no certificate, or MUTUAL without trusted CAs
    return GatewayServer(name, int(port["number"]), hosts, GatewayTls(
        mode=tls["mode"], certificate=credential.name,
        validation=credential.name + CACERT_SUFFIX if tls["mode"] == MUTUAL else None,
        min_version=tls.get("minProtocolVersion"), max_version=tls.get("maxProtocolVersion"),
        subject_alt_names=tuple(tls.get("subjectAltNames") or ()),
        cipher_suites=tuple(dict.fromkeys(tls.get("cipherSuites") or ())),
    ), virtual_hosts)


def gateway_config(store: Store, *, namespace: str, labels: Mapping[str, str], destinations: list[Destination],
                   behaviour: GatewayBehaviour) -> tuple[GatewayConfig, dict[str, dict[str, Any]]]:
    """The configuration of the gateway pod in ``namespace`` with ``labels``, and the SDS secrets it needs."""
    by_age = lambda obj: obj["metadata"].get("creationTimestamp", "")  # noqa: E731 - Istio: the oldest wins
    gateways = sorted((g for g in store.of_kind("Gateway") if _selects(g, labels)), key=by_age)
    virtual_services = sorted(store.of_kind("VirtualService"), key=by_age)
    names = {(s.get("tls") or {}).get("credentialName") for g in gateways for s in (g.get("spec") or {}).get("servers") or []}
    credentials = {n: c for n in names if n for c in [read_credential(store, namespace, n)] if c is not None}
    servers = [
        server
        for gateway in gateways
        for index, spec in enumerate((gateway.get("spec") or {}).get("servers") or [])
        for server in [_server(gateway, index, spec, credentials, virtual_services, destinations)] if server is not None
    ]
    used = {r.cluster for s in servers for vh in s.virtual_hosts for r in vh.routes}
    config = GatewayConfig(servers, [d for d in destinations if d.cluster_name in used], behaviour)
    secrets = {name: secret for c in credentials.values() for name, secret in c.sds_resources().items()}
    return config, secrets
