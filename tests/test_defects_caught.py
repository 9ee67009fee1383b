"""Every suite passes on the healthy reference mesh and fails exactly the checks that catch each defect.

One table (``SUITES``) holds, per suite, all its checks and, per defect of
meshproof/local/defects.py, the checks that must fail against it (and only
those). Each run is ``pytest -m SUITE`` in a child process, as a user runs it,
against a fresh mesh with ``--mesh-defect NAME`` where one is named; its JUnit
XML tells which checks failed. The registry tests below need no mesh: every
defect is caught by some check, every check catches some defect, and the table
lists exactly the checks each suite collects.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from meshproof.errors import ConfigError
from meshproof.local.defects import DEFECTS, MeshBehaviour, behaviour_of
from meshproof.sslmode import VALID, SslMode
from tests.suite_runner import run_pytest, run_suite


@dataclass(frozen=True)
class Suite:
    marker: str
    checks: frozenset[str]
    #: defect -> the checks that must fail against it (and only those)
    caught_by: dict[str, frozenset[str]]
    #: every failed check carries the sidecars' config_dump (its checks take the ``cluster`` fixture)
    diagnosed: bool = False


def each(test: str, *params: str) -> frozenset[str]:
    return frozenset(f"{test}[{p}]" for p in params)


# --- strict-mtls (suites/test_peer_authentication.py) ----------------------------------------------
LEGACY_RESET = "test_legacy_client_is_reset_under_strict_and_served_again_when_permissive"
IN_MESH = "test_in_mesh_clients_keep_working_under_strict"
XFCC = "test_in_mesh_traffic_is_mutual_tls_with_the_client_identity"
PROXY_NO_CERT = "test_proxy_container_without_client_certificate_is_rejected"
FOREIGN_CA = "test_client_certificate_from_a_foreign_ca_is_rejected"
RECREATED = "test_sleep_recreated_inside_the_mesh_namespace_gets_details"
SDS = "test_certificates_are_delivered_by_sds_not_on_the_proxy_containers_disk"
PROBES_READY = "test_pod_with_http_probes_becomes_and_stays_ready_under_strict"
PROBES_NOT_REWRITTEN = "test_http_probes_fail_under_strict_until_the_injector_rewrites_them"
(MESH_STRICT, NS_OVERRIDES_MESH, NS_UNSET, WL_PERMISSIVE, WL_UNSET, WL_DISABLE, PORT_EXCEPTION, PORT_LOCK) = (
    f"test_policy_precedence[{sentence}]" for sentence in (
        "mesh-wide STRICT resets plaintext in every namespace",
        "namespace PERMISSIVE overrides mesh-wide STRICT",
        "namespace UNSET inherits mesh-wide STRICT",
        "workload PERMISSIVE inside a STRICT namespace accepts plaintext for that workload only",
        "workload UNSET inherits the namespace's STRICT",
        "workload DISABLE inside a STRICT namespace takes plaintext",
        "port-level PERMISSIVE is an exception to a STRICT workload",
        "port-level STRICT locks one port of a PERMISSIVE workload"))
# suites/test_tcp_mtls.py (also strict-mtls): TCP where no header can carry the client's identity
TCP_LEGACY = "test_legacy_tcp_client_is_served_before_strict_and_closed_after"
TCP_IN_MESH = "test_in_mesh_tcp_clients_keep_working_under_strict"
TCP_NO_CERT = "test_tcp_port_rejects_tls_without_client_certificate_under_strict"
TCP_CHECKS = frozenset({TCP_LEGACY, TCP_IN_MESH, TCP_NO_CERT})
# suites/test_server_evidence.py (also strict-mtls): what the server's sidecar recorded
EVIDENCE_STRICT = "test_server_sidecar_records_in_mesh_tcp_and_http_as_mutual_tls_with_the_client_identity"
EVIDENCE_PERMISSIVE = ("test_server_sidecar_tells_the_legacy_clients_plaintext_from_in_mesh_mutual_tls_under_"
                       "permissive")
# suites/test_wire_capture.py (also strict-mtls): the wire itself, under PERMISSIVE with its plaintext control
WIRE = "test_the_wire_between_sidecars_is_tls_and_the_plaintext_control_shows_the_marker"
# suites/test_port_coverage.py (also strict-mtls): every listening port of the mesh namespace
PORT_SWEEP = "test_every_listening_port_of_the_scene_refuses_plaintext_under_strict_but_the_documented_exceptions"
# suites/test_destination_rule.py (also strict-mtls): the client side, set by DestinationRules
DR_ISTIO_MUTUAL = "test_explicit_istio_mutual_keeps_in_mesh_calls_working_under_strict_with_the_client_identity"
DR_DISABLE_STRICT = ("test_disable_toward_a_strict_server_gets_the_client_sidecars_503_and_the_server_never_"
                     "accepts_plaintext")
DR_DISABLE_PERMISSIVE = "test_disable_toward_a_permissive_server_works_and_is_plaintext"
DR_NO_SIDECAR = "test_istio_mutual_toward_a_workload_without_sidecar_fails_where_auto_mtls_falls_back_to_plaintext"
DR_PORT_LEVEL = "test_port_level_settings_override_the_host_wide_tls_mode_for_that_port_only"
DR_NAMES = "test_subject_alt_names_naming_another_identity_fail_and_naming_the_servers_identity_pass"
DR_GATEWAY = "test_the_ingress_gateway_follows_the_destination_rule_of_its_backend"
(DR_SERVER_NS, DR_CLIENT_WINS, DR_CLIENT_WILDCARD_WINS, DR_ROOT, DR_SERVER_OVER_ROOT, DR_EXACT_HOST, DR_EXPORT_PRIVATE,
 DR_EXPORT_CLIENT) = (f"test_destination_rule_precedence[{sentence}]" for sentence in (
    "the server namespace's rule applies to clients of every namespace",
    "the client namespace's rule wins over the server namespace's",
    "a client namespace's wildcard rule still wins over the server namespace's exact one",
    "the root namespace's rule applies mesh-wide",
    "the server namespace's rule wins over the root namespace's",
    "within a namespace the exact host wins over a wildcard",
    'exportTo "." keeps the rule to its own namespace',
    "exportTo naming only the client namespace hides the rule from its own namespace"))
DR_PRECEDENCE = frozenset({DR_SERVER_NS, DR_CLIENT_WINS, DR_CLIENT_WILDCARD_WINS, DR_ROOT, DR_SERVER_OVER_ROOT,
                           DR_EXACT_HOST, DR_EXPORT_PRIVATE, DR_EXPORT_CLIENT})
DR_CHECKS = frozenset({DR_ISTIO_MUTUAL, DR_DISABLE_STRICT, DR_DISABLE_PERMISSIVE, DR_NO_SIDECAR, DR_PORT_LEVEL,
                       DR_NAMES, DR_GATEWAY}) | DR_PRECEDENCE
#: the DestinationRule checks that need STRICT to hold (a winning DISABLE shows as the client sidecar's 503)
DR_NEED_STRICT = frozenset({DR_ISTIO_MUTUAL, DR_DISABLE_STRICT, DR_PORT_LEVEL, DR_GATEWAY}) | DR_PRECEDENCE
#: both probe checks begin by proving STRICT in force (legacy sleep reset), so a mesh where STRICT never
#: takes effect fails them there
STRICT_NEVER_HOLDS = frozenset({LEGACY_RESET, IN_MESH, PROXY_NO_CERT, FOREIGN_CA, PROBES_READY, PROBES_NOT_REWRITTEN,
                                MESH_STRICT, NS_UNSET, WL_PERMISSIVE, WL_UNSET, WL_DISABLE, PORT_EXCEPTION, PORT_LOCK}) | TCP_CHECKS | {EVIDENCE_STRICT,
                                                                                        PORT_SWEEP} | DR_NEED_STRICT
STRICT_MTLS = Suite(
    "strict-mtls",
    frozenset({LEGACY_RESET, IN_MESH, XFCC, PROXY_NO_CERT, FOREIGN_CA, RECREATED, SDS, PROBES_READY,
               PROBES_NOT_REWRITTEN, MESH_STRICT, NS_OVERRIDES_MESH, NS_UNSET, WL_PERMISSIVE, WL_UNSET, WL_DISABLE,
               PORT_EXCEPTION, PORT_LOCK}) | TCP_CHECKS | {EVIDENCE_STRICT, EVIDENCE_PERMISSIVE, WIRE, PORT_SWEEP} | DR_CHECKS,
    {
        "sidecar-ignores-strict": STRICT_NEVER_HOLDS,
        "sidecar-accepts-any-client-cert": frozenset({FOREIGN_CA}),
        "control-plane-never-pushes": STRICT_NEVER_HOLDS,
        # a DestinationRule's ISTIO_MUTUAL is not originated either; DISABLE toward PERMISSIVE, the precedence
        # cases where every client fails anyway and the ingress gateway (not a sidecar) still hold
        "sidecar-no-mtls-origination": frozenset({IN_MESH, XFCC, RECREATED, MESH_STRICT, NS_UNSET, WL_PERMISSIVE,
                                                  WL_UNSET, WL_DISABLE, PORT_EXCEPTION, PORT_LOCK, TCP_IN_MESH,
                                                  EVIDENCE_STRICT, EVIDENCE_PERMISSIVE, WIRE}) | (
            DR_CHECKS - {DR_DISABLE_PERMISSIVE, DR_SERVER_NS, DR_ROOT, DR_GATEWAY}),
        # HTTP keeps mTLS, so every HTTP check (XFCC included) passes: only the TCP checks, the server's
        # record (the in-mesh TCP peer is plaintext under PERMISSIVE) and the wire (the marker in cleartext) see it
        "sidecar-plaintext-tcp-origination": frozenset({TCP_IN_MESH, EVIDENCE_STRICT, EVIDENCE_PERMISSIVE, WIRE}),
        # a TLS client without certificate gets in on the TCP port; in-mesh TCP clients still get their echo, but
        # the server records their connections as "none" (no peer certificate): the XFCC check cannot see it
        "sidecar-tcp-no-client-cert": frozenset({TCP_NO_CERT, EVIDENCE_STRICT, EVIDENCE_PERMISSIVE}),
        "sidecar-certs-on-disk": frozenset({SDS}),
        # the only check with a namespace policy under a mesh-wide one that sets a mode
        "control-plane-mesh-policy-wins": frozenset({NS_OVERRIDES_MESH}),
        # plaintext probes on the app port are reset under STRICT: the pod never turns ready, patched or not
        "injector-does-not-rewrite-probes": frozenset({PROBES_READY, PROBES_NOT_REWRITTEN}),
        # every other check probes a port some Service or containerPort declares: only the sweep reads the pods'
        # own sockets
        "sidecar-captures-declared-ports-only": frozenset({PORT_SWEEP}),
        # no other check deploys a pod with excludeInboundPorts, or probes the port another pod excluded
        "injector-excludes-ports-namespace-wide": frozenset({PORT_SWEEP}),
        # auto mTLS everywhere: only the explicit ISTIO_MUTUAL toward a sidecar, which auto mTLS matches, holds
        "control-plane-ignores-destination-rules": DR_CHECKS - {DR_ISTIO_MUTUAL},
        # the cases where a client namespace's rule must beat the server namespace's
        "control-plane-server-destination-rule-wins": frozenset({DR_CLIENT_WINS, DR_CLIENT_WILDCARD_WINS}),
        # the echo's own certificate passes the chain check whatever subjectAltNames name
        "sidecar-skips-server-identity-check": frozenset({DR_NAMES}),
    },
    diagnosed=True,
)

# --- gateway-mtls (suites/test_gateway_tls.py) ------------------------------------------------------
def both_clients(test: str) -> frozenset[str]:
    return each(test, "curl", "requests")


SIMPLE_VERIFIED = both_clients("test_simple_tls_is_verified_with_the_server_ca")
SIMPLE_CERTIFICATE = "test_simple_tls_serves_the_certificate_of_the_credential_secret"
NO_CERT = both_clients("test_mutual_rejects_a_client_without_certificate")
UNTRUSTED = both_clients("test_mutual_rejects_a_client_of_an_untrusted_ca")
PARTNER = both_clients("test_mutual_admits_the_trusted_partner_and_forwards_its_subject")
ROTATION = both_clients("test_trust_bundle_rotation_takes_effect_without_restart")
EXPIRED = both_clients("test_expired_client_certificate_is_rejected")
SANS = both_clients("test_subject_alt_names_admit_only_the_named_partner")
CACERT = both_clients("test_trusted_cas_from_a_separate_cacert_secret")
MIN_VERSION = both_clients("test_min_protocol_version_rejects_older_clients")
GATEWAY_MTLS = Suite(
    "gateway-mtls",
    SIMPLE_VERIFIED | {SIMPLE_CERTIFICATE} | NO_CERT | UNTRUSTED | PARTNER | ROTATION | EXPIRED | SANS | CACERT
    | MIN_VERSION,
    {
        "gateway-no-client-cert-required": NO_CERT,
        # a gateway that trusts any CA also lets expired and wrongly named certificates in: Envoy's
        # ACCEPT_UNTRUSTED waives every verification failure, not just the unknown issuer
        "gateway-trusts-any-ca": UNTRUSTED | ROTATION | EXPIRED | SANS | CACERT,
        "gateway-sds-never-reloads": ROTATION,
        # every check that verifies a SIMPLE server with the example.com CA, min-version's TLS 1.3 client too;
        # MUTUAL servers keep the credential's certificate
        "gateway-serves-its-own-certificate": SIMPLE_VERIFIED | {SIMPLE_CERTIFICATE} | MIN_VERSION,
        "gateway-sanitizes-client-cert": PARTNER,
        "gateway-ignores-min-protocol-version": MIN_VERSION,
    },
)

# --- egress-tls (suites/test_egress_mysql_tls.py) ----------------------------------------------------
STRICT_SCOPES = ("namespace-STRICT", "mesh-wide-STRICT")
TLS_SESSIONS = each("test_the_app_returns_the_rows_over_a_session_the_database_reports_as_tls",
                    *(f"{scope}-{mode.value}+mutual-{mutual.value}"
                      for scope in STRICT_SCOPES for mode, mutual in VALID if mode is not SslMode.DISABLE))
DISABLE_REFUSED = each("test_disable_is_refused_by_the_tls_only_database", *STRICT_SCOPES)
EGRESS_CHECKS = (TLS_SESSIONS | DISABLE_REFUSED
                 | each("test_verify_ca_with_another_ca_fails_certificate_verification", *STRICT_SCOPES)
                 | each("test_verify_full_to_a_name_not_in_the_certificate_fails", *STRICT_SCOPES)
                 | each("test_the_x509_user_without_a_client_certificate_is_denied", *STRICT_SCOPES)
                 | each("test_registry_only_blocks_the_database_until_a_service_entry_registers_it", *STRICT_SCOPES))
EGRESS_TLS = Suite(
    "egress-tls",
    EGRESS_CHECKS,
    {
        # the outbound tls_inspector waits for client bytes, the client for the server's greeting: every session dies
        "sidecar-inspects-server-first-tcp": EGRESS_CHECKS,
        # a plaintext session is let in; every TLS check still holds
        "database-does-not-require-tls": DISABLE_REFUSED,
    },
)

# --- authz (suites/test_authorization.py) ------------------------------------------------------------
AUTHZ_PRINCIPAL = "test_allow_by_principal_admits_sleep_and_forbids_other_and_anonymous_clients"
AUTHZ_NAMESPACES = "test_source_namespaces_admit_the_named_mesh_namespace_and_refuse_another"
AUTHZ_REQUIRE_MTLS = "test_deny_not_principals_requires_mtls_under_permissive"
AUTHZ_EMPTY_ALLOW = "test_allow_without_rules_denies_everything"
AUTHZ_DENY_WINS = "test_deny_beats_allow"
AUTHZ_ROOT = "test_root_namespace_policy_applies_mesh_wide"
AUTHZ_RECREATED = "test_sleep_recreated_in_the_mesh_namespace_gets_details_only_while_a_policy_allows_it"
AUTHZ_TCP = "test_a_principals_rule_on_a_tcp_port_closes_the_connection_of_a_caller_not_allowed"
AUTHZ_CHECKS = frozenset({AUTHZ_PRINCIPAL, AUTHZ_NAMESPACES, AUTHZ_REQUIRE_MTLS, AUTHZ_EMPTY_ALLOW, AUTHZ_DENY_WINS,
                          AUTHZ_ROOT, AUTHZ_RECREATED, AUTHZ_TCP})
AUTHZ = Suite(
    "authz",
    AUTHZ_CHECKS,
    {
        # every check expects some request to be refused by RBAC
        "control-plane-ignores-authorization-policies": AUTHZ_CHECKS,
        # a policy without rules names no principal: its match-never policy still holds
        "sidecar-rbac-ignores-principals": AUTHZ_CHECKS - {AUTHZ_EMPTY_ALLOW},
        "control-plane-root-authorization-local": frozenset({AUTHZ_ROOT}),
    },
)



# --- tls-posture (suites/test_tls_posture.py) ---------------------------------------------------------
WORKLOAD_IDENTITY = "test_every_workload_holds_the_spiffe_identity_of_its_service_account_from_the_mesh_root"
WORKLOAD_LIFETIME = "test_every_workload_certificate_is_short_lived_with_a_key_the_policy_allows"
ROTATION_NO_OUTAGE = "test_workload_certificate_is_renewed_before_expiry_without_a_failed_request"
NEGOTIATED = "test_sidecar_to_sidecar_mtls_negotiates_a_version_cipher_and_curve_the_policy_allows"
# suites/test_gateway_tls_posture.py (also tls-posture): the ingress gateway as a TLS scanner and a TLS 1.1 client see it
GATEWAY_SCAN = "test_gateway_accepts_only_the_tls_versions_cipher_suites_curves_and_certificate_the_policy_allows"
TLS11_REFUSED = both_clients("test_a_client_offering_only_tls_1_1_is_refused_by_the_gateway")
CIPHER_SUITES = "test_the_gateway_offers_exactly_the_cipher_suites_a_server_names"
GATEWAY_POSTURE = frozenset({GATEWAY_SCAN, CIPHER_SUITES}) | TLS11_REFUSED
SIDECAR_TLS11_REFUSED = "test_a_client_offering_only_tls_1_1_is_refused_by_the_server_sidecar"
TLS_POSTURE = Suite(
    "tls-posture",
    frozenset({WORKLOAD_IDENTITY, WORKLOAD_LIFETIME, ROTATION_NO_OUTAGE, NEGOTIATED, SIDECAR_TLS11_REFUSED})
    | GATEWAY_POSTURE,
    {
        # every server presents .../sa/default where its clients' sidecars expect its own account: in-mesh
        # requests fail too, so the rotation check never gets its first answer, and the gateway cannot reach
        # its backend (503) before any TLS question is asked
        "ca-issues-default-service-account": frozenset({WORKLOAD_IDENTITY, ROTATION_NO_OUTAGE, NEGOTIATED})
        | GATEWAY_POSTURE,
        # the CA also ignores the 30s the rotation check's pod asks for
        "ca-issues-week-long-certificates": frozenset({WORKLOAD_LIFETIME, ROTATION_NO_OUTAGE}),
        "agent-never-renews": frozenset({ROTATION_NO_OUTAGE}),
        # the backend's sidecar accepts only a CBC/SHA-1 suite the gateway, a client with Envoy's defaults, does
        # not offer: the gateway answers 503 before any TLS question is asked
        "sidecar-negotiates-legacy-tls": frozenset({NEGOTIATED}) | GATEWAY_POSTURE,
        # the scan sees TLS 1.0 / 1.1 and CBC/SHA-1 suites (also where a server names its own suites); the TLS 1.1
        # client gets its 200
        "gateway-offers-legacy-tls": GATEWAY_POSTURE,
        "gateway-ignores-cipher-suites": frozenset({CIPHER_SUITES}),
        # the TLS 1.1 client gets past the version and is rejected only for want of a client certificate
        "sidecar-accepts-legacy-tls": frozenset({SIDECAR_TLS11_REFUSED}),
    },
)



# --- mesh-audit (suites/test_mesh_audit.py), run on the reference mesh's stand-in for a user's mesh ------------
AUDIT = "test_no_port_where_policy_says_strict_takes_plaintext"
MESH_AUDIT = Suite(
    "mesh-audit",
    frozenset({AUDIT}),
    {
        "sidecar-ignores-strict": frozenset({AUDIT}),
        # the stand-in's STRICT policy comes after its pods: they keep the PERMISSIVE they started with
        "control-plane-never-pushes": frozenset({AUDIT}),
        "sidecar-captures-declared-ports-only": frozenset({AUDIT}),
        "injector-excludes-ports-namespace-wide": frozenset({AUDIT}),
    },
    diagnosed=True,
)

SUITES = {suite.marker: suite for suite in (STRICT_MTLS, GATEWAY_MTLS, EGRESS_TLS, AUTHZ, TLS_POSTURE, MESH_AUDIT)}

#: (suite, defect) for every run: each suite on the healthy mesh (None), then against each of its defects
RUNS = [(marker, None) for marker in SUITES] + [
    (marker, defect) for marker, suite in SUITES.items() for defect in sorted(suite.caught_by)]


def diagnosed_failures(reports: Path) -> dict[str, bool]:
    """Each failed Allure result (by file) -> whether the sidecars' config_dump was attached to them."""
    found = {}
    for path in (reports / "allure-results").glob("*-result.json"):
        result = json.loads(path.read_text())
        if result["status"] in ("failed", "broken"):
            names = [a["name"] for a in result.get("attachments", [])]
            found[path.name] = any("config_dump" in name for name in names)
    return found


@pytest.mark.defect_catch
@pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")
@pytest.mark.parametrize(("marker", "defect"), RUNS, ids=[f"{m}-{d or 'healthy mesh'}" for m, d in RUNS])
def test_the_suite_fails_exactly_the_checks_that_catch_the_defect(marker, defect, tmp_path):
    suite = SUITES[marker]
    expected = suite.caught_by[defect] if defect else frozenset()
    run = run_suite(marker, tmp_path, defects=(defect,) if defect else ())
    assert run.exit_code == (1 if expected else 0), run.explain(run.failed ^ expected)
    assert run.failed == expected, run.explain(run.failed ^ expected)
    assert run.passed == suite.checks - expected, run.explain(run.failed ^ expected)
    assert not run.skipped, run.output
    if defect and suite.diagnosed:
        diagnosed = diagnosed_failures(tmp_path / "reports" / "latest")
        assert len(diagnosed) == len(expected) and all(diagnosed.values()), diagnosed


def test_every_defect_of_the_registry_is_caught_by_some_check():
    caught = {defect for suite in SUITES.values() for defect, checks in suite.caught_by.items() if checks}
    assert set(DEFECTS) - caught == set()
    assert caught - set(DEFECTS) == set(), "the table names defects the registry does not have"


@pytest.mark.parametrize("name", sorted(DEFECTS))
def test_each_defect_sets_the_flags_it_declares_and_no_other(name):
    behaviour, healthy = behaviour_of([name]), MeshBehaviour()
    changed = {(component, flag) for component, flags in DEFECTS[name].effect.items() for flag in flags}
    for component in (f.name for f in dataclasses.fields(MeshBehaviour)):
        mine, theirs = vars(getattr(behaviour, component)), vars(getattr(healthy, component))
        assert {(component, f) for f in mine if mine[f] != theirs[f]} == {c for c in changed if c[0] == component}


def test_an_unknown_defect_is_refused_in_one_line():
    with pytest.raises(ConfigError, match="unknown mesh defect sidecar-ignores-everything; known: "):
        behaviour_of(["sidecar-ignores-everything"])


def test_every_check_is_caught_by_some_defect():
    checks = frozenset().union(*(suite.checks for suite in SUITES.values()))
    caught = frozenset().union(*(c for suite in SUITES.values() for c in suite.caught_by.values()))
    assert checks - caught == set()


@pytest.mark.parametrize("marker", sorted(SUITES))
def test_the_table_lists_exactly_the_checks_the_suite_collects(marker, tmp_path):
    done = run_pytest(["suites", "-m", marker, "--collect-only", "-q", f"--reports-dir={tmp_path}"], timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    collected = {line.split("::", 1)[1] for line in done.stdout.splitlines() if line.startswith("suites/")}
    assert collected == SUITES[marker].checks
