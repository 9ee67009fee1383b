"""Runs own what they create: the owner record, who counts as alive, and which run a namespace belongs to."""
from __future__ import annotations

import json
import os
import subprocess
from dataclasses import asdict

import pytest

from meshproof.errors import PreflightError
from meshproof import owners
from meshproof.local import host


def test_the_start_time_identifies_a_process_beyond_its_pid(tmp_path):
    me = owners.claim("own1", directory=tmp_path, proxies=3)
    assert me.pid == os.getpid() and me.alive()
    assert owners.recorded(tmp_path) == {"own1": me}
    reused = owners.Owner("own1", me.pid, me.start_time + 1, me.tmp)  # same pid, another process
    assert not reused.alive()
    owners.release("own1", tmp_path)
    assert owners.recorded(tmp_path) == {}


def test_a_finished_owner_is_dead():
    child = subprocess.Popen(["sleep", "30"])
    try:
        record = owners.Owner("own2", child.pid, owners.start_time(child.pid), "/tmp")
        assert record.alive()
    finally:
        child.kill()
        child.wait()
    assert not record.alive()


def test_a_run_id_a_live_run_owns_is_refused(tmp_path):
    child = subprocess.Popen(["sleep", "30"])
    try:
        other = owners.Owner("own3", child.pid, owners.start_time(child.pid), "/tmp")
        owners.record_path("own3", tmp_path).write_text(
            f'{{"run_id": "own3", "pid": {other.pid}, "start_time": {other.start_time}, "tmp": "/tmp"}}')
        with pytest.raises(PreflightError, match=rf"run id own3 is already used by a live run \(pid {child.pid}\)"):
            owners.claim("own3", directory=tmp_path)
    finally:
        child.kill()
        child.wait()
    assert owners.claim("own3", directory=tmp_path).pid == os.getpid()  # its owner gone, the id is free


@pytest.mark.parametrize("bad", ["", "a b", "../x", "x" * 42])
def test_a_run_id_unusable_in_names_is_refused(tmp_path, bad):
    with pytest.raises(PreflightError, match="is not usable"):
        owners.claim(bad, directory=tmp_path)


def test_planned_proxies_count_live_runs_and_the_workers_not_recorded_yet(tmp_path):
    own = owners.claim("abcw0", directory=tmp_path, proxies=16)
    assert owners.planned_proxies(own, workers=4, directory=tmp_path) == 64
    sibling = owners.Owner("abcw1", os.getpid(), own.start_time, "/tmp", proxies=16)
    other = owners.Owner("zzz", os.getpid(), own.start_time, "/tmp", proxies=5)
    dead = owners.Owner("old", os.getpid(), own.start_time + 1, "/tmp", proxies=99)
    for record in (sibling, other, dead):
        owners.record_path(record.run_id, tmp_path).write_text(json.dumps(asdict(record)))
    # this run, its recorded sibling, two siblings still starting, the other live run; not the dead one
    assert owners.planned_proxies(own, workers=4, directory=tmp_path) == 16 + 16 + 2 * 16 + 5


def test_a_namespace_belongs_to_the_longest_run_id_it_names():
    known = ["abc", "abc-1x"]
    assert host._run_of("mp-abc", known) == "abc"
    assert host._run_of("mp-abc-12", known) == "abc"
    assert host._run_of("mp-abc-1x-3", known) == "abc-1x"
    assert host._run_of("mp-old-7", known) == "old"  # no record: a run of an older meshproof


def test_force_names_a_run_or_the_workers_of_a_session():
    assert host._named("abcw3", ["abc"]) and host._named("abc", ["abc"])
    assert not host._named("abcd", ["abc"]) and not host._named("abcw3", ["ab"])


@pytest.mark.skipif(os.geteuid() != 0, reason="the reference mesh needs root")
def test_a_run_whose_record_a_forced_sweep_released_creates_no_more_pods():
    """``make clean FORCE=<run>`` releases the record, then lists the run's namespaces: a pod the run starts
    after that listing must not outlive it. The run refuses the pod and removes the namespace it had made."""
    from meshproof.errors import MeshproofError
    from meshproof.local.backend import LocalCluster
    from meshproof.manifests import load, namespace, placed
    from meshproof.run import new_run_id

    run_id = f"rel{new_run_id()}"
    local = LocalCluster(run_id).start()
    try:
        local.apply(namespace("legacy", {}))
        before = host.list_netns(f"{host.PREFIX}{run_id}")
        owners.release(run_id)
        with pytest.raises(MeshproofError, match=f"reference mesh {run_id}: its owner record is gone"):
            local.apply_all(placed(load("workloads/sleep.yaml"), "legacy", {}))
        assert host.list_netns(f"{host.PREFIX}{run_id}") == before
    finally:
        local.close()
    assert host.leftovers(run_id)["netns"] == []


@pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root")
def test_the_sweep_of_a_dead_run_leaves_the_namespaces_of_a_live_run_whose_id_extends_it(tmp_path):
    """``abc`` is dead, ``abc-1`` lives: ``mp-abc-1`` is the live run's node, not the dead run's pod 1, and the
    sweep (which lists the dead run's namespaces by prefix) must leave it and its pods."""
    import secrets

    dead = f"swp{secrets.token_hex(3)}"
    live = f"{dead}-1"
    owners.claim(live, directory=tmp_path)  # this process: alive
    names = [f"{host.PREFIX}{dead}", f"{host.PREFIX}{dead}-2", f"{host.PREFIX}{live}", f"{host.PREFIX}{live}-1"]
    for name in names:
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        swept = host.sweep(dead, owners_dir=tmp_path)
        assert sorted(host.list_netns(f"{host.PREFIX}{dead}")) == sorted(names[2:])
        assert sorted(swept.removed) == sorted(f"netns {n}" for n in names[:2])
        assert any(live in skipped for skipped in swept.skipped)
    finally:
        for name in host.list_netns(f"{host.PREFIX}{dead}"):
            host.delete_netns(name)
