"""The backend contract over a real cluster, through the official ``kubernetes`` client."""
from __future__ import annotations

import dataclasses
import shlex
from typing import Any, Iterable, Mapping

import urllib3
from kubernetes import client
from kubernetes.dynamic.exceptions import DynamicApiError
from kubernetes.stream import stream

from ..cluster import PROXY_CONTAINER, Cluster, Endpoint, ExecResult, Manifest, MeshInfo, Pod, selector_text
from ..database import ExternalDatabase
from ..errors import InfrastructureError, MeshproofError, PreflightError
from ..evidence import AcceptedConnection, from_istio_stats
from ..ports import ListeningSocket, parse_proc_net_tcp
from ..run import MANAGED_BY_LABEL, MANAGED_BY_VALUE, RUN_LABEL
from ..timeouts import DEFAULT as DEFAULT_TIMEOUTS, Timeouts
from ..validation import validate
from . import diagnostics as diag
from . import routes, targets
from .adapt import Adapter
from .capture import DEFAULT_IMAGE as DEFAULT_CAPTURE_IMAGE, KubeCapture
from .database import ClusterDatabases
from .client import REQUEST_TIMEOUT, one_line
from .exec_stream import ExecError, exit_code, read_streams
from .ingress import IngressGateway, container_port, node_addresses, outside_address, service_port
from .lease import SHARED_STATE, Lease, run_lease_name
from .ledger import Ledger, Ref
from .ownership import Guard, is_mesh_wide, mark_created
from .pods import all_ready, is_ready, is_terminating, to_pod
from .preflight import check_reachable
from .portforward import PortForward
from .profiles import Platform, wait_member_ready
from .reach import Reach, path_broken, stream_status, tcp_reachable
from .resources import by_api_version, items
from .rollout import wait_rolled_out
from .teardown import tear_down
from .waiting import delete_and_wait

FIELD_MANAGER = "meshproof"
#: seconds the health query waits for the API server's /version: a check has already failed
MACHINERY_TIMEOUT = 5


class ApplyError(MeshproofError):
    """The API server refused an object."""


class KubeCluster(Cluster):
    backend = "kube"

    def __init__(self, api: client.ApiClient, dyn: Any, platform: Platform, ingress: IngressGateway | None,
                 *, keep: bool = False, image_registry: str | None = None,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS, run_id: str = "local-test",
                 allow_mesh_wide_changes: bool = False, capture_image: str | None = None) -> None:
        self.api = api
        self.dyn = dyn
        self.platform = platform
        self.ingress = ingress
        self.keep = keep
        #: the run's timeouts: cleanup and diagnostics wait as long as the fixtures would
        self.timeouts = timeouts
        self.ledger = Ledger()
        self.adapter = Adapter(platform, ingress, self.ledger, image_registry)
        #: the ephemeral capture container's image (meshproof.kube.capture): as given, or the default rehosted
        self.capture_image = capture_image or (self.adapter.rehost(DEFAULT_CAPTURE_IMAGE) if image_registry
                                               else DEFAULT_CAPTURE_IMAGE)
        self._core = client.CoreV1Api(api)
        self._forwards: dict[int, PortForward] = {}
        self._databases = ClusterDatabases(self, delete_timeout=timeouts.delete)  # meshproof.kube.database
        self.reach = Reach()
        self.diagnostics_budget = diag.Budget(timeouts.diagnostics * diag.RUN_BUDGET_FAILURES)
        self._closed = False
        self.run_id = run_id
        #: the API server's gitVersion, for the report (set by connect)
        self.kubernetes_version = ""
        run_labels = {MANAGED_BY_LABEL: MANAGED_BY_VALUE, RUN_LABEL: run_id}
        root = platform.mesh.root_namespace
        self.guard = Guard(dyn, root, run_labels, allow_mesh_wide_changes=allow_mesh_wide_changes)
        #: namespaces every run shares: the mesh's root and the gateway's (meshproof.kube.lease)
        self.shared_namespaces = {root, *([ingress.namespace] if ingress else [])}
        self.shared_state = Lease(dyn, root, SHARED_STATE, run_id, run_labels)
        self.run_lease = Lease(dyn, root, run_lease_name(run_id), run_id, run_labels)

    def start(self) -> "KubeCluster":
        """Announce the run (its Lease keeps ``make clean`` off its objects while it lives)."""
        self.run_lease.acquire(timeout=self.timeouts.shared_state)
        return self

    def mesh(self) -> MeshInfo:
        """The platform's mesh, with where the selected ingress gateway's pods run and their labels."""
        if self.ingress is None:
            return self.platform.mesh
        return dataclasses.replace(self.platform.mesh, ingress_namespace=self.ingress.namespace,
                                   ingress_selector=dict(self.ingress.selector))

    def machinery_faults(self) -> list[str]:
        """The API server no longer answering ``/version`` (down, unreachable, credentials gone), and a
        kubelet or port-forward tunnel this run found broken (:meth:`machinery_fault`)."""
        faults = [fault] if (fault := self.machinery_fault()) else []
        try:
            check_reachable(self.api, MACHINERY_TIMEOUT)
        except PreflightError as exc:
            faults.append(str(exc))
        return faults

    def apply(self, manifest: Manifest) -> None:
        """Create or update objects of this run only: server-side apply as ``meshproof``, never forcing.

        The first apply of an object checks that it does not exist (meshproof.kube.ownership) and,
        in a shared namespace, first takes the cluster's shared-state Lease (meshproof.kube.lease).
        """
        objects = self.adapter.adapt(manifest)
        for obj in objects:  # refused as the API server and istiod would, before any of them is sent
            validate(obj)
        for obj in objects:
            ref = Ref.of(obj)
            resource = by_api_version(self.dyn, ref.api_version, ref.kind)
            mark_created(obj)
            if self.ledger.get(ref) is None:
                if ref.namespace in self.shared_namespaces and not self.shared_state.held:
                    self.shared_state.acquire(timeout=self.timeouts.shared_state)
                try:
                    self.guard.check_new(resource, obj, self.ledger)
                except BaseException:
                    self._release_shared_state_if_unused()
                    raise
            try:
                resource.server_side_apply(body=obj, namespace=ref.namespace or None,
                                           field_manager=FIELD_MANAGER, force_conflicts=False)
            except DynamicApiError as exc:
                self._release_shared_state_if_unused()
                raise ApplyError(f"apply {ref.describe()}: {one_line(exc)}") from None
            self.ledger.record(obj)
            if ref.kind == "ServiceMeshMember":
                wait_member_ready(resource, ref.namespace, ref.name, timeout=self.timeouts.workload_ready)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, timeout: float) -> None:
        """Delete an object this run applied; anything else is not the run's to delete and is left alone."""
        refs = self.ledger.find(kind, name, namespace)
        if not refs:
            return
        resource = by_api_version(self.dyn, refs[0].api_version, kind)
        # the object as the run applied it: only a policy without a selector is mesh-wide
        applied = self.ledger.get(refs[0]) or {}
        delete_and_wait(resource, name, namespace if resource.namespaced else None, timeout=timeout)
        for ref in refs:
            self.ledger.forget(ref)
        for mirror in self.adapter.mirrors_of(namespace or "", name) if kind == "Secret" else []:
            if self.ledger.get(mirror) is not None:
                delete_and_wait(resource, mirror.name, mirror.namespace, timeout=timeout)
                self.ledger.forget(mirror)
        if is_mesh_wide(applied, self.platform.mesh.root_namespace):
            self._restore_saved()
        self._release_shared_state_if_unused()

    def _restore_saved(self) -> None:
        failures = self.guard.restore()
        if failures:
            raise MeshproofError(f"{failures[0]}" + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))

    def _release_shared_state_if_unused(self) -> None:
        """Free the shared state once nothing of this run is left in it and nothing saved awaits restoring."""
        if self.shared_state.held and not self.guard.saved and not any(
                self.ledger.in_namespace(ns) for ns in self.shared_namespaces):
            self.shared_state.release()

    def wait_ready(self, namespace: str, selector: Mapping[str, str], *, timeout: float) -> list[Pod]:
        """Pods of the Deployments' current rollout: a just re-applied Deployment's old pods never count."""
        return [to_pod(p) for p in wait_rolled_out(self.dyn, namespace, selector, timeout=timeout)]

    def pod_ready(self, namespace: str, selector: Mapping[str, str]) -> bool:
        """From the pods' Ready conditions, which the kubelet sets from their readiness probes."""
        return all_ready(items(self.dyn, "v1", "Pod", namespace=namespace, label_selector=selector_text(selector))) is not None

    def exec(self, pod: Pod, container: str, argv: Iterable[str], *, timeout: float,
             stdin: bytes | None = None) -> ExecResult:
        """Run through the exec websocket; a broken path to the kubelet is an InfrastructureError, once for the run."""
        self.reach.check()
        command = tuple(argv)
        what = f"exec {shlex.join(command)} in {pod.namespace}/{pod.name}/{container}"
        try:
            ws = stream(self._core.connect_get_namespaced_pod_exec, pod.name, pod.namespace,
                        container=container, command=list(command), stdin=stdin is not None, stdout=True,
                        stderr=True, tty=False, _preload_content=False, _request_timeout=timeout)
        except client.ApiException as exc:
            if path_broken(stream_status(exc)):
                raise self.reach.broken(what, exc) from None
            raise ExecError(f"{what}: {one_line(exc)}") from None
        try:
            if stdin is not None:
                # the command reads exactly what it is given: the v4 protocol cannot close stdin
                ws.write_stdin(stdin.decode())
            streams = read_streams(ws.sock, timeout=timeout, what=what)
        finally:
            ws.close()
        return ExecResult(command, exit_code(streams.status, what=what), streams.stdout, streams.stderr)

    def list_pods(self, namespace: str) -> list[Pod]:
        return [to_pod(p) for p in self._listed("v1", "Pod", namespace) if not is_terminating(p)]

    def objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Manifest]:
        return self._listed(api_version, kind, namespace)

    def _listed(self, api_version: str, kind: str, namespace: str | None) -> list[Manifest]:
        try:
            return items(self.dyn, api_version, kind, **({"namespace": namespace} if namespace else {}))
        except DynamicApiError as exc:
            raise MeshproofError(f"cannot list {kind} in {namespace or 'the cluster'}: {one_line(exc)}") from None

    def namespace(self, name: str) -> Manifest | None:
        try:
            return by_api_version(self.dyn, "v1", "Namespace").get(name=name).to_dict()
        except DynamicApiError as exc:
            if exc.status == 404:
                return None
            raise MeshproofError(f"cannot read namespace {name}: {one_line(exc)}") from None

    def listening_sockets(self, pod: Pod) -> list[ListeningSocket]:
        """The kernel's TCP tables as any container of the pod sees them (one network namespace): ``cat`` of
        ``/proc/net/tcp`` and ``tcp6`` in the first container that has ``cat``, the sidecar's first
        (istio/proxyv2 is Ubuntu-based; distroless images have no ``cat``)."""
        containers = sorted(pod.containers, key=lambda c: c != PROXY_CONTAINER)
        tried = []
        for container in containers:
            try:
                result = self.exec(pod, container, ["cat", "/proc/net/tcp", "/proc/net/tcp6"],
                                   timeout=self.timeouts.request + 10)
            except ExecError as error:  # e.g. no cat in a distroless image: try the next container
                tried.append(f"{container}: {error}")
                continue
            if "local_address" in result.stdout:  # a node without IPv6 has no tcp6: the first table is enough
                return parse_proc_net_tcp(result.stdout)
            tried.append(f"{container}: {one_line(result.stderr) or f'exit {result.exit_code}'}")
        raise MeshproofError(f"cannot read the listening sockets of pod {pod.namespace}/{pod.name}: "
                             f"{'; '.join(tried) or 'it has no container'}")

    def proxy_admin(self, pod: Pod, path: str, *, timeout: float | None = None) -> str:
        """The sidecar's Envoy admin through pilot-agent: proxy images ship neither curl nor a shell."""
        result = self.exec(pod, PROXY_CONTAINER, ["pilot-agent", "request", "GET", path.lstrip("/")],
                           timeout=timeout or self.timeouts.diagnostics)
        if result.exit_code != 0:
            raise MeshproofError(f"Envoy admin {path} in {pod.namespace}/{pod.name}: {one_line(result.stderr)}")
        return result.stdout

    def inbound_connections(self, pod: Pod) -> list[AcceptedConnection]:
        """Istio's destination-reporter metrics from the sidecar's stats endpoint (no TLS version or cipher)."""
        return from_istio_stats(self.proxy_admin(pod, "/stats/prometheus"))

    def start_capture(self, pod: Pod, port: int) -> KubeCapture:
        """tcpdump in an ephemeral debug container of ``pod`` (meshproof.kube.capture); NotSupported where the
        cluster forbids it (RBAC, PodSecurity, security context constraints)."""
        return KubeCapture(pods=by_api_version(self.dyn, "v1", "Pod"), pod=pod, port=port, image=self.capture_image,
                           timeouts=self.timeouts, exec=self.exec, logs=self.logs)

    def logs(self, pod: Pod, container: str, *, timeout: float | None = None) -> str:
        """A container's log, through the kubelet; an unanswering kubelet is an InfrastructureError, once for the run."""
        self.reach.check()
        try:
            return self._core.read_namespaced_pod_log(pod.name, pod.namespace, container=container,
                                                      _request_timeout=timeout or self.timeouts.diagnostics)
        except client.ApiException as exc:
            if path_broken(exc.status or 0):
                raise self.reach.broken(f"logs of {pod.namespace}/{pod.name}/{container}", exc) from None
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.reach.broken(f"logs of {pod.namespace}/{pod.name}/{container}", exc) from None

    def ingress_endpoint(self, port: int) -> Endpoint:
        """The gateway's outside address if a TCP connection to it opens, else a port-forward that works.

        Neither reachable is an InfrastructureError naming both causes: a probe must
        never meet a refused node port or a dead tunnel and call it the mesh's doing.
        """
        if self.ingress is None:
            raise MeshproofError("this run found no ingress gateway")
        if port in self._forwards:
            return self._forwards[port].endpoint
        svc = self._core.read_namespaced_service(self.ingress.service, self.ingress.namespace)
        svc_dict = self.api.sanitize_for_serialization(svc)
        nodes = self.api.sanitize_for_serialization(self._core.list_node().items)
        found = outside_address(svc_dict, port, node_addresses(nodes)) or self._route_address(svc_dict, port)
        unreachable = tcp_reachable(found, timeout=self.timeouts.request) if found else "no outside address"
        if not unreachable:
            return found  # type: ignore[return-value]
        pod = self._gateway_pod()
        target = container_port(service_port(svc_dict, port), pod)
        forward = PortForward(self.api, self.ingress.namespace, pod["metadata"]["name"], target)
        try:
            forward.check()
        except InfrastructureError as exc:
            forward.close()
            raise InfrastructureError(f"the suite cannot reach the ingress gateway {self.ingress.describe()} port "
                                      f"{port}: {unreachable}; port-forward: {exc}") from None
        self._forwards[port] = forward
        return forward.endpoint

    def machinery_fault(self) -> str | None:
        """Why the suite could not reach pods or the gateway during this run, if it could not; else None."""
        return self.reach.cause or next((f.failure for f in self._forwards.values() if f.failure), None)

    def _route_address(self, svc: dict, port: int) -> Endpoint | None:
        """On OpenShift the router is the way in when the gateway Service has no outside address."""
        if self.platform.mesh.platform != "openshift":
            return None
        assert self.ingress is not None
        listed = items(self.dyn, routes.API_VERSION, "Route", namespace=self.ingress.namespace)
        return routes.route_address(listed, svc, service_port(svc, port))

    def _gateway_pod(self) -> dict:
        assert self.ingress is not None
        selector = selector_text(self.ingress.selector)
        pods = self.api.sanitize_for_serialization(
            self._core.list_namespaced_pod(self.ingress.namespace, label_selector=selector).items)
        ready = [p for p in pods if is_ready(p)]
        if not ready:
            raise MeshproofError(f"no ready ingress gateway pod {selector} in {self.ingress.namespace}")
        return ready[0]

    # --- external database (meshproof.kube.database) -------------------------
    def start_external_database(self, namespace: str, *, labels: Mapping[str, str],
                                timeout: float) -> ExternalDatabase:
        return self._databases.start(namespace, labels, timeout=timeout)

    def stop_external_database(self, namespace: str) -> None:
        self._databases.stop(namespace)
    # --- end external database -------------------------------------------------

    def diagnostics(self, namespace: str) -> dict[str, str]:
        """Pods, events, applied YAML, logs and Envoy pages, within one budget per failure and per run.

        Reads stop at the first unreachable kubelet (said once) or when the
        budget is spent: :attr:`timeouts.diagnostics <meshproof.timeouts.Timeouts.diagnostics>`
        seconds per failure, :data:`~meshproof.kube.diagnostics.RUN_BUDGET_FAILURES` times that per run.
        """
        budget = self.diagnostics_budget.for_failure(self.timeouts.diagnostics)
        try:
            raw = self.api.sanitize_for_serialization(
                self._core.list_namespaced_pod(namespace, _request_timeout=REQUEST_TIMEOUT).items)
        except Exception as exc:  # noqa: BLE001 - diagnostics never raise
            return {"pods": f"unavailable: {one_line(exc)}"}
        pods = [to_pod(p) for p in raw]
        out = {
            "pods": diag.describe_pods(raw),
            "events": diag.safely(lambda: diag.describe_events(self.api.sanitize_for_serialization(
                self._core.list_namespaced_event(namespace, _request_timeout=REQUEST_TIMEOUT).items))),
            "applied.yaml": diag.applied_yaml(self.ledger.in_namespace(namespace)),
        }
        reads = [(f"logs/{pod.name}/{container}", lambda t, p=pod, c=container: self.logs(p, c, timeout=t))
                 for pod in pods for container in pod.containers]
        reads += [(f"envoy/{pod.name}/{page}", lambda t, p=pod, g=page: self.proxy_admin(p, g, timeout=t))
                  for pod in diag.proxied(pods) for page in diag.ENVOY_PAGES]
        out.update(budget.read_all(reads, reach=self.reach))
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for forward in self._forwards.values():
            forward.close()
        if self.keep:  # the run's own objects stay; the user's saved policy and the shared state do not wait for it
            try:
                failures = self.guard.restore()
            finally:
                self.shared_state.release()
                self.run_lease.release()
            if failures:
                raise MeshproofError(f"{failures[0]}" + (f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""))
            return
        try:
            failures = tear_down(self.dyn, self.ledger, timeout=self.timeouts.delete).failures
            failures += self.guard.restore()
        finally:
            self.shared_state.release()
            self.run_lease.release()
        if not failures:
            targets.forget(self.run_id)  # nothing left for make clean to find
        if failures:
            raise MeshproofError(f"cleanup left {len(failures)} objects ({failures[0]}); run `make clean`")
