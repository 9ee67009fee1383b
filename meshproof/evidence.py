"""Server-side evidence: what a server's sidecar recorded of the connections it accepted.

Neutral in the backend contract (:meth:`Cluster.inbound_connections`): per
inbound port, security policy and peer, how many connections (TCP) or requests
(HTTP) the destination sidecar accepted, as Istio's standard metrics count them
(``istio_tcp_connections_opened_total`` and ``istio_requests_total`` with
``reporter="destination"``, labels ``connection_security_policy`` and
``source_principal``: istio.io "Istio Standard Metrics"). The counts are
cumulative; a check takes a reading before and after its call and looks at
what grew (:func:`grown`). TLS version and cipher are known where the backend
sees them (the reference mesh's access logs); Istio's metrics do not carry
them, so on clusters they are None, never guessed.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Iterable

from .outcome import Outcome

#: Istio's connection_security_policy values
MUTUAL_TLS = "mutual_tls"
PLAINTEXT = "none"
#: what Istio's metrics say for a label they cannot fill (no peer certificate)
UNKNOWN = "unknown"

ACCEPTED_KIND = "SERVER_ACCEPTED"
NOTHING_RECORDED = Outcome("NOTHING_RECORDED")


@dataclass(frozen=True)
class AcceptedConnection:
    """One series: connections (``protocol`` "tcp") or requests ("http") the server's sidecar accepted."""

    #: the inbound port; None where the backend does not report it (Istio's metrics have no port label)
    port: int | None
    #: "tcp" or "http", as Istio's ``request_protocol`` (HTTP and gRPC counted as "http")
    protocol: str
    security_policy: str
    #: the client's SPIFFE identity from its certificate, or ``UNKNOWN``
    source_principal: str
    count: int
    tls_version: str | None = None
    tls_cipher: str | None = None

    def key(self) -> tuple:
        return (self.port, self.protocol, self.security_policy, self.source_principal, self.tls_version, self.tls_cipher)

    def __str__(self) -> str:
        tls = f", {self.tls_version} {self.tls_cipher}" if self.tls_version else ""
        port = f"port {self.port} " if self.port is not None else ""
        return (f"{port}{self.protocol}: {self.security_policy} from {self.source_principal}{tls} "
                f"x{self.count}")


def ACCEPTED(security_policy: str, source_principal: str) -> Outcome:
    """What a server's sidecar recorded of a call, as an outcome a wait can expect."""
    return Outcome(ACCEPTED_KIND, reason=f"{security_policy} from {source_principal}")


def aggregate(records: Iterable[AcceptedConnection]) -> list[AcceptedConnection]:
    """Records with equal keys summed into one series."""
    totals: dict[tuple, AcceptedConnection] = {}
    for record in records:
        seen = totals.get(record.key())
        totals[record.key()] = record if seen is None else replace(seen, count=seen.count + record.count)
    return sorted(totals.values(), key=lambda r: tuple(str(part) for part in r.key()))


def grown(before: Iterable[AcceptedConnection], after: Iterable[AcceptedConnection],
          protocol: str | None = None) -> list[AcceptedConnection]:
    """The series of ``after`` that grew since ``before`` (of ``protocol`` if given), with the increase as count."""
    earlier = {r.key(): r.count for r in before}
    return [replace(r, count=r.count - earlier.get(r.key(), 0)) for r in after
            if r.count > earlier.get(r.key(), 0) and (protocol is None or r.protocol == protocol)]


def outcome_of(new: list[AcceptedConnection]) -> Outcome:
    """The one thing the server recorded for a call, or NOTHING_RECORDED; several series name all of them."""
    if not new:
        return NOTHING_RECORDED
    return Outcome(ACCEPTED_KIND, reason=" + ".join(f"{r.security_policy} from {r.source_principal}"
                                                    for r in new))


# ---------------------------------------------------------------- Istio's metrics (clusters)

_SAMPLE = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>.*)\}\s+(?P<value>\S+)')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')
_SERIES = {"istio_tcp_connections_opened_total": "tcp", "istio_requests_total": "http"}


def from_istio_stats(text: str) -> list[AcceptedConnection]:
    """The destination reporter's series of a sidecar's ``/stats/prometheus`` page.

    Only ``reporter="destination"`` series count: they are what the server's
    own sidecar accepted. A page without them yields nothing (never a guess).
    """
    records = []
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if not match or match["name"] not in _SERIES:
            continue
        labels = dict(_LABEL.findall(match["labels"]))
        if labels.get("reporter") != "destination":
            continue
        records.append(AcceptedConnection(
            port=None, protocol=_SERIES[match["name"]],
            security_policy=labels.get("connection_security_policy", UNKNOWN),
            source_principal=labels.get("source_principal", UNKNOWN), count=int(float(match["value"]))))
    return aggregate(records)
