"""AuthorizationPolicy needs and uses the mTLS identity: seed 004's "security in depth", finished.

Peer authentication lets in any workload with a mesh identity; an
AuthorizationPolicy decides which identities get in.  Its ``principals`` and
``namespaces`` are matched against the SPIFFE identity of the peer's
certificate (istio/istio pilot/pkg/security/authz/model/generator.go), so a
plaintext client has no identity to be allowed: it gets the sidecar's 403
``RBAC: access denied`` (FORBIDDEN) where plaintext is accepted, and is reset
under STRICT before authorization is reached.
"""
from __future__ import annotations

import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.outcome import FORBIDDEN, OK, RESET
from meshproof.peerauthn import PERMISSIVE, STRICT
from meshproof.policies import authorization_policy, from_sources, peer_authentication
from meshproof.workload import Workload

pytestmark = [mark("authz"), pytest.mark.requires("sidecar", "peer-authentication", "authorization-policy")]

DETAILS = {"app": "details"}


def principal(cluster, namespace: str, service_account: str) -> str:
    """An AuthorizationPolicy principal: the SPIFFE identity without ``spiffe://``, as Istio's docs write it."""
    return f"{cluster.mesh().trust_domain}/ns/{namespace}/sa/{service_account}"


def sleep_principal(bookinfo, cluster) -> str:
    return principal(cluster, bookinfo.namespace, "sleep")


def details_url(bookinfo, *, short: bool = False) -> str:
    return bookinfo.details.url("/details/1", short=short)


def test_allow_by_principal_admits_sleep_and_forbids_other_and_anonymous_clients(bookinfo, traffic, policies,
                                                                                  timeouts, cluster):
    """An ALLOW policy with ``principals`` admits that identity only; a plaintext client has none.

    Istio documents that a request matching no ALLOW policy is denied when any ALLOW
    policy selects the workload (istio.io, "Authorization Policy" reference); the
    principal is matched against the peer certificate's URI SAN.
    """
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    policies.apply(authorization_policy(bookinfo.namespace, "details-allow-sleep", selector=DETAILS,
                                        rules=[from_sources(principals=[sleep_principal(bookinfo, cluster)])]))
    check.becomes("productpage (another mesh identity) gets RBAC's 403 from details",
                  traffic.python(bookinfo.productpage, details_url(bookinfo, short=True)), FORBIDDEN, timeouts)
    check.becomes("legacy sleep (plaintext, no identity) gets RBAC's 403 under PERMISSIVE",
                  traffic.curl(bookinfo.legacy_sleep, details_url(bookinfo)), FORBIDDEN, timeouts)
    sleep_to_details = traffic.curl(bookinfo.sleep, details_url(bookinfo))
    check.stays("in-mesh sleep, the allowed principal, keeps getting details", sleep_to_details, OK(200), timeouts)

    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("under STRICT the legacy client is reset before authorization",
                  traffic.curl(bookinfo.legacy_sleep, details_url(bookinfo)), RESET, timeouts)
    check.stays("in-mesh sleep keeps getting details under STRICT", sleep_to_details, OK(200), timeouts)


def test_source_namespaces_admit_the_named_mesh_namespace_and_refuse_another(bookinfo, peer_sleep, traffic,
                                                                              policies, timeouts):
    """``source.namespaces`` becomes the principal regex ``.*/ns/<ns>/.*`` (istiod's srcNamespaceGenerator),
    so it needs an identity too: plaintext from any namespace is refused."""
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    peer_to_details = traffic.curl(peer_sleep, details_url(bookinfo))
    check.becomes("sleep of another mesh namespace gets details before any policy", peer_to_details, OK(200),
                  timeouts)
    policies.apply(authorization_policy(bookinfo.namespace, "details-allow-namespace", selector=DETAILS,
                                        rules=[from_sources(namespaces=[bookinfo.namespace])]))
    check.becomes("sleep of another mesh namespace (mTLS, not the named namespace) gets RBAC's 403",
                  peer_to_details, FORBIDDEN, timeouts)
    check.becomes("legacy sleep (no identity) gets RBAC's 403",
                  traffic.curl(bookinfo.legacy_sleep, details_url(bookinfo)), FORBIDDEN, timeouts)
    check.stays("in-mesh sleep of the named namespace keeps getting details",
                traffic.curl(bookinfo.sleep, details_url(bookinfo)), OK(200), timeouts)


def test_deny_not_principals_requires_mtls_under_permissive(bookinfo, traffic, policies, timeouts):
    """Istio's documented pattern: DENY with ``notPrincipals: ["*"]`` refuses any request without a mTLS
    identity; ``*`` is the matcher ``.+`` (istiod's StringMatcherWithPrefix), which plaintext never has."""
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    policies.apply(authorization_policy(bookinfo.namespace, "require-mtls", action="DENY",
                                        rules=[from_sources(notPrincipals=["*"])]))
    check.becomes("plaintext from legacy sleep gets RBAC's 403 under PERMISSIVE",
                  traffic.curl(bookinfo.legacy_sleep, details_url(bookinfo)), FORBIDDEN, timeouts)
    check.stays("in-mesh sleep (mTLS) keeps getting details",
                traffic.curl(bookinfo.sleep, details_url(bookinfo)), OK(200), timeouts)
    check.stays("productpage (mTLS) keeps getting details",
                traffic.python(bookinfo.productpage, details_url(bookinfo, short=True)), OK(200), timeouts)


def test_allow_without_rules_denies_everything(bookinfo, traffic, policies, timeouts):
    """istiod turns an ALLOW policy without rules into an RBAC policy that never matches
    (pilot/pkg/security/authz/builder/builder.go, rbacPolicyMatchNever): nothing is allowed."""
    policies.apply(authorization_policy(bookinfo.namespace, "details-allow-nothing", selector=DETAILS))
    check.becomes("in-mesh sleep gets RBAC's 403 from details",
                  traffic.curl(bookinfo.sleep, details_url(bookinfo)), FORBIDDEN, timeouts)
    check.stays("httpbin, not selected, keeps answering in-mesh sleep",
                traffic.curl(bookinfo.sleep, bookinfo.httpbin.url("/headers")), OK(200), timeouts)


def test_deny_beats_allow(bookinfo, traffic, policies, timeouts, cluster):
    """istiod builds the DENY filter before the ALLOW filter (builder.go): a request both allow and deny
    is denied, whatever the ALLOW policy says."""
    policies.apply(authorization_policy(bookinfo.namespace, "details-allow-all", selector=DETAILS, rules=[{}]))
    policies.apply(authorization_policy(bookinfo.namespace, "details-deny-sleep", selector=DETAILS, action="DENY",
                                        rules=[from_sources(principals=[sleep_principal(bookinfo, cluster)])]))
    check.becomes("in-mesh sleep, allowed by one policy and denied by another, gets RBAC's 403",
                  traffic.curl(bookinfo.sleep, details_url(bookinfo)), FORBIDDEN, timeouts)
    check.stays("productpage, only allowed, keeps getting details",
                traffic.python(bookinfo.productpage, details_url(bookinfo, short=True)), OK(200), timeouts)


def test_root_namespace_policy_applies_mesh_wide(bookinfo, traffic, policies, timeouts, cluster):
    """A policy in the root namespace applies to the workloads it selects in every namespace
    (pilot/pkg/model/authorization.go looks policies up in the root and the workload's namespace)."""
    policies.apply(authorization_policy(bookinfo.root_namespace, "mesh-deny-sleep-to-details", selector=DETAILS,
                                        action="DENY",
                                        rules=[from_sources(principals=[sleep_principal(bookinfo, cluster)])]))
    check.becomes("in-mesh sleep gets RBAC's 403 from details in its own namespace",
                  traffic.curl(bookinfo.sleep, details_url(bookinfo)), FORBIDDEN, timeouts)
    check.stays("productpage, another identity, keeps getting details",
                traffic.python(bookinfo.productpage, details_url(bookinfo, short=True)), OK(200), timeouts)
    check.stays("httpbin, not selected, keeps answering in-mesh sleep",
                traffic.curl(bookinfo.sleep, bookinfo.httpbin.url("/headers")), OK(200), timeouts)


def test_sleep_recreated_in_the_mesh_namespace_gets_details_only_while_a_policy_allows_it(
        bookinfo, deployer, traffic, policies, timeouts, cluster):
    """Seed 004 ends with sleep moved into the mesh namespace and let in by STRICT alone; authorization
    is the depth it asks for: only the identities a policy allows get in."""
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    productpage = principal(cluster, bookinfo.namespace, "bookinfo-productpage")
    policies.apply(authorization_policy(bookinfo.namespace, "details-allow", selector=DETAILS,
                                        rules=[from_sources(principals=[productpage])]))
    deployer.recreate("workloads/sleep.yaml", bookinfo.namespace)
    sleep_to_details = traffic.curl(bookinfo.sleep, details_url(bookinfo))
    check.becomes("sleep recreated in the mesh namespace gets RBAC's 403 while only productpage is allowed",
                  sleep_to_details, FORBIDDEN, timeouts)
    check.stays("productpage keeps getting details",
                traffic.python(bookinfo.productpage, details_url(bookinfo, short=True)), OK(200), timeouts)

    policies.apply(authorization_policy(bookinfo.namespace, "details-allow", selector=DETAILS,
                                        rules=[from_sources(principals=[productpage,
                                                                        sleep_principal(bookinfo, cluster)])]))
    check.becomes("once the policy allows sleep's identity, sleep gets details", sleep_to_details, OK(200), timeouts)


TCP_SERVER = "workloads/tcp-server.yaml"


def test_a_principals_rule_on_a_tcp_port_closes_the_connection_of_a_caller_not_allowed(
        bookinfo, peer_sleep, workloads, traffic, policies, timeouts, cluster):
    """On a TCP port istiod builds Envoy's network RBAC filter from the same principals
    (builder.go BuildTCP): a caller not allowed has its connection closed, there is no HTTP status."""
    workloads.deploy(TCP_SERVER, bookinfo.namespace)
    tcp_server = Workload(bookinfo.namespace, "tcp-server", 9000)
    sleep_to_tcp = traffic.curl(bookinfo.sleep, tcp_server.url("/"))
    check.becomes("in-mesh sleep reaches the TCP server before any policy", sleep_to_tcp, OK(200), timeouts,
                  within=timeouts.workload_ready)
    policies.apply(authorization_policy(bookinfo.namespace, "tcp-allow-sleep", selector={"app": "tcp-server"},
                                        rules=[from_sources(principals=[sleep_principal(bookinfo, cluster)])]))
    check.becomes("the connection of sleep from another mesh namespace (another identity) is closed by RBAC",
                  traffic.curl(peer_sleep, tcp_server.url("/")), RESET, timeouts)
    check.stays("in-mesh sleep, the allowed principal, keeps reaching the TCP server", sleep_to_tcp, OK(200), timeouts)
