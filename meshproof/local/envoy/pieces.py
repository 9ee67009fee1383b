"""Building blocks shared by sidecars and the ingress gateway: typed configs, secrets, filters, TLS contexts, clusters."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from .files import ConfigFiles
from .model import Destination

T = "type.googleapis.com/"
LISTENER = T + "envoy.config.listener.v3.Listener"
CLUSTER = T + "envoy.config.cluster.v3.Cluster"
SECRET = T + "envoy.extensions.transport_sockets.tls.v3.Secret"

PASSTHROUGH = "PassthroughCluster"
BLACKHOLE = "BlackHoleCluster"
INBOUND_PASSTHROUGH = "InboundPassthroughCluster"
WORKLOAD_SECRET = "default"
ROOT_SECRET = "ROOTCA"


def typed(name: str, type_url: str, **config: Any) -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": T + type_url, **config}}


def bootstrap(files: ConfigFiles, node_id: str, cluster: str, admin_socket: Path) -> dict[str, Any]:
    return {
        "node": {"id": node_id, "cluster": cluster},
        "admin": {"address": {"pipe": {"path": str(admin_socket)}}},
        "dynamic_resources": {"lds_config": files.source("lds.json"), "cds_config": files.source("cds.json")},
        "watchdogs": {"main_thread_watchdog": IDLE_WATCHDOG, "worker_watchdog": IDLE_WATCHDOG},
        # no stats sink here: stats are flushed when the admin interface is asked for them, not every 5 s
        "stats_flush_on_admin": True,
    }


#: Envoy's watchdog with timeouts of seconds, not its default 200 ms miss: each thread touches its watchdog
#: at a fraction of the shortest timeout, so the default woke every idle proxy about 35 times a second
#: (strace), 100 idle sidecars then kept a quarter of a core busy. Nothing of the mesh depends on it.
IDLE_WATCHDOG = {"miss_timeout": "5s", "megamiss_timeout": "10s"}


def sds(files: ConfigFiles, name: str) -> dict[str, Any]:
    return {"name": name, "sds_config": files.source(f"sds-{name}.json")}


def workload_secret(cert_chain_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    return certificate_secret(WORKLOAD_SECRET, cert_chain_pem, key_pem)


def certificate_secret(name: str, cert_chain_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    return {
        "@type": SECRET,
        "name": name,
        "tls_certificate": {
            "certificate_chain": {"inline_string": cert_chain_pem.decode()},
            "private_key": {"inline_string": key_pem.decode()},
        },
    }


def root_secret(name: str, ca_pem: bytes) -> dict[str, Any]:
    return {"@type": SECRET, "name": name, "validation_context": {"trusted_ca": {"inline_string": ca_pem.decode()}}}


#: the inbound access log of a sidecar, in its own directory: one JSON object per connection (TCP) or request (HTTP)
INBOUND_ACCESS_LOG = "inbound-access.log"
#: what the server's sidecar saw of each accepted peer, in Envoy's access log command operators
ACCESS_LOG_FIELDS = {
    "start_time": "%START_TIME(%s.%3f)%",
    "connection_id": "%CONNECTION_ID%",
    "peer_uri_san": "%DOWNSTREAM_PEER_URI_SAN%",
    "tls_version": "%DOWNSTREAM_TLS_VERSION%",
    "tls_cipher": "%DOWNSTREAM_TLS_CIPHER%",
    "source": "%DOWNSTREAM_REMOTE_ADDRESS%",
    "destination": "%DOWNSTREAM_LOCAL_ADDRESS%",
}


def with_access_log(network_filter: dict[str, Any], files: ConfigFiles, protocol: str) -> dict[str, Any]:
    """``network_filter`` (tcp_proxy or http_connection_manager) logging to the inbound access log."""
    network_filter["typed_config"]["access_log"] = [typed(
        "envoy.access_loggers.file", "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path=str(files.path(INBOUND_ACCESS_LOG)),
        log_format={"json_format": {**ACCESS_LOG_FIELDS, "protocol": protocol}},
    )]
    return network_filter


def tcp_proxy(stat: str, cluster: str) -> dict[str, Any]:
    return typed(
        "envoy.filters.network.tcp_proxy",
        "envoy.extensions.filters.network.tcp_proxy.v3.TcpProxy",
        stat_prefix=stat,
        cluster=cluster,
    )


def http_connection_manager(stat: str, cluster: str, *, client_cert_details: bool, routes: list | None = None,
                            forward_client_cert: str = "APPEND_FORWARD",
                            http_filters: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    """HTTP on an inbound port: XFCC is set from a verified peer, and stripped from anyone else.

    With a verified peer, a sidecar appends to what the peer forwarded (Istio's
    APPEND_FORWARD, so a backend behind the gateway still sees the partner's
    subject); the ingress gateway passes SANITIZE_SET, trusting no client's header.
    """
    config: dict[str, Any] = {
        "stat_prefix": stat,
        "codec_type": "AUTO",
        "route_config": {
            "name": stat,
            # clusters come in their own file and may land after the listener: route to them once they exist
            "validate_clusters": False,
            "virtual_hosts": routes
            or [{"name": stat, "domains": ["*"], "routes": [{"match": {"prefix": "/"}, "route": {"cluster": cluster, "timeout": "0s"}}]}],
        },
        "http_filters": [*http_filters,
                         typed("envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router")],
    }
    if client_cert_details:
        config["forward_client_cert_details"] = forward_client_cert
        config["set_current_client_cert_details"] = {"subject": True, "uri": True, "dns": True}
    else:
        config["forward_client_cert_details"] = "SANITIZE"
    return typed(
        "envoy.filters.network.http_connection_manager",
        "envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager",
        **config,
    )


def downstream_tls(files: ConfigFiles, *, require_client_certificate: bool, validation: str | None,
                   accept_untrusted: bool = False, extra: dict[str, Any] | None = None,
                   certificate: str = WORKLOAD_SECRET, subject_alt_names: Iterable[str] = (),
                   certificate_files: tuple[Path, Path] | None = None) -> dict[str, Any]:
    common: dict[str, Any] = {"tls_params": {"tls_minimum_protocol_version": "TLSv1_2"}}
    if certificate_files:
        chain, key = certificate_files
        common["tls_certificates"] = [{"certificate_chain": {"filename": str(chain)}, "private_key": {"filename": str(key)}}]
    else:
        common["tls_certificate_sds_secret_configs"] = [sds(files, certificate)]
    if validation:
        default: dict[str, Any] = {}
        if accept_untrusted:
            default["trust_chain_verification"] = "ACCEPT_UNTRUSTED"
        if subject_alt_names:
            default["match_typed_subject_alt_names"] = san_matchers(subject_alt_names)
        if default:
            common["combined_validation_context"] = {
                "default_validation_context": default,
                "validation_context_sds_secret_config": sds(files, validation),
            }
        else:
            common["validation_context_sds_secret_config"] = sds(files, validation)
    common.update(extra or {})
    return typed(
        "envoy.transport_sockets.tls",
        "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        common_tls_context=common,
        require_client_certificate=require_client_certificate,
    )


def san_matchers(names: Iterable[str]) -> list[dict[str, Any]]:
    """Istio's subjectAltNames accept a name whatever SAN type carries it; Envoy wants a type per matcher."""
    return [{"san_type": san_type, "matcher": {"exact": name}} for name in names for san_type in ("DNS", "URI")]


def upstream_mtls(files: ConfigFiles, destination: Destination, *, verify_identity: bool = True) -> dict[str, Any]:
    """What a client proxy presents and verifies: its SPIFFE certificate; the server's chain to the mesh root and
    its identity, one of ``destination.verified_identities`` (``verify_identity`` False is a deliberate defect)."""
    names = destination.verified_identities or ()
    return typed(
        "envoy.transport_sockets.tls",
        "envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext",
        sni=f"outbound_.{destination.port}_._.{destination.fqdn}",
        common_tls_context={
            # Istio's ISTIO_MUTUAL clusters allow TLS 1.3 (Envoy's client default stops at 1.2): istio/istio
            # pilot/pkg/networking/core cluster_tls tests, TlsMaximumProtocolVersion TLSv1_3
            "tls_params": {"tls_minimum_protocol_version": "TLSv1_2", "tls_maximum_protocol_version": "TLSv1_3"},
            "alpn_protocols": ["istio"],
            "tls_certificate_sds_secret_configs": [sds(files, WORKLOAD_SECRET)],
            "combined_validation_context": {
                "default_validation_context":
                    {"match_typed_subject_alt_names": san_matchers(names)} if verify_identity and names else {},
                "validation_context_sds_secret_config": sds(files, ROOT_SECRET),
            },
        },
    )


#: the retries istiod puts on every HTTP route it generates (pilot/pkg/networking/core/route/retry/retry.go,
#: DefaultPolicy): an upstream that cannot be connected to (refused, reset, failed TLS) is tried twice more,
#: then the client proxy answers 503 itself
DEFAULT_RETRY_POLICY = {
    "retry_on": "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes",
    "num_retries": 2,
    "host_selection_retry_max_attempts": "5",
    "retry_host_predicate": [typed("envoy.retry_host_predicates.previous_hosts",
                                   "envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate")],
}


#: on an HTTP Service port's cluster: every request on a connection of its own. Istio's client proxies pool upstream
#: connections, and a pooled connection keeps the server listener's filter chain of the moment it was opened
#: (its mTLS mode, its RBAC rules) until the server drains it: with pilot-agent's ``--drain-strategy immediate``
#: (meshproof.local.sidecar) it serves one more request under the old policy and closes. The reference mesh does
#: not model that one request (measured: with pooling, a check right after an AuthorizationPolicy was deleted saw
#: FORBIDDEN once), so each request meets the policies in force when it is made, as on a TCP port
ONE_REQUEST_PER_CONNECTION = {"envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
    "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
    "common_http_protocol_options": {"max_requests_per_connection": 1},
    "explicit_http_config": {"http_protocol_options": {}},
}}


def outbound_http_routes(name: str, cluster: str) -> list[dict[str, Any]]:
    """The route a client proxy gives an HTTP Service port without VirtualService: everything to its cluster,
    no timeout, istiod's default retries (BuildDefaultHTTPOutboundRoute)."""
    return [{"name": name, "domains": ["*"], "routes": [{"name": "default", "match": {"prefix": "/"}, "route": {
        "cluster": cluster, "timeout": "0s", "retry_policy": DEFAULT_RETRY_POLICY}}]}]


def original_dst_cluster(name: str) -> dict[str, Any]:
    return {"@type": CLUSTER, "name": name, "type": "ORIGINAL_DST", "lb_policy": "CLUSTER_PROVIDED", "connect_timeout": "1s"}


def static_cluster(name: str, endpoints: Iterable[tuple[str, int]], transport_socket: dict | None = None) -> dict[str, Any]:
    cluster: dict[str, Any] = {
        "@type": CLUSTER,
        "name": name,
        "type": "STATIC",
        "connect_timeout": "1s",
        "load_assignment": {
            "cluster_name": name,
            "endpoints": [
                {"lb_endpoints": [{"endpoint": {"address": {"socket_address": {"address": a, "port_value": p}}}} for a, p in endpoints]}
            ],
        },
    }
    if transport_socket:
        cluster["transport_socket"] = transport_socket
    return cluster


def listener_filters(*, tls_inspector: bool) -> list[dict[str, Any]]:
    filters = [typed("envoy.filters.listener.original_dst", "envoy.extensions.filters.listener.original_dst.v3.OriginalDst")]
    if tls_inspector:
        filters.append(tls_inspector_filter())
    return filters


def tls_inspector_filter() -> dict[str, Any]:
    return typed("envoy.filters.listener.tls_inspector", "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")
