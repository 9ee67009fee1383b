"""The preflight ends a run with one clear line when the cluster cannot run the suite."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from meshproof.errors import PreflightError
from meshproof.kube import connect, sweep
from meshproof.kube.preflight import ISTIO_CRDS, REQUIRED, check_istio, feature_access, profile_required
from meshproof.profiles import PROFILES
from meshproof.kube.snapshot import Snapshot

from .fake_api import FakeApi, kubeconfig
from .recorded import load

RBAC = Path(__file__).resolve().parents[2] / "manifests" / "rbac"


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text and text
    return text


@pytest.fixture
def fake_api():
    api = FakeApi()
    yield api
    api.close()


def preflight_error(config: Path, **kw) -> str:
    with pytest.raises(PreflightError) as err:
        connect(run_id="abc123", context=None, kubeconfig=str(config), **kw)
    return one_line(err)


def test_unreachable_api_server_is_one_line(tmp_path):
    port = closed_port()
    message = preflight_error(kubeconfig(tmp_path / "config", f"https://127.0.0.1:{port}"))
    assert message.startswith(f"cannot reach the Kubernetes API at https://127.0.0.1:{port}: ")
    assert "refused" in message.lower()


def test_sweep_against_an_unreachable_server_is_one_line(tmp_path):
    with pytest.raises(PreflightError) as err:
        sweep(None, str(kubeconfig(tmp_path / "config", f"https://127.0.0.1:{closed_port()}")))
    assert one_line(err).startswith("cannot reach the Kubernetes API")


def test_missing_kubeconfig_is_one_line(tmp_path):
    message = preflight_error(tmp_path / "absent")
    assert message.startswith(f"cannot use kubeconfig {tmp_path / 'absent'}: ")


def test_unknown_context_is_one_line(tmp_path):
    config = kubeconfig(tmp_path / "config", "https://127.0.0.1:1")
    with pytest.raises(PreflightError) as err:
        connect(run_id="abc123", context="prod", kubeconfig=str(config))
    assert one_line(err).startswith(f"cannot use context 'prod' of kubeconfig {config}: ")


def test_rejected_credentials_are_one_line(tmp_path):
    api = FakeApi(status=401)
    try:
        message = preflight_error(kubeconfig(tmp_path / "config", api.url))
    finally:
        api.close()
    assert message == f"the Kubernetes API at {api.url} rejected the credentials: 401 Unauthorized: Unauthorized"


def test_missing_permission_names_the_verb_and_resource(tmp_path, fake_api):
    fake_api.denied = {("create", "pods/exec"), ("delete", "namespaces")}
    message = preflight_error(kubeconfig(tmp_path / "config", fake_api.url))
    assert message == ("no permission to delete namespaces (cluster-wide) (and 1 more); "
                       "grant manifests/rbac/ to the account running the suite")
    assert {"verb": "create", "group": "", "resource": "pods", "subresource": "exec"} in fake_api.reviews


def test_non_istio_cluster_is_one_line():
    with pytest.raises(PreflightError) as err:
        check_istio(Snapshot(crds=frozenset({"certificates.cert-manager.io"})))
    assert one_line(err).startswith("Istio CRDs missing: peerauthentications.security.istio.io, ")


def test_crds_without_a_control_plane_is_one_line():
    with pytest.raises(PreflightError) as err:
        check_istio(Snapshot(crds=frozenset(ISTIO_CRDS)))
    assert one_line(err).startswith("no Istio control plane found")


@pytest.mark.parametrize("platform", ["upstream", "asm-managed", "ossm2"])
def test_recorded_meshes_pass_the_istio_check(platform):
    snap, _ = load(platform)
    check_istio(snap)


def _granted() -> set[tuple[str, str, str]]:
    granted = set()
    for path in RBAC.glob("*.yaml"):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == "ClusterRole":
                for rule in doc["rules"]:
                    granted |= {(v, g, r) for v in rule["verbs"] for g in rule["apiGroups"] for r in rule["resources"]}
    return granted


def test_ci_cluster_role_grants_everything_the_preflight_requires():
    granted = _granted()
    optional = [a for accesses in feature_access().values() for a in accesses]
    missing = [a.describe() for a in (*REQUIRED, *(x for p in PROFILES for x in profile_required(p)), *optional)
               if (a.verb, a.group, a.resource) not in granted]
    assert missing == []


def test_a_create_only_exec_role_is_refused_up_front(tmp_path, fake_api):
    """The websocket exec is an upgraded GET: Kubernetes 1.30+ also authorises ``get`` on pods/exec (KEP-4006)."""
    fake_api.denied = {("get", "pods/exec")}
    message = preflight_error(kubeconfig(tmp_path / "config", fake_api.url))
    assert message == "no permission to get pods/exec (cluster-wide); grant manifests/rbac/ to the account running the suite"
    asked = {(r["verb"], r["resource"], r.get("subresource")) for r in fake_api.reviews}
    assert {("get", "pods", "portforward"), ("create", "pods", "portforward"), ("create", "pods", "exec")} <= asked


def test_make_clean_finds_the_cluster_a_killed_run_used(tmp_path, monkeypatch):
    """Issue 12 item 11: the run records its context and kubeconfig; `make clean` needs neither again."""
    from meshproof import sweep as clean
    from meshproof.kube import targets

    config = kubeconfig(tmp_path / "ci-kubeconfig", f"https://127.0.0.1:{closed_port()}")
    targets.remember(targets.Target("dead01", None, str(config)))
    swept = []
    monkeypatch.setattr("meshproof.kube._swept",
                        lambda context, path, run_id=None: (swept.append((context, path)) or ["x"], set()))
    monkeypatch.setattr(clean, "_local", lambda only, force: ([], []))  # the reference mesh's sweep is not under test here
    assert clean.main([]) == 0
    assert swept == [(None, str(config))]
    assert targets.remembered() == []


def test_make_clean_keeps_the_record_of_a_run_still_alive_on_the_cluster(tmp_path, monkeypatch):
    """A live run skipped by the sweep keeps its record, so a later `make clean` still finds its cluster."""
    from meshproof import kube
    from meshproof.kube import targets

    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # this test's records only
    config = str(kubeconfig(tmp_path / "ci-kubeconfig", f"https://127.0.0.1:{closed_port()}"))
    targets.remember(targets.Target("dead02", None, config))
    targets.remember(targets.Target("live02", None, config))
    monkeypatch.setattr("meshproof.kube._swept", lambda context, path, run_id=None: (["x"], {"live02"}))
    try:
        assert kube.sweep_remembered() == [f"x ({targets.Target('dead02', None, config).describe()})"]
        assert [t.run_id for t in targets.remembered()] == ["live02"]
    finally:
        targets.forget("live02")


def test_a_run_without_the_capture_right_connects_and_its_mesh_lacks_wire_capture_with_the_reason(
        tmp_path, fake_api, monkeypatch):
    """The optional right is asked at start (SelfSubjectAccessReview); refused, the run goes on and the wire check
    will be "not supported" naming the right, before its scene is deployed (fixtures/features.py)."""
    from meshproof import kube
    from meshproof.kube.cluster import KubeCluster

    from .fake_server import FakeServer

    snap, _ = load("upstream")
    monkeypatch.setattr(kube, "_dynamic", lambda api: FakeServer())
    monkeypatch.setattr(kube, "_survey", lambda api, dyn: snap)
    monkeypatch.setattr(KubeCluster, "start", lambda self: self)  # no run Lease on the fake
    fake_api.denied = {("patch", "pods/ephemeralcontainers")}
    mesh = connect(run_id="abc123", context=None, kubeconfig=str(kubeconfig(tmp_path / "config", fake_api.url))).mesh()
    assert "wire-capture" not in mesh.features and "sidecar" in mesh.features
    assert mesh.unsupported == {"wire-capture": "no permission to patch pods/ephemeralcontainers (cluster-wide); "
                                                "grant it as manifests/rbac/ does to the account running the suite"}
    fake_api.denied = set()
    mesh = connect(run_id="abc124", context=None, kubeconfig=str(kubeconfig(tmp_path / "config", fake_api.url))).mesh()
    assert "wire-capture" in mesh.features and mesh.unsupported == {}
