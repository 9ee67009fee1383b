"""The injected sidecar of a reference-mesh pod: iptables capture and a real Envoy as uid 1337."""
from __future__ import annotations

import http.client
import json
import re
import socket
import sys
import time
from pathlib import Path
from typing import Iterable, Mapping

from ..errors import MeshproofError
from . import host
from .host import envoy_binary
from .envoy.files import ConfigFiles
from .envoy.model import DISK_CERT_CHAIN, DISK_KEY, SidecarConfig
from .envoy.pieces import ROOT_SECRET, bootstrap, root_secret, workload_secret
from .envoy.sidecar import INBOUND_PORT, OUTBOUND_PORT, sidecar_clusters, sidecar_listeners
from .status_port import APP_PROBERS_ENV, STATUS_PORT
from .processes import IMPORT_ROOT, Process, Supervisor


def capture_rules(excluded: Iterable[int] = (), *, only: Iterable[int] | None = None) -> str:
    """Istio's init container rules (istio-iptables): inbound to 15006, outbound to 15001, the proxy's own uid exempt.

    Inbound capture takes every port (``-b '*'``, the default of
    ``traffic.sidecar.istio.io/includeInboundPorts``) but the agent's status port
    and ``excluded`` (``-d``: excludeInboundPorts), as istio-iptables writes
    ISTIO_INBOUND: a RETURN per excluded port, then one catch-all redirect
    (istio/istio tools/istio-iptables/pkg/capture/run.go and its golden
    testdata/inbound-wildcard-exclude.golden; istio.io
    "Sidecar traffic annotations": excludeInboundPorts "only applies when all
    inbound traffic (i.e. '*') is being redirected").  ``only``: redirect just
    these ports (``-b PORTS``), which a deliberate defect uses.
    """
    if only is None:
        inbound = [f"-A ISTIO_INBOUND -p tcp --dport {port} -j RETURN" for port in sorted({STATUS_PORT, *excluded})]
        inbound.append("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")
    else:
        inbound = [f"-A ISTIO_INBOUND -p tcp --dport {port} -j ISTIO_IN_REDIRECT"
                   for port in sorted(set(only) - {STATUS_PORT, *excluded})]
    lines = [
        "*nat", ":ISTIO_INBOUND - [0:0]", ":ISTIO_IN_REDIRECT - [0:0]", ":ISTIO_OUTPUT - [0:0]",
        ":ISTIO_REDIRECT - [0:0]",
        "-A PREROUTING -p tcp -j ISTIO_INBOUND",
        "-A OUTPUT -p tcp -j ISTIO_OUTPUT",
        *inbound,
        f"-A ISTIO_IN_REDIRECT -p tcp -j REDIRECT --to-ports {INBOUND_PORT}",
        f"-A ISTIO_REDIRECT -p tcp -j REDIRECT --to-ports {OUTBOUND_PORT}",
        f"-A ISTIO_OUTPUT -m owner --uid-owner {host.PROXY_UID} -j RETURN",
        "-A ISTIO_OUTPUT -d 127.0.0.1/32 -j RETURN",
        "-A ISTIO_OUTPUT -j ISTIO_REDIRECT",
        "COMMIT",
    ]
    return "\n".join(lines) + "\n"


#: seconds a reading of a proxy's access logs waits for Envoy's flush thread, and the pause between two looks;
#: a line is handed to that thread when written (--file-flush-min-size-kb 0), so the wait is normally none
ACCESS_LOG_FLUSH_WAIT = 5.0
ACCESS_LOG_FLUSH_POLL = 0.01


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
             # pilot-agent's drain settings (istio/istio pkg/envoy/proxy.go): a listener update drains the
             # connections of a changed filter chain at once (HTTP/1.1: Connection: close on the next response)
             "--drain-time-s", "45", "--drain-strategy", "immediate", "--parent-shutdown-time-s", "60",
             # every access-log line is handed to Envoy's flush thread when written (no 64 KiB batching);
             # the interval is the backstop. A reading still waits for the buffers (flush_access_logs)
             "--file-flush-min-size-kb", "0", "--file-flush-interval-msec", "10000",
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

    def flush_access_logs(self) -> None:
        """Return once Envoy's access-log buffers are written to their files (MeshproofError after
        :data:`ACCESS_LOG_FLUSH_WAIT` seconds).

        Envoy buffers each access-log line and writes it from a flush thread; its gauge
        ``filesystem.write_total_buffered`` (bytes, envoyproxy.io: access log statistics) is 0 when
        nothing waits. Without this, a reading taken just after a call can miss that call and
        count it in the next reading instead.
        """
        deadline = time.monotonic() + ACCESS_LOG_FLUSH_WAIT
        while True:
            try:
                status, body = self.admin("/stats?filter=^filesystem\\.write_total_buffered$")
            except OSError as e:
                raise MeshproofError(f"Envoy {self.node_id}: cannot read its access-log buffer: {e}") from e
            buffered = re.search(r"write_total_buffered: (\d+)", body)
            if status != 200 or buffered is None:
                raise MeshproofError(f"Envoy {self.node_id}: no access-log buffer gauge (HTTP {status})")
            if buffered.group(1) == "0":
                return
            if time.monotonic() > deadline:
                raise MeshproofError(f"Envoy {self.node_id}: {buffered.group(1)} bytes of access log still "
                                     f"unwritten after {ACCESS_LOG_FLUSH_WAIT} s")
            time.sleep(ACCESS_LOG_FLUSH_POLL)

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

    def prepare(self, cert_chain: bytes, key: bytes, root: bytes, *, disk_certs: bool,
                capture: str | None = None) -> None:
        """The init container's capture and the identity the agent fetched, before any process starts.

        ``capture``: the pod's iptables rules (:func:`capture_rules`; by default every inbound port).
        """
        host.iptables_restore(self.netns, capture if capture is not None else capture_rules())
        self.publish_identity(cert_chain, key, root)
        if disk_certs:
            self.files.write_private(DISK_CERT_CHAIN, cert_chain)
            self.files.write_private(DISK_KEY, key)

    def launch(self, supervisor: Supervisor, config: SidecarConfig, log: Path, *,
               app_probers: Mapping[str, dict]) -> None:
        """Envoy on ``config`` (published unless it already is), then the agent."""
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
        self.files.new_push()
        changed_clusters = self.files.publish("cds.json", sidecar_clusters(self.files, config))
        changed_listeners = self.files.publish("lds.json", sidecar_listeners(self.files, config))
        return changed_clusters or changed_listeners
