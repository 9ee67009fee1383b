"""Which mTLS mode a workload's port gets, by Istio's PeerAuthentication precedence.

Workload policy (selector, same namespace) beats namespace policy (no selector)
beats mesh policy (root namespace, no selector); at one level the oldest
policy wins; UNSET inherits from the level above; with no policy at all the
mode is PERMISSIVE.  portLevelMtls only counts on a workload policy.  A
policy with a selector in the root namespace is ignored, as istiod ignores it
(ComposePeerAuthentication in istio/istio pilot/pkg/security/authn/policy_applier.go).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from .cluster import labels_match

UNSET, DISABLE, PERMISSIVE, STRICT = "UNSET", "DISABLE", "PERMISSIVE", "STRICT"
MODES = (UNSET, DISABLE, PERMISSIVE, STRICT)
DEFAULT_MODE = PERMISSIVE


@dataclass(frozen=True)
class EffectiveMtls:
    mode: str
    ports: Mapping[int, str]

    def for_port(self, port: int) -> str:
        return self.ports.get(port, self.mode)


def _mode(spec_part: Mapping[str, Any] | None) -> str:
    mode = (spec_part or {}).get("mode") or UNSET
    if mode not in MODES:
        raise ValueError(f"unknown PeerAuthentication mode {mode!r}")
    return mode


def _match_labels(policy: Mapping[str, Any]) -> Mapping[str, str]:
    return ((policy.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}


def _selects(policy: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    wanted = _match_labels(policy)
    return bool(wanted) and labels_match(labels, wanted)


def _has_selector(policy: Mapping[str, Any]) -> bool:
    return bool(_match_labels(policy))


def _oldest(policies: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """Istio picks the oldest; creation order stands in for creationTimestamp, name breaks ties."""
    return min(policies, key=lambda p: (p["metadata"].get("creationTimestamp", ""), p["metadata"]["name"]), default=None)


def effective_mtls(
    policies: Iterable[Mapping[str, Any]], *, root_namespace: str, namespace: str, labels: Mapping[str, str],
    mesh_outranks_namespace: bool = False,
) -> EffectiveMtls:
    """The mode of a workload in ``namespace`` with ``labels``, and its port exceptions.

    ``mesh_outranks_namespace`` is a deliberate defect of the reference mesh
    (meshproof/local/defects.py): the mesh-wide policy is applied after the
    namespace's, so it wins where Istio lets the namespace's win
    (istio.io/latest/docs/concepts/security/#peer-authentication).
    """
    policies = list(policies)
    mesh = _oldest([p for p in policies if p["metadata"]["namespace"] == root_namespace and not _has_selector(p)])
    ns = _oldest([p for p in policies if p["metadata"]["namespace"] == namespace and not _has_selector(p)])
    # selector policies in the root namespace are ignored (istio/istio pilot/pkg/security/authn/policy_applier.go)
    workload = _oldest([p for p in policies if p["metadata"]["namespace"] == namespace != root_namespace
                        and _selects(p, labels)])

    mode = DEFAULT_MODE
    for level in ((ns, mesh, workload) if mesh_outranks_namespace else (mesh, ns, workload)):
        if level is not None:
            level_mode = _mode((level.get("spec") or {}).get("mtls"))
            if level_mode != UNSET:
                mode = level_mode
    ports: dict[int, str] = {}
    if workload is not None:
        for port, part in ((workload.get("spec") or {}).get("portLevelMtls") or {}).items():
            port_mode = _mode(part)
            if port_mode != UNSET:
                ports[int(port)] = port_mode
    return EffectiveMtls(mode, ports)
