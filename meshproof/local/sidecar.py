"""The injected sidecar of a reference-mesh pod: iptables capture and a real Envoy as uid 1337."""
from __future__ import annotations

import http.client
import json
import socket
import sys
from pathlib import Path
from typing import Mapping

from . import host
from .host import envoy_binary
from .envoy.files import ConfigFiles
from .envoy.model import DISK_CERT_CHAIN, DISK_KEY, SidecarConfig
from .envoy.pieces import ROOT_SECRET, bootstrap, root_secret, workload_secret
from .envoy.sidecar import INBOUND_PORT, OUTBOUND_PORT, sidecar_clusters, sidecar_listeners
from .probes import APP_PROBERS_ENV, STATUS_PORT
from .processes import IMPORT_ROOT, Process, Supervisor

#: Istio's init container rules: inbound to 15006 except the agent's status port, outbound to 15001,
#: the proxy's own uid exempt
CAPTURE_RULES = f"""*nat
:ISTIO_INBOUND - [0:0]
:ISTIO_IN_REDIRECT - [0:0]
:ISTIO_OUTPUT - [0:0]
:ISTIO_REDIRECT - [0:0]
-A PREROUTING -p tcp -j ISTIO_INBOUND
-A OUTPUT -p tcp -j ISTIO_OUTPUT
-A ISTIO_INBOUND -p tcp --dport {STATUS_PORT} -j RETURN
-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT
-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {INBOUND_PORT}
-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}
-A ISTIO_OUTPUT -m owner --uid-owner {host.PROXY_UID} -j RETURN
-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN
-A ISTIO_OUTPUT -j ISTIO_REDIRECT
COMMIT
"""


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: Path, timeout: float = 2.0) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = str(path)

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


class Envoy:
    """A mesh proxy of a pod: a real Envoy as uid 1337 fed by watched files, with its SPIFFE identity by SDS."""

    def __init__(self, netns: str, directory: Path, node_id: str, cluster: str) -> None:
        self.netns = netns
        self.files = ConfigFiles(directory)
        self.admin_socket = directory / "admin.sock"
        self.node_id = node_id
        self.cluster = cluster
        self.process: Process | None = None

    def start(self, supervisor: Supervisor, log: Path) -> None:
        """Launch Envoy on the files published so far; later publications reach it without restart."""
        path = self.files.write_bootstrap(bootstrap(self.files, self.node_id, self.cluster, self.admin_socket))
        argv = host.netns_exec(
            self.netns,
            [envoy_binary(), "-c", str(path), "--disable-hot-restart", "--concurrency", "1", "-l", "warning",
             # access logs reach their file within a poll of the checks that read them
             "--file-flush-interval-msec", "200",
             "--service-node", self.node_id, "--service-cluster", self.cluster],
            uid=host.PROXY_UID,
        )
        self.process = supervisor.start(f"envoy {self.node_id}", argv, log)

    def publish_identity(self, cert_chain: bytes, key: bytes, root: bytes) -> None:
        """SDS: the workload certificate and the mesh root reach Envoy through watched secrets."""
        self.files.publish("sds-default.json", [workload_secret(cert_chain, key)])
        self.files.publish(f"sds-{ROOT_SECRET}.json", [root_secret(ROOT_SECRET, root)])

    def admin(self, path: str) -> tuple[int, str]:
        connection = UnixHTTPConnection(self.admin_socket)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, response.read().decode(errors="replace")
        finally:
            connection.close()

    def ready(self) -> bool:
        if self.process is None or not self.process.alive():
            return False
        try:
            status, _ = self.admin("/ready")
        except OSError:
            return False
        return status == 200


class Sidecar(Envoy):
    """The injected proxy: traffic captured by iptables, configured from the pod's SidecarConfig."""

    agent: Process | None = None

    def install(self, supervisor: Supervisor, config: SidecarConfig, cert_chain: bytes, key: bytes, root: bytes, log: Path,
                *, app_probers: Mapping[str, dict]) -> None:
        host.iptables_restore(self.netns, CAPTURE_RULES)
        self.publish_identity(cert_chain, key, root)
        if config.behaviour.certs_on_disk:
            self.files.write_private(DISK_CERT_CHAIN, cert_chain)
            self.files.write_private(DISK_KEY, key)
        self.publish(config)
        self.start(supervisor, log)
        self.start_agent(supervisor, app_probers, log)

    def start_agent(self, supervisor: Supervisor, app_probers: Mapping[str, dict], log: Path) -> None:
        """pilot-agent's status port, logging with Envoy as in the istio-proxy container.

        It runs as root here (the interpreter is not readable by uid 1337); its calls to
        127.0.0.1 escape capture all the same.
        """
        env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": IMPORT_ROOT,
               APP_PROBERS_ENV: json.dumps(dict(app_probers))}
        argv = host.netns_exec(self.netns, [sys.executable, "-m", "meshproof.local.apps.status_agent"])
        self.agent = supervisor.start(f"pilot-agent {self.node_id}", argv, log, env=env)

    #: the configuration last published, so an unchanged one costs no rendering
    published: SidecarConfig | None = None

    def publish(self, config: SidecarConfig) -> bool:
        """Write LDS and CDS when ``config`` differs from the last one; returns whether a file changed."""
        if config == self.published:
            return False
        self.published = config
        changed_clusters = self.files.publish("cds.json", sidecar_clusters(self.files, config))
        changed_listeners = self.files.publish("lds.json", sidecar_listeners(self.files, config))
        return changed_clusters or changed_listeners
