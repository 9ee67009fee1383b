"""Deliberate defects the reference mesh can be switched into.

The project's own tests run each suite against a mesh with one defect on and
assert that exactly the checks that should catch it fail.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import ConfigError


@dataclass(frozen=True)
class Defect:
    name: str
    summary: str


DEFECTS: dict[str, Defect] = {
    d.name: d
    for d in (
        Defect("sidecar-ignores-strict", "inbound sidecars keep accepting plaintext under STRICT"),
        Defect("sidecar-accepts-any-client-cert", "inbound sidecars accept client certificates from any CA"),
        Defect("control-plane-never-pushes", "PeerAuthentication changes never reach running sidecars"),
        Defect("sidecar-no-mtls-origination", "client sidecars send plaintext instead of originating mTLS"),
        Defect("sidecar-certs-on-disk", "sidecars read their workload certificate and key from files, not SDS"),
        Defect("gateway-no-client-cert-required", "a MUTUAL ingress gateway lets clients without a certificate in"),
        Defect("gateway-trusts-any-ca", "a MUTUAL ingress gateway accepts client certificates from any CA"),
        Defect("gateway-sds-never-reloads", "the ingress gateway keeps the first version of every credential Secret"),
        Defect("sidecar-inspects-server-first-tcp",
               "client sidecars inspect outbound TCP for TLS, stalling server-first protocols such as MySQL"),
        Defect("database-does-not-require-tls", "the external database also accepts plaintext clients"),
        Defect("injector-does-not-rewrite-probes",
               "the injector leaves HTTP probes on the app port, where STRICT resets the kubelet's plaintext"),
    )
}


def validate(names: list[str]) -> frozenset[str]:
    unknown = [n for n in names if n not in DEFECTS]
    if unknown:
        raise ConfigError(f"unknown mesh defect {', '.join(unknown)}; known: {', '.join(sorted(DEFECTS))}")
    return frozenset(names)
