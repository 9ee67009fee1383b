"""Server-side evidence: the server's own sidecar says which peer it accepted, and over what.

An echoed header is the client's word, relayed by the server app; the
destination sidecar's record is the server's. These checks read it the way
Istio's telemetry reports it (``connection_security_policy`` and
``source_principal`` of the destination reporter's ``istio_tcp_connections_opened_total``
and ``istio_requests_total``: istio.io "Istio Standard Metrics"), for TCP and
HTTP, and show that a plaintext peer is recorded as such: the check tells
``mutual_tls`` from ``none``.
"""
from __future__ import annotations

import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.evidence import ACCEPTED, MUTUAL_TLS, PLAINTEXT, UNKNOWN
from meshproof.outcome import ECHOED, OK, RESET
from meshproof.peerauthn import PERMISSIVE, STRICT
from meshproof.pki import spiffe_id
from meshproof.policies import peer_authentication

pytestmark = [mark("strict-mtls"), pytest.mark.requires("sidecar", "peer-authentication")]


def _recorded(what, server_evidence, server, call, protocol, expected, timeouts):
    """One call made once it works, then what the server's sidecar recorded of it."""
    before = server_evidence.reading(server)
    check.once(f"{what}: the call", call(), ECHOED if protocol == "tcp" else OK(200))
    return check.becomes(f"{what}: the server's sidecar recorded it as {expected.reason}",
                         server_evidence.since(server, before, protocol), expected, timeouts)


def test_server_sidecar_records_in_mesh_tcp_and_http_as_mutual_tls_with_the_client_identity(
        bookinfo, tcp_scene, tcp, traffic, server_evidence, policies, timeouts, cluster):
    trust_domain = cluster.mesh().trust_domain
    policies.apply(peer_authentication(bookinfo.namespace, STRICT))
    check.becomes("the STRICT policy is in force on the TCP port (legacy TCP client closed before any reply)",
                  tcp.line(tcp_scene.legacy_client, tcp_scene.echo), RESET, timeouts)
    tcp_call = tcp.line(tcp_scene.client, tcp_scene.echo)
    check.becomes("in-mesh TCP client gets the echo under STRICT", tcp_call, ECHOED, timeouts)
    _recorded("in-mesh TCP client -> tcp-echo", server_evidence, tcp_scene.echo, tcp_call, "tcp",
              ACCEPTED(MUTUAL_TLS, spiffe_id(trust_domain, bookinfo.namespace, "tcp-client")), timeouts)
    http_call = traffic.curl(bookinfo.sleep, bookinfo.httpbin.url("/headers"))
    check.becomes("in-mesh sleep gets the echo's headers under STRICT", http_call, OK(200), timeouts)
    _recorded("in-mesh sleep -> httpbin (HTTP)", server_evidence, bookinfo.httpbin, http_call, "http",
              ACCEPTED(MUTUAL_TLS, spiffe_id(trust_domain, bookinfo.namespace, "sleep")), timeouts)


def test_server_sidecar_tells_the_legacy_clients_plaintext_from_in_mesh_mutual_tls_under_permissive(
        bookinfo, tcp_scene, tcp, server_evidence, policies, timeouts, cluster):
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    legacy_call = tcp.line(tcp_scene.legacy_client, tcp_scene.echo)
    check.becomes("legacy TCP client (no sidecar) gets the echo under PERMISSIVE", legacy_call, ECHOED, timeouts)
    _recorded("legacy TCP client -> tcp-echo", server_evidence, tcp_scene.echo, legacy_call, "tcp",
              ACCEPTED(PLAINTEXT, UNKNOWN), timeouts)
    in_mesh_call = tcp.line(tcp_scene.client, tcp_scene.echo)
    check.becomes("in-mesh TCP client gets the echo under PERMISSIVE", in_mesh_call, ECHOED, timeouts)
    _recorded("in-mesh TCP client -> tcp-echo", server_evidence, tcp_scene.echo, in_mesh_call, "tcp",
              ACCEPTED(MUTUAL_TLS, spiffe_id(cluster.mesh().trust_domain, bookinfo.namespace, "tcp-client")),
              timeouts)
