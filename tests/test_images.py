"""Stand-ins for upstream images (meshproof/local/images.py): the tcp-echo sample keeps its own arguments."""
from __future__ import annotations

import sys

import yaml

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
