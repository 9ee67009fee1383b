"""Deliberate defects the reference mesh can be switched into, each declaring its own effect.

As Gateway API declares each feature once (its ``pkg/features``), each defect
here names its summary and the behaviour flags it sets, per component of the
reference mesh: ``sidecar`` (``SidecarBehaviour``), ``gateway``
(``GatewayBehaviour``), ``control_plane``, ``ca`` (the mesh CA), ``agent`` (pilot-agent), ``database`` and ``injector``. The
backend builds its behaviour from the merged flags of the defects switched on
(``behaviour_of``); nothing outside this module compares defect names.

The project's own tests (tests/test_defects_caught.py) run each suite against a
mesh with one defect on and assert that exactly the checks that should catch it fail.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from ..errors import ConfigError
from .envoy.model import GatewayBehaviour, SidecarBehaviour


@dataclass(frozen=True)
class ControlPlaneBehaviour:
    #: PeerAuthentication changes reach running sidecars
    pushes_policies: bool = True
    #: a mesh-wide PeerAuthentication outranks a namespace's own (Istio: the namespace's wins)
    mesh_policy_wins: bool = False
    #: AuthorizationPolicies are translated into the sidecars' RBAC filters
    translates_authorization: bool = True
    #: AuthorizationPolicies of the root namespace apply mesh-wide (Istio), not only in the root namespace
    root_authorization_mesh_wide: bool = True
    #: DestinationRules set the upstream TLS of client proxies' clusters
    translates_destination_rules: bool = True
    #: a client namespace's DestinationRule outranks the server namespace's (Istio's lookup order)
    client_destination_rules_first: bool = True


@dataclass(frozen=True)
class CertificateAuthorityBehaviour:
    #: workload certificates name the pod's own service account (otherwise the namespace's ``default``)
    issues_pod_service_account: bool = True
    #: workload certificates live a week instead of Istio's default 24 hours
    week_long_certificates: bool = False


@dataclass(frozen=True)
class AgentBehaviour:
    #: pilot-agent renews the workload certificate before it expires (meshproof.local.rotation)
    renews_certificates: bool = True


@dataclass(frozen=True)
class DatabaseBehaviour:
    #: the external database refuses plaintext clients (MariaDB ``require_secure_transport``)
    require_secure_transport: bool = True


@dataclass(frozen=True)
class InjectorBehaviour:
    #: the injector points HTTP, TCP and gRPC probes at the agent (Istio's ``rewriteAppHTTPProbers``)
    rewrites_probes: bool = True
    #: the init container redirects only the ports the pod's Services or containerPorts declare (``-b PORTS``),
    #: not every port (``'*'``)
    captures_declared_ports_only: bool = False
    #: a pod's ``excludeInboundPorts`` leaves those ports uncaptured in every pod of its namespace
    exclusions_namespace_wide: bool = False


@dataclass(frozen=True)
class MeshBehaviour:
    """How each component of the reference mesh behaves; the default is a healthy mesh."""

    sidecar: SidecarBehaviour = SidecarBehaviour()
    gateway: GatewayBehaviour = GatewayBehaviour()
    control_plane: ControlPlaneBehaviour = ControlPlaneBehaviour()
    ca: CertificateAuthorityBehaviour = CertificateAuthorityBehaviour()
    agent: AgentBehaviour = AgentBehaviour()
    database: DatabaseBehaviour = DatabaseBehaviour()
    injector: InjectorBehaviour = InjectorBehaviour()


@dataclass(frozen=True)
class Defect:
    """``effect``: component (a field of ``MeshBehaviour``) -> the flags the defect sets on it."""

    name: str
    summary: str
    effect: Mapping[str, Mapping[str, bool]] = field(default_factory=dict)

    def apply(self, behaviour: MeshBehaviour) -> MeshBehaviour:
        """``behaviour`` with this defect's flags set; TypeError for a component or flag that does not exist."""
        parts = {component: dataclasses.replace(getattr(behaviour, component), **flags)
                 for component, flags in self.effect.items()}
        return dataclasses.replace(behaviour, **parts)


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect("sidecar-ignores-strict", "inbound sidecars keep accepting plaintext under STRICT",
               {"sidecar": {"ignore_strict": True}}),
        Defect("sidecar-accepts-any-client-cert", "inbound sidecars accept client certificates from any CA",
               {"sidecar": {"accept_any_client_cert": True}}),
        Defect("control-plane-never-pushes", "PeerAuthentication changes never reach running sidecars",
               {"control_plane": {"pushes_policies": False}}),
        Defect("control-plane-mesh-policy-wins",
               "the control plane lets the mesh-wide PeerAuthentication overrule a namespace's own",
               {"control_plane": {"mesh_policy_wins": True}}),
        Defect("sidecar-no-mtls-origination", "client sidecars send plaintext instead of originating mTLS",
               {"sidecar": {"no_mtls_origination": True}}),
        Defect("sidecar-plaintext-tcp-origination",
               "client sidecars send TCP (non-HTTP) destinations in plaintext; HTTP ones keep mTLS",
               {"sidecar": {"no_mtls_origination_for_tcp": True}}),
        Defect("sidecar-tcp-no-client-cert",
               "server sidecars terminate TLS on TCP (non-HTTP) ports without asking for a client certificate",
               {"sidecar": {"tcp_client_cert_not_requested": True}}),
        Defect("sidecar-certs-on-disk", "sidecars read their workload certificate and key from files, not SDS",
               {"sidecar": {"certs_on_disk": True}}),
        Defect("gateway-no-client-cert-required", "a MUTUAL ingress gateway lets clients without a certificate in",
               {"gateway": {"client_cert_optional": True}}),
        Defect("gateway-trusts-any-ca", "a MUTUAL ingress gateway accepts client certificates from any CA",
               {"gateway": {"trust_any_ca": True}}),
        Defect("gateway-sds-never-reloads", "the ingress gateway keeps the first version of every credential Secret",
               {"gateway": {"sds_never_reloads": True}}),
        Defect("gateway-serves-its-own-certificate",
               "SIMPLE TLS servers of the ingress gateway present its mesh workload certificate, not the "
               "credentialName Secret's",
               {"gateway": {"simple_serves_workload_certificate": True}}),
        Defect("gateway-sanitizes-client-cert",
               "the ingress gateway never forwards the client certificate's details to the backend "
               "(forwardClientCertDetails SANITIZE)",
               {"gateway": {"sanitizes_client_cert": True}}),
        Defect("gateway-ignores-min-protocol-version",
               "the ingress gateway ignores a server's tls.minProtocolVersion and keeps accepting TLS 1.2",
               {"gateway": {"ignores_min_protocol_version": True}}),
        Defect("gateway-offers-legacy-tls",
               "the ingress gateway's TLS servers accept TLS 1.0 and 1.1 and CBC/SHA-1 cipher suites "
               "(ECDHE-ECDSA-AES128-SHA, ECDHE-RSA-AES128-SHA, AES128-SHA)",
               {"gateway": {"offers_legacy_tls": True}}),
        Defect("gateway-ignores-cipher-suites",
               "the ingress gateway ignores a server's tls.cipherSuites and offers Envoy's default suites",
               {"gateway": {"ignores_cipher_suites": True}}),
        Defect("sidecar-inspects-server-first-tcp",
               "client sidecars inspect outbound TCP for TLS, stalling server-first protocols such as MySQL",
               {"sidecar": {"inspect_server_first": True}}),
        Defect("sidecar-rbac-ignores-principals",
               "inbound sidecars' RBAC filters let any peer match an AuthorizationPolicy's principals and namespaces",
               {"sidecar": {"rbac_ignores_principals": True}}),
        Defect("control-plane-ignores-authorization-policies",
               "the control plane never translates AuthorizationPolicies into the sidecars' RBAC filters",
               {"control_plane": {"translates_authorization": False}}),
        Defect("control-plane-root-authorization-local",
               "AuthorizationPolicies in the root namespace only apply to workloads of the root namespace",
               {"control_plane": {"root_authorization_mesh_wide": False}}),
        Defect("control-plane-ignores-destination-rules",
               "the control plane never applies DestinationRules: client proxies keep auto mTLS whatever the rule says",
               {"control_plane": {"translates_destination_rules": False}}),
        Defect("control-plane-server-destination-rule-wins",
               "the control plane lets the server namespace's DestinationRule overrule the client namespace's own",
               {"control_plane": {"client_destination_rules_first": False}}),
        Defect("sidecar-skips-server-identity-check",
               "client sidecars verify the server's certificate chain but not its identity (subject alt names)",
               {"sidecar": {"skips_server_identity_check": True}}),
        Defect("ca-issues-default-service-account",
               "the mesh CA names the namespace's default service account in every workload certificate",
               {"ca": {"issues_pod_service_account": False}}),
        Defect("ca-issues-week-long-certificates", "the mesh CA issues workload certificates valid for 7 days",
               {"ca": {"week_long_certificates": True}}),
        Defect("sidecar-negotiates-legacy-tls",
               "sidecars originate and accept mTLS only as TLS 1.2 with a CBC/SHA-1 cipher suite",
               {"sidecar": {"negotiates_legacy_tls": True}}),
        Defect("sidecar-accepts-legacy-tls",
               "inbound sidecars also accept mTLS as TLS 1.0 and 1.1 with CBC/SHA-1 cipher suites",
               {"sidecar": {"accepts_legacy_tls": True}}),
        Defect("agent-never-renews", "pilot-agent never renews the workload certificate, which expires in place",
               {"agent": {"renews_certificates": False}}),
        Defect("database-does-not-require-tls", "the external database also accepts plaintext clients",
               {"database": {"require_secure_transport": False}}),
        Defect("sidecar-captures-declared-ports-only",
               "the sidecar's inbound capture redirects only the ports a Service or a containerPort declares: a port "
               "declared nowhere takes plaintext under STRICT", {"injector": {"captures_declared_ports_only": True}}),
        Defect("injector-excludes-ports-namespace-wide",
               "the injector applies one pod's traffic.sidecar.istio.io/excludeInboundPorts to every pod of its "
               "namespace", {"injector": {"exclusions_namespace_wide": True}}),
        Defect("injector-does-not-rewrite-probes",
               "the injector leaves HTTP, TCP and gRPC probes on the app port, where STRICT resets the kubelet's "
               "plaintext",
               {"injector": {"rewrites_probes": False}}),
    )
}


def validate(names: Iterable[str]) -> frozenset[str]:
    """The named defects; ConfigError naming the unknown ones and the known ones."""
    names = list(names)
    unknown = [n for n in names if n not in DEFECTS]
    if unknown:
        raise ConfigError(f"unknown mesh defect {', '.join(unknown)}; known: {', '.join(sorted(DEFECTS))}")
    return frozenset(names)


def behaviour_of(names: Iterable[str]) -> MeshBehaviour:
    """The reference mesh's behaviour with the named defects on (merged flags); ConfigError for unknown names."""
    behaviour = MeshBehaviour()
    for name in sorted(validate(names)):
        behaviour = DEFECTS[name].apply(behaviour)
    return behaviour
