"""PeerAuthentication on TCP: mutual TLS where no header can carry the client's identity.

Every HTTP check rests on what an HTTP server sees; a database, a queue or any
opaque TCP protocol has no X-Forwarded-Client-Cert. These checks use Istio's
tcp-echo sample (a Service port named ``tcp``, so Istio proxies it as opaque
TCP: istio.io "Protocol Selection") and prove, on the TCP port itself, that
plaintext is refused under STRICT, that in-mesh TCP clients keep working
(their sidecar originates mTLS), and that the server's sidecar asks for a
client certificate on a TCP port as it does on an HTTP one.
"""
from __future__ import annotations

import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.outcome import ECHOED, HANDSHAKE_FAILURE, RESET, TLS_REJECTED
from meshproof.peerauthn import PERMISSIVE, STRICT
from meshproof.policies import peer_authentication

pytestmark = [mark("strict-mtls"), pytest.mark.requires("sidecar", "peer-authentication")]

MARKER = "meshproof-tcp-marker"


#: the echo, confirmed on every probe of a wait: the server answered the line with its prefix and the line
ECHOED_MARKER = check.expect(ECHOED).and_(f"the server answered 'hello {MARKER}'",
                                          lambda result: result.body.strip() == f"hello {MARKER}")


def test_legacy_tcp_client_is_served_before_strict_and_closed_after(bookinfo, tcp_scene, tcp, policies, timeouts):
    legacy = tcp.line(tcp_scene.legacy_client, tcp_scene.echo, marker=MARKER)
    check.becomes("legacy TCP client (no sidecar) gets the echo in plaintext before STRICT", legacy, ECHOED_MARKER,
                  timeouts)
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the legacy TCP client's connection is closed before any reply once the namespace is STRICT",
                  legacy, RESET, timeouts)
    check.stays("it keeps being closed before any reply under STRICT", legacy, RESET, timeouts)
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    check.becomes("the legacy TCP client gets the echo again once the namespace is PERMISSIVE", legacy, ECHOED, timeouts)


def tcp_strict_in_force(bookinfo, tcp_scene, tcp, policies, timeouts) -> None:
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the STRICT policy is in force on the TCP port (legacy TCP client closed before any reply)",
                  tcp.line(tcp_scene.legacy_client, tcp_scene.echo), RESET, timeouts)


def test_in_mesh_tcp_clients_keep_working_under_strict(bookinfo, tcp_scene, tcp, policies, timeouts):
    tcp_strict_in_force(bookinfo, tcp_scene, tcp, policies, timeouts)
    check.stays("in-mesh TCP client keeps getting the echo under STRICT",
                tcp.line(tcp_scene.client, tcp_scene.echo, marker=MARKER), ECHOED_MARKER, timeouts)


def test_tcp_port_rejects_tls_without_client_certificate_under_strict(bookinfo, tcp_scene, tcp, policies, timeouts):
    """STRICT means mutual TLS on every port: the sidecar's inbound TLS on a TCP port requires a client
    certificate (Istio's inbound filter chains set require_client_certificate for ISTIO_MUTUAL whatever the
    protocol). TLS 1.2 makes its handshake_failure alert readable."""
    tcp_strict_in_force(bookinfo, tcp_scene, tcp, policies, timeouts)
    check.becomes("TLS without a client certificate to the TCP port is rejected at the handshake",
                  tcp.line(tcp_scene.legacy_client, tcp_scene.echo, tls=True), TLS_REJECTED(HANDSHAKE_FAILURE),
                  timeouts)
