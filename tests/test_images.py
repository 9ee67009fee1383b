"""Stand-ins for upstream images (meshproof/local/images.py): the tcp-echo sample keeps its own arguments."""
from __future__ import annotations

import sys

import pytest
import yaml

from meshproof.errors import ConfigError
from meshproof.local.images import command_for, exec_argv
from tests.suite_runner import ROOT


def test_tcp_echo_runs_its_stand_in_with_the_samples_ports_and_prefix():
    docs = list(yaml.safe_load_all((ROOT / "manifests" / "workloads" / "tcp-echo.yaml").read_text()))
    container = next(d for d in docs if d["kind"] == "Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert command_for(container["image"], container, 9000) == [
        sys.executable, "-m", "meshproof.local.apps.tcp_echo", "9000", "hello"]


def test_python_exec_in_an_app_container_is_the_meshs_interpreter():
    assert exec_argv(("python3", "-c", "pass")) == (sys.executable, "-c", "pass")
    assert exec_argv(("curl", "-sS")) == ("curl", "-sS")


def test_agnhost_runs_its_grpc_health_checking_stand_in_with_the_containers_own_flags():
    """Kubernetes' e2e image agnhost takes a subcommand and its flags as args; only grpc-health-checking (the
    gRPC health server Kubernetes' probe e2e tests use) has a stand-in."""
    container = {"name": "grpc", "args": ["grpc-health-checking", "--port", "5000", "--delay-unhealthy-sec", "0"]}
    assert command_for("registry.k8s.io/e2e-test-images/agnhost:2.53", container, 5000) == [
        sys.executable, "-m", "meshproof.local.apps.agnhost", "grpc-health-checking", "--port", "5000",
        "--delay-unhealthy-sec", "0"]


@pytest.mark.parametrize("args", [["netexec", "--http-port", "8080"], []])
def test_agnhost_subcommands_without_a_stand_in_are_refused_in_one_line(args):
    with pytest.raises(ConfigError, match=r"agnhost runs grpc-health-checking only, not "):
        command_for("registry.k8s.io/e2e-test-images/agnhost:2.53", {"name": "web", "args": args}, 8080)
