"""wait_ready waits for the rollout of a re-applied Deployment, from recorded objects and watch events."""
from __future__ import annotations

import copy

import pytest
import yaml

from meshproof.kube.rollout import current_hashes, current_pods, describe, wait_rolled_out
from meshproof.kube.waiting import WaitTimeout

from .fake_dynamic import FakeDynamic, FakeResource
from .recorded import DATA

SELECTOR = {"app": "mysql-query"}
NEW_POD = "mysql-query-7f9c4d8b66-q4rvz"


def recorded(*, watch: bool = True) -> tuple[FakeDynamic, dict]:
    doc = yaml.safe_load((DATA / "rollouts" / "reapplied.yaml").read_text())
    resources = {kind: FakeResource(d["list"], d.get("watch", []) if watch else [], kind=kind)
                 for kind, d in doc.items()}
    return FakeDynamic(resources), doc


def names(pods: list[dict]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_reapplied_deployment_yields_only_the_new_pod_once_the_old_one_terminates():
    dyn, _ = recorded()
    pods = wait_rolled_out(dyn, "egress-abc123", SELECTOR, timeout=5)
    assert names(pods) == [NEW_POD]
    assert pods[0]["status"]["podIP"] == "10.244.2.31"
    assert dyn.by_kind["Deployment"].watched_from == ["41"], "the generation is waited for with a watch"
    assert dyn.by_kind["Pod"].watched_from == ["41"], "pod readiness is waited for with a watch"


def test_old_ready_pod_is_never_returned_before_the_controller_observes_the_change():
    dyn, _ = recorded(watch=False)
    with pytest.raises(WaitTimeout) as err:
        wait_rolled_out(dyn, "egress-abc123", SELECTOR, timeout=0.2)
    assert str(err.value) == ("Deployments of app=mysql-query in egress-abc123 rolled out: not done after 0.2s "
                              "(mysql-query: generation 2 observed 1, 1/1 updated)")


def test_new_pod_ready_while_the_old_one_still_runs_is_not_done():
    _, doc = recorded()
    new_ready = doc["Pod"]["watch"][0][0][1]
    old_running = doc["Pod"]["list"][0]
    assert current_pods([old_running, new_ready], {"7f9c4d8b66": 1}) is None
    terminating = copy.deepcopy(old_running)
    terminating["metadata"]["deletionTimestamp"] = "2026-11-23T16:20:05Z"
    assert names(current_pods([terminating, new_ready], {"7f9c4d8b66": 1})) == [NEW_POD]


def test_current_replica_set_is_the_deployments_own_at_its_revision():
    _, doc = recorded()
    observed = doc["Deployment"]["watch"][0][0][1]
    assert current_hashes([observed], doc["ReplicaSet"]["list"]) == {"7f9c4d8b66": 1}
    not_yet = copy.deepcopy(observed)
    not_yet["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = "3"
    assert current_hashes([not_yet], doc["ReplicaSet"]["list"]) is None


def test_stuck_rollout_says_why():
    stuck = {"metadata": {"name": "details", "generation": 4},
             "spec": {"replicas": 2},
             "status": {"observedGeneration": 4, "updatedReplicas": 0, "conditions": [
                 {"type": "Progressing", "status": "True", "message": "ReplicaSet \"details-6f\" is progressing."},
                 {"type": "ReplicaFailure", "status": "True",
                  "message": "pods \"details-6f-x\" is forbidden: exceeded quota: compute"}]}}
    assert describe(stuck) == ("details: generation 4 observed 4, 0/2 updated "
                               "(pods \"details-6f-x\" is forbidden: exceeded quota: compute)")


def test_pods_of_no_deployment_only_need_to_be_ready():
    pod = {"metadata": {"name": "db-0", "namespace": "ns", "labels": {"app": "db"}},
           "status": {"conditions": [{"type": "Ready", "status": "False"}]}}
    ready = copy.deepcopy(pod)
    ready["status"]["conditions"][0]["status"] = "True"
    dyn = FakeDynamic({"Deployment": FakeResource([], kind="Deployment"),
                       "Pod": FakeResource([pod], [[("MODIFIED", ready)]])})
    assert names(wait_rolled_out(dyn, "ns", {"app": "db"}, timeout=5)) == ["db-0"]
