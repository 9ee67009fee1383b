"""Builders for the Istio policies the suites apply: the same YAML a user would write."""
from __future__ import annotations

from typing import Mapping

SECURITY_API = "security.istio.io/v1"
NETWORKING_API = "networking.istio.io/v1"


def peer_authentication(namespace: str, mode: str | None, *, name: str = "default",
                        selector: Mapping[str, str] | None = None,
                        port_modes: Mapping[int, str] | None = None) -> dict:
    spec: dict = {}
    if selector:
        spec["selector"] = {"matchLabels": dict(selector)}
    if mode:
        spec["mtls"] = {"mode": mode}
    if port_modes:
        spec["portLevelMtls"] = {int(port): {"mode": m} for port, m in port_modes.items()}
    return {"apiVersion": SECURITY_API, "kind": "PeerAuthentication",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def outbound_traffic_policy(namespace: str, mode: str, *, name: str = "default") -> dict:
    """A namespace-wide ``Sidecar`` setting outboundTrafficPolicy (ALLOW_ANY or REGISTRY_ONLY)."""
    return {"apiVersion": NETWORKING_API, "kind": "Sidecar", "metadata": {"name": name, "namespace": namespace},
            "spec": {"outboundTrafficPolicy": {"mode": mode}}}


def authorization_policy(namespace: str, name: str, *, action: str | None = None,
                         selector: Mapping[str, str] | None = None, rules: list[dict] | None = None) -> dict:
    """An AuthorizationPolicy; ``rules`` None leaves the field out (an ALLOW without rules denies everything)."""
    spec: dict = {}
    if selector:
        spec["selector"] = {"matchLabels": dict(selector)}
    if action:
        spec["action"] = action
    if rules is not None:
        spec["rules"] = rules
    return {"apiVersion": SECURITY_API, "kind": "AuthorizationPolicy",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def from_sources(**source: list[str]) -> dict:
    """One rule whose only ``from`` entry is ``source`` (principals=[...], notPrincipals=[...], namespaces=[...])."""
    return {"from": [{"source": {key: list(values) for key, values in source.items()}}]}


def destination_rule(namespace: str, name: str, host: str, mode: str | None = None, *,
                     subject_alt_names: list[str] | None = None, port_modes: Mapping[int, str] | None = None,
                     export_to: list[str] | None = None) -> dict:
    """A DestinationRule setting client-side TLS for ``host``: ``mode`` (ISTIO_MUTUAL, DISABLE) host-wide,
    ``port_modes`` per Service port (``trafficPolicy.portLevelSettings``); ``export_to`` None leaves it visible
    to every namespace."""
    policy: dict = {}
    if mode:
        policy["tls"] = {"mode": mode}
        if subject_alt_names is not None:
            policy["tls"]["subjectAltNames"] = list(subject_alt_names)
    if port_modes:
        policy["portLevelSettings"] = [{"port": {"number": int(port)}, "tls": {"mode": m}}
                                       for port, m in port_modes.items()]
    spec: dict = {"host": host, "trafficPolicy": policy}
    if export_to is not None:
        spec["exportTo"] = list(export_to)
    return {"apiVersion": NETWORKING_API, "kind": "DestinationRule",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}
