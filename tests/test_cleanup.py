"""Nothing leaks: not after Ctrl-C mid-run, and `make clean` sweeps what a killed run left."""
from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from meshproof import owners
from meshproof.local import host
from meshproof.run import RUN_ID_ENV
from tests.suite_runner import ROOT, child_env, run_pytest

NOTHING_LEFT = {"netns": [], "processes": [], "etc": [], "tmp": [], "owners": []}


def start_suite(run_id: str, tmp_path: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "suites", "-m", "strict-mtls", "-q", "-p", "no:cacheprovider",
         f"--reports-dir={tmp_path / 'reports'}", *extra],
        cwd=ROOT, env=child_env({RUN_ID_ENV: run_id}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )


def wait_for_mesh(run_id: str, suite: subprocess.Popen, timeout: float = 60) -> None:
    """Poll until the run's sidecars and apps are running (so the interruption really is mid-run)."""
    deadline = time.monotonic() + timeout
    while len(host.processes_of(run_id)) < 8:
        assert suite.poll() is None, suite.stdout.read().decode()
        assert time.monotonic() < deadline, "the reference mesh did not come up"
        time.sleep(0.05)


def test_ctrl_c_mid_run_leaves_no_namespace_process_or_file(tmp_path):
    run_id = f"int{secrets.token_hex(2)}"
    suite = start_suite(run_id, tmp_path)
    wait_for_mesh(run_id, suite)
    assert host.leftovers(run_id)["netns"], "the mesh's namespaces should exist mid-run"
    suite.send_signal(signal.SIGINT)
    try:  # clean-up of the whole scene; a loaded machine (make test's other workers) takes longer
        output = suite.communicate(timeout=90)[0].decode()
    except subprocess.TimeoutExpired:
        suite.kill()
        raise AssertionError(f"the interrupted run did not end within 90 s:\n{suite.communicate()[0].decode()[-3000:]}")
    assert suite.returncode == 2, output  # pytest's "interrupted"
    assert host.leftovers(run_id) == NOTHING_LEFT
    (report,) = (tmp_path / "reports" / "runs").glob("*/conformance.json")
    assert json.loads(report.read_text())["verdict"] == "interrupted"


def make_clean(*args: str, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """What `make clean` runs, in a process of its own; ``--only`` keeps it to this test's runs."""
    return subprocess.run([*prefix, sys.executable, "-m", "meshproof.sweep", *args], cwd=ROOT, env=child_env(),
                          capture_output=True, text=True, timeout=120)


def test_make_clean_sweeps_what_a_killed_run_left_and_says_so_without_root(tmp_path):
    run_id = f"kil{secrets.token_hex(2)}"
    suite = start_suite(run_id, tmp_path)
    wait_for_mesh(run_id, suite)
    suite.kill()
    suite.wait(30)
    assert host.leftovers(run_id)["netns"], "a SIGKILLed run cannot clean up after itself"
    assert owners.record_path(run_id).exists()
    unprivileged = make_clean("--only", run_id, prefix=("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"))
    assert unprivileged.returncode == 3, unprivileged.stdout + unprivileged.stderr
    assert unprivileged.stdout == ""
    assert unprivileged.stderr.strip().splitlines() == [
        f"meshproof clean: {len(host.leftovers(run_id)['netns'])} network namespaces of 1 ended runs remain and only "
        "root can remove them (they are root's): run `sudo make clean`"]
    done = make_clean("--only", run_id)
    assert done.returncode == 0, done.stderr
    assert f"removed netns {host.PREFIX}{run_id}" in done.stdout.splitlines()
    assert host.leftovers(run_id) == NOTHING_LEFT


def test_make_clean_next_to_a_live_run_skips_it_and_the_run_still_passes(tmp_path):
    """Another terminal runs `make clean` while a run is mid-way: the run keeps its mesh, evidence and verdict."""
    run_id = f"liv{secrets.token_hex(2)}"
    suite = start_suite(run_id, tmp_path)
    wait_for_mesh(run_id, suite)
    done = make_clean("--only", run_id)
    assert done.returncode == 0, done.stderr
    assert [line for line in done.stdout.splitlines() if line.startswith("removed")] == []
    skipped = [line for line in done.stdout.splitlines() if line.startswith("skipped")]
    assert len(skipped) == 1 and skipped[0].startswith(f"skipped run {run_id} (pid {suite.pid} in {ROOT},"), done.stdout
    assert done.stdout.splitlines()[-1] == ("meshproof clean: 0 leftovers removed, 1 live runs skipped "
                                          "(remove a run anyway with --force RUN_ID)")
    output = suite.communicate(timeout=600)[0].decode()
    assert suite.returncode == 0, output
    assert (tmp_path / "reports" / "latest" / "conformance.json").exists()
    assert host.leftovers(run_id) == NOTHING_LEFT


def test_make_clean_force_removes_a_named_live_run_which_ends_interrupted(tmp_path):
    """Named by its stem, a parallel run's workers all go; the session ends interrupted, never "not conformant"."""
    run_id = f"frc{secrets.token_hex(2)}"
    suite = start_suite(run_id, tmp_path, "-n", "2")
    wait_for_mesh(run_id, suite)
    done = make_clean("--only", run_id, "--force", run_id)
    assert done.returncode == 0, done.stderr
    output = suite.communicate(timeout=60)[0].decode()
    assert suite.returncode == 2, output  # interrupted, never "not conformant"
    assert host.leftovers(run_id) == NOTHING_LEFT


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


def test_two_runs_in_one_checkout_both_pass_and_keep_their_own_evidence():
    """Two `make conformance` at once in this checkout, default reports directory: each writes its own run directory.

    (Two clones are two checkouts: their runs differ in run id and reports directory by construction.)
    """
    reports = ROOT / "reports"
    before = set((reports / "runs").glob("*")) if (reports / "runs").is_dir() else set()
    runs = [subprocess.Popen(
        [sys.executable, "-m", "pytest", "suites", "-m", "strict-mtls", "-q", "-p", "no:cacheprovider", "-n", "2"],
        cwd=ROOT, env=child_env({RUN_ID_ENV: f"two{index}{secrets.token_hex(2)}"}),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for index in range(2)]
    outputs = [run.communicate(timeout=600)[0].decode() for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    mine = set((reports / "runs").glob("*")) - before
    assert len(mine) == 2, mine
    for directory in mine:
        assert json.loads((directory / "conformance.json").read_text())["verdict"] == "conformant"
        assert (directory / "junit.xml").exists() and any((directory / "allure-results").glob("*-result.json"))
        assert not (directory / owners.REPORTS_CLAIM).exists()
    assert (reports / "latest").resolve() in {d.resolve() for d in mine}
    for directory in mine:
        shutil.rmtree(directory)


def _audit(run_id: str, tmp_path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "suites", "-m", "mesh-audit", "-q", "-p", "no:cacheprovider",
         f"--reports-dir={tmp_path / 'reports'}"],
        cwd=ROOT, env=child_env({RUN_ID_ENV: run_id}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _read_until(suite: subprocess.Popen, wanted: str, timeout: float) -> str:
    """The child's output up to and including the first line that starts with ``wanted``."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert suite.stdout is not None
    while time.monotonic() < deadline:
        ready, _, _ = select.select([suite.stdout], [], [], 1.0)
        if not ready:
            continue
        line = suite.stdout.readline().decode()
        if not line:
            break
        seen.append(line)
        if line.startswith(wanted):
            return "".join(seen)
    suite.kill()
    raise AssertionError(f"no line starting {wanted!r} within {timeout} s:\n{''.join(seen)[-3000:]}")


def test_the_mesh_audit_removes_its_prober_and_namespace_at_its_end(tmp_path):
    run_id = f"aud{secrets.token_hex(2)}"
    suite = _audit(run_id, tmp_path)
    output = _read_until(suite, "meshproof: mesh audit: removed the prober and its namespace "
                         f"mesh-audit-{run_id}", timeout=300)
    output += suite.communicate(timeout=120)[0].decode()
    assert suite.returncode == 0, output
    assert host.leftovers(run_id) == NOTHING_LEFT


def test_ctrl_c_during_the_mesh_audit_leaves_no_prober_namespace_process_or_file(tmp_path):
    run_id = f"aui{secrets.token_hex(2)}"
    suite = _audit(run_id, tmp_path)
    _read_until(suite, "meshproof: port sweep of ", timeout=300)  # the prober is up, in its own namespace
    assert host.leftovers(run_id)["netns"], "the prober's pod should exist mid-audit"
    suite.send_signal(signal.SIGINT)
    try:
        output = suite.communicate(timeout=120)[0].decode()
    except subprocess.TimeoutExpired:
        suite.kill()
        raise AssertionError(f"the interrupted audit did not end within 120 s:\n{suite.communicate()[0].decode()[-3000:]}")
    assert suite.returncode == 2, output
    assert host.leftovers(run_id) == NOTHING_LEFT
    (report,) = (tmp_path / "reports" / "runs").glob("*/conformance.json")
    assert json.loads(report.read_text())["verdict"] == "interrupted"


def running_tcpdump(run_id: str) -> list[int]:
    """The run's tcpdump processes (the reference mesh's packet captures, meshproof.local.capture)."""
    found = []
    for pid in host.processes_of(run_id):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "tcpdump":
                found.append(pid)
        except OSError:
            continue
    return found


def interrupt_during_capture(run_id: str, suite: subprocess.Popen, timeout: float = 300) -> None:
    """SIGINT while a capture runs: the run is frozen (SIGSTOP) once its tcpdump is seen, the capture is confirmed
    still running, then SIGINT is queued and the run thawed, so the interruption lands mid-capture by construction."""
    deadline = time.monotonic() + timeout
    while True:
        assert suite.poll() is None, f"the run ended before a capture was seen:\n{suite.stdout.read().decode()[-3000:]}"
        assert time.monotonic() < deadline, "no capture started"
        if running_tcpdump(run_id):
            suite.send_signal(signal.SIGSTOP)
            if running_tcpdump(run_id):
                suite.send_signal(signal.SIGINT)
                suite.send_signal(signal.SIGCONT)
                return
            suite.send_signal(signal.SIGCONT)  # it stopped between the two looks: wait for the next capture
        time.sleep(0.02)


def test_ctrl_c_during_a_capture_leaves_no_tcpdump_netns_or_pcap(tmp_path):
    """Issue 15: nothing of a capture outlives an interrupted run; the run ends "interrupted" (exit 2).

    The wire check's scene has no liveness probes, so this does not go through the kubelet stand-in's restart path
    that the Ctrl-C test above is marked for."""
    run_id = f"cap{secrets.token_hex(2)}"
    reports = tmp_path / "reports"
    suite = subprocess.Popen(
        [sys.executable, "-m", "pytest", "suites/test_wire_capture.py", "-q", "-p", "no:cacheprovider",
         f"--reports-dir={reports}"],
        cwd=ROOT, env=child_env({RUN_ID_ENV: run_id}), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    interrupt_during_capture(run_id, suite)
    try:
        output = suite.communicate(timeout=180)[0].decode()
    except subprocess.TimeoutExpired:
        suite.kill()
        raise AssertionError(f"the interrupted run did not end within 180 s:\n{suite.communicate()[0].decode()[-3000:]}")
    assert suite.returncode == 2, output  # pytest's "interrupted"
    assert running_tcpdump(run_id) == []
    assert host.leftovers(run_id) == NOTHING_LEFT  # no netns, process, /etc/netns entry or run directory
    pcaps = [p for p in tmp_path.rglob("*.pcap") if reports not in p.parents]
    pcaps += list(Path(tempfile.gettempdir()).glob(f"*{run_id}*/**/*.pcap"))
    assert pcaps == [], "no capture file outside the run's evidence"
    (report,) = (reports / "runs").glob("*/conformance.json")
    assert json.loads(report.read_text())["verdict"] == "interrupted"


def test_a_child_run_that_times_out_is_interrupted_and_removes_its_mesh(tmp_path):
    """The project's own harness (tests.suite_runner.run_pytest): a child run past its timeout is interrupted
    as Ctrl-C would interrupt it, and waited for, so it removes its mesh (a kill would leave its namespaces)."""
    run_id = f"tmo{secrets.token_hex(2)}"
    with pytest.raises(subprocess.TimeoutExpired):
        run_pytest(["suites", "-m", "strict-mtls", "-q", f"--reports-dir={tmp_path / 'reports'}"],
                   env={RUN_ID_ENV: run_id}, timeout=15)
    (report,) = (tmp_path / "reports" / "runs").glob("*/conformance.json")
    assert json.loads(report.read_text())["verdict"] == "interrupted"  # it was mid-run, and ended as interrupted
    assert host.leftovers(run_id) == NOTHING_LEFT
