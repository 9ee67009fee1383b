"""A reference-mesh sidecar's inbound access log read as server-side evidence.

Each line is one JSON object Envoy wrote for an accepted TCP connection or
HTTP request (envoy.pieces.ACCESS_LOG_FIELDS): the peer certificate's URI SAN,
the TLS version and cipher. As Istio's metrics classify it, a connection is
``mutual_tls`` when the peer presented a certificate the sidecar verified, else
``none`` (plaintext, or TLS without a client certificate).
"""
from __future__ import annotations

import json
from pathlib import Path

from ..evidence import MUTUAL_TLS, PLAINTEXT, UNKNOWN, AcceptedConnection, aggregate


def _value(entry: dict, name: str) -> str | None:
    value = entry.get(name)
    return None if value in (None, "", "-") else str(value)


def accepted_connections(path: Path) -> list[AcceptedConnection]:
    """The series of the log at ``path``; a sidecar that accepted nothing yet has no file (no series)."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return []
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        entry = json.loads(line)
        principal = _value(entry, "peer_uri_san")
        destination = _value(entry, "destination") or ""
        port = destination.rpartition(":")[2]
        records.append(AcceptedConnection(
            port=int(port) if port.isdigit() else None, protocol=entry.get("protocol") or "tcp",
            security_policy=MUTUAL_TLS if principal else PLAINTEXT, source_principal=principal or UNKNOWN, count=1,
            tls_version=_value(entry, "tls_version"), tls_cipher=_value(entry, "tls_cipher")))
    return aggregate(records)
