"""TLS parameters the proxies actually negotiated, from Envoy's own counters.

Envoy counts every completed handshake of a TLS listener or cluster under
``<scope>.ssl.versions.<version>``, ``<scope>.ssl.ciphers.<cipher>`` and
``<scope>.ssl.curves.<group>`` (Envoy docs, TLS statistics); ``/stats`` on the
admin interface prints them as ``name: value``.  Two snapshots taken around a
burst of requests tell which parameters those requests negotiated.
Cipher names are OpenSSL's (BoringSSL's) for TLS 1.2 and the IANA ones for 1.3.
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .tlspolicy import TLSPolicy, curve_name, iana_cipher

#: the admin path that prints the handshake counters of the proxy's listeners (the server side of mTLS)
STATS_PATH = "/stats?filter=^listener\\..*\\.ssl\\.(versions|ciphers|curves)\\."
_LINE = re.compile(r"^listener\..*\.ssl\.(versions|ciphers|curves)\.(\S+): (\d+)$")


def handshake_counters(stats: str) -> Counter[tuple[str, str]]:
    """(kind, name) -> completed handshakes, summed over listeners; kind is versions, ciphers or curves."""
    counts: Counter[tuple[str, str]] = Counter()
    for line in stats.splitlines():
        match = _LINE.match(line.strip())
        if match:
            counts[(match.group(1), match.group(2))] += int(match.group(3))
    return counts


@dataclass(frozen=True)
class Negotiated:
    """What the handshakes between two snapshots negotiated: name -> count, per kind."""

    versions: dict[str, int]
    ciphers: dict[str, int]
    curves: dict[str, int]

    @classmethod
    def between(cls, before: Counter[tuple[str, str]], after: Counter[tuple[str, str]]) -> "Negotiated":
        delta = after - before
        return cls(*({name: n for (k, name), n in delta.items() if k == kind} for kind in ("versions", "ciphers", "curves")))

    def problems(self, policy: TLSPolicy) -> list[str]:
        """What falls outside ``policy``: versions (``TLSv1.2`` -> "1.2"), ciphers, curves; empty when all within."""
        found = [f"version {v} ({n} handshakes)" for v, n in self.versions.items()
                 if v.removeprefix("TLSv") not in policy.versions]
        found += [f"cipher {c} ({n} handshakes)" for c, n in self.ciphers.items() if iana_cipher(c) not in policy.ciphers]
        found += [f"curve {c} ({n} handshakes)" for c, n in self.curves.items()
                  if curve_name(c) not in policy.curves]
        return found

    def describe(self) -> str:
        return "; ".join(f"{kind}: {dict(getattr(self, kind)) or 'none'}" for kind in ("versions", "ciphers", "curves"))
