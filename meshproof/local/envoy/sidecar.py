"""A sidecar's listeners and clusters: Istio's virtualInbound (15006) and virtualOutbound (15001) capture listeners."""
from __future__ import annotations

import copy
import functools
from typing import Any, Iterable

from .. import authz
from ..legacy_tls import LEGACY_SERVER_TLS_PARAMS, LEGACY_TLS_PARAMS, with_legacy_params
from ...peerauthn import DISABLE, PERMISSIVE, STRICT
from .files import ConfigFiles
from .model import DISK_CERT_CHAIN, DISK_KEY, INSPECTION_TIMEOUT, Destination, SidecarBehaviour, SidecarConfig
from .pieces import (BLACKHOLE, INBOUND_PASSTHROUGH, LISTENER, ONE_REQUEST_PER_CONNECTION, PASSTHROUGH, ROOT_SECRET,
                     downstream_tls, http_connection_manager, listener_filters, original_dst_cluster,
                     outbound_http_routes, static_cluster, tcp_proxy, upstream_mtls, with_access_log)

OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
#: Istio's ALPN marker for sidecar-originated mTLS; PERMISSIVE only terminates TLS that carries it
ISTIO_ALPN = ["istio-peer-exchange", "istio"]


def _inbound_tls_params(behaviour: SidecarBehaviour) -> dict[str, Any] | None:
    """The inbound mTLS chain's TlsParameters where a defect changes them (None: Istio's, TLS 1.2 up)."""
    if behaviour.negotiates_legacy_tls:
        return {"tls_params": dict(LEGACY_TLS_PARAMS)}
    if behaviour.accepts_legacy_tls:
        return {"tls_params": copy.deepcopy(LEGACY_SERVER_TLS_PARAMS)}
    return None


def _inbound_chains(files: ConfigFiles, config: SidecarConfig, port: int | None, mode: str, http: bool) -> list[dict]:
    """Filter chains for one port (or every other port when ``port`` is None) in ``mode``."""
    behaviour = config.behaviour
    if behaviour.ignore_strict and mode == STRICT:
        mode = PERMISSIVE
    label = str(port) if port is not None else "any"
    base_match: dict[str, Any] = {"destination_port": port} if port is not None else {}

    ignore_principals = behaviour.rbac_ignores_principals

    def app_filters(mtls: bool) -> list[dict]:
        stat = f"inbound_{label}_{'mtls' if mtls else 'plain'}"
        if http:
            rbac = authz.http_filters(config.authorization, ignore_principals=ignore_principals)
            return [with_access_log(http_connection_manager(stat, INBOUND_PASSTHROUGH, client_cert_details=mtls,
                                                            http_filters=rbac), files, "http")]
        return [*authz.network_filters(config.authorization, stat, ignore_principals=ignore_principals),
                with_access_log(tcp_proxy(stat, INBOUND_PASSTHROUGH), files, "tcp")]

    no_client_cert = behaviour.tcp_client_cert_not_requested and not http
    mtls_chain = {
        "name": f"inbound-mtls-{label}",
        "filter_chain_match": {**base_match, "transport_protocol": "tls"},
        "transport_socket": downstream_tls(
            files, require_client_certificate=not no_client_cert, validation=None if no_client_cert else ROOT_SECRET,
            accept_untrusted=behaviour.accept_any_client_cert,
            extra=_inbound_tls_params(behaviour),
            certificate_files=(files.path(DISK_CERT_CHAIN), files.path(DISK_KEY)) if behaviour.certs_on_disk else None,
        ),
        "filters": app_filters(True),
    }
    plain_chain = {"name": f"inbound-plain-{label}", "filter_chain_match": {**base_match}, "filters": app_filters(False)}
    if mode == STRICT:
        return [mtls_chain]
    if mode == DISABLE:
        return [plain_chain]
    # PERMISSIVE: sidecar mTLS is terminated, everything else (plaintext, the app's own TLS) passes through.
    # Envoy does not backtrack out of the "tls" branch, so other TLS needs a chain of its own.
    mtls_chain["filter_chain_match"]["application_protocols"] = ISTIO_ALPN
    other_tls = {
        "name": f"inbound-tls-passthrough-{label}",
        "filter_chain_match": {**base_match, "transport_protocol": "tls"},
        # the app's own TLS is opaque to the sidecar: authorization applies as on a TCP port (no principal)
        "filters": [*authz.network_filters(config.authorization, f"inbound_{label}_tls_passthrough",
                                           ignore_principals=ignore_principals),
                    tcp_proxy(f"inbound_{label}_tls_passthrough", INBOUND_PASSTHROUGH)],
    }
    return [mtls_chain, other_tls, plain_chain]


def _outbound_chain(name: str, addresses: Iterable[str], port: int, cluster: str, *, http: bool = False
                    ) -> dict[str, Any]:
    """Traffic the app sent to one of ``addresses`` on ``port`` goes to ``cluster``.

    An HTTP port goes through an HTTP connection manager, as istiod's outbound
    listeners do: when the upstream cannot be reached (reset, refused, failed
    mTLS) the client proxy itself answers 503 ``upstream connect error or
    disconnect/reset before headers``. Any other port is proxied as TCP.
    """
    network = (http_connection_manager(name, cluster, client_cert_details=False,
                                       routes=outbound_http_routes(name, cluster))
               if http else tcp_proxy(name, cluster))
    return {
        "name": name,
        "filter_chain_match": {
            "destination_port": port,
            "prefix_ranges": [{"address_prefix": address, "prefix_len": 32} for address in addresses],
        },
        "filters": [network],
    }


def _capture_listener(name: str, port: int, chains: list[dict], *, tls_inspector: bool) -> dict[str, Any]:
    """A listener that iptables redirects to: it matches on the connection's original destination."""
    return {
        "@type": LISTENER,
        "name": name,
        "address": {"socket_address": {"address": "0.0.0.0", "port_value": port}},
        "listener_filters": listener_filters(tls_inspector=tls_inspector),
        "filter_chains": chains,
    }


def sidecar_listeners(files: ConfigFiles, config: SidecarConfig) -> list[dict[str, Any]]:
    chains: list[dict] = []
    http_ports = {p.port for p in config.inbound_ports if p.http}
    for port in sorted({p.port for p in config.inbound_ports} | set(config.port_modes)):
        chains += _inbound_chains(files, config, port, config.port_modes.get(port, config.default_mode), port in http_ports)
    chains += _inbound_chains(files, config, None, config.default_mode, False)
    inbound = _capture_listener("virtualInbound", INBOUND_PORT, chains, tls_inspector=True)
    outbound_chains = [files.piece(("chain", d.cluster_name, d.addresses, d.port, d.tcp), functools.partial(
                           _outbound_chain, d.cluster_name, d.addresses, d.port, d.cluster_name, http=not d.tcp))
                       for d in config.destinations]
    outbound_chains += [_outbound_chain(f"outbound|{port}||{address}", (address,), port, PASSTHROUGH)
                        for address, port in config.external]
    # No tls_inspector on outbound: it would stall server-first protocols such as MySQL.
    inspect = config.behaviour.inspect_server_first
    outbound = _capture_listener("virtualOutbound", OUTBOUND_PORT, outbound_chains, tls_inspector=inspect)
    outbound["default_filter_chain"] = {
        "filters": [tcp_proxy("outbound_default", BLACKHOLE if config.registry_only else PASSTHROUGH)]}
    if inspect:
        outbound["listener_filters_timeout"] = INSPECTION_TIMEOUT
    return [inbound, outbound]


def sidecar_clusters(files: ConfigFiles, config: SidecarConfig) -> list[dict[str, Any]]:
    clusters = [original_dst_cluster(PASSTHROUGH), original_dst_cluster(INBOUND_PASSTHROUGH), static_cluster(BLACKHOLE, ())]
    behaviour = config.behaviour
    for destination in config.destinations:
        plaintext = behaviour.no_mtls_origination or (behaviour.no_mtls_origination_for_tcp and destination.tcp)
        clusters.append(files.piece(("cluster", destination, plaintext, behaviour), functools.partial(
            outbound_cluster, files, destination, originate_mtls=not plaintext,
            legacy_tls=behaviour.negotiates_legacy_tls, verify_identity=not behaviour.skips_server_identity_check)))
    return clusters


def outbound_cluster(files: ConfigFiles, destination: Destination, *, originate_mtls: bool = True,
                     legacy_tls: bool = False, verify_identity: bool = True) -> dict[str, Any]:
    """A Service port as a client proxy reaches it: mTLS with the proxy's identity where auto mTLS or the
    DestinationRule (``destination.client_tls``) says so, plaintext otherwise."""
    mtls = destination.verified_identities is not None and originate_mtls
    socket = upstream_mtls(files, destination, verify_identity=verify_identity) if mtls else None
    if socket is not None and legacy_tls:
        socket = with_legacy_params(socket)
    cluster = static_cluster(destination.cluster_name, destination.endpoints, socket)
    if not destination.tcp:
        cluster["typed_extension_protocol_options"] = ONE_REQUEST_PER_CONNECTION
    return cluster
