"""What istiod would compute: per-pod hosts files and sidecar configuration from the stored objects.

This module composes; each kind is translated where its row in
:data:`meshproof.local.kinds.KINDS` says (``translated_by``): PeerAuthentication
in :mod:`meshproof.peerauthn`, AuthorizationPolicy in :mod:`.authz`, DestinationRule in
:mod:`.destination_rules`, Sidecar and ServiceEntry in :mod:`.outbound_policy`, Service in :mod:`.services`, Gateway and
VirtualService in :mod:`.gateway_control`.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from ..errors import ConfigError
from ..meshconfig import MeshConfig, from_configmap
from ..pki import spiffe_id
from . import authz, destination_rules, outbound_policy
from .envoy.model import Destination, InboundPort, SidecarBehaviour, SidecarConfig
from .objects import Store
from .podview import PodView
from .services import cluster_ip, fqdn, hosts_lines, selects, target_port
from ..peerauthn import DISABLE, EffectiveMtls, effective_mtls


def _is_http(port: Mapping[str, Any]) -> bool:
    name = (port.get("name") or "").lower()
    protocol = (port.get("appProtocol") or "").lower()
    return protocol in ("http", "http2", "grpc") or name.split("-")[0] in ("http", "http2", "grpc")


class ControlPlane:
    def __init__(self, store: Store, *, mesh_configmap: tuple[str, str], behaviour: SidecarBehaviour,
                 pushes_policies: bool = True, mesh_policy_wins: bool = False,
                 authorization: bool = True, root_authorization: bool = True,
                 translates_destination_rules: bool = True, server_destination_rules_first: bool = False) -> None:
        """``mesh_configmap``: (namespace, name) of the ConfigMap istiod reads its MeshConfig from."""
        self.store = store
        self.mesh_configmap = mesh_configmap
        self.behaviour = behaviour
        self.pushes_policies = pushes_policies
        #: a deliberate defect: a mesh-wide policy outranks the namespace's own (Istio ranks it below)
        self.mesh_policy_wins = mesh_policy_wins
        #: deliberate defects: AuthorizationPolicies (or the root namespace's ones) never reach the sidecars
        self.authorization, self.root_authorization = authorization, root_authorization
        #: a deliberate defect: DestinationRules never reach the client proxies (auto mTLS everywhere)
        self.translates_destination_rules = translates_destination_rules
        #: a deliberate defect: the server namespace's DestinationRule outranks the client namespace's own
        self.server_destination_rules_first = server_destination_rules_first
        #: DNS names outside the mesh (external database) -> address
        self.external_hosts: dict[str, str] = {}

    def mesh_config(self) -> MeshConfig:
        """Read from the stored mesh ConfigMap at every use, as istiod watches it (istiod's defaults if absent)."""
        return from_configmap(self.store.get("ConfigMap", *self.mesh_configmap))

    @property
    def root_namespace(self) -> str:
        return self.mesh_config().root_namespace

    @property
    def trust_domain(self) -> str:
        return self.mesh_config().trust_domain

    def check_mesh_config(self, configmap: Mapping[str, Any]) -> None:
        """Refuse a mesh ConfigMap that is not MeshConfig, or that changes the trust domain of issued identities."""
        meta = configmap.get("metadata") or {}
        if (meta.get("namespace"), meta.get("name")) != self.mesh_configmap:
            return
        trust_domain = from_configmap(configmap).trust_domain
        if trust_domain != self.trust_domain:
            raise ConfigError(f"ConfigMap {'/'.join(self.mesh_configmap)}: data.mesh: trustDomain {trust_domain!r}: the "
                              f"reference mesh does not model changing the trust domain ({self.trust_domain!r}) of a "
                              "running mesh; run on a cluster with --kube-context")

    def policies(self) -> list[dict[str, Any]]:
        return list(self.store.of_kind("PeerAuthentication"))

    def mtls_of(self, pod: PodView, policies: list[dict[str, Any]] | None = None) -> EffectiveMtls:
        """``policies``: the stored ones when the caller already read them."""
        if not self.pushes_policies:
            policies = pod.policies_at_start
        elif policies is None:
            policies = self.policies()
        return effective_mtls(policies, root_namespace=self.root_namespace, namespace=pod.namespace, labels=pod.labels,
                              mesh_outranks_namespace=self.mesh_policy_wins)

    # ------------------------------------------------------------ hosts

    def hosts_file(self, pod: PodView, pods: Iterable[PodView], shared: dict[str, list[str]] | None = None) -> str:
        """``pod``'s /etc/hosts: itself, then what cluster DNS answers in its namespace.

        ``shared``: namespace -> those DNS lines, kept by the caller across the
        pods of one push, so a push computes them once per namespace, not per pod.
        """
        shared = {} if shared is None else shared
        if pod.namespace not in shared:
            shared[pod.namespace] = hosts_lines(self.store.of_kind("Service"), pods, pod.namespace) + [
                f"{address} {name}" for name, address in sorted(self.external_hosts.items())]
        return "\n".join(["127.0.0.1 localhost", f"{pod.ip} {pod.name}", *shared[pod.namespace]]) + "\n"

    # ------------------------------------------------------------ sidecars

    def sidecar_config(self, pod: PodView, destinations: list[Destination],
                       shared: dict[str, list[Destination]] | None = None) -> SidecarConfig:
        """``destinations``: :meth:`destinations`, computed once for every proxy of a push; ``shared``: namespace
        -> those destinations with the namespace's DestinationRules, kept by the caller across one push."""
        shared = {} if shared is None else shared
        if pod.namespace not in shared:
            shared[pod.namespace] = self.destinations_for(pod.namespace, destinations)
        mtls = self.mtls_of(pod)
        http_ports = self.service_ports(pod, http_only=True)
        inbound = [InboundPort(port, port in http_ports or name.startswith("http")) for port, name in pod.container_ports.items()]
        return SidecarConfig(
            default_mode=mtls.mode,
            port_modes=dict(mtls.ports),
            inbound_ports=inbound,
            destinations=shared[pod.namespace],
            registry_only=outbound_policy.registry_only(self.store, pod.namespace, self.root_namespace),
            external=outbound_policy.service_entries(self.store, pod.namespace, self.external_hosts),
            behaviour=self.behaviour,
            authorization=self.authorization_of(pod),
        )

    def service_ports(self, pod: PodView, *, http_only: bool = False) -> set[int]:
        """The target ports on ``pod`` of the Services of its namespace that select it (only its own namespace's
        select a pod); ``http_only``: of the Service ports declared HTTP (by name prefix or appProtocol)."""
        return {target
                for service in self.store.of_kind("Service", pod.namespace) if selects(service, pod)
                for port in (service.get("spec") or {}).get("ports") or [] if not http_only or _is_http(port)
                for target in [target_port(port, pod)] if target is not None}

    def authorization_of(self, pod: PodView) -> list[dict[str, Any]]:
        """The AuthorizationPolicies istiod would translate for ``pod`` (meshproof.local.authz.applicable)."""
        if not self.authorization:
            return []
        return authz.applicable(self.store.of_kind("AuthorizationPolicy"), namespace=pod.namespace,
                                labels=pod.labels, root_namespace=self.root_namespace,
                                root_applies=self.root_authorization)

    def destinations_for(self, namespace: str, destinations: list[Destination]) -> list[Destination]:
        """``destinations`` as the client proxies of ``namespace`` (sidecars, the ingress gateway) see them, with
        the DestinationRules istiod would give them (meshproof.local.destination_rules)."""
        if not self.translates_destination_rules:
            return destinations
        return destination_rules.for_client(destinations, self.store.of_kind("DestinationRule"),
                                            client_namespace=namespace, root_namespace=self.root_namespace,
                                            server_namespace_first=self.server_destination_rules_first)

    def destinations(self, pods: Iterable[PodView]) -> list[Destination]:
        """Every in-mesh TCP Service port as client proxies (sidecars and the ingress gateway) see it.

        A ClusterIP Service is matched by its virtual IP; a headless one by its
        pods' IPs, each pod IP and port once (Istio's outbound listeners do the same).
        """
        pods, policies = list(pods), self.policies()
        taken: set[tuple[str, int]] = set()
        destinations = []
        for service in self.store.of_kind("Service"):
            backends = [p for p in pods if selects(service, p)]
            vip = cluster_ip(service)
            for port in (service.get("spec") or {}).get("ports") or []:
                if str(port.get("protocol", "TCP")) != "TCP":  # capture takes TCP only
                    continue
                endpoints, identities, accounts = [], set(), set()
                for backend in backends:
                    target = target_port(port, backend)
                    if target is None or (vip is None and (backend.ip, int(port["port"])) in taken):
                        continue
                    if vip is None:
                        taken.add((backend.ip, int(port["port"])))
                    endpoints.append((backend.ip, target))
                    identity = spiffe_id(self.trust_domain, backend.namespace, backend.service_account)
                    accounts.add(identity)
                    # auto mTLS: originate only towards sidecars that do not DISABLE the port
                    if backend.has_sidecar and self.mtls_of(backend, policies).for_port(target) != DISABLE:
                        identities.add(identity)
                if endpoints:
                    destinations.append(Destination(fqdn=fqdn(service), port=int(port["port"]), endpoints=tuple(endpoints),
                                                    identities=tuple(sorted(identities)), vip=vip, tcp=not _is_http(port),
                                                    namespace=service["metadata"]["namespace"],
                                                    service_accounts=tuple(sorted(accounts))))
        return destinations
