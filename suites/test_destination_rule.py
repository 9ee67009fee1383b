"""DestinationRule: the client side of mutual TLS, proven with traffic.

Seed 002 sets client-side TLS with a DestinationRule (``tls.mode:
ISTIO_MUTUAL``); users' most common in-mesh mTLS breakages come from rules
that override auto mTLS. A DestinationRule's ``trafficPolicy.tls`` decides
what the *client's* sidecar sends: ``ISTIO_MUTUAL`` originates mTLS with the
workload certificate and checks the server's identity, ``DISABLE`` sends
plaintext, and with no ``tls`` auto mTLS picks mTLS toward sidecars and
plaintext toward the rest (istio/istio pilot/pkg/networking/core/cluster_tls.go,
``buildUpstreamTLSSettings``). When the client's sidecar cannot get an answer
it replies 503 itself: Envoy's ``upstream connect error or disconnect/reset
before headers`` (UPSTREAM_FAILED). Which rule applies to a client is
Istio's lookup: the client namespace's rule, else the server namespace's
exported one, else the root namespace's (pilot/pkg/model/push_context.go,
``destinationRule``).
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.evidence import ACCEPTED, MUTUAL_TLS, NOTHING_RECORDED, PLAINTEXT, UNKNOWN
from meshproof.outcome import OK, RESET, UPSTREAM_FAILED
from meshproof.peerauthn import PERMISSIVE, STRICT
from meshproof.pki import spiffe_id
from meshproof.policies import destination_rule, peer_authentication
from meshproof.workload import Workload

pytestmark = [mark("strict-mtls"), pytest.mark.requires("sidecar", "peer-authentication", "destination-rule")]

ISTIO_MUTUAL, DISABLE = "ISTIO_MUTUAL", "DISABLE"
XFCC = "X-Forwarded-Client-Cert"


def fqdn(workload: Workload) -> str:
    return f"{workload.app}.{workload.namespace}.svc.cluster.local"


def identity(cluster, namespace: str, service_account: str) -> str:
    return spiffe_id(cluster.mesh().trust_domain, namespace, service_account)


def headers(bookinfo, traffic, client=None):
    """The client (in-mesh sleep unless named) asks the echo for the request headers it received."""
    return traffic.curl(client or bookinfo.sleep, bookinfo.httpbin.url("/headers"))


def strict_in_force(bookinfo, traffic, policies, timeouts) -> None:
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the STRICT policy is in force (legacy sleep is reset by the echo's sidecar)",
                  headers(bookinfo, traffic, bookinfo.legacy_sleep), RESET, timeouts)


def test_explicit_istio_mutual_keeps_in_mesh_calls_working_under_strict_with_the_client_identity(
        bookinfo, traffic, policies, server_evidence, timeouts, cluster):
    """Seed 002's ``tls.mode: ISTIO_MUTUAL``: the client sidecar presents its SPIFFE certificate, so the
    STRICT server lets it in and its sidecar records (and forwards in XFCC) the client's identity."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    policies.apply(destination_rule(bookinfo.namespace, "httpbin-istio-mutual", "httpbin", ISTIO_MUTUAL))
    sleep = identity(cluster, bookinfo.namespace, "sleep")
    call = headers(bookinfo, traffic)
    check.becomes("in-mesh sleep gets the echo's headers with the rule in force", call,
                  check.expect(OK(200)).and_(f"the echo saw the client's identity ({sleep}) in {XFCC}",
                                             lambda seen: f"URI={sleep}" in seen.echoed_header(XFCC)),
                  timeouts)
    before = server_evidence.reading(bookinfo.httpbin)
    check.once("one more call from in-mesh sleep", call(), OK(200))
    check.becomes("the echo's sidecar recorded the call as mutual TLS from sleep's identity",
                  server_evidence.since(bookinfo.httpbin, before, "http"), ACCEPTED(MUTUAL_TLS, sleep), timeouts)


def test_disable_toward_a_strict_server_gets_the_client_sidecars_503_and_the_server_never_accepts_plaintext(
        bookinfo, traffic, policies, server_evidence, timeouts, cluster):
    """``DISABLE`` makes the client sidecar send plaintext; the STRICT server's sidecar has no filter chain
    for it and closes the connection, so the client's own sidecar answers 503 (the classic in-mesh 503)."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    call = headers(bookinfo, traffic)
    check.becomes("in-mesh sleep gets the echo's headers under STRICT before the rule", call, OK(200), timeouts)
    policies.apply(destination_rule(bookinfo.namespace, "httpbin-disable", "httpbin", DISABLE))
    check.becomes("in-mesh sleep gets its own sidecar's 503 (upstream connect error) once DISABLE is in force",
                  call, UPSTREAM_FAILED, timeouts)
    before = server_evidence.reading(bookinfo.httpbin)
    check.stays("in-mesh sleep keeps getting its sidecar's 503", call, UPSTREAM_FAILED, timeouts)
    check.stays("the echo's sidecar accepted nothing of those calls (no plaintext got in)",
                server_evidence.since(bookinfo.httpbin, before, "http"), NOTHING_RECORDED, timeouts)


def test_disable_toward_a_permissive_server_works_and_is_plaintext(bookinfo, traffic, policies, server_evidence,
                                                                   timeouts, cluster):
    """Under PERMISSIVE the server's sidecar takes the plaintext ``DISABLE`` sends: the call works, and the
    server sees no client identity (no XFCC, recorded as ``none`` from ``unknown``)."""
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    policies.apply(destination_rule(bookinfo.namespace, "httpbin-disable", "httpbin", DISABLE))
    call = headers(bookinfo, traffic)
    check.becomes("in-mesh sleep gets the echo's headers, without any client identity in them", call,
                  check.expect(OK(200)).and_(f"the echo saw no {XFCC} (the call was plaintext)",
                                             lambda seen: seen.echoed_header(XFCC) == ""),
                  timeouts)
    before = server_evidence.reading(bookinfo.httpbin)
    check.once("one more call from in-mesh sleep", call(), OK(200))
    check.becomes("the echo's sidecar recorded the call as plaintext from no identity",
                  server_evidence.since(bookinfo.httpbin, before, "http"), ACCEPTED(PLAINTEXT, UNKNOWN), timeouts)


HTTPBIN = "workloads/httpbin.yaml"


def test_istio_mutual_toward_a_workload_without_sidecar_fails_where_auto_mtls_falls_back_to_plaintext(
        bookinfo, workloads, traffic, policies, timeouts, cluster):
    """Auto mTLS originates mTLS only toward endpoints with a sidecar, so a server outside the mesh gets
    plaintext and answers; an explicit ``ISTIO_MUTUAL`` sends it a TLS handshake it cannot take."""
    workloads.deploy(HTTPBIN, bookinfo.legacy_namespace)
    outside = Workload(bookinfo.legacy_namespace, "httpbin", 8080)
    call = traffic.curl(bookinfo.sleep, outside.url("/headers"))
    check.becomes("in-mesh sleep gets the echo outside the mesh with auto mTLS (no rule): plaintext",
                  call, OK(200), timeouts, within=timeouts.workload_ready)
    policies.apply(destination_rule(bookinfo.namespace, "outside-istio-mutual", fqdn(outside), ISTIO_MUTUAL))
    check.becomes("with ISTIO_MUTUAL toward it, in-mesh sleep gets its sidecar's 503", call, UPSTREAM_FAILED,
                  timeouts)
    check.stays("in-mesh sleep keeps getting its sidecar's 503", call, UPSTREAM_FAILED, timeouts)


TWO_PORTS = "workloads/httpbin-two-ports.yaml"


def test_port_level_settings_override_the_host_wide_tls_mode_for_that_port_only(
        bookinfo, workloads, traffic, policies, timeouts, cluster):
    """``trafficPolicy.portLevelSettings`` for a Service port replaces the host-wide settings for that port
    (istio.io DestinationRule reference, TrafficPolicy.portLevelSettings); every other port keeps them."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    workloads.deploy(TWO_PORTS, bookinfo.namespace)
    service = Workload(bookinfo.namespace, "httpbin-ports", 8080)
    on_8080 = traffic.curl(bookinfo.sleep, service.url("/headers", port=8080))
    on_8000 = traffic.curl(bookinfo.sleep, service.url("/headers", port=8000))
    check.becomes("in-mesh sleep reaches the echo on port 8000 before any rule", on_8000, OK(200), timeouts,
                  within=timeouts.workload_ready)
    policies.apply(destination_rule(bookinfo.namespace, "httpbin-ports", "httpbin-ports", DISABLE,
                                    port_modes={8080: ISTIO_MUTUAL}))
    check.becomes("port 8000 follows the host-wide DISABLE: in-mesh sleep gets its sidecar's 503", on_8000,
                  UPSTREAM_FAILED, timeouts)
    check.stays("port 8080, set to ISTIO_MUTUAL at port level, keeps answering in-mesh sleep", on_8080, OK(200),
                timeouts)


def test_subject_alt_names_naming_another_identity_fail_and_naming_the_servers_identity_pass(
        bookinfo, traffic, policies, timeouts, cluster):
    """Secure naming: with ``subjectAltNames`` the client sidecar accepts only a server certificate naming
    one of them, in place of the service's accounts (cluster_tls.go: the rule's names, else the service
    accounts); a server presenting another mesh identity is refused at the TLS handshake."""
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    call = headers(bookinfo, traffic)
    wrong = identity(cluster, bookinfo.namespace, "sleep")
    policies.apply(destination_rule(bookinfo.namespace, "httpbin-names", "httpbin", ISTIO_MUTUAL,
                                    subject_alt_names=[wrong]))
    check.becomes(f"naming {wrong}, not the echo's identity, in-mesh sleep gets its sidecar's 503", call,
                  UPSTREAM_FAILED, timeouts)
    check.stays("in-mesh sleep keeps getting its sidecar's 503", call, UPSTREAM_FAILED, timeouts)
    right = identity(cluster, bookinfo.namespace, "httpbin")
    policies.apply(destination_rule(bookinfo.namespace, "httpbin-names", "httpbin", ISTIO_MUTUAL,
                                    subject_alt_names=[right]))
    check.becomes(f"naming the echo's identity ({right}), in-mesh sleep gets the echo", call, OK(200), timeouts)


@pytest.mark.requires("ingress-gateway", "gateway-credential-sds")
def test_the_ingress_gateway_follows_the_destination_rule_of_its_backend(ingress, bookinfo, traffic, policies,
                                                                          timeouts, cluster):
    """The ingress gateway is a client proxy too: istiod builds its clusters with the same DestinationRule
    lookup (a gateway of the root namespace gets the backend namespace's exported rule), so ``DISABLE``
    toward a STRICT backend makes the gateway answer the partner with its own 503."""
    backend = ingress.backend
    policies.apply(peer_authentication(backend.namespace, STRICT))
    check.becomes("the STRICT policy is in force on the gateway's backend (legacy sleep is reset)",
                  traffic.curl(bookinfo.legacy_sleep, backend.url("/headers")), RESET, timeouts)
    ingress.serve("SIMPLE")
    partner = ingress.probe("curl", None)
    check.becomes("a partner gets the backend through the gateway (mTLS from the gateway to the backend)",
                  partner, OK(200), timeouts)
    policies.apply(destination_rule(backend.namespace, "backend-disable", "httpbin", DISABLE))
    check.becomes("with DISABLE toward the STRICT backend, the partner gets the gateway's own 503", partner,
                  UPSTREAM_FAILED, timeouts)


# ---------------------------------------------------------------- precedence


@dataclass(frozen=True)
class Rule:
    """A DestinationRule of the table: where it lives, which host it names, and its tls mode."""

    scope: str  # "client" (the peer sleep's namespace), "server" (bookinfo's) or "root"
    host: str  # a Service of bookinfo ("details", "httpbin") or a wildcard, resolved as FQDN below
    mode: str
    export_to: tuple[str, ...] | None = None  # "client" stands for the peer sleep's namespace

    def manifest(self, bookinfo, peer_sleep, index: int) -> dict:
        namespace = {"client": peer_sleep.namespace, "server": bookinfo.namespace,
                     "root": bookinfo.root_namespace}[self.scope]
        host = self.host if self.host.startswith("*") else f"{self.host}.{bookinfo.namespace}.svc.cluster.local"
        export = None if self.export_to is None else [peer_sleep.namespace if e == "client" else e
                                                       for e in self.export_to]
        return destination_rule(namespace, f"precedence-{index}", host, self.mode, export_to=export)


@dataclass(frozen=True)
class Case:
    sentence: str
    rules: tuple[Rule, ...]
    #: (client, server app) -> what the client gets; "peer" is sleep of another mesh namespace, "sleep" bookinfo's
    sees: dict


FAILS, WORKS = UPSTREAM_FAILED, OK(200)

CASES = [
    Case("the server namespace's rule applies to clients of every namespace",
         (Rule("server", "details", DISABLE),), {("peer", "details"): FAILS, ("sleep", "details"): FAILS}),
    Case("the client namespace's rule wins over the server namespace's",
         (Rule("server", "details", DISABLE), Rule("client", "details", ISTIO_MUTUAL)),
         {("sleep", "details"): FAILS, ("peer", "details"): WORKS}),
    Case("a client namespace's wildcard rule still wins over the server namespace's exact one",
         (Rule("server", "details", ISTIO_MUTUAL), Rule("client", "*.svc.cluster.local", DISABLE)),
         {("peer", "details"): FAILS, ("sleep", "details"): WORKS}),
    Case("the root namespace's rule applies mesh-wide",
         (Rule("root", "details", DISABLE),), {("peer", "details"): FAILS, ("sleep", "details"): FAILS}),
    Case("the server namespace's rule wins over the root namespace's",
         (Rule("root", "details", ISTIO_MUTUAL), Rule("server", "details", DISABLE)),
         {("peer", "details"): FAILS, ("sleep", "details"): FAILS, ("peer", "httpbin"): WORKS}),
    Case("within a namespace the exact host wins over a wildcard",
         (Rule("server", "*.svc.cluster.local", DISABLE), Rule("server", "details", ISTIO_MUTUAL)),
         {("sleep", "httpbin"): FAILS, ("sleep", "details"): WORKS}),
    Case('exportTo "." keeps the rule to its own namespace',
         (Rule("server", "details", DISABLE, (".",)),), {("sleep", "details"): FAILS, ("peer", "details"): WORKS}),
    Case("exportTo naming only the client namespace hides the rule from its own namespace",
         (Rule("server", "details", DISABLE, ("client",)),),
         {("peer", "details"): FAILS, ("sleep", "details"): WORKS}),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.sentence) for c in CASES])
def test_destination_rule_precedence(case: Case, bookinfo, peer_sleep, traffic, policies, timeouts, cluster):
    """Istio's lookup (push_context.go ``destinationRule``): the rules of the client's namespace visible to it,
    any host match (a wildcard too); else the server namespace's rules exported to the client; else the root
    namespace's. Within one namespace the exact host wins over a wildcard (``MostSpecificHostMatch``); a rule
    exported only to ``.`` stays in its namespace (``setDestinationRules``). The servers are STRICT before any
    rule applies, so a winning DISABLE shows as the client sidecar's 503 and a winning ISTIO_MUTUAL as 200.
    """
    paths = {"details": "/details/1", "httpbin": "/headers"}
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    # STRICT first, on every server of the case: a plaintext connection a server took while still PERMISSIVE
    # would stay open in the client sidecar's pool and answer 200 after STRICT
    for app in sorted({app for _, app in case.sees}):
        check.becomes(f"the STRICT policy is in force on {app} (legacy sleep is reset)",
                      traffic.curl(bookinfo.legacy_sleep, getattr(bookinfo, app).url(paths[app])), RESET, timeouts)
    for index, rule in enumerate(case.rules):
        policies.apply(rule.manifest(bookinfo, peer_sleep, index))
    clients = {"peer": peer_sleep, "sleep": bookinfo.sleep}
    # what the rules change first, waited for; what they leave working, then held for a window
    for (client, app), expected in sorted(case.sees.items(), key=lambda item: item[1] == WORKS):
        probe = traffic.curl(clients[client], getattr(bookinfo, app).url(paths[app]))
        wait = check.stays if expected == WORKS else check.becomes
        wait(f"{client} sleep -> {app}: {expected}", probe, expected, timeouts)
