"""The wire summary (meshproof.wire) on pcaps built with dpkt: TLS records, the ServerHello, a cleartext marker."""
from __future__ import annotations

import io
import struct

import dpkt

from meshproof.wire import summarize

CLIENT, SERVER, PORT = b"\x0a\x00\x00\x02", b"\x0a\x00\x00\x03", 9000
MARKER = b"meshproof-wire-marker-0123"


def _record(content_type: int, body: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(body)) + body


def _server_hello(*, tls13: bool) -> bytes:
    """A ServerHello handshake record: legacy version 1.2, cipher, and for TLS 1.3 supported_versions."""
    cipher = 0x1301 if tls13 else 0xC02B
    extensions = struct.pack("!HHH", 43, 2, 0x0304) if tls13 else b""
    body = struct.pack("!H", 0x0303) + b"\x11" * 32 + b"\x00" + struct.pack("!HB", cipher, 0)
    body += struct.pack("!H", len(extensions)) + extensions
    handshake = struct.pack("!B", 2) + len(body).to_bytes(3, "big") + body
    return _record(22, handshake)


def _pcap(*segments: tuple[bool, bytes]) -> bytes:
    """One TCP connection: (to_server, payload) segments in order, as Ethernet frames."""
    out = io.BytesIO()
    writer = dpkt.pcap.Writer(out, linktype=dpkt.pcap.DLT_EN10MB)
    seq = {True: 1000, False: 5000}
    for n, (to_server, payload) in enumerate(segments):
        tcp = dpkt.tcp.TCP(sport=40000 if to_server else PORT, dport=PORT if to_server else 40000,
                           seq=seq[to_server], flags=dpkt.tcp.TH_ACK | dpkt.tcp.TH_PUSH, data=payload)
        seq[to_server] += len(payload)
        ip = dpkt.ip.IP(src=CLIENT if to_server else SERVER, dst=SERVER if to_server else CLIENT, p=6, data=tcp)
        ip.len = len(bytes(ip))
        writer.writepkt(bytes(dpkt.ethernet.Ethernet(type=dpkt.ethernet.ETH_TYPE_IP, data=ip)), ts=n)
    return out.getvalue()


def test_a_tls_stream_is_all_records_with_its_server_hello_and_no_marker():
    pcap = _pcap((True, _record(22, b"\x01" + b"\x00" * 40)), (False, _server_hello(tls13=True)),
                 (True, _record(23, b"\x9a" * 60)), (False, _record(23, b"\x5c" * 70)))
    summary = summarize(pcap, port=PORT, marker=MARKER)
    assert (summary.packets, summary.connections, summary.tls_records, summary.cleartext_bytes) == (4, 1, 4, 0)
    assert summary.all_tls and not summary.marker_seen
    assert summary.server_hello_versions == {"TLSv1.3"} and summary.ciphers == {"TLS_AES_128_GCM_SHA256"}


def test_tls12_is_named_by_the_server_hellos_own_version():
    summary = summarize(_pcap((False, _server_hello(tls13=False))), port=PORT, marker=MARKER)
    assert summary.server_hello_versions == {"TLSv1.2"}
    assert summary.ciphers == {"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"}


def test_a_plaintext_stream_shows_the_marker_and_no_record():
    summary = summarize(_pcap((True, MARKER + b"\n"), (False, b"hello " + MARKER + b"\n")), port=PORT, marker=MARKER)
    assert summary.marker_seen and not summary.all_tls
    assert summary.tls_records == 0 and summary.cleartext_bytes == 2 * len(MARKER) + 8


def test_an_empty_capture_is_not_all_tls():
    summary = summarize(_pcap(), port=PORT, marker=MARKER)
    assert summary.packets == 0 and not summary.all_tls and not summary.marker_seen


def test_a_cluster_that_forbids_the_capture_makes_the_check_not_supported_with_its_reason():
    """The backend's NotSupported (e.g. PodSecurity refusing the capture container) is a "not supported" skip."""
    from types import SimpleNamespace

    import pytest

    from fixtures.wire import Wire
    from meshproof import report
    from meshproof.errors import NotSupported

    class Forbidding:
        def start_capture(self, pod, port):
            raise NotSupported('PodSecurity admission of namespace mp-a refuses a capture container adding NET_RAW')

    wire = Wire(Forbidding(), SimpleNamespace(pod=lambda workload: None))
    with pytest.raises(pytest.skip.Exception) as skipped:
        wire.capture("control", SimpleNamespace(port=PORT), lambda: None, "marker")
    assert skipped.value.msg == ("not supported: wire-capture (PodSecurity admission of namespace mp-a refuses a "
                                 "capture container adding NET_RAW)")
    assert report.skip_outcome(skipped.value.msg) == "not-supported"
