"""What crossed the wire: a packet capture summarised with dpkt (pcap, TCP, TLS records).

A capture taken in a server pod's network namespace while a known marker
crosses from client to server shows whether the bytes between the two
sidecars are TLS: every payload byte of each TCP stream must parse as TLS
records (``dpkt.ssl.tls_multi_factory``) and the marker must not appear in
cleartext. The ServerHello's version (TLS 1.3 names itself in the
supported_versions extension, RFC 8446 4.2.1) and cipher suite are recorded.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Protocol

import dpkt
from dpkt import ssl

#: TLS protocol versions by wire value (RFC 8446 appendix D)
VERSIONS = {0x0301: "TLSv1.0", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
_HANDSHAKE = 22
_SERVER_HELLO = 2
_SUPPORTED_VERSIONS = 43


class Capture(Protocol):
    """A running capture (Cluster.start_capture)."""

    def stop(self) -> bytes:
        """End it and return the classic pcap it took; its files and processes are gone afterwards."""


@dataclass
class WireSummary:
    """``port``: the server port the streams were taken to; byte counts are TCP payload."""

    port: int
    packets: int = 0
    connections: int = 0
    payload_bytes: int = 0
    tls_records: int = 0
    #: payload bytes that are not inside a TLS record
    cleartext_bytes: int = 0
    marker_seen: bool = False
    server_hello_versions: set[str] = field(default_factory=set)
    ciphers: set[str] = field(default_factory=set)

    @property
    def all_tls(self) -> bool:
        return self.payload_bytes > 0 and self.cleartext_bytes == 0

    def text(self) -> str:
        return "\n".join([
            f"server port {self.port}: {self.packets} packets, {self.connections} TCP connections, "
            f"{self.payload_bytes} payload bytes",
            f"TLS records: {self.tls_records}; bytes outside TLS records: {self.cleartext_bytes}",
            f"ServerHello version: {', '.join(sorted(self.server_hello_versions)) or '(none)'}; "
            f"cipher: {', '.join(sorted(self.ciphers)) or '(none)'}",
            f"marker seen in cleartext: {'YES' if self.marker_seen else 'no'}",
        ])


def _packets(pcap: bytes):
    reader = dpkt.pcap.Reader(io.BytesIO(pcap))
    link = reader.datalink()
    for _, frame in reader:
        if link == dpkt.pcap.DLT_EN10MB:
            ip = dpkt.ethernet.Ethernet(frame).data
        elif link == dpkt.pcap.DLT_LINUX_SLL:
            ip = dpkt.sll.SLL(frame).data
        else:
            raise ValueError(f"unsupported pcap link type {link}")
        yield ip


def _streams(pcap: bytes, port: int, summary: WireSummary) -> dict[tuple, dict[int, bytes]]:
    """(client address, client port) -> {0: client-to-server bytes, 1: server-to-client bytes}, by TCP sequence."""
    segments: dict[tuple, dict[int, dict[int, bytes]]] = {}
    for ip in _packets(pcap):
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)) or not isinstance(ip.data, dpkt.tcp.TCP):
            continue
        tcp = ip.data
        if port not in (tcp.sport, tcp.dport):
            continue
        summary.packets += 1
        to_server = tcp.dport == port
        client = (bytes(ip.src), tcp.sport) if to_server else (bytes(ip.dst), tcp.dport)
        if tcp.data:
            segments.setdefault(client, {0: {}, 1: {}})[0 if to_server else 1].setdefault(tcp.seq, bytes(tcp.data))
        else:
            segments.setdefault(client, {0: {}, 1: {}})
    return {client: {d: b"".join(data for _, data in sorted(parts[d].items())) for d in (0, 1)}
            for client, parts in segments.items()}


def _server_hello(record: ssl.TLSRecord, summary: WireSummary) -> None:
    if record.type != _HANDSHAKE or not record.data or record.data[0] != _SERVER_HELLO:
        return
    try:
        hello = ssl.TLSHandshake(record.data).data
    except (dpkt.NeedData, dpkt.UnpackError):
        return
    version = hello.version
    for kind, data in getattr(hello, "extensions", []) or []:
        if kind == _SUPPORTED_VERSIONS and len(data) == 2:
            version = int.from_bytes(data, "big")
    summary.server_hello_versions.add(VERSIONS.get(version, hex(version)))
    summary.ciphers.add(hello.ciphersuite.name)


def summarize(pcap: bytes, *, port: int, marker: bytes) -> WireSummary:
    """Summary of the TCP streams to ``port`` in ``pcap`` (classic pcap, Ethernet or Linux cooked)."""
    summary = WireSummary(port)
    for directions in _streams(pcap, port, summary).values():
        summary.connections += 1
        for payload in directions.values():
            summary.payload_bytes += len(payload)
            summary.marker_seen = summary.marker_seen or marker in payload
            try:
                records, used = ssl.tls_multi_factory(payload)
            except ssl.SSL3Exception:
                records, used = [], 0
            summary.tls_records += len(records)
            summary.cleartext_bytes += len(payload) - used
            for record in records:
                _server_hello(record, summary)
    return summary
