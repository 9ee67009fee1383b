"""Ingress gateway TLS posture: what the gateway's TLS servers accept, as an auditor's TLS scanner sees it.

What an auditor does by hand with sslyze or testssl.sh against one endpoint,
automated for the run's Gateway: serve seed 002's frontend host SIMPLE, then
scan it from outside (sslyze, meshproof/tlsscan.py) for every protocol
version from SSL 2.0 to TLS 1.3, the cipher suites accepted with each, the
key-exchange curves and the served certificate, and compare all of it with
the run's TLS policy (``--tls-policy``).  The scanner's own JSON is attached
as evidence.  Then the plain client's view of the same rule: a partner whose
client offers only TLS 1.1 is refused with a protocol_version alert.
"""
from __future__ import annotations

import allure
import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.outcome import OK, PROTOCOL_VERSION, TLS_REJECTED

pytestmark = [mark("tls-posture"), pytest.mark.requires("ingress-gateway", "gateway-credential-sds")]

SIMPLE = "SIMPLE"


def test_gateway_accepts_only_the_tls_versions_cipher_suites_curves_and_certificate_the_policy_allows(
        ingress, posture, timeouts):
    """A Gateway server with ``tls.minProtocolVersion`` at the policy's minimum (Istio's ServerTLSSettings) and
    Istio's default cipher suites (Envoy's server defaults: ECDHE with AES-GCM or ChaCha20-Poly1305) must accept
    no older version, no suite, and no curve outside the policy, and serve a certificate whose key and signature
    hash the policy allows (Mozilla Server Side TLS 5.7: SHA-2 signatures; meshproof/tlspolicy.py)."""
    policy = posture.policy
    minimum = f"TLSV{policy.minimum_version.replace('.', '_')}"
    ingress.serve(SIMPLE, min_version=minimum)
    check.becomes(f"the gateway serves HTTPS (tls.minProtocolVersion {minimum})",
                  ingress.probe("curl", None, max_version=None), OK(200), timeouts)
    scan = ingress.scan()
    allure.dynamic.parameter("TLS policy", policy.name)
    allure.attach(scan.evidence, name="sslyze scan (JSON)", attachment_type=allure.attachment_type.JSON)
    problems = scan.problems(policy)
    allure.attach(f"policy: {policy.describe()}\n{scan.describe()}\n"
                  + "".join(f"OUTSIDE THE POLICY: {p}\n" for p in problems),
                  name="gateway TLS scan", attachment_type=allure.attachment_type.TEXT)
    check.fact("the scan saw the gateway accept TLS", bool(scan.versions), scan.describe())
    check.fact(f"the gateway's TLS server stays within {policy.name}", not problems,
               "\n".join(problems) + f"\n{scan.describe()}")


@pytest.mark.parametrize("client", ["curl", "requests"])
def test_a_client_offering_only_tls_1_1_is_refused_by_the_gateway(ingress, client, timeouts):
    """With no ``minProtocolVersion`` on the Gateway, Envoy's floor applies: TLS 1.2 for clients and servers
    alike since Envoy 1.22 (envoy api v3 ``TlsParameters.tls_minimum_protocol_version``), which Istio leaves in
    place for gateways unless the server's tls block sets another.  BoringSSL answers a ClientHello whose every
    version is below the floor with a ``protocol_version`` alert (RFC 8446 section 4.2.1), which the client
    reports; the client is configured to really offer TLS 1.1 (OpenSSL security level 0), so the same probe
    gets through a gateway that accepts TLS 1.1."""
    ingress.serve(SIMPLE)
    check.becomes("a client offering TLS 1.2 and 1.3 gets the backend",
                  ingress.probe(client, None, max_version=None), OK(200), timeouts)
    check.stays("a client offering only TLS 1.1 is refused: protocol version",
                ingress.probe(client, None, min_version="1.1", max_version="1.1"),
                TLS_REJECTED(PROTOCOL_VERSION), timeouts)
