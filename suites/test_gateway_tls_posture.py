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
    """A Gateway server with ``tls.minProtocolVersion`` at the policy's minimum (Istio's ServerTLSSettings) and no
    ``cipherSuites`` (the proxy's default server suites; Envoy 1.40's are ECDHE with AES-GCM or ChaCha20-Poly1305)
    must accept no older version, no suite and no curve outside the policy, and serve a certificate whose key and
    signature hash the policy allows (Mozilla Server Side TLS 5.7: SHA-2 signatures; meshproof/tlspolicy.py)."""
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


#: one TLS 1.2 suite the gateway's ECDSA certificate can serve, out of Envoy's default three
ONLY_SUITE, ONLY_SUITE_IANA = "ECDHE-ECDSA-AES256-GCM-SHA384", "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"


def test_the_gateway_offers_exactly_the_cipher_suites_a_server_names(ingress, timeouts):
    """Gateway ``tls.cipherSuites``: if specified, the server supports only that list (Istio's ServerTLSSettings),
    which Istio passes on to Envoy's ``cipher_suites`` after dropping unknown names and repeats (istio
    pkg/config/security FilterCipherSuites); it governs TLS 1.0 to 1.2, TLS 1.3's suites are not configurable
    (envoy api v3 TlsParameters). A server naming one suite must accept that one alone with TLS 1.2."""
    ingress.serve(SIMPLE, min_version="TLSV1_2", cipher_suites=(ONLY_SUITE,))
    check.becomes(f"the gateway serves HTTPS (tls.cipherSuites [{ONLY_SUITE}])",
                  ingress.probe("curl", None, max_version=None), OK(200), timeouts)
    scan = ingress.scan()
    allure.attach(scan.evidence, name="sslyze scan (JSON)", attachment_type=allure.attachment_type.JSON)
    allure.attach(scan.describe(), name="gateway TLS scan", attachment_type=allure.attachment_type.TEXT)
    check.fact(f"with TLS 1.2 the gateway accepts {ONLY_SUITE_IANA} and nothing else",
               scan.ciphers.get("1.2") == (ONLY_SUITE_IANA,), scan.describe())


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
