"""What the control plane hands the Envoy writer: one sidecar's or the ingress gateway's configuration, as values.

Shapes only; :mod:`.sidecar` and :mod:`.gateway` turn them into Envoy's
listeners and clusters. Behaviours are the deliberate defects a proxy can be
switched into (declared in meshproof.local.defects).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

@dataclass(frozen=True)
class InboundPort:
    port: int
    http: bool


@dataclass(frozen=True)
class ClientTls:
    """A DestinationRule's ``tls`` for one Service port, resolved by meshproof.local.destination_rules:
    ISTIO_MUTUAL verifying ``subject_alt_names`` (SPIFFE URIs or DNS names), or plaintext (DISABLE)."""

    istio_mutual: bool
    subject_alt_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class Destination:
    """A Service port as a client proxy (sidecar or ingress gateway) sees it."""

    fqdn: str
    port: int
    endpoints: tuple[tuple[str, int], ...]
    #: auto mTLS: the SPIFFE identities of the backends whose sidecar takes mTLS; empty means plaintext
    identities: tuple[str, ...] = ()
    #: an opaque TCP port (not http/http2/grpc by name or appProtocol)
    tcp: bool = False
    #: the Service's ClusterIP; None for a headless Service
    vip: str | None = None
    #: the Service's namespace
    namespace: str = ""
    #: the SPIFFE identities of every backend, with a sidecar or not (istiod's service accounts of the service)
    service_accounts: tuple[str, ...] = ()
    #: what the client proxy's DestinationRule sets for this port; None leaves auto mTLS in charge
    client_tls: ClientTls | None = None

    @property
    def verified_identities(self) -> tuple[str, ...] | None:
        """The server names a client proxy verifies when it originates mTLS; None when it sends plaintext."""
        if self.client_tls is None:
            return self.identities or None
        return self.client_tls.subject_alt_names if self.client_tls.istio_mutual else None

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
    #: originated mTLS verifies the server's chain but not its identity (no subject alt name matchers)
    skips_server_identity_check: bool = False


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
    #: tls.cipherSuites (OpenSSL names) after Istio's filter: TLS 1.0-1.2 suites the server offers; () for Envoy's
    cipher_suites: tuple[str, ...] = ()


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
    #: a server's tls.cipherSuites is dropped; Envoy's default server suites apply
    ignores_cipher_suites: bool = False


@dataclass
class GatewayConfig:
    servers: list[GatewayServer]
    destinations: list[Destination]
    behaviour: GatewayBehaviour = GatewayBehaviour()
