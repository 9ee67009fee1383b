"""Identity and crypto posture: the certificates every workload of the run holds, as an auditor asks for them.

Each workload's certificate is read from its proxy's own SDS state (Envoy's
``/config_dump?resource=dynamic_active_secrets``, private keys redacted by
Envoy), never from files, and compared with Istio's identity scheme and the
run's TLS policy (``--tls-policy``, ``--max-workload-cert-lifetime``).
Every check attaches, per workload, the certificate's subject, SAN, issuer,
serial and validity, with what held and what did not.
"""
from __future__ import annotations

import datetime as dt

import allure
import pytest
from cryptography import x509

from meshproof import check
from meshproof.capabilities import SHORT_LIVED_CERTIFICATES, mark
from meshproof.cluster import Pod
from meshproof.outcome import HANDSHAKE_FAILURE, OK, PROTOCOL_VERSION, RESET, TLS_REJECTED
from meshproof.peerauthn import STRICT
from meshproof.pki import CLOCK_SKEW_GRACE, spiffe_id
from meshproof.policies import peer_authentication
from meshproof.probe import TLSOptions
from meshproof.wait import polls
from meshproof.posture import (CHAIN, IDENTITY, KEY, LIFETIME, SECRETS_PATH, Finding, ProxyIdentity, describe, findings,
                               lifetime, renewal_after, short_ttl_annotation)
from meshproof.negotiated import STATS_PATH, Negotiated, handshake_counters
from meshproof.workload import Workload

pytestmark = [mark("tls-posture"), pytest.mark.requires("sidecar")]


@pytest.fixture
def workload_certificates(bookinfo, deployer, cluster, timeouts) -> list[tuple[Pod, ProxyIdentity]]:
    """Every pod with a sidecar in the run's mesh namespaces, with the identity its proxy holds now."""
    pods = [pod for namespace in sorted(deployer.injected)
            for pod in cluster.wait_ready(namespace, {}, timeout=timeouts.workload_ready) if pod.has_sidecar]
    check.fact("the run has workloads with a sidecar to examine", bool(pods), f"namespaces: {sorted(deployer.injected)}")
    return [(pod, ProxyIdentity.from_config_dump(cluster.proxy_admin(pod, SECRETS_PATH))) for pod in pods]


def judge(what: str, workload_certificates, cluster, posture, aspects: set[str]) -> None:
    """Attach each workload's certificate with every finding; fail naming the pods whose ``aspects`` do not hold."""
    trust_domain = cluster.mesh().trust_domain
    now = dt.datetime.now(dt.timezone.utc)
    allure.dynamic.parameter("TLS policy", posture.policy.name)
    failed = []
    for pod, identity in workload_certificates:
        results: list[Finding] = findings(identity, expected_spiffe=spiffe_id(trust_domain, pod.namespace, pod.service_account),
                                          policy=posture.policy, max_lifetime=posture.max_lifetime, now=now)
        verdicts = "".join(f"{'holds' if f.holds else 'FAILS'}: {f.what} ({f.seen})\n" for f in results)
        allure.attach(describe(identity) + verdicts, name=f"workload certificate {pod.namespace}/{pod.name}",
                      attachment_type=allure.attachment_type.TEXT)
        failed += [f"{pod.namespace}/{pod.name}: {f.what}, saw {f.seen}"
                   for f in results if f.aspect in aspects and not f.holds]
    check.fact(f"{what} ({len(workload_certificates)} workloads)", not failed, "\n".join(failed))


def test_every_workload_holds_the_spiffe_identity_of_its_service_account_from_the_mesh_root(
        workload_certificates, cluster, posture):
    """Istio's identity is ``spiffe://<trust domain>/ns/<namespace>/sa/<service account>`` of the pod
    (istio.io, Concepts > Security > Istio identity); the chain must verify to the mesh root (ROOTCA)."""
    judge("each workload certificate names its pod's service account and verifies to the mesh root",
          workload_certificates, cluster, posture, {IDENTITY, CHAIN})


def test_every_workload_certificate_is_short_lived_with_a_key_the_policy_allows(workload_certificates, cluster, posture):
    """Istio's workload certificates live 24 hours by default (pilot-agent ``SECRET_TTL``); the key must meet
    the run's TLS policy (RSA >= 2048 or ECDSA P-256+ for mozilla-intermediate, meshproof/tlspolicy.py)."""
    judge(f"each workload certificate lives at most {posture.max_lifetime} with a key {posture.policy.name} allows",
          workload_certificates, cluster, posture, {LIFETIME, KEY})


def strict_in_force(bookinfo, traffic, policies, timeouts) -> None:
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the STRICT policy is in force (legacy sleep is reset)",
                  traffic.curl(bookinfo.legacy_sleep, bookinfo.details.url("/details/1")), RESET, timeouts)


#: seconds a short-lived workload certificate lives: two renewals (at half of it) fit well within a run
SHORT_TTL = 30
RENEWALS = 2


def test_workload_certificate_is_renewed_before_expiry_without_a_failed_request(
        bookinfo, workloads, policies, cluster, traffic, timeouts):
    """pilot-agent renews the workload certificate once half its lifetime is left (SECRET_GRACE_PERIOD_RATIO
    0.5) and pushes it to Envoy by SDS; a pod asks for a lifetime with proxyMetadata SECRET_TTL. Under a steady
    stream of in-mesh requests (STRICT, so each needs the client's certificate) the serial must change twice,
    each time before the old certificate expired, and no request may fail."""
    if SHORT_LIVED_CERTIFICATES not in cluster.mesh().features:
        leaf = ProxyIdentity.from_config_dump(cluster.proxy_admin(traffic.pod(bookinfo.sleep), SECRETS_PATH)).leaf
        signed = leaf.not_valid_before_utc + CLOCK_SKEW_GRACE
        next_renewal = signed + renewal_after(leaf.not_valid_after_utc - signed)
        pytest.skip(f"not observable within the run: workload certificates live {lifetime(leaf)} here; "
                    f"{bookinfo.sleep}'s renews about {next_renewal:%Y-%m-%dT%H:%M:%SZ}")
    strict_in_force(bookinfo, traffic, policies, timeouts)
    workloads.deploy("posture/sleep-short-lived.yaml", bookinfo.namespace, pod_annotations=short_ttl_annotation(SHORT_TTL))
    client = Workload(bookinfo.namespace, "sleep-short-lived")
    [pod] = cluster.wait_ready(client.namespace, client.selector, timeout=timeouts.workload_ready)
    request = traffic.curl(client, bookinfo.details.url("/details/1"))
    check.becomes(f"{client} gets details over mTLS", request, OK(200), timeouts)

    def leaf_now() -> x509.Certificate:
        return ProxyIdentity.from_config_dump(cluster.proxy_admin(pod, SECRETS_PATH)).leaf

    current = leaf_now()
    check.fact(f"the mesh CA issued the {SHORT_TTL}s the agent asked for",
               lifetime(current) <= dt.timedelta(seconds=SHORT_TTL) + CLOCK_SKEW_GRACE,
               f"serial {current.serial_number:x} lives {lifetime(current)}")
    sent, failures, renewals = 0, [], []
    for _ in polls(timeouts, within=(RENEWALS + 1) * SHORT_TTL + timeouts.policy):
        if len(renewals) >= RENEWALS:
            break
        result = request()
        sent += 1
        if not OK(200).matches(result.outcome):
            failures.append(f"{dt.datetime.now(dt.timezone.utc):%H:%M:%S.%f}: {result.outcome}")
        seen, now = leaf_now(), dt.datetime.now(dt.timezone.utc)
        if seen.serial_number != current.serial_number:
            in_time = now < current.not_valid_after_utc
            with allure.step(f"serial {current.serial_number:x} -> {seen.serial_number:x} at {now:%H:%M:%S}, "
                             f"{'before' if in_time else 'AFTER'} the old one expired "
                             f"({current.not_valid_after_utc:%H:%M:%S}); requests sent {sent}, failed {len(failures)}"):
                pass
            renewals.append(in_time)
            current = seen
    with allure.step(f"{len(renewals)} serial changes; requests sent {sent}, failed {len(failures)}"):
        pass
    check.fact(f"the workload certificate was renewed {RENEWALS} times", len(renewals) >= RENEWALS,
               f"{len(renewals)} serial changes within {(RENEWALS + 1) * SHORT_TTL + timeouts.policy:g}s; "
               f"the certificate in use expires {current.not_valid_after_utc:%H:%M:%S}")
    check.fact("each renewal came before the old certificate expired", all(renewals), f"renewals in time: {renewals}")
    check.fact(f"none of {sent} requests failed while certificates rotated", not failures, "\n".join(failures))


#: in-mesh requests whose handshakes the server's counters must show
HANDSHAKES = 5


def test_sidecar_to_sidecar_mtls_negotiates_a_version_cipher_and_curve_the_policy_allows(
        bookinfo, policies, cluster, traffic, timeouts, posture):
    """Each in-mesh request (a new connection: curl in the client pod, the sidecar's pool of one request) is one
    handshake the server sidecar's listener counts under ssl.versions / ssl.ciphers / ssl.curves (Envoy's TLS
    statistics); every one must be within the run's TLS policy."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    server = traffic.pod(bookinfo.details)
    request = traffic.curl(bookinfo.sleep, bookinfo.details.url("/details/1"))
    check.becomes(f"{bookinfo.sleep} gets details over mTLS", request, OK(200), timeouts)
    before = handshake_counters(cluster.proxy_admin(server, STATS_PATH))
    for _ in range(HANDSHAKES):
        check.once(f"{bookinfo.sleep} gets details over mTLS", request(), OK(200))
    negotiated = Negotiated.between(before, handshake_counters(cluster.proxy_admin(server, STATS_PATH)))
    allure.dynamic.parameter("TLS policy", posture.policy.name)
    allure.attach(f"policy: {posture.policy.describe()}\nnegotiated by {HANDSHAKES} requests: {negotiated.describe()}\n",
                  name="negotiated TLS parameters", attachment_type=allure.attachment_type.TEXT)
    check.fact("the server sidecar counted the requests' handshakes", sum(negotiated.versions.values()) >= 1,
               negotiated.describe())
    problems = negotiated.problems(posture.policy)
    check.fact(f"in-mesh mTLS stays within {posture.policy.name}", not problems,
               "; ".join(problems) + f"\n{negotiated.describe()}")


#: curl -k as seed 004 runs it from an istio-proxy container: no client certificate, the server not verified
TLS12_NO_CLIENT_CERT = TLSOptions(insecure=True, max_version="1.2")
TLS11_ONLY = TLSOptions(insecure=True, min_version="1.1", max_version="1.1")


def test_a_client_offering_only_tls_1_1_is_refused_by_the_server_sidecar(bookinfo, policies, traffic, timeouts):
    """Istio's sidecars accept mTLS from ``meshConfig.meshMTLS.minProtocolVersion`` up, TLS 1.2 when it is not
    set, and at most TLS 1.3 (istio.io, Tasks > Security > TLS configuration > Istio workload minimum TLS
    version). As seed 004 does, curl -k from productpage's istio-proxy container (the proxy's own traffic is not
    redirected) reaches details' sidecar directly under STRICT: offering TLS 1.2 without a client certificate it
    is rejected with handshake_failure, which shows the request met the sidecar's mTLS; offering only TLS 1.1
    (at OpenSSL security level 0, so the client really offers it) it must be refused at the version, with a
    protocol_version alert, before any certificate is asked for."""
    strict_in_force(bookinfo, traffic, policies, timeouts)
    url = bookinfo.details.url("/details/1", short=True, scheme="https")
    check.becomes("TLS 1.2 without a client certificate meets the sidecar's mTLS: handshake failure",
                  traffic.curl_from_proxy(bookinfo.productpage, url, tls=TLS12_NO_CLIENT_CERT),
                  TLS_REJECTED(HANDSHAKE_FAILURE), timeouts)
    check.stays("a client offering only TLS 1.1 is refused: protocol version",
                traffic.curl_from_proxy(bookinfo.productpage, url, tls=TLS11_ONLY), TLS_REJECTED(PROTOCOL_VERSION),
                timeouts)
