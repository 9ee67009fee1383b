"""The ingress gateway of the reference mesh: istio-ingressgateway in the root namespace.

A pod of its own with a real Envoy as uid 1337 and no traffic capture: it is
the destination, not a bystander.  It serves the Gateways that select it; their
``credentialName`` Secrets reach Envoy by SDS (watched files), so a changed
``ca.crt`` is enforced without restarting the Envoy.  Outside clients reach it
through port-forwarders bound on the host's 127.0.0.1.
"""
from __future__ import annotations

import secrets as tokens
from pathlib import Path
from typing import Any

from ..cluster import Endpoint
from ..pki import CertificateAuthority
from . import host, portforward
from .podview import PodView
from .envoy.gateway import gateway_clusters, gateway_listeners
from .envoy.model import Destination, GatewayBehaviour, GatewayConfig
from .gateway_control import gateway_config
from .network import PodNetwork
from .objects import Store
from .processes import Supervisor
from .sidecar import Envoy

NAME = "istio-ingressgateway"
LABELS = {"app": NAME, "istio": "ingressgateway"}
SERVICE_ACCOUNT = "istio-ingressgateway-service-account"


class GatewayEnvoy(Envoy):
    """The gateway's Envoy: listeners from Gateways, credentials as SDS secrets."""

    def __init__(self, netns: str, directory: Path, node_id: str, cluster: str, behaviour: GatewayBehaviour) -> None:
        super().__init__(netns, directory, node_id, cluster)
        self.behaviour = behaviour

    def publish(self, config: GatewayConfig, secrets: dict[str, dict[str, Any]]) -> None:
        # secrets first: a listener naming a secret Envoy has not loaded would wait for it
        for name, secret in secrets.items():
            self.publish_secret(name, secret)
        self.files.publish("cds.json", gateway_clusters(self.files, config))
        self.files.publish("lds.json", gateway_listeners(self.files, config))

    def publish_secret(self, name: str, secret: dict[str, Any]) -> None:
        file = f"sds-{name}.json"
        if self.behaviour.sds_never_reloads and self.files.path(file).exists():
            return  # the defect: the first version of a Secret is the only one Envoy ever sees
        self.files.publish(file, [secret])


class IngressGateway:
    def __init__(self, view: PodView, netns: str, directory: Path, envoy: GatewayEnvoy) -> None:
        self.view, self.netns, self.directory, self.envoy = view, netns, directory, envoy
        self._forwards: dict[int, Endpoint] = {}

    @classmethod
    def launch(cls, *, network: PodNetwork, supervisor: Supervisor, ca: CertificateAuthority, trust_domain: str,
               namespace: str, directory: Path, behaviour: GatewayBehaviour) -> "IngressGateway":
        netns, ip = network.add_pod()
        name = f"{NAME}-{tokens.token_hex(4)}"
        directory = directory / "pods" / name
        directory.mkdir(parents=True)
        # as Istio's gateway pods do: let the unprivileged proxy bind 80 and 443
        host.run(["ip", "netns", "exec", netns, "sysctl", "-qw", "net.ipv4.ip_unprivileged_port_start=0"])
        view = PodView(namespace=namespace, name=name, ip=ip, labels=dict(LABELS), service_account=SERVICE_ACCOUNT,
                       container_ports={}, has_sidecar=False)
        envoy = GatewayEnvoy(netns, directory / "proxy", node_id=f"router~{ip}~{name}.{namespace}~{namespace}.svc.cluster.local",
                             cluster=f"{NAME}.{namespace}", behaviour=behaviour)
        identity = ca.issue_workload(trust_domain, namespace, SERVICE_ACCOUNT)
        envoy.publish_identity(identity.chain_pem, identity.key_pem(), ca.cert_pem)
        envoy.publish(GatewayConfig([], [], behaviour), {})
        envoy.start(supervisor, directory / "istio-proxy.log")
        return cls(view, netns, directory, envoy)

    def reconcile(self, store: Store, destinations: list[Destination]) -> None:
        """Serve what the stored Gateways, VirtualServices and Secrets say now, towards ``destinations``."""
        config, secrets = gateway_config(store, namespace=self.view.namespace, labels=self.view.labels,
                                         destinations=destinations, behaviour=self.envoy.behaviour)
        self.envoy.publish(config, secrets)

    def endpoint(self, supervisor: Supervisor, port: int) -> Endpoint:
        """Where the gateway's ``port`` is reached from the host: one forwarder per port, started on first use."""
        if port not in self._forwards:
            self._forwards[port] = portforward.start(supervisor, self.netns, self.view.ip, port, self.directory)
        return self._forwards[port]
