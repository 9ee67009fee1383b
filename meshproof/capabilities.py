"""The one registry of what the suite checks.

Markers, Allure epics/features and the conformance report's sections all come
from here, so a capability is named in exactly one place.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capability:
    marker: str
    title: str
    epic: str
    summary: str
    seeds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feature:
    """A mesh feature a check may need; a mesh without it skips the check as 'not supported'."""

    name: str
    summary: str


CAPABILITIES: dict[str, Capability] = {
    c.marker: c
    for c in (
        Capability(
            "strict-mtls",
            "PeerAuthentication enforces mutual TLS between workloads",
            "Workload mutual TLS",
            "Plaintext is accepted before STRICT and reset after it; in-mesh traffic keeps "
            "working and is proven to be mTLS; pods with HTTP probes stay ready (probe rewriting); "
            "precedence of mesh, namespace, workload and port policies; the client side set by "
            "DestinationRules (ISTIO_MUTUAL, DISABLE, per port, secure naming, precedence and exportTo).",
            ("002", "003", "004"),
        ),
        Capability(
            "authz",
            "AuthorizationPolicy needs and uses the mTLS identity",
            "Authorization",
            "ALLOW by principal and namespace, DENY over ALLOW, requiring mTLS through authorization, "
            "mesh-wide policies of the root namespace; plaintext has no identity to be allowed.",
            ("004",),
        ),
        Capability(
            "gateway-mtls",
            "Ingress gateway terminates TLS and verifies client certificates",
            "Ingress TLS",
            "Gateway SIMPLE and MUTUAL modes, untrusted and expired client certificates, "
            "trust-bundle rotation without restart.",
            ("002",),
        ),
        Capability(
            "egress-tls",
            "In-mesh applications reach an external TLS-only MySQL",
            "Egress TLS",
            "ssl modes disable / trust / verify-ca / verify-full with and without client "
            "certificates, under STRICT, and REGISTRY_ONLY with a ServiceEntry.",
            ("000", "001"),
        ),
        Capability(
            "mesh-audit",
            "Every listening port of the user's own workloads refuses plaintext where policy says STRICT",
            "Mesh audit",
            "Opt-in (-m mesh-audit, --audit-namespaces): a prober without a sidecar, in a namespace of its own, "
            "sends each port that really listens in a pod one plaintext probe no application acts on; the "
            "effective PeerAuthentication mode against what it saw, opt-outs listed as exposures.",
        ),
        Capability(
            "tls-posture",
            "Workload identities, certificate lifetimes and TLS parameters meet the policy",
            "Identity and crypto posture",
            "Every workload's certificate from its proxy's SDS state: SPIFFE identity of its service account, "
            "chain to the mesh root, lifetime, key strength against the named TLS policy; renewal without "
            "outage; the TLS version, cipher and curve sidecar-to-sidecar mTLS negotiates; the ingress gateway's "
            "TLS versions, cipher suites, curves and certificate as a TLS scanner (sslyze) sees them, a server's "
            "cipherSuites honoured, and a "
            "client offering only TLS 1.1 refused by the gateway and by sidecars.",
        ),
    )
}


#: a feature only the reference mesh claims: a cluster's CA and agents are configured by its operator
SHORT_LIVED_CERTIFICATES = "short-lived-certificates"

FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("sidecar", "workloads get an Envoy sidecar that can be exec'd into (istio-proxy)"),
        Feature("peer-authentication", "PeerAuthentication modes DISABLE, PERMISSIVE and STRICT"),
        Feature("port-level-mtls", "PeerAuthentication portLevelMtls on a workload selector"),
        Feature("mesh-wide-policy", "PeerAuthentication in the mesh root namespace"),
        Feature("ingress-gateway", "an ingress gateway reachable from outside the mesh"),
        Feature("gateway-credential-sds", "Gateway credentialName Secrets delivered by SDS"),
        Feature("egress-registry-only", "outboundTrafficPolicy REGISTRY_ONLY and ServiceEntry"),
        Feature("external-database", "a TLS-only MySQL-compatible database outside the mesh"),
        Feature("destination-rule", "DestinationRule trafficPolicy tls (ISTIO_MUTUAL, DISABLE, subjectAltNames, "
                "portLevelSettings, exportTo) on client sidecars"),
        Feature("authorization-policy", "AuthorizationPolicy ALLOW and DENY on sidecars, matching mTLS principals"),
        Feature(SHORT_LIVED_CERTIFICATES, "the mesh CA signs workload certificates of tens of seconds when a pod's "
                "agent asks (proxyMetadata SECRET_TTL), so renewals happen within a run"),
        Feature("probe-rewrite", "the injector points HTTP probes at the sidecar agent (rewriteAppHTTPProbers)"),
        Feature("wire-capture", "a packet capture in a server pod's network namespace (the reference mesh runs tcpdump "
                "there; on clusters an ephemeral debug container adding NET_RAW, which RBAC or PodSecurity may "
                "forbid)"),
    )
}


def mark(marker: str):
    """The pytest mark of a capability (hyphenated names are not valid attribute names)."""
    import pytest

    if marker not in CAPABILITIES:
        raise KeyError(f"unknown capability marker {marker!r}")
    return getattr(pytest.mark, marker)


# ---------------------------------------------------------------- compliance controls each check evidences


@dataclass(frozen=True)
class Control:
    """A compliance control as its framework publishes it: ``identifier`` exactly as printed there."""

    framework: str
    identifier: str
    title: str

    @property
    def key(self) -> str:
        return f"{self.framework} {self.identifier}"


NIST_800_53 = "NIST SP 800-53 rev. 5"
PCI_DSS = "PCI DSS v4.0"
SOC2 = "SOC 2 TSC 2017"

CONTROLS: dict[str, Control] = {
    c.key: c
    for c in (
        Control(NIST_800_53, "AC-3", "Access Enforcement"),
        Control(NIST_800_53, "AC-4", "Information Flow Enforcement"),
        Control(NIST_800_53, "IA-3", "Device Identification and Authentication"),
        Control(NIST_800_53, "IA-5(2)", "Authenticator Management | Public Key-based Authentication"),
        Control(NIST_800_53, "IA-9", "Service Identification and Authentication"),
        Control(NIST_800_53, "SC-8", "Transmission Confidentiality and Integrity"),
        Control(NIST_800_53, "SC-8(1)", "Transmission Confidentiality and Integrity | Cryptographic Protection"),
        Control(NIST_800_53, "SC-12", "Cryptographic Key Establishment and Management"),
        Control(NIST_800_53, "SC-13", "Cryptographic Protection"),
        Control(NIST_800_53, "SC-17", "Public Key Infrastructure Certificates"),
        Control(NIST_800_53, "SC-23", "Session Authenticity"),
        Control(PCI_DSS, "1.3.2", "Outbound traffic from the CDE is restricted"),
        Control(PCI_DSS, "4.2.1", "Strong cryptography and security protocols safeguard PAN during transmission"),
        Control(PCI_DSS, "4.2.1.1", "An inventory of trusted keys and certificates is maintained"),
        Control(PCI_DSS, "8.3.2", "Strong cryptography renders authentication factors unreadable in transmission"),
        Control(SOC2, "CC6.1", "Logical access security software, infrastructure and architectures"),
        Control(SOC2, "CC6.6", "Logical access security measures against threats from outside the system boundaries"),
        Control(SOC2, "CC6.7", "Transmission of information restricted and protected"),
    )
}

_MTLS = (f"{NIST_800_53} SC-8", f"{NIST_800_53} SC-8(1)", f"{NIST_800_53} SC-23", f"{PCI_DSS} 4.2.1", f"{SOC2} CC6.7")
_PEER_IDENTITY = (f"{NIST_800_53} IA-3", f"{NIST_800_53} IA-9", f"{NIST_800_53} IA-5(2)", f"{SOC2} CC6.1")
_CLIENT_CERTS = (f"{NIST_800_53} IA-5(2)", f"{PCI_DSS} 4.2.1", f"{PCI_DSS} 8.3.2", f"{SOC2} CC6.6")
_KEYS = (f"{NIST_800_53} SC-12", f"{NIST_800_53} SC-17")
#: an AuthorizationPolicy decides by the peer's mTLS identity
_AUTHZ = (f"{NIST_800_53} AC-3", f"{NIST_800_53} AC-4", f"{NIST_800_53} IA-9", f"{SOC2} CC6.1")

#: check (its test function's name, parameters aside) -> the controls it provides evidence for
CHECK_CONTROLS: dict[str, tuple[str, ...]] = {
    # strict-mtls
    "test_legacy_client_is_reset_under_strict_and_served_again_when_permissive": _MTLS,
    "test_in_mesh_clients_keep_working_under_strict": _MTLS,
    "test_in_mesh_traffic_is_mutual_tls_with_the_client_identity": _MTLS + _PEER_IDENTITY,
    "test_proxy_container_without_client_certificate_is_rejected": _MTLS + _PEER_IDENTITY,
    "test_certificates_are_delivered_by_sds_not_on_the_proxy_containers_disk": _KEYS,
    "test_client_certificate_from_a_foreign_ca_is_rejected": _PEER_IDENTITY + (f"{PCI_DSS} 4.2.1",),
    "test_sleep_recreated_inside_the_mesh_namespace_gets_details": _MTLS,
    "test_pod_with_http_probes_becomes_and_stays_ready_under_strict": _MTLS,
    "test_http_probes_fail_under_strict_until_the_injector_rewrites_them": _MTLS,
    "test_policy_precedence": _MTLS,
    "test_every_listening_port_of_the_scene_refuses_plaintext_under_strict_but_the_documented_exceptions":
        _MTLS + (f"{NIST_800_53} AC-4",),
    # mesh-audit
    "test_no_port_where_policy_says_strict_takes_plaintext": _MTLS + (f"{NIST_800_53} AC-4",),
    # gateway-mtls
    "test_simple_tls_is_verified_with_the_server_ca": (f"{NIST_800_53} SC-8(1)", f"{PCI_DSS} 4.2.1", f"{SOC2} CC6.7"),
    "test_simple_tls_serves_the_certificate_of_the_credential_secret": (f"{NIST_800_53} SC-17", f"{PCI_DSS} 4.2.1"),
    "test_mutual_rejects_a_client_without_certificate": _CLIENT_CERTS,
    "test_mutual_rejects_a_client_of_an_untrusted_ca": _CLIENT_CERTS,
    "test_mutual_admits_the_trusted_partner_and_forwards_its_subject": _CLIENT_CERTS,
    "test_trust_bundle_rotation_takes_effect_without_restart": _KEYS + (f"{PCI_DSS} 4.2.1.1",),
    "test_expired_client_certificate_is_rejected": _CLIENT_CERTS,
    "test_subject_alt_names_admit_only_the_named_partner": _CLIENT_CERTS,
    "test_trusted_cas_from_a_separate_cacert_secret": _CLIENT_CERTS,
    "test_min_protocol_version_rejects_older_clients": (f"{NIST_800_53} SC-13", f"{PCI_DSS} 4.2.1"),
    # egress-tls
    "test_the_app_returns_the_rows_over_a_session_the_database_reports_as_tls": _MTLS,
    "test_disable_is_refused_by_the_tls_only_database": (f"{NIST_800_53} SC-8", f"{PCI_DSS} 4.2.1"),
    "test_verify_ca_with_another_ca_fails_certificate_verification": (f"{NIST_800_53} IA-9", f"{PCI_DSS} 4.2.1"),
    "test_verify_full_to_a_name_not_in_the_certificate_fails": (f"{NIST_800_53} IA-9", f"{PCI_DSS} 4.2.1"),
    "test_the_x509_user_without_a_client_certificate_is_denied": (f"{NIST_800_53} IA-5(2)", f"{PCI_DSS} 8.3.2"),
    "test_registry_only_blocks_the_database_until_a_service_entry_registers_it":
        (f"{NIST_800_53} AC-4", f"{PCI_DSS} 1.3.2", f"{SOC2} CC6.6"),
    # strict-mtls: TCP, the server's own record, the wire
    "test_legacy_tcp_client_is_served_before_strict_and_closed_after": _MTLS,
    "test_in_mesh_tcp_clients_keep_working_under_strict": _MTLS,
    "test_tcp_port_rejects_tls_without_client_certificate_under_strict": _MTLS + _PEER_IDENTITY,
    "test_server_sidecar_records_in_mesh_tcp_and_http_as_mutual_tls_with_the_client_identity": _MTLS + _PEER_IDENTITY,
    "test_server_sidecar_tells_the_legacy_clients_plaintext_from_in_mesh_mutual_tls_under_permissive": _MTLS,
    "test_the_wire_between_sidecars_is_tls_and_the_plaintext_control_shows_the_marker": _MTLS,
    # strict-mtls: DestinationRule, the client side of mTLS
    "test_explicit_istio_mutual_keeps_in_mesh_calls_working_under_strict_with_the_client_identity":
        _MTLS + _PEER_IDENTITY,
    "test_disable_toward_a_strict_server_gets_the_client_sidecars_503_and_the_server_never_accepts_plaintext": _MTLS,
    "test_disable_toward_a_permissive_server_works_and_is_plaintext": _MTLS,
    "test_istio_mutual_toward_a_workload_without_sidecar_fails_where_auto_mtls_falls_back_to_plaintext": _MTLS,
    "test_port_level_settings_override_the_host_wide_tls_mode_for_that_port_only": _MTLS,
    "test_subject_alt_names_naming_another_identity_fail_and_naming_the_servers_identity_pass":
        _MTLS + (f"{NIST_800_53} IA-9",),
    "test_the_ingress_gateway_follows_the_destination_rule_of_its_backend": _MTLS,
    "test_destination_rule_precedence": _MTLS,
    # authz
    "test_allow_by_principal_admits_sleep_and_forbids_other_and_anonymous_clients": _AUTHZ,
    "test_source_namespaces_admit_the_named_mesh_namespace_and_refuse_another": _AUTHZ,
    "test_deny_not_principals_requires_mtls_under_permissive": _AUTHZ + _MTLS,
    "test_allow_without_rules_denies_everything": _AUTHZ,
    "test_deny_beats_allow": _AUTHZ,
    "test_root_namespace_policy_applies_mesh_wide": _AUTHZ,
    "test_sleep_recreated_in_the_mesh_namespace_gets_details_only_while_a_policy_allows_it": _AUTHZ,
    "test_a_principals_rule_on_a_tcp_port_closes_the_connection_of_a_caller_not_allowed": _AUTHZ,
    # tls-posture
    "test_every_workload_holds_the_spiffe_identity_of_its_service_account_from_the_mesh_root":
        _PEER_IDENTITY + (f"{NIST_800_53} SC-17", f"{PCI_DSS} 4.2.1.1"),
    "test_every_workload_certificate_is_short_lived_with_a_key_the_policy_allows":
        _KEYS + (f"{NIST_800_53} SC-13", f"{PCI_DSS} 4.2.1", f"{PCI_DSS} 4.2.1.1"),
    "test_workload_certificate_is_renewed_before_expiry_without_a_failed_request":
        _KEYS + (f"{NIST_800_53} IA-5(2)", f"{SOC2} CC6.7"),
    "test_sidecar_to_sidecar_mtls_negotiates_a_version_cipher_and_curve_the_policy_allows":
        _MTLS + (f"{NIST_800_53} SC-13",),
    "test_gateway_accepts_only_the_tls_versions_cipher_suites_curves_and_certificate_the_policy_allows":
        (f"{NIST_800_53} SC-8(1)", f"{NIST_800_53} SC-13", f"{NIST_800_53} SC-17", f"{PCI_DSS} 4.2.1",
         f"{PCI_DSS} 4.2.1.1", f"{SOC2} CC6.7"),
    "test_a_client_offering_only_tls_1_1_is_refused_by_the_gateway":
        (f"{NIST_800_53} SC-8(1)", f"{NIST_800_53} SC-13", f"{PCI_DSS} 4.2.1", f"{SOC2} CC6.7"),
    "test_a_client_offering_only_tls_1_1_is_refused_by_the_server_sidecar": _MTLS + (f"{NIST_800_53} SC-13",),
    "test_the_gateway_offers_exactly_the_cipher_suites_a_server_names":
        (f"{NIST_800_53} SC-13", f"{PCI_DSS} 4.2.1", f"{SOC2} CC6.7"),
}


def controls_of(check: str) -> tuple[str, ...]:
    """The controls a check (test function name, or a node id / name with parameters) evidences; () if none."""
    name = check.rsplit("::", 1)[-1].split("[", 1)[0]
    return CHECK_CONTROLS.get(name, ())
