"""--no-cleanup / --keep-on-failure keep the reference mesh and say so; a failed start leaves nothing (issue 9, case 10)."""
from __future__ import annotations

import os
import secrets

import pytest

from meshproof.errors import MeshproofError
from meshproof.local import host
from meshproof.local.backend import LocalCluster
from meshproof.run import RUN_ID_ENV
from tests.suite_runner import run_pytest
from tests.test_cleanup import NOTHING_LEFT as NOTHING

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")

#: the quickest check that needs the mesh: the proxy container's own client is rejected under STRICT
QUICK = "test_proxy_container_without_client_certificate_is_rejected"


def _run(run_id: str, tmp_path, *options: str):
    return run_pytest(["suites", "-m", "strict-mtls", "-k", QUICK, "-q", f"--reports-dir={tmp_path / 'reports'}",
                       "--timeout-policy", "5", *options], env={RUN_ID_ENV: run_id}, timeout=600)


def _assert_kept_and_swept(run_id: str, said: str) -> None:
    kept = host.leftovers(run_id)
    try:
        line = next((line for line in said.splitlines() if line.startswith(f"meshproof: kept run {run_id} ")), said)
        assert f"python -m meshproof.sweep --only {run_id}" in line
        assert kept["netns"] and kept["etc"] and kept["tmp"], kept
        assert all(name in line for name in kept["netns"]), line
    finally:
        host.sweep(run_id)  # what `python -m meshproof.sweep --only <run id>` calls, for this run only
    assert host.leftovers(run_id) == NOTHING


def test_no_cleanup_keeps_the_mesh_says_what_and_how_to_remove_it(tmp_path):
    run_id = f"kp{secrets.token_hex(3)}"
    done = _run(run_id, tmp_path, "--no-cleanup")
    assert done.returncode == 0, done.stdout + done.stderr
    _assert_kept_and_swept(run_id, done.stdout)


def test_keep_on_failure_keeps_a_failed_run_only(tmp_path):
    failed_id, passed_id = f"kf{secrets.token_hex(3)}", f"kq{secrets.token_hex(3)}"
    failed = _run(failed_id, tmp_path / "failed", "--keep-on-failure", "--mesh-defect", "sidecar-ignores-strict")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    _assert_kept_and_swept(failed_id, failed.stdout)
    passed = _run(passed_id, tmp_path / "passed", "--keep-on-failure")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    assert "meshproof: kept run" not in passed.stdout
    assert host.leftovers(passed_id) == NOTHING


def test_a_mesh_that_fails_while_starting_removes_what_it_made(monkeypatch):
    """Network namespaces, their /etc/netns entries and the run directory with the CA's key all go."""
    run_id = f"sf{secrets.token_hex(3)}"
    made = {}

    def gateway_fails(self):
        made.update(host.leftovers(run_id))
        raise MeshproofError("the gateway could not start")

    monkeypatch.setattr(LocalCluster, "_start_gateway", gateway_fails)
    with pytest.raises(MeshproofError, match="the gateway could not start"):
        LocalCluster(run_id).start()
    assert made["netns"] and made["tmp"], "the failure came after the mesh had made its first things"
    assert host.leftovers(run_id) == NOTHING


def test_a_start_that_cannot_write_its_files_is_one_infrastructure_line(monkeypatch):
    run_id = f"sw{secrets.token_hex(3)}"

    def disk_full(self):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalCluster, "_start_gateway", disk_full)
    with pytest.raises(MeshproofError, match=r"could not start under .* \(TMPDIR\): No space left on device$"):
        LocalCluster(run_id).start()
    assert host.leftovers(run_id) == NOTHING
