"""Issue 12 item 1 and 3: a run never changes or deletes what it did not create, and runs share the cluster.

Against :class:`FakeServer`, which does what a real API server does with
server-side apply (field managers, 409 on conflict unless forced),
preconditions and creation conflicts.
"""
from __future__ import annotations

import json

import pytest

from fixtures.workloads import NOT_APPLICABLE, Policies
from meshproof.errors import InfrastructureError, MeshproofError, NotApplicable
from meshproof.kube.cluster import FIELD_MANAGER
from meshproof.kube.lease import SHARED_STATE, Lease
from meshproof.kube.ownership import CREATED_BY, SAVED_LABEL
from meshproof.kube.sweep import sweep_all
from meshproof.policies import peer_authentication
from meshproof.run import MANAGED_BY_LABEL, RUN_LABEL, RunInfo
from meshproof.timeouts import DEFAULT

from .clusters import kube_cluster
from .fake_server import FakeServer

#: the platform team's mesh-wide policy, as `kubectl apply` made it
THEIRS = {"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
          "metadata": {"name": "default", "namespace": "istio-system", "labels": {"team": "platform"},
                       "annotations": {"owner": "platform@example.com"}},
          "spec": {"mtls": {"mode": "STRICT"}}}


def labelled(obj: dict, run: str = "abc123") -> dict:
    obj["metadata"]["labels"] = {MANAGED_BY_LABEL: "meshproof", RUN_LABEL: run}
    return obj


def mesh_wide(mode: str = "STRICT", run: str = "abc123") -> dict:
    return labelled(peer_authentication("istio-system", mode), run)


def user_fields(obj: dict) -> dict:
    meta = obj["metadata"]
    return {"labels": meta.get("labels"), "annotations": meta.get("annotations"), "spec": obj["spec"]}


def test_a_clusters_own_mesh_wide_policy_makes_the_case_not_applicable_and_is_never_touched():
    server = FakeServer([THEIRS])
    before = json.dumps(server.find("PeerAuthentication", "istio-system", "default"), sort_keys=True)
    mesh = kube_cluster(server)
    with pytest.raises(NotApplicable) as err:
        mesh.apply(mesh_wide())
    assert str(err.value).startswith("this cluster's mesh-wide policy default (STRICT) is in force; "
                                     "meshproof does not change it")
    mesh.delete("PeerAuthentication", "default", "istio-system", timeout=1)  # the case's cleanup
    mesh.close()
    assert json.dumps(server.find("PeerAuthentication", "istio-system", "default"), sort_keys=True) == before
    assert not server.writes_by(lambda a: a[1] == "PeerAuthentication")


def test_a_differently_named_mesh_wide_policy_is_in_force_too():
    theirs = json.loads(json.dumps(THEIRS))
    theirs["metadata"]["name"] = "mesh-baseline"
    theirs["spec"]["mtls"]["mode"] = "PERMISSIVE"
    mesh = kube_cluster(FakeServer([theirs]))
    with pytest.raises(NotApplicable, match=r"mesh-wide policy mesh-baseline \(PERMISSIVE\) is in force"):
        mesh.apply(mesh_wide())


def test_the_fixture_skips_such_a_case_as_not_applicable():
    mesh = kube_cluster(FakeServer([THEIRS]))
    policies = Policies(mesh, RunInfo("abc123", "kube"), DEFAULT)
    with pytest.raises(pytest.skip.Exception, match=f"^{NOT_APPLICABLE}: this cluster's mesh-wide policy default"):
        policies.apply(peer_authentication("istio-system", "STRICT"))
    policies.remove_all()
    assert FakeServer and mesh.guard.saved == []


def test_applies_use_meshprofs_field_manager_and_never_force():
    server = FakeServer()
    mesh = kube_cluster(server)
    mesh.apply(labelled({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo-abc123"}}))
    mesh.apply(mesh_wide())
    mesh.apply(mesh_wide("PERMISSIVE"))
    applies = server.writes_by(lambda a: a[0] == "apply")
    assert len(applies) == 3 and {(a[4], a[5]) for a in applies} == {(FIELD_MANAGER, False)}
    assert server.find("PeerAuthentication", "istio-system", "default")["metadata"]["annotations"] == {CREATED_BY: "abc123"}
    mesh.close()
    assert server.find("PeerAuthentication", "istio-system", "default") is None


def test_a_field_another_manager_took_is_a_conflict_in_one_line_not_a_takeover():
    server = FakeServer()
    mesh = kube_cluster(server)
    mesh.apply(mesh_wide())
    server.resources.get(api_version="security.istio.io/v1", kind="PeerAuthentication").server_side_apply(
        body={"metadata": {"name": "default", "namespace": "istio-system"}, "spec": {"mtls": {"mode": "DISABLE"}}},
        field_manager="platform-gitops", force_conflicts=True)
    with pytest.raises(MeshproofError) as err:
        mesh.apply(mesh_wide("PERMISSIVE"))
    assert "\n" not in str(err.value) and "409" in str(err.value) and "platform-gitops" in str(err.value)
    assert server.find("PeerAuthentication", "istio-system", "default")["spec"]["mtls"]["mode"] == "DISABLE"
    mesh.close()


def test_an_existing_object_of_the_same_name_is_refused_not_adopted():
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "frontend-credential", "namespace": "istio-system"},
              "data": {"tls.crt": "dXNlcg=="}}
    server = FakeServer([secret])
    mesh = kube_cluster(server)
    with pytest.raises(MeshproofError, match="already exists and this run did not create it"):
        mesh.apply(labelled(json.loads(json.dumps(secret))))
    mesh.delete("Secret", "frontend-credential", "istio-system", timeout=1)
    mesh.close()
    assert server.find("Secret", "istio-system", "frontend-credential")["data"] == {"tls.crt": "dXNlcg=="}


def test_with_consent_the_policy_is_saved_replaced_and_restored_exactly():
    server = FakeServer([THEIRS])
    original = server.find("PeerAuthentication", "istio-system", "default")
    mesh = kube_cluster(server, allow_mesh_wide_changes=True)
    mesh.apply(mesh_wide("PERMISSIVE"))
    ours = server.find("PeerAuthentication", "istio-system", "default")
    assert ours["spec"] == {"mtls": {"mode": "PERMISSIVE"}} and ours["metadata"]["annotations"][CREATED_BY] == "abc123"
    [saved] = [o for (k, _, _), o in server.objects.items() if k == "ConfigMap"]
    assert saved["metadata"]["labels"][SAVED_LABEL] == "true"
    mesh.delete("PeerAuthentication", "default", "istio-system", timeout=1)
    restored = server.find("PeerAuthentication", "istio-system", "default")
    assert user_fields(restored) == user_fields(original)
    assert not [k for k in server.objects if k[0] == "ConfigMap"]
    assert not mesh.shared_state.held
    mesh.close()


def test_interrupted_with_consent_close_restores_it():
    server = FakeServer([THEIRS])
    mesh = kube_cluster(server, allow_mesh_wide_changes=True)
    mesh.apply(mesh_wide("DISABLE"))
    mesh.close()  # Ctrl-C: the case's own cleanup never ran
    assert user_fields(server.find("PeerAuthentication", "istio-system", "default")) == user_fields(THEIRS)


def test_make_clean_restores_a_killed_runs_saved_policy_and_deletes_only_what_meshproof_created():
    # the platform's policy carries meshproof's labels (an older meshproof forced them onto it) but no creation stamp
    forced_on = json.loads(json.dumps(THEIRS))
    forced_on["metadata"]["name"] = "team-baseline"
    forced_on["metadata"]["namespace"] = "team-a"
    labelled(forced_on, "old999")
    server = FakeServer([THEIRS, forced_on])
    killed = kube_cluster(server, run_id="dead01", allow_mesh_wide_changes=True)
    killed.apply(mesh_wide("DISABLE", run="dead01"))
    killed.shared_state._stop.set()  # killed -9: nothing renews or releases; its Leases run out
    live = kube_cluster(server, run_id="live02").start()
    live.apply(labelled({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "bookinfo-live02"}}, "live02"))
    _expire(server, SHARED_STATE)
    done = sweep_all(server, timeout=1)
    assert "PeerAuthentication istio-system/default" in done
    assert "restored PeerAuthentication istio-system/default from its saved copy" in done
    assert user_fields(server.find("PeerAuthentication", "istio-system", "default")) == user_fields(THEIRS)
    assert server.find("PeerAuthentication", "team-a", "team-baseline") is not None
    assert server.find("Namespace", "", "bookinfo-live02") is not None, "a live run's objects stay"
    assert sweep_all(server, run_id="live02", timeout=1) == ["Lease istio-system/meshproof-run-live02",
                                                             "Namespace bookinfo-live02"]
    live.close()


def _expire(server: FakeServer, name: str) -> None:
    lease = server.find("Lease", "istio-system", name)
    lease["spec"]["renewTime"] = lease["spec"]["acquireTime"] = "2020-01-01T00:00:00.000000Z"


def test_two_workers_take_the_shared_state_in_turn():
    server = FakeServer()
    first, second = kube_cluster(server, run_id="abc123w0"), kube_cluster(server, run_id="abc123w1", shared_state=0.5)
    first.apply(mesh_wide(run="abc123w0"))
    assert server.find("Lease", "istio-system", SHARED_STATE)["spec"]["holderIdentity"] == "abc123w0"
    with pytest.raises(InfrastructureError, match="still held by abc123w0"):
        second.apply(mesh_wide("PERMISSIVE", run="abc123w1"))
    assert server.find("PeerAuthentication", "istio-system", "default")["spec"]["mtls"]["mode"] == "STRICT"
    first.delete("PeerAuthentication", "default", "istio-system", timeout=1)
    assert server.find("Lease", "istio-system", SHARED_STATE) is None, "released once the case's policy is gone"
    second.apply(mesh_wide("PERMISSIVE", run="abc123w1"))
    assert server.find("Lease", "istio-system", SHARED_STATE)["spec"]["holderIdentity"] == "abc123w1"
    first.close()
    second.close()
    assert server.find("Lease", "istio-system", SHARED_STATE) is None


def test_a_dead_holders_lease_is_taken_over_once_it_expires():
    server = FakeServer()
    dead = Lease(server, "istio-system", SHARED_STATE, "dead01", {})
    assert dead.try_acquire() is None
    dead._stop.set()
    _expire(server, SHARED_STATE)
    mesh = kube_cluster(server, run_id="abc123", shared_state=0.5)
    mesh.apply(mesh_wide())
    assert server.find("Lease", "istio-system", SHARED_STATE)["spec"]["holderIdentity"] == "abc123"
    mesh.close()


def test_a_leftover_of_another_run_in_a_prepared_namespace_says_how_to_clear_it():
    leftover = labelled({"apiVersion": "apps/v1", "kind": "Deployment",
                         "metadata": {"name": "details", "namespace": "team-a-mesh"}}, "dead01")
    leftover["metadata"]["annotations"] = {CREATED_BY: "dead01"}
    mesh = kube_cluster(FakeServer([leftover]))
    again = labelled({"apiVersion": "apps/v1", "kind": "Deployment",
                      "metadata": {"name": "details", "namespace": "team-a-mesh"}})
    with pytest.raises(MeshproofError, match=r"^Deployment team-a-mesh/details was left by meshproof run dead01; "
                                             r"`make clean` removes it once that run is over$"):
        mesh.apply(again)
