"""Negotiated TLS parameters from Envoy's handshake counters, judged against the policies (no mesh)."""
from __future__ import annotations

from meshproof.negotiated import Negotiated, handshake_counters
from meshproof.tlspolicy import POLICIES

BEFORE = """listener.10.0.0.5_15006.ssl.versions.TLSv1.3: 2
listener.10.0.0.5_15006.ssl.ciphers.TLS_AES_128_GCM_SHA256: 2
listener.10.0.0.5_15006.ssl.curves.X25519: 2
cluster.outbound|9080||details.ssl.versions.TLSv1.3: 7
"""
AFTER_MODERN = """listener.10.0.0.5_15006.ssl.versions.TLSv1.3: 7
listener.10.0.0.5_15006.ssl.ciphers.TLS_AES_128_GCM_SHA256: 7
listener.10.0.0.5_15006.ssl.curves.X25519: 2
listener.10.0.0.5_15006.ssl.curves.X25519MLKEM768: 5
cluster.outbound|9080||details.ssl.versions.TLSv1.3: 9
"""
AFTER_LEGACY = BEFORE + """listener.10.0.0.5_15006.ssl.versions.TLSv1.2: 5
listener.10.0.0.5_15006.ssl.ciphers.ECDHE-ECDSA-AES128-SHA: 5
listener.10.0.0.5_15006.ssl.curves.P-256: 5
"""


def test_only_the_handshakes_between_the_snapshots_of_the_listeners_count():
    negotiated = Negotiated.between(handshake_counters(BEFORE), handshake_counters(AFTER_MODERN))
    assert negotiated == Negotiated({"TLSv1.3": 5}, {"TLS_AES_128_GCM_SHA256": 5}, {"X25519MLKEM768": 5})
    assert negotiated.problems(POLICIES["mozilla-modern"]) == []


def test_tls_1_2_with_a_cbc_suite_is_outside_both_policies_and_p256_is_within():
    negotiated = Negotiated.between(handshake_counters(BEFORE), handshake_counters(AFTER_LEGACY))
    assert negotiated.problems(POLICIES["mozilla-intermediate"]) == ["cipher ECDHE-ECDSA-AES128-SHA (5 handshakes)"]
    assert negotiated.problems(POLICIES["mozilla-modern"]) == [
        "version TLSv1.2 (5 handshakes)", "cipher ECDHE-ECDSA-AES128-SHA (5 handshakes)"]
