"""PeerAuthentication: does the mesh really enforce mutual TLS between workloads?

Automates seeds 004 and 003: a legacy client outside the mesh reaches bookinfo
details in plaintext until the namespace goes STRICT, then it is reset; clients
inside the mesh keep working and their traffic is proven to be mTLS; and the
precedence of mesh, namespace, workload and port policies is Istio's.  From
seed 002: a pod with HTTP probes stays ready under STRICT because the injector
rewrites its probes, and is not ready when it opts out of the rewrite.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.cluster import PROXY_CONTAINER, REWRITE_PROBES
from meshproof.outcome import HANDSHAKE_FAILURE, NOT_READY, OK, READY, RESET, TLS_REJECTED, UNKNOWN_CA
from meshproof.peerauthn import DISABLE, PERMISSIVE, STRICT, UNSET
from meshproof.policies import peer_authentication
from meshproof.probe import TLSOptions
from meshproof.workload import Workload

pytestmark = [mark("strict-mtls"), pytest.mark.requires("sidecar", "peer-authentication")]

#: TLS 1.2 makes the server's rejection reason observable as a handshake alert
TLS12_NO_CLIENT_CERT = TLSOptions(insecure=True, max_version="1.2")


def test_legacy_client_is_reset_under_strict_and_served_again_when_permissive(bookinfo, traffic, policies, timeouts):
    legacy_to_details = traffic.curl(bookinfo.legacy_sleep, bookinfo.details.url("/details/1"))
    check.becomes("legacy sleep (no sidecar) gets details in plaintext before STRICT", legacy_to_details, OK(200), timeouts)

    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("legacy sleep is reset once the namespace is STRICT", legacy_to_details, RESET, timeouts)
    check.stays("legacy sleep keeps being reset under STRICT", legacy_to_details, RESET, timeouts)

    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    check.becomes("legacy sleep gets details again once the namespace is PERMISSIVE", legacy_to_details, OK(200), timeouts)


def strict_in_force(bookinfo, traffic, policies, timeouts) -> None:
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the STRICT policy is in force (legacy sleep is reset)",
                  traffic.curl(bookinfo.legacy_sleep, bookinfo.details.url("/details/1")), RESET, timeouts)


def test_in_mesh_clients_keep_working_under_strict(bookinfo, traffic, policies, timeouts):
    strict_in_force(bookinfo, traffic, policies, timeouts)
    check.stays("in-mesh sleep keeps getting details under STRICT",
                traffic.curl(bookinfo.sleep, bookinfo.details.url("/details/1")), OK(200), timeouts)
    check.stays("productpage (Python urllib, as in the seed) keeps getting details under STRICT",
                traffic.python(bookinfo.productpage, bookinfo.details.url("/details/1", short=True)), OK(200), timeouts)


def test_in_mesh_traffic_is_mutual_tls_with_the_client_identity(bookinfo, traffic, policies, timeouts, cluster):
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    waited = check.becomes("in-mesh sleep gets the echo's headers under STRICT",
                           traffic.curl(bookinfo.sleep, bookinfo.httpbin.url("/headers")), OK(200), timeouts)
    xfcc = waited.last.echoed_header("X-Forwarded-Client-Cert")
    expected = f"URI=spiffe://{cluster.mesh().trust_domain}/ns/{bookinfo.namespace}/sa/sleep"
    check.fact(f"the echo saw the client's SPIFFE identity ({expected}) in X-Forwarded-Client-Cert",
               expected in xfcc, f"X-Forwarded-Client-Cert: {xfcc or '(absent)'}")


def test_proxy_container_without_client_certificate_is_rejected(bookinfo, traffic, policies, timeouts):
    """The inbound sidecar ends a TLS 1.2 handshake without client certificate with a handshake_failure alert
    (measured on the reference mesh, raw output in tests/test_outcome.py); a dropped connection is not that."""
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("plaintext from the istio-proxy container (not redirected) is reset",
                  traffic.curl_from_proxy(bookinfo.productpage, bookinfo.details.url("/details/100", short=True)),
                  RESET, timeouts)
    check.becomes("https with -k and no client certificate is rejected at TLS",
                  traffic.curl_from_proxy(bookinfo.productpage,
                                          bookinfo.details.url("/details/100", short=True, scheme="https"),
                                          tls=TLS12_NO_CLIENT_CERT),
                  TLS_REJECTED(HANDSHAKE_FAILURE), timeouts)


CERTIFICATE_FILES = (".pem", ".crt", ".key")


def test_certificates_are_delivered_by_sds_not_on_the_proxy_containers_disk(bookinfo, traffic, cluster):
    listing = traffic.exec(bookinfo.productpage, PROXY_CONTAINER, ["sh", "-c", "ls -1 /etc/certs 2>&1; true"])
    files = [line for line in listing.stdout.splitlines() if line and "No such file" not in line]
    check.fact("no certificate or key files in /etc/certs of the istio-proxy container",
               not any(name.endswith(CERTIFICATE_FILES) for name in files),
               f"$ ls /etc/certs\n{listing.stdout}{listing.stderr}")
    dump = json.loads(cluster.proxy_admin(traffic.pod(bookinfo.productpage), "/config_dump?resource=dynamic_active_secrets"))
    names = [c.get("name") for c in dump.get("configs", [])]
    check.fact("the proxy holds its workload certificate as an SDS secret", "default" in names,
               f"SDS secrets in config_dump: {names}")
    listeners = cluster.proxy_admin(traffic.pod(bookinfo.productpage), "/config_dump?resource=dynamic_listeners")
    check.fact("no listener reads a certificate or key from a file", '"filename"' not in listeners,
               "a tls_certificate with certificate_chain/private_key filename was found in the listeners")


def test_client_certificate_from_a_foreign_ca_is_rejected(bookinfo, traffic, policies, timeouts, foreign_client_pem):
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("a client certificate not issued by the mesh CA is rejected (unknown ca)",
                  traffic.curl_with_client_pem(bookinfo.legacy_sleep,
                                               bookinfo.details.url("/details/1", scheme="https"),
                                               foreign_client_pem, tls=TLS12_NO_CLIENT_CERT),
                  TLS_REJECTED(UNKNOWN_CA), timeouts)


def test_sleep_recreated_inside_the_mesh_namespace_gets_details(bookinfo, deployer, traffic, policies, timeouts):
    """Peer authentication is not authorization: any workload with a mesh identity is let in."""
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    deployer.recreate("workloads/sleep.yaml", bookinfo.namespace)
    check.becomes("sleep recreated in the mesh namespace gets details under STRICT",
                  traffic.curl(bookinfo.sleep, bookinfo.details.url("/details/100")), OK(200), timeouts)


# ---------------------------------------------------------------- probes (seed 002)

HTTPBIN_PROBES = "workloads/httpbin-probes.yaml"
#: several periods of the manifest's 1 s probes: long enough for a failure threshold to be reached
PROBE_WINDOW = 3.0


@pytest.mark.requires("probe-rewrite")
def test_pod_with_http_probes_becomes_and_stays_ready_under_strict(bookinfo, workloads, traffic, policies, timeouts):
    """The injector rewrites HTTP probes to the sidecar agent, so the kubelet's plaintext still reaches the app."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    workloads.deploy(HTTPBIN_PROBES, bookinfo.namespace)
    readiness = traffic.readiness(Workload(bookinfo.namespace, "httpbin-probes", 8080))
    check.becomes("httpbin with HTTP readiness and liveness probes becomes ready under STRICT", readiness, READY,
                  timeouts, within=timeouts.workload_ready)
    check.stays("it stays ready: the kubelet's probes keep passing", readiness, READY, timeouts, window=PROBE_WINDOW)


@pytest.mark.requires("probe-rewrite")
def test_http_probes_fail_under_strict_until_the_injector_rewrites_them(bookinfo, workloads, traffic, policies, timeouts):
    """The seed's remark: without the rewrite the probes fail because the kubelet cannot connect to the app port."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    readiness = traffic.readiness(Workload(bookinfo.namespace, "httpbin-probes", 8080))
    workloads.deploy(HTTPBIN_PROBES, bookinfo.namespace, pod_annotations={REWRITE_PROBES: "false"})
    check.stays('with rewriteAppHTTPProbers "false" the pod stays NOT ready: STRICT resets the kubelet\'s plaintext probes',
                readiness, NOT_READY, timeouts, window=PROBE_WINDOW)
    workloads.deploy(HTTPBIN_PROBES, bookinfo.namespace, pod_annotations={REWRITE_PROBES: "true"})
    check.becomes('patched to rewriteAppHTTPProbers "true", the pod becomes ready', readiness, READY, timeouts,
                  within=timeouts.workload_ready)


# ---------------------------------------------------------------- precedence


@dataclass(frozen=True)
class Policy:
    scope: str  # "mesh", "namespace" or a workload's app label
    mode: str | None
    ports: dict = field(default_factory=dict)

    def manifest(self, bookinfo) -> dict:
        if self.scope == "mesh":
            return peer_authentication(bookinfo.root_namespace, self.mode)
        if self.scope == "namespace":
            return peer_authentication(bookinfo.namespace, self.mode)
        return peer_authentication(bookinfo.namespace, self.mode, name=f"{self.scope}-mtls",
                                   selector={"app": self.scope}, port_modes=self.ports)


@dataclass(frozen=True)
class Case:
    sentence: str
    policies: tuple[Policy, ...]
    #: what plaintext from the legacy client gets, per target app
    legacy_sees: dict
    requires: tuple[str, ...] = ()


CASES = [
    Case("mesh-wide STRICT resets plaintext in every namespace",
         (Policy("mesh", STRICT),), {"details": RESET, "httpbin": RESET}, ("mesh-wide-policy",)),
    Case("namespace PERMISSIVE overrides mesh-wide STRICT",
         (Policy("mesh", STRICT), Policy("namespace", PERMISSIVE)), {"details": OK(200), "httpbin": OK(200)},
         ("mesh-wide-policy",)),
    Case("namespace UNSET inherits mesh-wide STRICT",
         (Policy("mesh", STRICT), Policy("namespace", UNSET)), {"details": RESET}, ("mesh-wide-policy",)),
    Case("workload PERMISSIVE inside a STRICT namespace accepts plaintext for that workload only",
         (Policy("namespace", STRICT), Policy("details", PERMISSIVE)), {"details": OK(200), "httpbin": RESET}),
    Case("workload UNSET inherits the namespace's STRICT",
         (Policy("namespace", STRICT), Policy("details", UNSET)), {"details": RESET}),
    Case("workload DISABLE inside a STRICT namespace takes plaintext",
         (Policy("namespace", STRICT), Policy("details", DISABLE)), {"details": OK(200), "httpbin": RESET}),
    Case("port-level PERMISSIVE is an exception to a STRICT workload",
         (Policy("namespace", STRICT), Policy("httpbin", STRICT, {8080: PERMISSIVE})),
         {"httpbin": OK(200), "details": RESET}, ("port-level-mtls",)),
    Case("port-level STRICT locks one port of a PERMISSIVE workload",
         (Policy("namespace", PERMISSIVE), Policy("details", PERMISSIVE, {9080: STRICT})),
         {"details": RESET, "httpbin": OK(200)}, ("port-level-mtls",)),
]


#: a path each target answers with 200
PATHS = {"details": "/details/1", "httpbin": "/headers"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.sentence, marks=pytest.mark.requires(*c.requires)) for c in CASES])
def test_policy_precedence(case: Case, bookinfo, traffic, policies, timeouts):
    for policy in case.policies:
        policies.apply(policy.manifest(bookinfo))
    for app, expected in case.legacy_sees.items():
        url = getattr(bookinfo, app).url(PATHS[app])
        check.becomes(f"legacy sleep -> {app}: {expected}", traffic.curl(bookinfo.legacy_sleep, url), expected, timeouts)
        check.becomes(f"in-mesh sleep -> {app} keeps getting 200", traffic.curl(bookinfo.sleep, url), OK(200), timeouts)
