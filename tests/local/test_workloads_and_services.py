"""Workloads and Services of the reference mesh behave as a cluster's do (issue 10, items 5 to 7).

One reference mesh for the module: a namespace with injection ("mesh"), one
without ("legacy"), each with the upstream sleep client.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest

from meshproof.errors import ConfigError, MeshproofError
from meshproof.manifests import load, namespace, placed
from meshproof.outcome import NOT_READY, OK, READY, REFUSED, RESET, Outcome
from meshproof.probe import curl_in_pod, readiness
from meshproof.run import new_run_id
from meshproof.timeouts import Timeouts
from meshproof.wait import consistently, eventually

TIMEOUTS = Timeouts()
MESH, LEGACY = "mesh", "legacy"
HTTPBIN_IMAGE = "docker.io/mccutchen/go-httpbin:v2.15.0"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from meshproof.local.backend import LocalCluster

    local = LocalCluster(f"wl{new_run_id()}").start()
    try:
        local.apply_all([namespace(MESH, {"istio-injection": "enabled"}), namespace(LEGACY, {})])
        for ns in (MESH, LEGACY):
            local.apply_all(placed(load("workloads/sleep.yaml"), ns, {}))
        yield local
    finally:
        local.close()


def client(cluster, ns: str):
    return cluster.wait_ready(ns, {"app": "sleep"}, timeout=TIMEOUTS.workload_ready)[0]


def container(name: str = "httpbin", **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": HTTPBIN_IMAGE, "ports": [{"containerPort": 8080, "name": "http"}], **extra}


def workload(kind: str, name: str, ns: str, containers: list[dict], *, annotations: dict | None = None,
             **spec: Any) -> dict[str, Any]:
    template = {"metadata": {"labels": {"app": name}, "annotations": annotations or {}}, "spec": {"containers": containers}}
    return {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": template, **spec}}


def service(name: str, ns: str, ports: list[dict], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": ports, **spec}}


def expect(what: str, probe, expected: Outcome) -> None:
    waited = eventually(what, probe, expected, TIMEOUTS)
    assert waited.held, f"{waited.headline}; last: {waited.last and waited.last.output}"


def stays(what: str, probe, expected: Outcome) -> None:
    waited = consistently(what, probe, expected, TIMEOUTS)
    assert waited.held, f"{waited.headline}; last: {waited.last and waited.last.output}"


def curl(cluster, ns: str, url: str):
    return lambda: curl_in_pod(cluster, client(cluster, ns), url, timeout=TIMEOUTS.request)


# ---------------------------------------------------------------- item 5: StatefulSet


def test_a_statefulset_makes_stably_named_pods_each_reachable_through_its_headless_service(cluster):
    """StatefulSet pods are <name>-0..N-1 with hostname and subdomain = serviceName, so the governing headless
    Service gives each a DNS name <pod>.<service>.<ns>.svc.cluster.local (kubernetes.io, "StatefulSets",
    Stable Network ID; "DNS for Services and Pods")."""
    cluster.apply(service("web", LEGACY, [{"name": "http", "port": 8080}], clusterIP="None"))
    cluster.apply(workload("StatefulSet", "web", LEGACY, [container()], replicas=2, serviceName="web"))
    pods = cluster.wait_ready(LEGACY, {"app": "web"}, timeout=TIMEOUTS.workload_ready)
    assert sorted(p.name for p in pods) == ["web-0", "web-1"]
    for pod in pods:
        url = f"http://{pod.name}.web.{LEGACY}.svc.cluster.local:8080/headers"
        expect(f"{pod.name} by its own DNS name", curl(cluster, LEGACY, url), OK(200))
    resolved = cluster.exec(client(cluster, LEGACY), "sleep", ["getent", "ahostsv4", "web-1.web.legacy.svc.cluster.local"],
                            timeout=TIMEOUTS.request)
    assert resolved.stdout.split()[0] == next(p.ip for p in pods if p.name == "web-1"), resolved


def test_waiting_for_pods_no_workload_made_says_so(cluster):
    """Item 5's complaint: the wait ended with "not ready (probes: )"; it now names the missing pods."""
    with pytest.raises(MeshproofError, match=r"no pod matches the selector \(pods in legacy: .*sleep-"):
        cluster.wait_ready(LEGACY, {"app": "nowhere"}, timeout=0.2)


def test_a_bare_pod_runs_under_its_own_name_and_its_spec_is_immutable(cluster):
    """A Pod is one pod of its name; the API server refuses spec changes ("Pod updates may not change fields")."""
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "solo", "namespace": LEGACY, "labels": {"app": "solo"}},
           "spec": {"containers": [container()]}}
    cluster.apply(pod)
    (running,) = cluster.wait_ready(LEGACY, {"app": "solo"}, timeout=TIMEOUTS.workload_ready)
    assert running.name == "solo"
    with pytest.raises(ConfigError, match="spec is immutable"):
        cluster.apply({**pod, "spec": {"containers": [container(args=["--verbose"])]}})


# ---------------------------------------------------------------- item 6: probes


def ready(cluster, ns: str, app: str):
    return lambda: readiness(cluster, ns, {"app": app})


def probe_verdict(cluster, ns: str, app: str, seen: str) -> str:
    """The kubelet's account of the pod's probes once it says ``seen`` (or the wait for the workload ran out)."""
    (pod,) = cluster._matching(ns, {"app": app})
    deadline = time.monotonic() + TIMEOUTS.workload_ready
    while seen not in cluster.kubelet.describe(pod.view.name) and time.monotonic() < deadline:
        time.sleep(TIMEOUTS.poll_interval)
    return cluster.kubelet.describe(pod.view.name)


@pytest.mark.parametrize("ns, annotations, expected, seen", [
    pytest.param(LEGACY, {}, NOT_READY, "TCP :9999: failing (last REFUSED", id="no sidecar: nothing listens, refused"),
    pytest.param(MESH, {}, NOT_READY, "GET :15020/app-health/httpbin/readyz: failing (last OK(500)",
                 id="sidecar, rewritten: the agent dials the port on localhost, refused"),
    pytest.param(MESH, {"sidecar.istio.io/rewriteAppHTTPProbers": "false"}, READY, "TCP :9999: passing (last connected",
                 id="sidecar, not rewritten: the sidecar accepts every captured port"),
])
def test_a_tcp_probe_of_a_port_where_nothing_listens(cluster, ns, annotations, expected, seen):
    """Istio rewrites tcpSocket probes of injected pods to the agent's /app-health/<container>/readyz
    (pkg/kube/inject/app_probe.go), which dials the original port on localhost and answers 500 when nothing
    listens (pilot/cmd/pilot-agent/status/server.go, handleAppProbeTCPSocket).  Without the rewrite the
    kubelet's connection is captured and accepted by the sidecar, so the probe always succeeds."""
    name = f"tcp-{'mesh' if ns == MESH else 'plain'}-{'rewritten' if not annotations else 'kept'}"
    probe = {"tcpSocket": {"port": 9999}, "periodSeconds": 1, "failureThreshold": 1}
    cluster.apply(workload("Deployment", name, ns, [container(readinessProbe=probe)], annotations=annotations))
    check = stays if expected == NOT_READY else expect
    assert seen in probe_verdict(cluster, ns, name, seen)
    check(f"readiness of {name}", ready(cluster, ns, name), expected)


def test_a_tcp_probe_of_the_listening_port_passes_through_the_agent(cluster):
    probe = {"tcpSocket": {"port": "http"}, "periodSeconds": 1}
    cluster.apply(workload("Deployment", "tcp-ok", MESH, [container(readinessProbe=probe)]))
    expect("readiness of tcp-ok", ready(cluster, MESH, "tcp-ok"), READY)


@pytest.mark.parametrize("ns", [LEGACY, MESH])
def test_exec_probes_run_in_the_container_and_are_not_rewritten(cluster, ns):
    """exec probes run the command in the container; success is exit 0 (kubernetes.io, "Configure Liveness,
    Readiness and Startup Probes"); Istio leaves them alone."""
    failing = {"exec": {"command": ["sh", "-c", "exit 3"]}, "periodSeconds": 1, "failureThreshold": 1}
    passing = {"exec": {"command": ["sh", "-c", "exit 0"]}, "periodSeconds": 1}
    cluster.apply(workload("Deployment", "exec-fails", ns, [container(readinessProbe=failing)]))
    cluster.apply(workload("Deployment", "exec-passes", ns, [container(readinessProbe=passing)]))
    expect("readiness of exec-passes", ready(cluster, ns, "exec-passes"), READY)
    seen = "exec sh -c 'exit 3': failing (last exit 3"
    assert seen in probe_verdict(cluster, ns, "exec-fails", seen)
    stays("readiness of exec-fails", ready(cluster, ns, "exec-fails"), NOT_READY)


@pytest.mark.parametrize("ns", [LEGACY, MESH])
def test_a_failing_liveness_probe_restarts_the_container(cluster, ns):
    """The kubelet kills and restarts a container whose liveness probe fails failureThreshold times in a row
    (restartPolicy Always); kubectl shows the count as RESTARTS.  With a sidecar the probe goes through the
    agent, which answers the app's 500."""
    probe = {"httpGet": {"path": "/status/500", "port": "http"}, "periodSeconds": 1, "failureThreshold": 1}
    cluster.apply(workload("Deployment", "unhealthy", ns, [container(livenessProbe=probe)]))
    (pod,) = cluster.wait_ready(ns, {"app": "unhealthy"}, timeout=TIMEOUTS.workload_ready)
    deadline = time.monotonic() + TIMEOUTS.workload_ready
    while cluster.restart_count(pod, "httpbin") < 2 and time.monotonic() < deadline:
        time.sleep(TIMEOUTS.poll_interval)
    assert cluster.restart_count(pod, "httpbin") >= 2
    assert "httpbin (restarts " in cluster.diagnostics(ns)[f"pod {pod.name}"]


# ---------------------------------------------------------------- item 7: ClusterIP with port != targetPort


@pytest.fixture(scope="module")
def httpbin_8000(cluster) -> str:
    """Upstream's httpbin sample: Service port 8000 to the named container port http (8080)."""
    cluster.apply(service("httpbin", MESH, [{"name": "http", "port": 8000, "targetPort": "http"},
                                            {"name": "tcp-raw", "port": 9000, "targetPort": 8080},
                                            {"name": "dns", "port": 53, "targetPort": 5353, "protocol": "UDP"}]))
    cluster.apply(workload("Deployment", "httpbin", MESH, [container()]))
    cluster.wait_ready(MESH, {"app": "httpbin"}, timeout=TIMEOUTS.workload_ready)
    return f"httpbin.{MESH}"


def strict(cluster, mode: str) -> None:
    cluster.apply({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                   "metadata": {"name": "default", "namespace": MESH}, "spec": {"mtls": {"mode": mode}}})


def test_a_service_port_is_translated_to_its_target_port_for_clients_with_and_without_sidecar(cluster, httpbin_8000):
    """kube-proxy DNATs ClusterIP:8000 to podIP:8080 for the legacy client; the in-mesh client's sidecar
    matches ClusterIP:8000 and dials the endpoint podIP:8080 with mTLS.  Under STRICT only the latter is served
    (Istio, "Mutual TLS Migration": the plaintext client is reset)."""
    legacy = curl(cluster, LEGACY, f"http://{httpbin_8000}:8000/headers")
    in_mesh = curl(cluster, MESH, f"http://{httpbin_8000}:8000/headers")
    expect("legacy client under PERMISSIVE", legacy, OK(200))
    expect("in-mesh client under PERMISSIVE", in_mesh, OK(200))
    strict(cluster, "STRICT")
    try:
        expect("legacy client under STRICT", legacy, RESET)
        expect("in-mesh client under STRICT", in_mesh, OK(200))
        assert "URI=spiffe://cluster.local/ns/mesh/sa/sleep" in in_mesh().echoed_header("X-Forwarded-Client-Cert")
    finally:
        strict(cluster, "PERMISSIVE")
    expect("legacy client back under PERMISSIVE", legacy, OK(200))


def test_a_second_port_of_the_service_with_a_numeric_target_port(cluster, httpbin_8000):
    for ns in (LEGACY, MESH):
        expect(f"{ns} client on port 9000", curl(cluster, ns, f"http://{httpbin_8000}:9000/status/202"), OK(202))


def test_a_service_without_endpoints_refuses(cluster):
    """A ClusterIP with no ready endpoint is refused (kube-proxy installs a REJECT rule)."""
    cluster.apply(service("nobody", LEGACY, [{"port": 80, "targetPort": 8080}]))
    expect("a Service selecting no pod", curl(cluster, LEGACY, f"http://nobody.{LEGACY}/"), REFUSED)



def test_a_pod_that_fails_half_way_is_taken_apart_again(cluster, monkeypatch):
    """A container that cannot start (here: made to fail) leaves no network namespace, process or directory behind."""
    namespaces, pods = list(cluster.network.namespaces), set(cluster.pods)
    processes, directories = len(cluster.supervisor._processes), set((cluster.directory / "pods").iterdir())
    start = cluster._start_container

    def fails_on_second(local, spec):
        if spec["name"] == "second":
            raise MeshproofError("second container cannot start")
        start(local, spec)

    monkeypatch.setattr(cluster, "_start_container", fails_on_second)
    with pytest.raises(MeshproofError, match="second container cannot start"):
        cluster.apply_all([workload("Deployment", "half-built", MESH, [container("first"), container("second")])])
    assert cluster.network.namespaces == namespaces and set(cluster.pods) == pods
    assert len(cluster.supervisor._processes) == processes
    assert set((cluster.directory / "pods").iterdir()) == directories
