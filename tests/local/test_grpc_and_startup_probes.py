"""gRPC probes and startup probes in the reference mesh, as a kubelet runs them and as Istio rewrites them
(issue 10, "Workloads like a cluster's": probes httpGet, tcpSocket, exec and grpc).

One reference mesh for the module: a namespace with injection and a STRICT
PeerAuthentication ("mesh"), one without ("legacy").  The gRPC app is
Kubernetes' own e2e test server, ``agnhost grpc-health-checking``
(meshproof.local.apps.agnhost): a gRPC health service on 5000 that answers
SERVING, or NOT_SERVING from the start with ``--delay-unhealthy-sec 0``.
"""
from __future__ import annotations

from typing import Any, Iterator

import pytest

from meshproof.manifests import namespace
from meshproof.outcome import GRPC_STATUS, HEALTH, NOT_READY, READY, RESET
from meshproof.probe import readiness
from meshproof.run import new_run_id
from meshproof.timeouts import Timeouts
from meshproof.wait import consistently, eventually, polls

TIMEOUTS = Timeouts()
MESH, LEGACY = "mesh", "legacy"
AGNHOST_IMAGE = "registry.k8s.io/e2e-test-images/agnhost:2.53"
HTTPBIN_IMAGE = "docker.io/mccutchen/go-httpbin:v2.15.0"
GRPC_PORT = 5000
KEEP = {"sidecar.istio.io/rewriteAppHTTPProbers": "false"}
#: a window long enough for a probe with periodSeconds 1 and failureThreshold 1 to have run a few times
SEVERAL_PERIODS = 4.0


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    from meshproof.local.backend import LocalCluster

    local = LocalCluster(f"gp{new_run_id()}").start()
    try:
        local.apply_all([namespace(MESH, {"istio-injection": "enabled"}), namespace(LEGACY, {})])
        local.apply({"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
                     "metadata": {"name": "default", "namespace": MESH}, "spec": {"mtls": {"mode": "STRICT"}}})
        yield local
    finally:
        local.close()


def agnhost(*flags: str, **probes: Any) -> dict[str, Any]:
    return {"name": "grpc", "image": AGNHOST_IMAGE, "args": ["grpc-health-checking", *flags],
            "ports": [{"containerPort": GRPC_PORT, "name": "grpc"}, {"containerPort": 8080, "name": "control"}],
            **probes}


def httpbin(**probes: Any) -> dict[str, Any]:
    return {"name": "httpbin", "image": HTTPBIN_IMAGE, "ports": [{"containerPort": 8080, "name": "http"}], **probes}


def deploy(cluster, name: str, ns: str, container: dict[str, Any], annotations: dict | None = None) -> None:
    template = {"metadata": {"labels": {"app": name}, "annotations": annotations or {}},
                "spec": {"containers": [container]}}
    cluster.apply({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
                   "spec": {"selector": {"matchLabels": {"app": name}}, "template": template}})


def grpc_probe(**extra: Any) -> dict[str, Any]:
    return {"grpc": {"port": GRPC_PORT, **extra.pop("grpc", {})}, "periodSeconds": 1, **extra}


def ready(cluster, ns: str, app: str):
    return lambda: readiness(cluster, ns, {"app": app})


def expect_readiness(cluster, ns: str, app: str, expected) -> None:
    """READY is awaited; NOT_READY must hold for a whole window (a pod not ready *yet* proves nothing)."""
    check = consistently if expected == NOT_READY else eventually
    waited = check(f"readiness of {app}", ready(cluster, ns, app), expected, TIMEOUTS)
    assert waited.held, f"{waited.headline}; probes: {kubelet_says(cluster, ns, app)}"


def pod_of(cluster, ns: str, app: str):
    (pod,) = cluster._matching(ns, {"app": app})
    return pod


def kubelet_says(cluster, ns: str, app: str) -> str:
    return cluster.kubelet.describe(pod_of(cluster, ns, app).view.name)


def until_kubelet_says(cluster, ns: str, app: str, seen: str) -> str:
    """The kubelet's account of the pod's probes once it contains ``seen`` (or the workload wait ran out)."""
    for _ in polls(TIMEOUTS, TIMEOUTS.workload_ready):
        if seen in kubelet_says(cluster, ns, app):
            break
    return kubelet_says(cluster, ns, app)


def restarts(cluster, ns: str, app: str, container: str) -> int:
    return cluster.restart_count(pod_of(cluster, ns, app).pod, container)


def until_restarted(cluster, ns: str, app: str, container: str, times: int) -> int:
    for _ in polls(TIMEOUTS, TIMEOUTS.workload_ready):
        if restarts(cluster, ns, app, container) >= times:
            break
    return restarts(cluster, ns, app, container)


# ---------------------------------------------------------------- gRPC probes


@pytest.mark.parametrize("ns, annotations, expected, seen", [
    pytest.param(LEGACY, {}, READY, f"readiness grpc gRPC :{GRPC_PORT}: passing (last {HEALTH('SERVING')}",
                 id="no sidecar: the kubelet's Health-Check reaches the app"),
    pytest.param(MESH, KEEP, NOT_READY, f"readiness grpc gRPC :{GRPC_PORT}: failing (last {RESET}",
                 id="sidecar, STRICT, not rewritten: the sidecar resets the kubelet's plaintext HTTP-2"),
    pytest.param(MESH, {}, READY, "readiness grpc GET :15020/app-health/grpc/readyz: passing (last OK(200)",
                 id="sidecar, STRICT, rewritten: the agent checks the app on localhost"),
])
def test_a_grpc_readiness_probe_of_a_serving_app(cluster, ns, annotations, expected, seen):
    """The kubelet's grpc probe is a grpc.health.v1.Health/Check of the pod IP and port, success on SERVING only
    (kubernetes/kubernetes pkg/probe/grpc/grpc.go).  Under STRICT the sidecar resets it like any plaintext client,
    so Istio's injector turns it into an httpGet of the agent's /app-health/<container>/readyz on 15020
    (istio/istio pkg/kube/inject/app_probe.go, convertAppProberGRPC), and the agent makes the Health/Check against
    localhost, answering 200 on SERVING (pilot/cmd/pilot-agent/status/server.go, handleAppProbeGRPC)."""
    name = f"grpc-{ns}-{'kept' if annotations else 'rewritten'}"
    deploy(cluster, name, ns, agnhost(readinessProbe=grpc_probe(failureThreshold=1)), annotations)
    assert seen in until_kubelet_says(cluster, ns, name, seen)
    expect_readiness(cluster, ns, name, expected)


@pytest.mark.parametrize("ns", [LEGACY, MESH])
def test_a_grpc_liveness_probe_of_a_not_serving_app_restarts_the_container(cluster, ns):
    """NOT_SERVING is a failure (pkg/probe/grpc/grpc.go: "service unhealthy"); failureThreshold failures of a
    liveness probe restart the container (kubernetes.io, "Configure Liveness, Readiness and Startup Probes").
    In the mesh the rewritten probe fails through the agent, which answers 500 for NOT_SERVING."""
    name = f"not-serving-{ns}"
    deploy(cluster, name, ns, agnhost("--delay-unhealthy-sec", "0", livenessProbe=grpc_probe(failureThreshold=1)))
    assert until_restarted(cluster, ns, name, "grpc", 2) >= 2, kubelet_says(cluster, ns, name)


def test_a_grpc_probe_of_a_service_the_server_does_not_know_fails(cluster):
    """A Check of a service the server has no status for is answered NOT_FOUND (agnhost returns "unknown
    service"), which the kubelet counts as a failure (pkg/probe/grpc/grpc.go: "health rpc probe failed")."""
    name = "unknown-service"
    deploy(cluster, name, LEGACY, agnhost(readinessProbe=grpc_probe(grpc={"service": "checkout"}, failureThreshold=1)))
    seen = f"gRPC :{GRPC_PORT} service 'checkout': failing (last {GRPC_STATUS('NOT_FOUND')}"
    assert seen in until_kubelet_says(cluster, LEGACY, name, seen)
    expect_readiness(cluster, LEGACY, name, NOT_READY)


# ---------------------------------------------------------------- startup probes


def test_readiness_and_liveness_wait_for_the_startup_probe(cluster, tmp_path):
    """While a container's startup probe has not succeeded its readiness and liveness probes do not run and it is
    not ready; once it succeeds they run, and it is not run again (kubernetes.io, "Configure Liveness, Readiness
    and Startup Probes"; kubernetes/kubernetes pkg/kubelet/prober/worker.go, doProbe).  The liveness probe here
    would restart the container at its first run; the readiness probe would pass at its first run."""
    marker = tmp_path / "started"
    startup = {"exec": {"command": ["test", "-e", str(marker)]}, "periodSeconds": 1, "failureThreshold": 600}
    container = httpbin(startupProbe=startup,
                        readinessProbe={"httpGet": {"path": "/status/200", "port": "http"}, "periodSeconds": 1},
                        livenessProbe={"httpGet": {"path": "/status/500", "port": "http"}, "periodSeconds": 1,
                                       "failureThreshold": 1})
    deploy(cluster, "slow-start", LEGACY, container)
    seen = f"startup httpbin exec test -e {marker}: failing (last exit 1"
    assert seen in until_kubelet_says(cluster, LEGACY, "slow-start", seen)
    expect_readiness(cluster, LEGACY, "slow-start", NOT_READY)
    for _ in polls(TIMEOUTS, SEVERAL_PERIODS):
        assert restarts(cluster, LEGACY, "slow-start", "httpbin") == 0, kubelet_says(cluster, LEGACY, "slow-start")
    said = kubelet_says(cluster, LEGACY, "slow-start")
    assert "readiness httpbin GET :8080/status/200: failing (last not run yet" in said, said
    assert "liveness httpbin GET :8080/status/500: passing (last not run yet" in said, said
    marker.touch()
    assert until_restarted(cluster, LEGACY, "slow-start", "httpbin", 1) >= 1, \
        kubelet_says(cluster, LEGACY, "slow-start")


def test_a_startup_probe_that_passes_makes_the_pod_ready(cluster):
    startup = {"httpGet": {"path": "/status/200", "port": "http"}, "periodSeconds": 1}
    deploy(cluster, "starts", LEGACY, httpbin(startupProbe=startup))
    expect_readiness(cluster, LEGACY, "starts", READY)


@pytest.mark.parametrize("ns", [LEGACY, MESH])
def test_a_startup_probe_failing_failure_threshold_times_restarts_the_container(cluster, ns):
    """"If the startup probe fails, the kubelet kills the container, and the container is subjected to its restart
    policy" (kubernetes.io, "Pod Lifecycle", Container probes).  In the mesh the rewritten startup probe goes
    through the agent's /app-health/<container>/startupz, which answers the app's 500."""
    startup = {"httpGet": {"path": "/status/500", "port": "http"}, "periodSeconds": 1, "failureThreshold": 2}
    name = f"never-starts-{ns}"
    deploy(cluster, name, ns, httpbin(startupProbe=startup))
    assert until_restarted(cluster, ns, name, "httpbin", 2) >= 2, kubelet_says(cluster, ns, name)
    expect_readiness(cluster, ns, name, NOT_READY)


@pytest.mark.parametrize("annotations, expected, seen", [
    pytest.param({}, READY, "startup grpc GET :15020/app-health/grpc/startupz: passing (last OK(200)",
                 id="rewritten to the agent's startupz: started and ready"),
    pytest.param(KEEP, NOT_READY, f"startup grpc gRPC :{GRPC_PORT}: failing (last {RESET}",
                 id="not rewritten: the sidecar resets it, never started, restarted"),
])
def test_a_grpc_startup_probe_under_strict(cluster, annotations, expected, seen):
    """Istio rewrites startup probes too, to /app-health/<container>/startupz (pkg/kube/inject/app_probe.go,
    convertProbe; pilot/cmd/pilot-agent/status/server.go, FormatProberURL)."""
    name = f"grpc-startup-{'kept' if annotations else 'rewritten'}"
    startup = grpc_probe(failureThreshold=2)
    deploy(cluster, name, MESH, agnhost(startupProbe=startup), annotations)
    assert seen in until_kubelet_says(cluster, MESH, name, seen)
    expect_readiness(cluster, MESH, name, expected)
    if expected == NOT_READY:
        assert until_restarted(cluster, MESH, name, "grpc", 1) >= 1, kubelet_says(cluster, MESH, name)
    else:
        assert restarts(cluster, MESH, name, "grpc") == 0


def test_the_agent_answers_400_for_an_app_health_path_it_has_no_prober_for(cluster):
    """pilot-agent: "app prober config does not exists" with 400 (server.go, handleAppProbe)."""
    deploy(cluster, "one-probe", MESH, agnhost(readinessProbe=grpc_probe()))
    (pod,) = cluster.wait_ready(MESH, {"app": "one-probe"}, timeout=TIMEOUTS.workload_ready)
    probe = cluster.exec(pod, "grpc", ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                       "http://127.0.0.1:15020/app-health/grpc/livez"], timeout=TIMEOUTS.request)
    assert probe.stdout == "400", probe

