"""The one Envoy configuration writer of the reference mesh.

Envoy reads its listeners, clusters and secrets from files it watches (path
config sources); a change is published by writing a new file and renaming it
over the old one, which Envoy applies within milliseconds and without restart.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from ..pki import write_private
from . import authz
from .host import PROXY_UID
from .legacy_tls import LEGACY_SERVER_TLS_PARAMS, LEGACY_TLS_PARAMS, with_legacy_params
from ..peerauthn import DISABLE, PERMISSIVE, STRICT

T = "type.googleapis.com/"
LISTENER = T + "envoy.config.listener.v3.Listener"
CLUSTER = T + "envoy.config.cluster.v3.Cluster"
SECRET = T + "envoy.extensions.transport_sockets.tls.v3.Secret"

OUTBOUND_PORT = 15001
INBOUND_PORT = 15006
#: Istio's ALPN marker for sidecar-originated mTLS; PERMISSIVE only terminates TLS that carries it
ISTIO_ALPN = ["istio-peer-exchange", "istio"]

PASSTHROUGH = "PassthroughCluster"
BLACKHOLE = "BlackHoleCluster"
INBOUND_PASSTHROUGH = "InboundPassthroughCluster"
WORKLOAD_SECRET = "default"
ROOT_SECRET = "ROOTCA"


# ---------------------------------------------------------------- model


@dataclass(frozen=True)
class InboundPort:
    port: int
    http: bool


@dataclass(frozen=True)
class Destination:
    """A Service port as a client sidecar sees it."""

    fqdn: str
    port: int
    endpoints: tuple[tuple[str, int], ...]
    #: SPIFFE identities the server may present; empty means plaintext (no sidecar, or DISABLE)
    identities: tuple[str, ...] = ()
    #: an opaque TCP port (not http/http2/grpc by name or appProtocol)
    tcp: bool = False
    #: the Service's ClusterIP; None for a headless Service
    vip: str | None = None

    @property
    def addresses(self) -> tuple[str, ...]:
        """What a client dials: the ClusterIP, or a headless Service's pod IPs."""
        return (self.vip,) if self.vip else tuple(ip for ip, _ in self.endpoints)

    @property
    def cluster_name(self) -> str:
        return f"outbound|{self.port}||{self.fqdn}"


@dataclass(frozen=True)
class SidecarBehaviour:
    """Deliberate defects a sidecar can be switched into (for the project's own tests)."""

    ignore_strict: bool = False
    accept_any_client_cert: bool = False
    no_mtls_origination: bool = False
    #: outbound listener with tls_inspector: server-first protocols (MySQL) stall until INSPECTION_TIMEOUT
    inspect_server_first: bool = False
    #: inbound TLS reads the workload certificate and key from files, as pre-SDS meshes mounted them
    certs_on_disk: bool = False
    #: outbound TCP (non-HTTP) destinations get plaintext; HTTP ones keep mTLS
    no_mtls_origination_for_tcp: bool = False
    #: inbound TLS on TCP (non-HTTP) ports is terminated without asking for a client certificate
    tcp_client_cert_not_requested: bool = False
    #: inbound RBAC filters match any peer where a policy names principals or namespaces
    rbac_ignores_principals: bool = False
    #: sidecar mTLS, outbound and inbound, allows only TLS 1.2 with a CBC/SHA-1 suite (meshproof.local.legacy_tls)
    negotiates_legacy_tls: bool = False
    #: inbound mTLS also accepts TLS 1.0 / 1.1 and CBC/SHA-1 suites (meshproof.local.legacy_tls)
    accepts_legacy_tls: bool = False


def _inbound_tls_params(behaviour: SidecarBehaviour) -> dict[str, Any] | None:
    """The inbound mTLS chain's TlsParameters where a defect changes them (None: Istio's, TLS 1.2 up)."""
    if behaviour.negotiates_legacy_tls:
        return {"tls_params": dict(LEGACY_TLS_PARAMS)}
    if behaviour.accepts_legacy_tls:
        return {"tls_params": copy.deepcopy(LEGACY_SERVER_TLS_PARAMS)}
    return None


#: where a proxy with ``certs_on_disk`` finds its workload certificate and key (in its own directory)
DISK_CERT_CHAIN, DISK_KEY = "cert-chain.pem", "key.pem"


#: how long the defective outbound tls_inspector waits for client bytes before it drops the connection;
#: below the suite's request timeout, so the stalled MySQL greeting shows as an error, not a hang
INSPECTION_TIMEOUT = "1s"


@dataclass
class SidecarConfig:
    default_mode: str
    port_modes: dict[int, str]
    inbound_ports: list[InboundPort]
    destinations: list[Destination]
    registry_only: bool = False
    #: (address, port) pairs of ServiceEntries: allowed even under REGISTRY_ONLY
    external: list[tuple[str, int]] = field(default_factory=list)
    behaviour: SidecarBehaviour = SidecarBehaviour()
    #: the AuthorizationPolicies that select this workload (meshproof.local.authz.applicable)
    authorization: list[dict[str, Any]] = field(default_factory=list)


# ---------------------------------------------------------------- files


class ConfigFiles:
    """Where one Envoy's watched files live, and how they are published."""

    def __init__(self, directory: Path, owner_uid: int = PROXY_UID) -> None:
        self.directory = directory
        self.owner_uid = owner_uid
        directory.mkdir(parents=True, exist_ok=True)
        os.chmod(directory, 0o700)
        os.chown(directory, owner_uid, owner_uid)

    def path(self, name: str) -> Path:
        return self.directory / name

    def source(self, name: str) -> dict[str, Any]:
        # strings, not Path objects: a push renders two of these per cluster of every rewritten sidecar
        directory = str(self.directory)
        return {
            "path_config_source": {"path": f"{directory}/{name}", "watched_directory": {"path": directory}},
            "resource_api_version": "V3",
        }

    def publish(self, name: str, resources: list[dict[str, Any]]) -> bool:
        """Atomically replace ``name``; returns False when nothing changed (no push)."""
        text = json.dumps({"resources": resources}, sort_keys=True)
        target = self.path(name)
        try:
            if target.read_text() == text:
                return False
        except FileNotFoundError:
            pass
        tmp = self.write_private(f".{name}.tmp", text.encode())
        tmp.rename(target)
        return True

    def write_private(self, name: str, data: bytes) -> Path:
        """A file only the proxy's user can read (created 0600, then handed to that user)."""
        path = write_private(self.path(name), data)
        os.chown(path, self.owner_uid, self.owner_uid)
        return path

    def write_bootstrap(self, bootstrap: dict[str, Any]) -> Path:
        target = self.path("bootstrap.json")
        target.write_text(json.dumps(bootstrap))
        os.chown(target, self.owner_uid, self.owner_uid)
        return target


# ---------------------------------------------------------------- pieces


def _typed(name: str, type_url: str, **config: Any) -> dict[str, Any]:
    return {"name": name, "typed_config": {"@type": T + type_url, **config}}


def bootstrap(files: ConfigFiles, node_id: str, cluster: str, admin_socket: Path) -> dict[str, Any]:
    return {
        "node": {"id": node_id, "cluster": cluster},
        "admin": {"address": {"pipe": {"path": str(admin_socket)}}},
        "dynamic_resources": {"lds_config": files.source("lds.json"), "cds_config": files.source("cds.json")},
    }


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
    network_filter["typed_config"]["access_log"] = [_typed(
        "envoy.access_loggers.file", "envoy.extensions.access_loggers.file.v3.FileAccessLog",
        path=str(files.path(INBOUND_ACCESS_LOG)),
        log_format={"json_format": {**ACCESS_LOG_FIELDS, "protocol": protocol}},
    )]
    return network_filter


def tcp_proxy(stat: str, cluster: str) -> dict[str, Any]:
    return _typed(
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
                         _typed("envoy.filters.http.router", "envoy.extensions.filters.http.router.v3.Router")],
    }
    if client_cert_details:
        config["forward_client_cert_details"] = forward_client_cert
        config["set_current_client_cert_details"] = {"subject": True, "uri": True, "dns": True}
    else:
        config["forward_client_cert_details"] = "SANITIZE"
    return _typed(
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
    return _typed(
        "envoy.transport_sockets.tls",
        "envoy.extensions.transport_sockets.tls.v3.DownstreamTlsContext",
        common_tls_context=common,
        require_client_certificate=require_client_certificate,
    )


def san_matchers(names: Iterable[str]) -> list[dict[str, Any]]:
    """Istio's subjectAltNames accept a name whatever SAN type carries it; Envoy wants a type per matcher."""
    return [{"san_type": san_type, "matcher": {"exact": name}} for name in names for san_type in ("DNS", "URI")]


def upstream_mtls(files: ConfigFiles, destination: Destination) -> dict[str, Any]:
    """What a client sidecar presents and verifies: its SPIFFE certificate, the server's SPIFFE identity."""
    return _typed(
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
                "default_validation_context": {
                    "match_typed_subject_alt_names": [
                        {"san_type": "URI", "matcher": {"exact": identity}} for identity in destination.identities
                    ]
                },
                "validation_context_sds_secret_config": sds(files, ROOT_SECRET),
            },
        },
    )


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
    filters = [_typed("envoy.filters.listener.original_dst", "envoy.extensions.filters.listener.original_dst.v3.OriginalDst")]
    if tls_inspector:
        filters.append(tls_inspector_filter())
    return filters


def tls_inspector_filter() -> dict[str, Any]:
    return _typed("envoy.filters.listener.tls_inspector", "envoy.extensions.filters.listener.tls_inspector.v3.TlsInspector")


# ---------------------------------------------------------------- sidecar


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


def _outbound_chain(name: str, addresses: Iterable[str], port: int, cluster: str) -> dict[str, Any]:
    """Traffic the app sent to one of ``addresses`` on ``port`` goes to ``cluster``."""
    return {
        "name": name,
        "filter_chain_match": {
            "destination_port": port,
            "prefix_ranges": [{"address_prefix": address, "prefix_len": 32} for address in addresses],
        },
        "filters": [tcp_proxy(name, cluster)],
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
    outbound_chains = [_outbound_chain(d.cluster_name, d.addresses, d.port, d.cluster_name) for d in config.destinations]
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
        clusters.append(outbound_cluster(files, destination, originate_mtls=not plaintext,
                                         legacy_tls=behaviour.negotiates_legacy_tls))
    return clusters


def outbound_cluster(files: ConfigFiles, destination: Destination, *, originate_mtls: bool = True,
                     legacy_tls: bool = False) -> dict[str, Any]:
    """A Service port as a client proxy reaches it: mTLS with the proxy's identity wherever the server has a sidecar."""
    mtls = bool(destination.identities) and originate_mtls
    socket = upstream_mtls(files, destination) if mtls else None
    if socket is not None and legacy_tls:
        socket = with_legacy_params(socket)
    return static_cluster(destination.cluster_name, destination.endpoints, socket)


# ---------------------------------------------------------------- ingress gateway

#: Gateway tls.minProtocolVersion / maxProtocolVersion -> Envoy's TlsParameters names
TLS_VERSIONS = {"TLS_AUTO": "TLS_AUTO", "TLSV1_0": "TLSv1_0", "TLSV1_1": "TLSv1_1", "TLSV1_2": "TLSv1_2",
                "TLSV1_3": "TLSv1_3"}
SIMPLE = "SIMPLE"
MUTUAL = "MUTUAL"


@dataclass(frozen=True)
class GatewayRoute:
    """One VirtualService http route: a URI match (Envoy's ``prefix`` or ``path``) to an outbound cluster."""

    match: tuple[str, str]
    cluster: str


@dataclass(frozen=True)
class VirtualHost:
    host: str
    routes: tuple[GatewayRoute, ...]

    @property
    def domains(self) -> list[str]:
        # clients reach the gateway on any port (a LoadBalancer, a port-forward), so match Host with any port
        return ["*"] if self.host == "*" else [self.host, f"{self.host}:*"]


@dataclass(frozen=True)
class GatewayTls:
    """A server's tls block, its Secrets already named as SDS resources."""

    mode: str
    certificate: str
    #: SDS name of the trusted client CAs (MUTUAL only)
    validation: str | None = None
    min_version: str | None = None
    max_version: str | None = None
    subject_alt_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class GatewayServer:
    name: str
    port: int
    hosts: tuple[str, ...]
    tls: GatewayTls | None
    virtual_hosts: tuple[VirtualHost, ...] = ()


@dataclass(frozen=True)
class GatewayBehaviour:
    """Deliberate defects an ingress gateway can be switched into (for the project's own tests)."""

    client_cert_optional: bool = False
    trust_any_ca: bool = False
    sds_never_reloads: bool = False
    #: SIMPLE servers present the gateway's own workload certificate (SDS ``default``), not the credential's
    simple_serves_workload_certificate: bool = False
    #: XFCC is stripped, never set from the client certificate (gatewayTopology forwardClientCertDetails SANITIZE)
    sanitizes_client_cert: bool = False
    #: a server's tls.minProtocolVersion is dropped; Envoy's TLS 1.2 floor applies
    ignores_min_protocol_version: bool = False
    #: every TLS server accepts TLS 1.0 and CBC/SHA-1 cipher suites (meshproof.local.legacy_tls)
    offers_legacy_tls: bool = False


@dataclass
class GatewayConfig:
    servers: list[GatewayServer]
    destinations: list[Destination]
    behaviour: GatewayBehaviour = GatewayBehaviour()


def _gateway_routes(stat: str, virtual_hosts: Iterable[VirtualHost]) -> list[dict[str, Any]]:
    hosts = [
        {"name": f"{stat}|{vh.host}", "domains": vh.domains,
         "routes": [{"match": {r.match[0]: r.match[1]}, "route": {"cluster": r.cluster, "timeout": "0s"}} for r in vh.routes]}
        for vh in virtual_hosts
    ]
    # no VirtualService for a host: a virtual host without routes answers 404, as Istio's gateway does
    return hosts or [{"name": f"{stat}|none", "domains": ["*"], "routes": []}]


def _gateway_tls(files: ConfigFiles, tls: GatewayTls, behaviour: GatewayBehaviour) -> dict[str, Any]:
    min_version = None if behaviour.ignores_min_protocol_version else tls.min_version
    params = {"tls_minimum_protocol_version": TLS_VERSIONS.get(min_version or "", "TLSv1_2")}
    if tls.max_version:
        params["tls_maximum_protocol_version"] = TLS_VERSIONS[tls.max_version]
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
