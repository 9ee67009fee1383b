"""Istio's HTTP probe rewrite in the reference mesh's injector, and the kubelet stand-in's verdicts."""
from __future__ import annotations

import pytest

from meshproof.cluster import REWRITE_PROBES
from meshproof.errors import ConfigError
from meshproof.local.kubelet import ProbeState
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


@pytest.mark.parametrize("container, refusal", [
    ({"name": "api", "readinessProbe": {"grpc": {"port": 9090}}}, "grpc probes are not modelled"),
    ({"name": "api", "startupProbe": {"httpGet": {"port": 80}}}, "startupProbes are not modelled"),
    ({"name": "api", "livenessProbe": {"periodSeconds": 1}}, "must specify one handler"),
])
def test_probes_the_kubelet_stand_in_cannot_run_are_refused_in_one_line(container, refusal):
    with pytest.raises(ConfigError, match=refusal):
        probes([container])


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
