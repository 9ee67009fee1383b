"""The wire itself: every byte between two sidecars is TLS, and the capture can see a plaintext marker.

A header or a sidecar's record is still the mesh's word; the capture is the
network's. Taken in the server pod's network namespace (on its interface, not
its loopback, where the server sidecar hands the app cleartext) while a known
marker crosses from client to server, it must show TLS records only on the
path between the sidecars, and, as the negative control in the same check,
the marker in cleartext on a path the mesh leaves plaintext: a client without
a sidecar under PERMISSIVE. Without the control a capture that saw nothing
would prove nothing.
"""
from __future__ import annotations

import secrets

import pytest

from meshproof import check
from meshproof.capabilities import mark
from meshproof.outcome import ECHOED
from meshproof.peerauthn import PERMISSIVE
from meshproof.policies import peer_authentication

pytestmark = [mark("strict-mtls"), pytest.mark.requires("sidecar", "peer-authentication", "wire-capture")]


def test_the_wire_between_sidecars_is_tls_and_the_plaintext_control_shows_the_marker(
        bookinfo, tcp_scene, tcp, wire, policies, timeouts):
    """Under PERMISSIVE both paths are open: auto mTLS makes the in-mesh client's sidecar originate mTLS
    (istio.io "Mutual TLS Migration"), the legacy client sends what it has, plaintext."""
    policies.apply(peer_authentication(bookinfo.namespace, PERMISSIVE))
    marker = f"meshproof-wire-marker-{secrets.token_hex(8)}"
    in_mesh = tcp.line(tcp_scene.client, tcp_scene.echo, marker=marker)
    legacy = tcp.line(tcp_scene.legacy_client, tcp_scene.echo, marker=marker)
    check.becomes("in-mesh TCP client gets the echo under PERMISSIVE", in_mesh, ECHOED, timeouts)
    check.becomes("legacy TCP client (no sidecar) gets the echo under PERMISSIVE", legacy, ECHOED, timeouts)

    control, result = wire.capture("control path: legacy client without sidecar", tcp_scene.echo, legacy, marker)
    check.once("the marker crossed the control path (echoed)", result, ECHOED)
    check.fact("negative control: the capture shows the marker in cleartext on the path the mesh leaves plaintext",
               control.marker_seen and not control.all_tls, control.text())

    protected, result = wire.capture("protected path: in-mesh client's sidecar to the server's sidecar",
                                     tcp_scene.echo, in_mesh, marker)
    check.once("the marker crossed the protected path (echoed)", result, ECHOED)
    check.fact("between the sidecars every payload byte is inside TLS records and the marker never is in cleartext",
               protected.all_tls and protected.tls_records > 0 and not protected.marker_seen, protected.text())
    check.fact("the ServerHello between the sidecars was seen (its version and cipher are recorded)",
               bool(protected.server_hello_versions and protected.ciphers), protected.text())
