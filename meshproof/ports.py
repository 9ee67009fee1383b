"""The ports a pod really listens on, and the ones Istio leaves outside the sidecar's inbound capture.

Listening sockets are read from the pod's own network namespace: the kernel's
``/proc/net/tcp`` and ``/proc/net/tcp6`` tables (every container of a pod shares
one network namespace, so any of its processes sees the same tables), not from
the Service or the container spec, which may omit ports that are open.

Which ports are outside capture comes from Istio's sidecar injection and
``istio-iptables`` (istio/istio tools/istio-iptables/pkg/cmd/root.go and
pkg/config; istio.io "Traffic Management > Sidecar traffic annotations"):
inbound capture redirects *every* port (``-b '*'``, the default of
``traffic.sidecar.istio.io/includeInboundPorts``) except the sidecar's own
(15008 HBONE, 15090 Envoy Prometheus, 15021 health, 15020 merged telemetry)
and the ports listed in ``traffic.sidecar.istio.io/excludeInboundPorts``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from .errors import ConfigError

#: pod annotation: comma-separated inbound ports istio-iptables leaves uncaptured (only with includeInboundPorts '*')
EXCLUDE_INBOUND_PORTS = "traffic.sidecar.istio.io/excludeInboundPorts"
#: pod annotation or label by which a pod opts out of (``"false"``) or into (``"true"``) sidecar injection
INJECT = "sidecar.istio.io/inject"

#: the sidecar's own listening ports (istio.io "Ports used by Istio") -> why a plaintext probe of it says nothing
#: about the app's mTLS: uncaptured by istio-iptables, bound to loopback, or Envoy's own capture listeners
SIDECAR_PORTS: Mapping[int, str] = {
    15000: "Envoy admin (loopback only)",
    15001: "Envoy's outbound capture listener (a connection addressed to it is not an app's traffic)",
    15004: "pilot-agent debug (loopback only)",
    15006: "Envoy's inbound capture listener (Istio sends a connection addressed to it to its BlackHoleCluster)",
    15008: "HBONE mTLS tunnel (itself mutual TLS; not captured)",
    15020: "pilot-agent merged Prometheus telemetry and health (not captured)",
    15021: "sidecar health checks (not captured)",
    15053: "pilot-agent DNS proxy (loopback only)",
    15090: "Envoy Prometheus telemetry (not captured)",
}

#: /proc/net/tcp state of a listening socket (include/net/tcp_states.h TCP_LISTEN)
_TCP_LISTEN = "0A"


@dataclass(frozen=True, order=True)
class ListeningSocket:
    """A TCP socket in LISTEN state: ``port``, and ``address`` as dotted IPv4 or IPv6 text ("0.0.0.0", "::")."""

    port: int
    address: str

    @property
    def loopback_only(self) -> bool:
        """Bound to 127.0.0.0/8 or ::1: not reachable at the pod IP."""
        return self.address.startswith("127.") or self.address == "::1"


def _address(hex_address: str) -> str:
    """``/proc/net/tcp``'s address field (host byte order, little-endian 32-bit words) as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    if len(words) == 4:
        return ".".join(str(b) for b in words)
    import ipaddress

    address = ipaddress.IPv6Address(words)
    return str(address.ipv4_mapped) if address.ipv4_mapped else str(address)


def parse_proc_net_tcp(text: str) -> list[ListeningSocket]:
    """The listening sockets in the concatenated text of ``/proc/net/tcp`` and ``/proc/net/tcp6``.

    Header lines are skipped; each row is ``sl local_address rem_address st ...``
    with addresses as ``HEX:PORT``.  One socket per (port, address), sorted by port.
    ValueError on a row that is not of that shape (the caller read something else).
    """
    found: set[ListeningSocket] = set()
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] == "sl":
            continue
        if len(fields) < 4 or ":" not in fields[1]:
            raise ValueError(f"not a /proc/net/tcp row: {line.strip()[:80]!r}")
        if fields[3] != _TCP_LISTEN:
            continue
        hex_address, _, hex_port = fields[1].partition(":")
        found.add(ListeningSocket(int(hex_port, 16), _address(hex_address)))
    return sorted(found)


def reachable_ports(sockets: Iterable[ListeningSocket]) -> dict[int, bool]:
    """port -> whether some socket on it is reachable at the pod IP (not loopback only)."""
    ports: dict[int, bool] = {}
    for socket in sockets:
        ports[socket.port] = ports.get(socket.port, False) or not socket.loopback_only
    return ports


def excluded_inbound_ports(annotations: Mapping[str, str] | None) -> frozenset[int]:
    """The ports of ``traffic.sidecar.istio.io/excludeInboundPorts`` (comma-separated, blanks ignored).

    ConfigError, one line, for a value that is not a list of ports 1-65535 (the
    injector refuses it too: istio/istio pkg/kube/inject/validate.go ValidateExcludeInboundPorts).
    """
    text = (annotations or {}).get(EXCLUDE_INBOUND_PORTS, "")
    ports: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 0 < int(part) <= 65535:
            raise ConfigError(f"annotation {EXCLUDE_INBOUND_PORTS}={text!r}: {part!r} is not a port (1-65535)")
        ports.add(int(part))
    return frozenset(ports)
