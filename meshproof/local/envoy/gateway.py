"""The ingress gateway's listeners (one per server port, HTTPS servers told apart by SNI) and clusters."""
from __future__ import annotations

import copy
from typing import Any, Iterable

from ..legacy_tls import LEGACY_SERVER_TLS_PARAMS
from .files import ConfigFiles
from .model import MUTUAL, TLS_VERSIONS, GatewayBehaviour, GatewayConfig, GatewayServer, GatewayTls, VirtualHost
from .pieces import (BLACKHOLE, DEFAULT_RETRY_POLICY, LISTENER, WORKLOAD_SECRET, downstream_tls, http_connection_manager, static_cluster,
                     tls_inspector_filter)
from .sidecar import outbound_cluster


def _gateway_routes(stat: str, virtual_hosts: Iterable[VirtualHost]) -> list[dict[str, Any]]:
    hosts = [
        {"name": f"{stat}|{vh.host}", "domains": vh.domains,
         # a VirtualService route without retries gets istiod's default ones, as a sidecar's routes do
         "routes": [{"match": {r.match[0]: r.match[1]},
                     "route": {"cluster": r.cluster, "timeout": "0s", "retry_policy": DEFAULT_RETRY_POLICY}}
                    for r in vh.routes]}
        for vh in virtual_hosts
    ]
    # no VirtualService for a host: a virtual host without routes answers 404, as Istio's gateway does
    return hosts or [{"name": f"{stat}|none", "domains": ["*"], "routes": []}]


def _gateway_tls(files: ConfigFiles, tls: GatewayTls, behaviour: GatewayBehaviour) -> dict[str, Any]:
    min_version = None if behaviour.ignores_min_protocol_version else tls.min_version
    params = {"tls_minimum_protocol_version": TLS_VERSIONS.get(min_version or "", "TLSv1_2")}
    if tls.max_version:
        params["tls_maximum_protocol_version"] = TLS_VERSIONS[tls.max_version]
    if tls.cipher_suites and not behaviour.ignores_cipher_suites:
        params["cipher_suites"] = list(tls.cipher_suites)
    if behaviour.offers_legacy_tls:
        params.update(copy.deepcopy(LEGACY_SERVER_TLS_PARAMS))
    mutual = tls.mode == MUTUAL
    own_certificate = behaviour.simple_serves_workload_certificate and not mutual
    return downstream_tls(
        files,
        require_client_certificate=mutual and not behaviour.client_cert_optional,
        validation=tls.validation if mutual else None,
        accept_untrusted=behaviour.trust_any_ca,
        certificate=WORKLOAD_SECRET if own_certificate else tls.certificate,
        subject_alt_names=tls.subject_alt_names if mutual else (),
        extra={"tls_params": params, "alpn_protocols": ["h2", "http/1.1"]},
    )


def _gateway_chain(files: ConfigFiles, server: GatewayServer, behaviour: GatewayBehaviour,
                   virtual_hosts: Iterable[VirtualHost]) -> dict[str, Any]:
    hcm = http_connection_manager(server.name, BLACKHOLE, client_cert_details=not behaviour.sanitizes_client_cert,
                                  routes=_gateway_routes(server.name, virtual_hosts),
                                  forward_client_cert="SANITIZE_SET")
    chain: dict[str, Any] = {"name": server.name, "filters": [hcm]}
    if server.tls is not None:
        names = [h for h in server.hosts if h != "*"]
        if names and "*" not in server.hosts:
            chain["filter_chain_match"] = {"server_names": names}
        chain["transport_socket"] = _gateway_tls(files, server.tls, behaviour)
    return chain


def gateway_listeners(files: ConfigFiles, config: GatewayConfig) -> list[dict[str, Any]]:
    """One listener per server port; HTTPS servers are told apart by SNI, plain HTTP ones share a chain.

    A second server whose match repeats an earlier one is dropped (Envoy would
    reject the whole listener), as Istio drops conflicting servers.
    """
    listeners = []
    for port in sorted({s.port for s in config.servers}):
        servers = [s for s in config.servers if s.port == port]
        plain = [s for s in servers if s.tls is None]
        chains, matches = [], set()
        if plain:
            merged = [vh for s in plain for vh in s.virtual_hosts]
            chains.append(_gateway_chain(files, plain[0], config.behaviour, _unique_hosts(merged)))
            matches.add(None)
        for server in (s for s in servers if s.tls is not None):
            chain = _gateway_chain(files, server, config.behaviour, _unique_hosts(server.virtual_hosts))
            key = tuple((chain.get("filter_chain_match") or {}).get("server_names", ()))
            if key not in matches:
                matches.add(key)
                chains.append(chain)
        listener: dict[str, Any] = {
            "@type": LISTENER,
            "name": f"0.0.0.0_{port}",
            "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
            "filter_chains": chains,
        }
        if len(plain) < len(servers):
            listener["listener_filters"] = [tls_inspector_filter()]
        listeners.append(listener)
    return listeners


def _unique_hosts(virtual_hosts: Iterable[VirtualHost]) -> list[VirtualHost]:
    """The first virtual host of each name: Envoy rejects a route table with a domain twice."""
    seen: dict[str, VirtualHost] = {}
    for vh in virtual_hosts:
        seen.setdefault(vh.host, vh)
    return list(seen.values())


def gateway_clusters(files: ConfigFiles, config: GatewayConfig) -> list[dict[str, Any]]:
    """The gateway reaches in-mesh services like a sidecar does: mTLS with its own SPIFFE identity."""
    return [static_cluster(BLACKHOLE, ())] + [outbound_cluster(files, d) for d in config.destinations]
