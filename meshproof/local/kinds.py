"""The one table of the kinds the reference mesh models, and where each takes effect.

An object is admitted in three steps (:func:`admit`): what a cluster with
Istio refuses (:func:`meshproof.validation.validate`: served version,
metadata, schema with CEL rules, istiod's webhook); a kind not in
:data:`KINDS` is refused with one line pointing at a real cluster; a modelled
kind's fields the reference mesh does not act on are refused by the row's
``modelled`` allow-list, so nothing is ever accepted and then ignored.  The
features the reference mesh reports (:func:`features`) come from the rows.

Adding a kind is one module that translates it (named by the row's
``translated_by``) and one row: ``ModelledKind(group, kind, takes_effect,
translated_by, features=..., modelled=...)``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterator, Mapping

from ..errors import ConfigError
from ..validation import describe, validate
from ..validation.schemas import split_api_version
from ..cluster import labels_match
from . import destination_rules
from .gateway import LABELS as GATEWAY_LABELS
from .gateway_control import validate_gateway
from .services import validate_service
from .workloads import validate_workload

if TYPE_CHECKING:
    from .controlplane import ControlPlane

#: Fields the reference mesh acts on, as nested mappings: a key maps to the allow-list of its value
#: (a mapping for an object, applied to every item of a list), ANY for a value taken whole.
ANY = None
Fields = Mapping[str, Any] | None

#: what the reference mesh offers that is not a kind: LocalCluster.start_external_database,
#: LocalCluster.start_capture (tcpdump in a pod's network namespace) and short-lived workload certificates
BACKEND_FEATURES = frozenset({"external-database", "wire-capture", "short-lived-certificates"})


@dataclass(frozen=True)
class ModelledKind:
    group: str          #: API group, "" for the core group
    kind: str
    takes_effect: str   #: where the reference mesh acts on it, for docs and refusals
    translated_by: str  #: the module that turns it into proxy configuration, processes or state
    features: tuple[str, ...] = ()  #: capabilities.FEATURES this kind provides
    modelled: Fields = ANY  #: allow-list of ``spec``'s fields (ANY: all of them)
    #: further refusals, raising ConfigError; given the object and the control plane (for the mesh configuration)
    limits: Callable[[Mapping[str, Any], "ControlPlane"], None] | None = None


def _bound_to_gateways(virtual_service: Mapping[str, Any], _control: "ControlPlane") -> None:
    """Sidecar routing (no gateways, or ``mesh``) and split routes are not modelled: only gateway routes are."""
    spec = virtual_service.get("spec") or {}
    gateways = spec.get("gateways") or []
    if not gateways or "mesh" in gateways:
        raise ConfigError(f"{describe(virtual_service)}: spec.gateways: the reference mesh models VirtualService "
                          "routes of an ingress Gateway only, not sidecar routing (mesh); run on a cluster with "
                          "--kube-context")
    for index, http in enumerate(spec.get("http") or []):
        if len(http.get("route") or []) != 1:
            raise ConfigError(f"{describe(virtual_service)}: spec.http[{index}].route: the reference mesh models "
                              "exactly one destination per route")


def _sidecar_authorization(policy: Mapping[str, Any], control: "ControlPlane") -> None:
    """ALLOW and DENY on sidecars only: AUDIT and CUSTOM need providers, the ingress gateway has no RBAC here."""
    spec = policy.get("spec") or {}
    action = spec.get("action") or "ALLOW"
    if action not in ("ALLOW", "DENY"):
        raise ConfigError(f"{describe(policy)}: spec.action: the reference mesh models ALLOW and DENY "
                          f"AuthorizationPolicies, not {action}; run on a cluster with --kube-context")
    selector = (spec.get("selector") or {}).get("matchLabels") or {}
    if policy["metadata"]["namespace"] == control.root_namespace and labels_match(GATEWAY_LABELS, selector):
        raise ConfigError(f"{describe(policy)}: spec.selector: the policy would select the ingress gateway, whose "
                          "authorization the reference mesh does not model; give a selector of sidecar workloads "
                          "or run on a cluster with --kube-context")


_SELECTOR = {"matchLabels": ANY}
_MODE = {"mode": ANY}
_SOURCE = {"principals": ANY, "notPrincipals": ANY, "namespaces": ANY, "notNamespaces": ANY}
_CLIENT_TLS = {"mode": ANY, "subjectAltNames": ANY}

KINDS: dict[tuple[str, str], ModelledKind] = {(k.group, k.kind): k for k in (
    ModelledKind("", "Namespace", "pods' placement; the injection labels decide which pods get a sidecar",
                 "meshproof.local.injection",
                 features=("sidecar",)),
    ModelledKind("", "Service", "a ClusterIP DNATed by kube-proxy-style rules on the node (headless: pod IPs); cluster "
                 "DNS (pods' hosts files) and every client proxy's destinations (matched by ClusterIP and port)",
                 "meshproof.local.services",
                 limits=lambda service, _control: validate_service(service)),
    ModelledKind("", "ServiceAccount", "stored; pods' workload identity is spiffe://<trust domain>/ns/<ns>/sa/<name>",
                 "meshproof.pki"),
    ModelledKind("", "Secret", "container volumes and envFrom; a Gateway's credentialName (SDS)",
                 "meshproof.local.volumes",
                 features=("gateway-credential-sds",)),
    ModelledKind("", "ConfigMap", "container volumes and envFrom; the mesh configuration (istio ConfigMap)",
                 "meshproof.meshconfig",
                 limits=lambda configmap, control: control.check_mesh_config(configmap)),
    ModelledKind("apps", "Deployment", "pods: network namespaces, containers, the injected sidecar (inbound capture "
                 "of every port but traffic.sidecar.istio.io/excludeInboundPorts), kubelet probes",
                 "meshproof.local.workloads",
                 features=("probe-rewrite",), limits=lambda workload, _control: validate_workload(workload)),
    ModelledKind("apps", "StatefulSet", "pods <name>-0..N-1, each named in DNS through the headless serviceName; "
                 "otherwise as a Deployment's", "meshproof.local.workloads",
                 limits=lambda workload, _control: validate_workload(workload)),
    ModelledKind("", "Pod", "one pod of its name, as a Deployment's pods (its spec immutable)",
                 "meshproof.local.workloads",
                 limits=lambda workload, _control: validate_workload(workload)),
    ModelledKind("security.istio.io", "PeerAuthentication",
                 "sidecars' inbound mTLS mode per port, and client proxies' auto mTLS", "meshproof.peerauthn",
                 features=("peer-authentication", "port-level-mtls", "mesh-wide-policy"),
                 modelled={"selector": _SELECTOR, "mtls": _MODE, "portLevelMtls": ANY}),
    ModelledKind("security.istio.io", "AuthorizationPolicy",
                 "sidecars' inbound RBAC filters (HTTP and network), matching the peer certificate's SPIFFE identity",
                 "meshproof.local.authz",
                 features=("authorization-policy",),
                 modelled={"selector": _SELECTOR, "action": ANY, "rules": {"from": {"source": _SOURCE}}},
                 limits=_sidecar_authorization),
    ModelledKind("networking.istio.io", "Gateway", "the ingress gateway's listeners, TLS and client-certificate checks",
                 "meshproof.local.gateway_control",
                 features=("ingress-gateway",),
                 modelled={"selector": ANY, "servers": {"port": ANY, "hosts": ANY, "name": ANY, "tls": {
                     "mode": ANY, "credentialName": ANY, "minProtocolVersion": ANY, "maxProtocolVersion": ANY,
                     "subjectAltNames": ANY, "cipherSuites": ANY}}},
                 limits=lambda gateway, _control: validate_gateway(gateway)),
    ModelledKind("networking.istio.io", "VirtualService", "the ingress gateway's HTTP routes (bound to a Gateway)",
                 "meshproof.local.gateway_control",
                 modelled={"hosts": ANY, "gateways": ANY, "http": {
                     "name": ANY, "match": {"uri": {"exact": ANY, "prefix": ANY}},
                     "route": {"destination": {"host": ANY, "port": {"number": ANY}}}}},
                 limits=_bound_to_gateways),
    ModelledKind("networking.istio.io", "DestinationRule",
                 "client proxies' (sidecars' and the ingress gateway's) upstream TLS per Service port: ISTIO_MUTUAL "
                 "with the workload certificate and a server identity check, or DISABLE (plaintext)",
                 "meshproof.local.destination_rules", features=("destination-rule",),
                 modelled={"host": ANY, "exportTo": ANY, "trafficPolicy": {
                     "tls": _CLIENT_TLS, "portLevelSettings": {"port": {"number": ANY}, "tls": _CLIENT_TLS}}},
                 limits=destination_rules.limits),
    ModelledKind("networking.istio.io", "ServiceEntry", "sidecars' outbound allow-list under REGISTRY_ONLY",
                 "meshproof.local.outbound_policy",
                 modelled={"hosts": ANY, "addresses": ANY, "ports": ANY, "location": ANY, "resolution": ANY,
                           "exportTo": ANY}),
    ModelledKind("networking.istio.io", "Sidecar", "outboundTrafficPolicy of a namespace (or, in the root namespace, "
                 "of the mesh)", "meshproof.local.outbound_policy", features=("egress-registry-only",),
                 modelled={"outboundTrafficPolicy": _MODE}),
)}


def _unmodelled(value: Any, allowed: Fields, path: str) -> Iterator[str]:
    if allowed is ANY:
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _unmodelled(item, allowed, f"{path}[{index}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if key not in allowed:
                yield f"{path}.{key}"
            else:
                yield from _unmodelled(item, allowed[key], f"{path}.{key}")


def features() -> frozenset[str]:
    """What the reference mesh reports: the features of the modelled kinds, and the backend's own."""
    return frozenset(f for row in KINDS.values() for f in row.features) | BACKEND_FEATURES


def admit(manifest: Mapping[str, Any], control: "ControlPlane") -> ModelledKind:
    """The row of ``manifest``'s kind, once a cluster with Istio would accept it and the reference mesh models it.

    Raises ConfigError, one line naming the object and the field path or the kind.
    """
    validate(manifest)
    group, _ = split_api_version(str(manifest["apiVersion"]))
    row = KINDS.get((group, str(manifest["kind"])))
    if row is None:
        raise ConfigError(f"the reference mesh does not model {manifest['kind']} ({manifest['apiVersion']}); "
                          "run on a cluster with --kube-context")
    for path in _unmodelled(manifest.get("spec"), row.modelled, "spec"):
        raise ConfigError(f"{describe(manifest)}: {path}: the reference mesh does not model this field of "
                          f"{row.kind}; run on a cluster with --kube-context")
    if row.limits is not None:
        row.limits(manifest, control)
    return row
