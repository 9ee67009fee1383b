"""Nothing leaks: not after Ctrl-C mid-run, and `make clean` sweeps what a killed run left."""
from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from meshproof.local import host
from meshproof.run import RUN_ID_ENV
from tests.suite_runner import ROOT, child_env, run_pytest

RUN_TAG = b"MESHPROOF_RUN="


def processes_of(run_id: str) -> list[int]:
    """Processes whose environment carries the run's tag (every process the reference mesh starts)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if RUN_TAG + run_id.encode() in environ:
            found.append(int(proc.name))
    return found


def leftovers(run_id: str) -> dict[str, list]:
    return {
        "netns": host.list_netns(f"{host.PREFIX}{run_id}"),
        "processes": processes_of(run_id),
        "etc": sorted(host.NETNS_ETC.glob(f"{host.PREFIX}{run_id}*")) if host.NETNS_ETC.exists() else [],
        "tmp": sorted(Path("/tmp").glob(f"meshproof-{run_id}*")),
    }


def start_suite(run_id: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "suites", "-m", "strict-mtls", "-q", "-p", "no:cacheprovider",
         f"--reports-dir={tmp_path / 'reports'}"],
        cwd=ROOT, env=child_env({RUN_ID_ENV: run_id}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_for_mesh(run_id: str, suite: subprocess.Popen, timeout: float = 60) -> None:
    """Poll until the run's sidecars and apps are running (so the interruption really is mid-run)."""
    deadline = time.monotonic() + timeout
    while len(processes_of(run_id)) < 8:
        assert suite.poll() is None, suite.stdout.read().decode()
        assert time.monotonic() < deadline, "the reference mesh did not come up"
        time.sleep(0.05)


def test_ctrl_c_mid_run_leaves_no_namespace_process_or_file(tmp_path):
    run_id = f"int{secrets.token_hex(2)}"
    suite = start_suite(run_id, tmp_path)
    wait_for_mesh(run_id, suite)
    assert leftovers(run_id)["netns"], "the mesh's namespaces should exist mid-run"
    suite.send_signal(signal.SIGINT)
    suite.wait(60)
    assert suite.returncode == 2, suite.stdout.read().decode()  # pytest's "interrupted"
    assert leftovers(run_id) == {"netns": [], "processes": [], "etc": [], "tmp": []}
    (report,) = (tmp_path / "reports" / "runs").glob("*/conformance.json")
    assert json.loads(report.read_text())["verdict"] == "interrupted"


def test_make_clean_sweeps_what_a_killed_run_left(tmp_path):
    run_id = f"kil{secrets.token_hex(2)}"
    suite = start_suite(run_id, tmp_path)
    wait_for_mesh(run_id, suite)
    suite.kill()
    suite.wait(30)
    assert leftovers(run_id)["netns"], "a SIGKILLed run cannot clean up after itself"
    host.sweep(run_id)
    assert leftovers(run_id) == {"netns": [], "processes": [], "etc": [], "tmp": []}


@pytest.fixture
def world_writable_dir():
    """A directory the unprivileged user can write reports to (pytest's tmp_path is private to root)."""
    directory = Path(tempfile.mkdtemp(prefix="meshproof-selftest-nobody-"))
    directory.chmod(0o777)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop to an unprivileged user")
def test_without_root_the_reference_mesh_stops_with_one_clear_line(world_writable_dir):
    done = run_pytest(["suites", "-m", "strict-mtls", "-q", f"--reports-dir={world_writable_dir / 'reports'}"],
                      env={"HOME": str(world_writable_dir)}, timeout=120,
                      prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    assert done.returncode == 3, done.stdout + done.stderr
    assert "meshproof: the reference mesh needs root" in done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
