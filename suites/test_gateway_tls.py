"""Ingress gateway TLS: does the gateway terminate TLS and admit only the partners it trusts?

Automates seed 002's ingress sections, from outside the mesh as a partner
would call: SIMPLE TLS with the certificate of the credential Secret; MUTUAL
rejecting clients with no certificate or one from an untrusted CA and
forwarding the trusted client's subject to the backend; the trust bundle
rotated to two CAs and back without restarting the gateway; and beyond the
seed, expired certificates, subjectAltNames, a separate ``-cacert`` Secret
and a minimum TLS version.  Every check runs with curl (the seed's client) and
with ``requests`` (a partner's Python client): both must see the same outcome.

Rejection reasons are asserted under TLS 1.2, where the server's alert ends
the handshake; curl 7.88 reports an "expired" alert only as "SSL certificate
verification failed", so that reason is asserted for requests alone.
"""
from __future__ import annotations

import time

import allure
import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.outcome import (
    CERTIFICATE_EXPIRED, HANDSHAKE_FAILURE, OK, PROTOCOL_VERSION, TLS_REJECTED, UNKNOWN_CA,
)
from meshproof.pki import GatewayMaterial

pytestmark = [mark("gateway-mtls"), pytest.mark.requires("ingress-gateway", "gateway-credential-sds")]

SIMPLE, MUTUAL = "SIMPLE", "MUTUAL"
GREAT, BAD, EXPIRED, OTHER_SAN = "great-partner", "bad-partner", "expired-partner", "other-san-partner"

each_client = pytest.mark.parametrize("client", ["curl", "requests"])


@each_client
def test_simple_tls_is_verified_with_the_server_ca(ingress, client, timeouts):
    ingress.serve(SIMPLE)
    check.becomes("HTTPS verified with the example.com CA gets the backend",
                  ingress.probe(client, None, max_version=None), OK(200), timeouts)


def test_simple_tls_serves_the_certificate_of_the_credential_secret(ingress, gateway_material, timeouts):
    ingress.serve(SIMPLE)
    check.becomes("the gateway serves HTTPS", ingress.probe("curl", None), OK(200), timeouts)
    served, expected = ingress.served_certificate(), gateway_material.pki.server
    shown = f"served: subject {served.subject.rfc4514_string()}, issuer {served.issuer.rfc4514_string()}"
    check.fact(f"the served certificate's subject is the credential's ({expected.subject})",
               served.subject == expected.cert.subject, shown)
    check.fact(f"the served certificate's issuer is the credential's ({expected.issuer})",
               served.issuer == expected.cert.issuer, shown)


@each_client
def test_mutual_rejects_a_client_without_certificate(ingress, client, gateway_material, timeouts):
    """Envoy ends a TLS 1.2 handshake without client certificate with a handshake_failure alert (measured on the
    reference mesh, raw output in tests/test_outcome.py); a gateway that merely drops the connection is
    HANDSHAKE_DROPPED or RESET, not this rejection."""
    ingress.serve(MUTUAL, trust=(gateway_material.pki.acme,))
    check.becomes("MUTUAL is in force (the acme partner gets through)", ingress.probe(client, GREAT), OK(200), timeouts)
    check.stays("a client without certificate is rejected at the handshake",
                ingress.probe(client, None), TLS_REJECTED(HANDSHAKE_FAILURE), timeouts)


@each_client
def test_mutual_rejects_a_client_of_an_untrusted_ca(ingress, client, gateway_material, timeouts):
    ingress.serve(MUTUAL, trust=(gateway_material.pki.acme,))
    check.becomes("MUTUAL is in force (the acme partner gets through)", ingress.probe(client, GREAT), OK(200), timeouts)
    check.stays("the pirate partner is rejected: unknown ca",
                ingress.probe(client, BAD), TLS_REJECTED(UNKNOWN_CA), timeouts)


@each_client
def test_mutual_admits_the_trusted_partner_and_forwards_its_subject(ingress, client, gateway_material, timeouts):
    ingress.serve(MUTUAL, trust=(gateway_material.pki.acme,))
    waited = check.becomes("the acme partner gets the backend", ingress.probe(client, GREAT), OK(200), timeouts)
    xfcc = waited.last.echoed_header("X-Forwarded-Client-Cert")
    subject = gateway_material.pki.great_partner.subject
    check.fact(f'the backend sees the partner\'s subject ({subject}) in X-Forwarded-Client-Cert',
               f'Subject="{subject}"' in xfcc, f"X-Forwarded-Client-Cert: {xfcc or '(absent)'}")


@each_client
def test_trust_bundle_rotation_takes_effect_without_restart(ingress, client, gateway_material, timeouts, capsys):
    pki = gateway_material.pki
    ingress.serve(MUTUAL, trust=(pki.acme,))
    acme, pirate = ingress.probe(client, GREAT), ingress.probe(client, BAD)
    check.becomes("the acme partner gets through", acme, OK(200), timeouts)
    check.stays("the pirate partner is rejected before the rotation", pirate, TLS_REJECTED(UNKNOWN_CA), timeouts)
    before = ingress.proxy_state()

    applied = time.monotonic()
    ingress.trust(pki.acme, pki.pirate)
    polling = time.monotonic()
    waited = check.becomes("the pirate partner is accepted once ca.crt holds both CAs", pirate, OK(200), timeouts)
    enforced = polling - applied + _first_match(waited)
    check.stays("the acme partner is still accepted with both CAs", acme, OK(200), timeouts)
    after = ingress.proxy_state()
    check.fact("the gateway applied the new bundle without restarting", not after.restarted_since(before),
               f"before {before}\nafter {after}")

    ingress.trust(pki.acme)
    check.becomes("the pirate partner is rejected again once the bundle is set back",
                  pirate, TLS_REJECTED(UNKNOWN_CA), timeouts)
    check.stays("the acme partner is still accepted after the bundle is set back", acme, OK(200), timeouts)

    figure = f"new trust bundle enforced {enforced * 1000:.1f} ms after the Secret was applied ({client})"
    allure.attach(figure, name="trust bundle rotation", attachment_type=allure.attachment_type.TEXT)
    with capsys.disabled():
        print(f"\nmeshproof: {figure}")


def _first_match(waited) -> float:
    """Seconds into a wait when a probe first saw the expected outcome (the probe's own time included)."""
    return next(a.elapsed for a in waited.attempts if waited.expected.matches(a.outcome))


EXPIRED_REASON = {"curl": None, "requests": CERTIFICATE_EXPIRED}


@each_client
def test_expired_client_certificate_is_rejected(ingress, client, gateway_material, timeouts):
    ingress.serve(MUTUAL, trust=(gateway_material.pki.acme,))
    check.becomes("MUTUAL is in force (the acme partner gets through)", ingress.probe(client, GREAT), OK(200), timeouts)
    check.stays("an expired certificate from the trusted CA is rejected",
                ingress.probe(client, EXPIRED), TLS_REJECTED(EXPIRED_REASON[client]), timeouts)


@each_client
def test_subject_alt_names_admit_only_the_named_partner(ingress, client, gateway_material, timeouts):
    ingress.serve(MUTUAL, trust=(gateway_material.pki.acme,), subject_alt_names=(GatewayMaterial.GREAT_PARTNER,))
    check.becomes("the partner named in subjectAltNames gets through", ingress.probe(client, GREAT), OK(200), timeouts)
    check.stays("a certificate of the trusted CA with another SAN is rejected",
                ingress.probe(client, OTHER_SAN), TLS_REJECTED(), timeouts)


@each_client
def test_trusted_cas_from_a_separate_cacert_secret(ingress, client, gateway_material, timeouts):
    ingress.serve(MUTUAL, trust=(gateway_material.pki.acme,), separate_cacert=True)
    check.becomes("the acme partner gets through (CA from <credential>-cacert)", ingress.probe(client, GREAT), OK(200), timeouts)
    check.stays("the pirate partner is rejected", ingress.probe(client, BAD), TLS_REJECTED(UNKNOWN_CA), timeouts)


@each_client
def test_min_protocol_version_rejects_older_clients(ingress, client, timeouts):
    ingress.serve(SIMPLE, min_version="TLSV1_3")
    check.becomes("a TLS 1.3 client gets through", ingress.probe(client, None, max_version=None), OK(200), timeouts)
    check.stays("a client limited to TLS 1.2 is rejected: protocol version",
                ingress.probe(client, None, max_version="1.2"), TLS_REJECTED(PROTOCOL_VERSION), timeouts)
