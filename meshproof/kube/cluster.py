"""The backend contract over a real cluster, through the official ``kubernetes`` client."""
from __future__ import annotations

import shlex
from typing import Any, Iterable, Mapping

from kubernetes import client
from kubernetes.dynamic.exceptions import DynamicApiError
from kubernetes.stream import stream

from ..cluster import PROXY_CONTAINER, Cluster, Endpoint, ExecResult, Manifest, MeshInfo, Pod, selector_text
from ..egress import ExternalDatabase
from ..errors import MeshproofError
from ..timeouts import DEFAULT as DEFAULT_TIMEOUTS, Timeouts
from ..validation import validate
from . import diagnostics as diag
from . import routes
from .adapt import Adapter
from .database import ClusterDatabases
from .client import one_line
from .exec_stream import ExecError, exit_code, read_streams
from .ingress import IngressGateway, container_port, node_addresses, outside_address, service_port
from .ledger import Ledger, Ref
from .pods import all_ready, is_ready, to_pod
from .portforward import PortForward
from .profiles import Platform
from .resources import by_api_version, by_kind, items
from .rollout import wait_rolled_out
from .teardown import tear_down
from .waiting import delete_and_wait

FIELD_MANAGER = "meshproof"


class ApplyError(MeshproofError):
    """The API server refused an object."""


class KubeCluster(Cluster):
    backend = "kube"

    def __init__(self, api: client.ApiClient, dyn: Any, platform: Platform, ingress: IngressGateway | None,
                 *, keep: bool = False, image_registry: str | None = None,
                 timeouts: Timeouts = DEFAULT_TIMEOUTS) -> None:
        self.api = api
        self.dyn = dyn
        self.platform = platform
        self.ingress = ingress
        self.keep = keep
        #: the run's timeouts: cleanup and diagnostics wait as long as the fixtures would
        self.timeouts = timeouts
        self.ledger = Ledger()
        self.adapter = Adapter(platform, ingress, self.ledger, image_registry)
        self._core = client.CoreV1Api(api)
        self._forwards: dict[int, PortForward] = {}
        self._databases = ClusterDatabases(self, delete_timeout=timeouts.delete)  # meshproof.kube.database
        self._closed = False

    def mesh(self) -> MeshInfo:
        return self.platform.mesh

    def apply(self, manifest: Manifest) -> None:
        objects = self.adapter.adapt(manifest)
        for obj in objects:  # refused as the API server and istiod would, before any of them is sent
            validate(obj)
        for obj in objects:
            ref = Ref.of(obj)
            resource = by_api_version(self.dyn, ref.api_version, ref.kind)
            try:
                resource.server_side_apply(body=obj, namespace=ref.namespace or None,
                                           field_manager=FIELD_MANAGER, force_conflicts=True)
            except DynamicApiError as exc:
                raise ApplyError(f"apply {ref.describe()}: {one_line(exc)}") from None
            self.ledger.record(obj)

    def delete(self, kind: str, name: str, namespace: str | None = None, *, timeout: float) -> None:
        refs = self.ledger.find(kind, name, namespace)
        resource = by_api_version(self.dyn, refs[0].api_version, kind) if refs else by_kind(self.dyn, kind)
        delete_and_wait(resource, name, namespace if resource.namespaced else None, timeout=timeout)
        for ref in refs:
            self.ledger.forget(ref)

    def wait_ready(self, namespace: str, selector: Mapping[str, str], *, timeout: float) -> list[Pod]:
        """Pods of the Deployments' current rollout: a just re-applied Deployment's old pods never count."""
        return [to_pod(p) for p in wait_rolled_out(self.dyn, namespace, selector, timeout=timeout)]

    def pod_ready(self, namespace: str, selector: Mapping[str, str]) -> bool:
        """From the pods' Ready conditions, which the kubelet sets from their readiness probes."""
        return all_ready(items(self.dyn, "v1", "Pod", namespace=namespace, label_selector=selector_text(selector))) is not None

    def exec(self, pod: Pod, container: str, argv: Iterable[str], *, timeout: float,
             stdin: bytes | None = None) -> ExecResult:
        command = tuple(argv)
        what = f"exec {shlex.join(command)} in {pod.namespace}/{pod.name}/{container}"
        try:
            ws = stream(self._core.connect_get_namespaced_pod_exec, pod.name, pod.namespace,
                        container=container, command=list(command), stdin=stdin is not None, stdout=True,
                        stderr=True, tty=False, _preload_content=False)
        except client.ApiException as exc:
            raise ExecError(f"{what}: {one_line(exc)}") from None
        try:
            if stdin is not None:
                # the command reads exactly what it is given: the v4 protocol cannot close stdin
                ws.write_stdin(stdin.decode())
            streams = read_streams(ws.sock, timeout=timeout, what=what)
        finally:
            ws.close()
        return ExecResult(command, exit_code(streams.status, what=what), streams.stdout, streams.stderr)

    def proxy_admin(self, pod: Pod, path: str) -> str:
        """The sidecar's Envoy admin through pilot-agent: proxy images ship neither curl nor a shell."""
        result = self.exec(pod, PROXY_CONTAINER, ["pilot-agent", "request", "GET", path.lstrip("/")],
                           timeout=self.timeouts.diagnostics)
        if result.exit_code != 0:
            raise MeshproofError(f"Envoy admin {path} in {pod.namespace}/{pod.name}: {one_line(result.stderr)}")
        return result.stdout

    def logs(self, pod: Pod, container: str) -> str:
        return self._core.read_namespaced_pod_log(pod.name, pod.namespace, container=container)

    def ingress_endpoint(self, port: int) -> Endpoint:
        if self.ingress is None:
            raise MeshproofError("this run found no ingress gateway")
        if port in self._forwards:
            return self._forwards[port].endpoint
        svc = self._core.read_namespaced_service(self.ingress.service, self.ingress.namespace)
        svc_dict = self.api.sanitize_for_serialization(svc)
        nodes = self.api.sanitize_for_serialization(self._core.list_node().items)
        found = outside_address(svc_dict, port, node_addresses(nodes)) or self._route_address(svc_dict, port)
        if found:
            return found
        pod = self._gateway_pod()
        target = container_port(service_port(svc_dict, port), pod)
        self._forwards[port] = PortForward(self.api, self.ingress.namespace, pod["metadata"]["name"], target)
        return self._forwards[port].endpoint

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
        try:
            raw = self.api.sanitize_for_serialization(self._core.list_namespaced_pod(namespace).items)
        except Exception as exc:  # noqa: BLE001 - diagnostics never raise
            return {"pods": f"unavailable: {one_line(exc)}"}
        pods = [to_pod(p) for p in raw]
        out = {
            "pods": diag.describe_pods(raw),
            "events": diag.safely(lambda: diag.describe_events(self.api.sanitize_for_serialization(
                self._core.list_namespaced_event(namespace).items))),
            "applied.yaml": diag.applied_yaml(self.ledger.in_namespace(namespace)),
        }
        for pod in pods:
            for container in pod.containers:
                out[f"logs/{pod.name}/{container}"] = diag.safely(lambda: self.logs(pod, container))
        for pod in diag.proxied(pods):
            for page in diag.ENVOY_PAGES:
                out[f"envoy/{pod.name}/{page}"] = diag.safely(lambda: self.proxy_admin(pod, page))
        return out

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for forward in self._forwards.values():
            forward.close()
        if self.keep:
            return
        failures = tear_down(self.dyn, self.ledger, timeout=self.timeouts.delete).failures
        if failures:
            raise MeshproofError(f"cleanup left {len(failures)} objects ({failures[0]}); run `make clean`")
