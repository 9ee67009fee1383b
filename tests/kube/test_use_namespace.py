"""Issue 12 item 4: ``--use-namespace`` asks for what the run does where it does it, and checks injection labels.

The fake API answers SelfSubjectAccessReviews as RBAC does: a namespaced
review is allowed by a ClusterRoleBinding or by a RoleBinding of that namespace.
"""
from __future__ import annotations

import pytest
from kubernetes import client

from meshproof.errors import PreflightError
from meshproof.kube import _check_prepared
from meshproof.kube.preflight import DISCOVERY, NAMESPACED, REQUIRED, check_access, use_namespace_required
from meshproof.kube.profiles import detect

from .fake_api import FakeApi, kubeconfig
from .fake_server import FakeServer
from .recorded import load

PREPARED = ("team-a-mesh", "team-a-legacy")


def grants(accesses) -> set[tuple[str, str]]:
    return {(a.verb, a.resource) for a in accesses}


def api_for(tmp_path, fake: FakeApi) -> client.ApiClient:
    from meshproof.kube.client import api_client

    return api_client(None, str(kubeconfig(tmp_path / "config", fake.url)))


@pytest.fixture
def bound_by_role_bindings():
    """A user with the read-only discovery ClusterRole and Roles only in the prepared namespaces and the root."""
    role = grants(NAMESPACED) | {("get", "namespaces")}
    fake = FakeApi(cluster_role=grants(DISCOVERY),
                   role_bindings={**{ns: set(role) for ns in PREPARED},
                                  "istio-system": {(v, "leases") for v in ("create", "get", "update", "delete", "list", "watch")}})
    yield fake
    fake.close()


def test_a_user_bound_only_in_the_prepared_namespaces_passes(tmp_path, bound_by_role_bindings):
    api = api_for(tmp_path, bound_by_role_bindings)
    check_access(api, use_namespace_required(PREPARED, "istio-system"))
    namespaces = {r.get("namespace") for r in bound_by_role_bindings.reviews}
    assert namespaces == {None, *PREPARED, "istio-system"}
    assert not [r for r in bound_by_role_bindings.reviews if r["resource"] == "namespaces" and r["verb"] == "create"]


def test_the_cluster_wide_questions_would_refuse_that_user(tmp_path, bound_by_role_bindings):
    with pytest.raises(PreflightError, match=r"^no permission to get namespaces \(cluster-wide\) \(and \d+ more\)"):
        check_access(api_for(tmp_path, bound_by_role_bindings), REQUIRED)


def test_a_missing_role_names_the_namespace(tmp_path, bound_by_role_bindings):
    bound_by_role_bindings.role_bindings["team-a-legacy"].discard(("get", "pods/exec"))
    with pytest.raises(PreflightError) as err:
        check_access(api_for(tmp_path, bound_by_role_bindings), use_namespace_required(PREPARED, "istio-system"))
    assert str(err.value).startswith("no permission to get pods/exec in namespace team-a-legacy; grant manifests/rbac/")


def namespace(name: str, labels: dict) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}


@pytest.mark.parametrize("platform, labels, problem", [
    ("upstream", {}, "namespace team-a-mesh lacks the injection label istio-injection=enabled (profile upstream); "
                     "its pods would run without sidecars: `kubectl label namespace team-a-mesh istio-injection=enabled`"),
    ("revision-canary", {"istio-injection": "enabled"},
     "namespace team-a-mesh lacks the injection label istio.io/rev=1-24-2 (profile revision); its pods would run "
     "without sidecars: `kubectl label namespace team-a-mesh istio.io/rev=1-24-2`"),
    ("upstream", {"istio-injection": "enabled"}, ""),
    ("ambient", {"istio.io/dataplane-mode": "ambient"}, ""),
])
def test_a_prepared_mesh_namespace_without_the_profiles_label_is_one_line(platform, labels, problem):
    snap, _ = load(platform)
    server = FakeServer([namespace("team-a-mesh", labels), namespace("team-a-legacy", {})])
    prepared = {"team-a-mesh": True, "team-a-legacy": False}
    if problem:
        with pytest.raises(PreflightError) as err:
            _check_prepared(server, prepared, detect(snap))
        assert str(err.value) == problem
    else:
        _check_prepared(server, prepared, detect(snap))


def test_a_prepared_namespace_that_does_not_exist_is_one_line():
    snap, _ = load("upstream")
    with pytest.raises(PreflightError, match="^namespace team-z given with --use-namespace does not exist$"):
        _check_prepared(FakeServer(), {"team-z": True}, detect(snap))


def rbac_of(path) -> FakeApi:
    """A fake API granting exactly what the manifest's bindings grant (ClusterRoleBindings and RoleBindings)."""
    import yaml

    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    roles = {(d["kind"], d["metadata"].get("namespace", ""), d["metadata"]["name"]): d["rules"]
             for d in docs if d["kind"] in ("ClusterRole", "Role")}

    def granted(rules):
        return {(v, r) for rule in rules for v in rule["verbs"] for r in rule["resources"]}

    cluster, per_namespace = set(), {}
    for d in docs:
        ref = d.get("roleRef") or {}
        if d["kind"] == "ClusterRoleBinding":
            cluster |= granted(roles[("ClusterRole", "", ref["name"])])
        elif d["kind"] == "RoleBinding":
            ns = d["metadata"]["namespace"]
            rules = roles[("ClusterRole", "", ref["name"])] if ref["kind"] == "ClusterRole" else roles[("Role", ns, ref["name"])]
            per_namespace.setdefault(ns, set()).update(granted(rules))
    return FakeApi(cluster_role=cluster, role_bindings=per_namespace)


def test_the_documented_use_namespace_rbac_is_enough_and_no_more_than_namespaced(tmp_path):
    from .test_preflight import RBAC

    fake = rbac_of(RBAC / "meshproof-use-namespace.yaml")
    try:
        check_access(api_for(tmp_path, fake), use_namespace_required(PREPARED, "istio-system"))
        assert ("create", "namespaces") not in fake.cluster_role and ("create", "secrets") not in fake.cluster_role
    finally:
        fake.close()


def test_the_documented_use_namespace_rbac_grants_the_capture_in_the_mesh_namespaces(tmp_path):
    """The optional wire capture is asked where the server pods run, and manifests/rbac/ grants it there."""
    from meshproof.kube.preflight import unsupported_features

    from .test_preflight import RBAC

    fake = rbac_of(RBAC / "meshproof-use-namespace.yaml")
    try:
        assert unsupported_features(api_for(tmp_path, fake), ["team-a-mesh"]) == {}
        asked = [(r["verb"], r["resource"], r.get("subresource"), r.get("namespace")) for r in fake.reviews]
        assert asked == [("patch", "pods", "ephemeralcontainers", "team-a-mesh")]
    finally:
        fake.close()


def test_without_the_capture_right_the_wire_capture_is_not_supported_and_says_why(tmp_path, bound_by_role_bindings):
    from meshproof.kube.preflight import unsupported_features

    refused = unsupported_features(api_for(tmp_path, bound_by_role_bindings), ["team-a-mesh"])
    assert refused == {"wire-capture": "no permission to patch pods/ephemeralcontainers in namespace team-a-mesh; "
                                       "grant it as manifests/rbac/ does to the account running the suite"}
