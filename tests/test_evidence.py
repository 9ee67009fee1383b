"""Server-side evidence (meshproof.evidence) read from Istio's metrics and the reference mesh's access log.

The stats page in tests/kube/data/istio-proxy-stats.prom is written after the
label set of Istio's standard metrics (istio.io "Istio Standard Metrics";
istio/istio tests/integration/telemetry testdata), not recorded from a live
cluster: destination- and source-reporter series of a tcp-echo sidecar.
"""
from __future__ import annotations

import json
from pathlib import Path

from meshproof.evidence import (
    ACCEPTED, MUTUAL_TLS, NOTHING_RECORDED, PLAINTEXT, UNKNOWN, AcceptedConnection, from_istio_stats, grown, outcome_of,
)
from meshproof.local.access_log import accepted_connections
from meshproof.outcome import ECHOED, HANDSHAKE_FAILURE, RESET, TIMEOUT, TLS_REJECTED, classify_tcp_exchange

STATS = Path(__file__).parent / "kube" / "data" / "istio-proxy-stats.prom"
CLIENT = "spiffe://cluster.local/ns/bookinfo/sa/tcp-client"


def test_istio_stats_yield_only_what_the_destination_sidecar_accepted():
    series = from_istio_stats(STATS.read_text())
    assert {(s.protocol, s.security_policy, s.source_principal, s.count) for s in series} == {
        ("http", MUTUAL_TLS, "spiffe://cluster.local/ns/bookinfo/sa/sleep", 3),
        ("tcp", MUTUAL_TLS, CLIENT, 5),
        ("tcp", PLAINTEXT, UNKNOWN, 2),
    }
    assert all(s.tls_version is None and s.port is None for s in series), "Istio's metrics carry neither"


def test_a_page_without_istio_metrics_yields_nothing_not_a_guess():
    assert from_istio_stats('envoy_cluster_upstream_cx_total{cluster_name="x"} 7\n') == []


def test_what_grew_between_two_readings_is_the_calls_record():
    before = from_istio_stats(STATS.read_text())
    after = [AcceptedConnection(None, "tcp", MUTUAL_TLS, CLIENT, 6)] + [s for s in before if s.source_principal != CLIENT]
    assert outcome_of(grown(before, after, "tcp")) == ACCEPTED(MUTUAL_TLS, CLIENT)
    assert outcome_of(grown(before, after, "http")) == NOTHING_RECORDED
    assert not ACCEPTED(MUTUAL_TLS, CLIENT).matches(ACCEPTED(PLAINTEXT, UNKNOWN))


def test_the_access_log_tells_mutual_tls_from_plaintext_and_tls_without_a_client_certificate(tmp_path):
    lines = [
        {"peer_uri_san": CLIENT, "tls_version": "TLSv1.3", "tls_cipher": "TLS_AES_128_GCM_SHA256",
         "destination": "10.0.0.5:9000", "protocol": "tcp"},
        {"peer_uri_san": None, "tls_version": None, "tls_cipher": None, "destination": "10.0.0.5:9000",
         "protocol": "tcp"},
        {"peer_uri_san": "-", "tls_version": "TLSv1.2", "tls_cipher": "ECDHE-ECDSA-AES128-GCM-SHA256",
         "destination": "10.0.0.5:9000", "protocol": "tcp"},
    ]
    log = tmp_path / "inbound-access.log"
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert {(s.port, s.security_policy, s.source_principal, s.tls_version) for s in accepted_connections(log)} == {
        (9000, MUTUAL_TLS, CLIENT, "TLSv1.3"), (9000, PLAINTEXT, UNKNOWN, None), (9000, PLAINTEXT, UNKNOWN, "TLSv1.2")}
    assert accepted_connections(tmp_path / "absent.log") == []


def test_a_tcp_exchange_is_classified_by_what_came_back():
    assert classify_tcp_exchange(0, "hello marker\n", "") == ECHOED
    assert classify_tcp_exchange(0, "", "") == RESET  # closed before any reply
    assert classify_tcp_exchange(1, "", "ConnectionResetError: [Errno 104] Connection reset by peer") == RESET
    assert classify_tcp_exchange(1, "", "TimeoutError: timed out") == TIMEOUT
    assert classify_tcp_exchange(
        1, "", "SSLError: [SSL: SSLV3_ALERT_HANDSHAKE_FAILURE] sslv3 alert handshake failure (_ssl.c:2580)"
    ) == TLS_REJECTED(HANDSHAKE_FAILURE)
