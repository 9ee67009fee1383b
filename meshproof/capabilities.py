"""The one registry of what the suite checks.

Markers, Allure epics/features and the conformance report's sections all come
from here, so a capability is named in exactly one place.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capability:
    marker: str
    title: str
    epic: str
    summary: str
    seeds: tuple[str, ...] = ()


@dataclass(frozen=True)
class Feature:
    """A mesh feature a check may need; a mesh without it skips the check as 'not supported'."""

    name: str
    summary: str


CAPABILITIES: dict[str, Capability] = {
    c.marker: c
    for c in (
        Capability(
            "strict-mtls",
            "PeerAuthentication enforces mutual TLS between workloads",
            "Workload mutual TLS",
            "Plaintext is accepted before STRICT and reset after it; in-mesh traffic keeps "
            "working and is proven to be mTLS; pods with HTTP probes stay ready (probe rewriting); "
            "precedence of mesh, namespace, workload and port policies.",
            ("002", "003", "004"),
        ),
        Capability(
            "gateway-mtls",
            "Ingress gateway terminates TLS and verifies client certificates",
            "Ingress TLS",
            "Gateway SIMPLE and MUTUAL modes, untrusted and expired client certificates, "
            "trust-bundle rotation without restart.",
            ("002",),
        ),
        Capability(
            "egress-tls",
            "In-mesh applications reach an external TLS-only MySQL",
            "Egress TLS",
            "ssl modes disable / trust / verify-ca / verify-full with and without client "
            "certificates, under STRICT, and REGISTRY_ONLY with a ServiceEntry.",
            ("000", "001"),
        ),
        Capability(
            "tls-posture",
            "Workload identities, certificate lifetimes and TLS parameters meet the policy",
            "Identity and crypto posture",
            "Every workload's certificate from its proxy's SDS state: SPIFFE identity of its service account, "
            "chain to the mesh root, lifetime, key strength against the named TLS policy.",
        ),
    )
}


FEATURES: dict[str, Feature] = {
    f.name: f
    for f in (
        Feature("sidecar", "workloads get an Envoy sidecar that can be exec'd into (istio-proxy)"),
        Feature("peer-authentication", "PeerAuthentication modes DISABLE, PERMISSIVE and STRICT"),
        Feature("port-level-mtls", "PeerAuthentication portLevelMtls on a workload selector"),
        Feature("mesh-wide-policy", "PeerAuthentication in the mesh root namespace"),
        Feature("ingress-gateway", "an ingress gateway reachable from outside the mesh"),
        Feature("gateway-credential-sds", "Gateway credentialName Secrets delivered by SDS"),
        Feature("egress-registry-only", "outboundTrafficPolicy REGISTRY_ONLY and ServiceEntry"),
        Feature("external-database", "a TLS-only MySQL-compatible database outside the mesh"),
        Feature("probe-rewrite", "the injector points HTTP probes at the sidecar agent (rewriteAppHTTPProbers)"),
    )
}


def mark(marker: str):
    """The pytest mark of a capability (hyphenated names are not valid attribute names)."""
    import pytest

    if marker not in CAPABILITIES:
        raise KeyError(f"unknown capability marker {marker!r}")
    return getattr(pytest.mark, marker)
