"""Istio's probe rewrite in the reference mesh's injector, and the kubelet stand-in's verdicts and order."""
from __future__ import annotations

import pytest

from meshproof.cluster import REWRITE_PROBES
from meshproof.errors import ConfigError
from meshproof.local.kubelet import Kubelet, ProbeState
from meshproof.local.probes import STATUS_PORT, Probe, probes, rewrite, rewrite_requested
from meshproof.local.sidecar import capture_rules
from meshproof.manifests import load

HTTPBIN = {
    "name": "httpbin",
    "ports": [{"containerPort": 8080, "name": "http"}],
    "readinessProbe": {"httpGet": {"path": "/status/200", "port": 8080}, "periodSeconds": 1, "failureThreshold": 1},
    "livenessProbe": {"httpGet": {"path": "/status/200", "port": "http"}, "timeoutSeconds": 2},
}


def test_http_probes_point_at_the_agents_app_health_paths():
    (container,), _ = rewrite([HTTPBIN])
    assert container["readinessProbe"]["httpGet"] == {"path": "/app-health/httpbin/readyz", "port": STATUS_PORT,
                                                      "scheme": "HTTP"}
    assert container["livenessProbe"]["httpGet"]["path"] == "/app-health/httpbin/livez"


def test_timing_of_a_rewritten_probe_is_kept():
    (container,), _ = rewrite([HTTPBIN])
    assert (container["readinessProbe"]["periodSeconds"], container["readinessProbe"]["failureThreshold"]) == (1, 1)


def test_the_agent_gets_the_original_probes_with_named_ports_resolved():
    _, app_probers = rewrite([HTTPBIN])
    assert app_probers == {
        "/app-health/httpbin/readyz": {"httpGet": {"path": "/status/200", "port": 8080}, "timeoutSeconds": 1},
        "/app-health/httpbin/livez": {"httpGet": {"path": "/status/200", "port": 8080}, "timeoutSeconds": 2},
    }


def test_rewrite_leaves_the_original_spec_and_exec_probes_alone():
    """Istio's convertAppProber (pkg/kube/inject/app_probe.go) rewrites httpGet, tcpSocket and grpc, never exec."""
    shell = {"name": "worker", "livenessProbe": {"exec": {"command": ["true"]}}}
    rewritten, app_probers = rewrite([HTTPBIN, shell])
    assert HTTPBIN["readinessProbe"]["httpGet"]["port"] == 8080
    assert rewritten[1] == shell and set(app_probers) == {"/app-health/httpbin/readyz", "/app-health/httpbin/livez"}


def test_a_tcp_probe_becomes_an_http_get_of_the_agent_which_dials_the_original_port():
    """The injector replaces tcpSocket by an httpGet of /app-health/<container>/readyz on 15020 and hands the agent
    the tcpSocket handler; the agent dials it on localhost (istio/istio pkg/kube/inject/app_probe.go,
    pilot/cmd/pilot-agent/status/server.go handleAppProbeTCPSocket)."""
    db = {"name": "db", "ports": [{"containerPort": 3306, "name": "mysql"}],
          "readinessProbe": {"tcpSocket": {"port": "mysql"}, "timeoutSeconds": 3}}
    (container,), app_probers = rewrite([db])
    assert container["readinessProbe"] == {"httpGet": {"path": "/app-health/db/readyz", "port": STATUS_PORT,
                                                       "scheme": "HTTP"}, "timeoutSeconds": 3}
    assert app_probers == {"/app-health/db/readyz": {"tcpSocket": {"port": 3306}, "timeoutSeconds": 3}}


GRPC_APP = {
    "name": "api",
    "ports": [{"containerPort": 5000, "name": "grpc"}],
    "readinessProbe": {"grpc": {"port": 5000}, "periodSeconds": 2},
    "livenessProbe": {"grpc": {"port": 5000, "service": "checkout"}, "timeoutSeconds": 3},
    "startupProbe": {"httpGet": {"path": "/started", "port": "grpc"}, "failureThreshold": 30},
}


def test_grpc_and_startup_probes_point_at_the_agents_readyz_livez_and_startupz():
    """convertProbe rewrites readiness, liveness and startup probes; convertAppProberGRPC replaces the grpc
    handler by an httpGet of the agent (istio/istio pkg/kube/inject/app_probe.go)."""
    (container,), _ = rewrite([GRPC_APP])
    for field, suffix in (("readinessProbe", "readyz"), ("livenessProbe", "livez"), ("startupProbe", "startupz")):
        assert container[field]["httpGet"] == {"path": f"/app-health/api/{suffix}", "port": STATUS_PORT,
                                               "scheme": "HTTP"}
        assert "grpc" not in container[field]
    assert container["readinessProbe"]["periodSeconds"] == 2 and container["startupProbe"]["failureThreshold"] == 30


def test_the_agent_gets_grpc_probers_with_their_service_and_the_startup_prober():
    """DumpAppProbers hands the agent the grpc action as it is (its port is always a number) with the probe's
    timeout, and the startup probe under startupz with its named port resolved."""
    _, app_probers = rewrite([GRPC_APP])
    assert app_probers == {
        "/app-health/api/readyz": {"grpc": {"port": 5000}, "timeoutSeconds": 1},
        "/app-health/api/livez": {"grpc": {"port": 5000, "service": "checkout"}, "timeoutSeconds": 3},
        "/app-health/api/startupz": {"httpGet": {"path": "/started", "port": 5000}, "timeoutSeconds": 1},
    }


def test_the_kubelet_reads_grpc_and_startup_probes():
    readiness, liveness, startup = probes([GRPC_APP])
    assert readiness == Probe("api", "readiness", "grpc", port=5000, period=2)
    assert (liveness.action, liveness.service, liveness.timeout) == ("grpc", "checkout", 3)
    assert startup == Probe("api", "startup", "httpGet", 5000, "/started", failure_threshold=30)
    assert str(liveness) == "liveness api gRPC :5000 service 'checkout'"


@pytest.mark.parametrize("container, refusal", [
    pytest.param({"name": "api", "livenessProbe": {"periodSeconds": 1}}, "livenessProbe must specify a handler type",
                 id="no handler"),
    pytest.param({"name": "api", "readinessProbe": {"grpc": {"port": 5000}, "tcpSocket": {"port": 5000}}},
                 "may not specify more than 1 handler type", id="two handlers"),
    pytest.param({"name": "api", "ports": [{"containerPort": 5000, "name": "grpc"}],
                  "readinessProbe": {"grpc": {"port": "grpc"}}}, r"readinessProbe.grpc.port must be a number",
                 id="grpc port named: GRPCAction.port is an int32"),
    pytest.param({"name": "api", "startupProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}},
                 "startupProbe.successThreshold must be 1", id="startup successThreshold"),
    pytest.param({"name": "api", "livenessProbe": {"exec": {"command": ["true"]}, "successThreshold": 3}},
                 "livenessProbe.successThreshold must be 1", id="liveness successThreshold"),
])
def test_probes_the_api_server_refuses_are_refused_in_one_line(container, refusal):
    """The API server's probe validation (kubernetes/kubernetes pkg/apis/core/validation: one handler type;
    liveness and startup successThreshold "must be 1"); the schema types GRPCAction.port as an int32."""
    with pytest.raises(ConfigError, match=refusal):
        probes([container])


def test_a_readiness_probe_may_need_several_successes():
    (probe,) = probes([{"name": "api", "readinessProbe": {"exec": {"command": ["true"]}, "successThreshold": 2}}])
    assert probe.success_threshold == 2


def test_the_kubelet_reads_tcp_and_exec_probes():
    worker = {"name": "worker", "ports": [{"containerPort": 7000, "name": "peer"}],
              "readinessProbe": {"tcpSocket": {"port": "peer"}},
              "livenessProbe": {"exec": {"command": ["sh", "-c", "test -e /tmp/ok"]}, "failureThreshold": 1}}
    readiness, liveness = probes([worker])
    assert readiness == Probe("worker", "readiness", "tcpSocket", port=7000)
    assert liveness == Probe("worker", "liveness", "exec", command=("sh", "-c", "test -e /tmp/ok"), failure_threshold=1)
    assert str(liveness) == "liveness worker exec sh -c 'test -e /tmp/ok'"


@pytest.mark.parametrize("annotations, rewrites", [
    (None, True), ({REWRITE_PROBES: "true"}, True), ({REWRITE_PROBES: "false"}, False), ({REWRITE_PROBES: "False"}, False),
])
def test_rewriting_is_on_unless_the_pod_opts_out(annotations, rewrites):
    assert rewrite_requested(annotations) is rewrites


def test_the_kubelet_reads_defaults_and_resolves_named_ports():
    readiness, liveness = probes([HTTPBIN])
    assert readiness == Probe("httpbin", "readiness", "httpGet", 8080, "/status/200", period=1, failure_threshold=1)
    assert (liveness.port, liveness.period, liveness.failure_threshold, liveness.timeout) == (8080, 10, 3, 2)


def test_a_probe_port_naming_no_container_port_is_a_config_error():
    with pytest.raises(ConfigError, match="names no container port"):
        probes([{"name": "app", "readinessProbe": {"httpGet": {"port": "metrics"}}}])


def test_the_manifest_probes_the_app_port_as_the_seed_does():
    deployment = next(m for m in load("workloads/httpbin-probes.yaml") if m["kind"] == "Deployment")
    found = probes(deployment["spec"]["template"]["spec"]["containers"])
    assert {(p.kind, p.port, p.path) for p in found} == {("readiness", 8080, "/status/200"),
                                                          ("liveness", 8080, "/status/200")}


def test_the_status_port_is_excluded_from_inbound_capture_before_the_redirect():
    rules = capture_rules().splitlines()
    exclusion = rules.index(f"-A ISTIO_INBOUND -p tcp --dport {STATUS_PORT} -j RETURN")
    assert exclusion < rules.index("-A ISTIO_INBOUND -p tcp -j ISTIO_IN_REDIRECT")


def test_readiness_turns_on_after_success_and_off_after_the_failure_threshold():
    state = ProbeState(Probe("app", "readiness", "httpGet", 80, "/", failure_threshold=2), passing=False)
    state.record(True, "OK(200)")
    assert state.passing
    state.record(False, "RESET")
    assert state.passing, "one failure is below the threshold of 2"
    state.record(False, "RESET")
    assert not state.passing and state.streak == 2


def test_a_liveness_or_startup_failure_trips_at_the_failure_threshold():
    state = ProbeState(Probe("app", "startup", "exec", command=("false",), failure_threshold=2), passing=False)
    assert not state.record(False, "exit 1"), "one failure is below the threshold of 2"
    assert state.record(False, "exit 1")
    state.start_over()
    assert (state.passing, state.streak, state.due) == (False, 0, None)


def kubelet_with(*probes_: Probe, started: bool = True) -> tuple[Kubelet, str]:
    kubelet = Kubelet("nowhere")  # never started: _due is asked directly
    kubelet.watch("pod", "10.0.0.2", "pod-ns", list(probes_), lambda _container: started, lambda _container: None)
    return kubelet, "pod"


STARTUP = Probe("app", "startup", "exec", command=("true",), period=1)
READINESS = Probe("app", "readiness", "exec", command=("true",), period=1)
LIVENESS = Probe("app", "liveness", "exec", command=("true",), period=1, initial_delay=5)


def due_kinds(kubelet: Kubelet, now: float) -> set[str]:
    return {state.probe.kind for _, state in kubelet._due(now)}


def test_only_the_startup_probe_runs_until_it_succeeds_and_then_it_runs_no_more():
    """kubernetes/kubernetes pkg/kubelet/prober/worker.go, doProbe: "Disable other probes until container has
    started"; "Stop probing for startup once container has started"."""
    kubelet, pod = kubelet_with(STARTUP, READINESS, LIVENESS)
    assert due_kinds(kubelet, 100.0) == {"startup"}
    assert not kubelet.ready(pod), "a container whose startup probe has not succeeded is not ready"
    startup = next(s for s in kubelet._pods[pod].states if s.probe.kind == "startup")
    startup.record(True, "exit 0")
    assert due_kinds(kubelet, 101.0) == {"readiness"}
    assert "liveness" not in due_kinds(kubelet, 104.5), "liveness waits its initialDelaySeconds from the start"
    assert "liveness" in due_kinds(kubelet, 105.0)
    assert "startup" not in due_kinds(kubelet, 200.0)


def test_no_probe_runs_before_the_container_runs():
    kubelet, pod = kubelet_with(STARTUP, READINESS, started=False)
    assert due_kinds(kubelet, 100.0) == set() and not kubelet.ready(pod)
