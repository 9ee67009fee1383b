"""The conformance report and JUnit agree with pytest's own counts, with and without xdist."""
import pytest

from meshproof.capabilities import CAPABILITIES

MIXED = """
    import pytest
    from helpers import *

    @strict
    def test_plaintext_is_reset():
        becomes("plaintext is reset", answers("hello", None), RESET, FAST)

    @strict
    def test_in_mesh_client_still_answers():
        becomes("productpage gets details", answers("ok"), OK(200), FAST)

    @strict
    def test_plaintext_accepted_after_strict():
        becomes("plaintext is reset", answers("hello"), RESET, FAST)

    @gateway
    @pytest.mark.parametrize("client", ["no certificate", "untrusted CA"])
    def test_mutual_gateway_rejects(client):
        pytest.skip("not supported: ingress-gateway")

    @gateway
    def test_trust_bundle_rotation():
        pytest.skip("needs a second CA")

    @egress
    def test_mysql_over_tls():
        from meshproof.errors import PreflightError
        raise PreflightError("no external database")

    @pytest.fixture
    def broken_fixture():
        raise RuntimeError("namespace could not be created")

    @egress
    def test_setup_error(broken_fixture):
        pass

    def test_unmarked():
        pass
"""

def _agree(run) -> None:
    assert run.result.parseoutcomes() == {"passed": 3, "failed": 2, "errors": 1, "skipped": 3}
    stats = run.conformance["statistics"]
    assert (stats["passed"], stats["failed"], stats["error"], stats["skipped"]) == (3, 2, 1, 3)
    assert (stats["not_supported"], stats["plain_skipped"], stats["checks"]) == (2, 1, 9)
    assert run.junit() == {"tests": 9, "failures": 2, "errors": 1, "skipped": 3}


def test_counts_agree_with_pytest(fake_suite):
    run = fake_suite(MIXED)
    assert run.result.ret == 1
    _agree(run)


def test_counts_agree_under_xdist(fake_suite):
    run = fake_suite(MIXED, "-n", "2")
    _agree(run)
    # each worker has its RunInfo; the controller merged theirs and left out its own
    assert run.conformance["run_ids"] == ["ab12cdgw0", "ab12cdgw1"]
    assert run.conformance["implementation"] == {"project": "istio", "version": "1.24.2", "platform": "kind"}
    assert run.conformance["reproduce"].endswith(" -n 2")
    env = (run.reports / "allure-results" / "environment.properties").read_text()
    assert "run.id=ab12cdgw0,ab12cdgw1\n" in env


def _profiles(report: dict) -> dict[str, dict]:
    return {profile["name"]: profile for profile in report["profiles"]}


def test_per_capability_results_as_gateway_api_profile_reports(fake_suite):
    profiles = _profiles(fake_suite(MIXED).conformance)
    assert list(profiles) == list(CAPABILITIES)  # every capability of the registry, in its order
    assert profiles["strict-mtls"] == {
        "name": "strict-mtls", "summary": "PeerAuthentication enforces mutual TLS between workloads",
        "core": {"result": "failure",
                 "statistics": {"Passed": 2, "Failed": 1, "Skipped": 0, "NotSupported": 0, "NotRun": 0},
                 "failedTests": ["test_fake.py::test_plaintext_accepted_after_strict"]},
    }
    gateway = profiles["gateway-mtls"]
    assert gateway["core"]["result"] == "not-run"
    assert (gateway["core"]["statistics"]["NotSupported"], gateway["core"]["statistics"]["Skipped"]) == (2, 1)
    assert gateway["unsupportedFeatures"] == ["ingress-gateway"]
    assert len(gateway["core"]["skippedTests"]) == 3
    assert profiles["egress-tls"]["core"]["result"] == "failure"


def test_failures_are_told_apart_and_skips_listed_with_reasons(fake_suite):
    report = fake_suite(MIXED).conformance
    kinds = {row["check"].split("::")[1]: (row["outcome"], row["kind"]) for row in report["failed"]}
    assert kinds == {
        "test_plaintext_accepted_after_strict": ("failed", "mesh is not conformant"),
        "test_mysql_over_tls": ("failed", "suite or infrastructure error"),
        "test_setup_error": ("error", "suite or infrastructure error"),
    }
    assert [row["reason"] for row in report["not_supported"]] == ["not supported: ingress-gateway"] * 2
    assert [(row["check"], row["reason"]) for row in report["skipped"]] == [
        ("test_fake.py::test_trust_bundle_rotation", "needs a second CA")]
    assert report["verdict"] == "not conformant"


def test_report_names_the_run(fake_suite):
    report = fake_suite(MIXED, "-k", "not unmarked").conformance
    assert report["backend"] == "local"
    assert report["kubernetes_version"] == "v1.31.0"
    assert report["mesh_features"] == ["peer-authentication", "sidecar"]
    assert report["reproduce"] == "pytest -m strict-mtls"
    assert report["exit_status"] == {"code": 1, "meaning": "not conformant (a check failed)"}
    assert report["statistics"]["checks"] == 8


def test_conformant_run_and_yaml_twin(fake_suite):
    import yaml

    run = fake_suite("""
        from helpers import *

        @strict
        def test_reset():
            becomes("plaintext is reset", answers(None), RESET, FAST)
    """)
    assert run.result.ret == 0
    report = run.conformance
    assert report["verdict"] == "conformant"
    assert _profiles(report)["strict-mtls"]["core"]["result"] == "success"
    assert report["exit_status"] == {"code": 0, "meaning": "conformant"}
    assert yaml.safe_load((run.reports / "conformance.yaml").read_text()) == report


def test_report_is_written_when_nothing_is_selected(fake_suite):
    run = fake_suite("from helpers import *\n\n@strict\ndef test_one():\n    pass\n", "-m", "gateway-mtls")
    assert run.result.ret == pytest.ExitCode.NO_TESTS_COLLECTED
    report = run.conformance
    assert report["verdict"] == "no checks run"
    assert run.result.parseoutcomes() == {"deselected": 1}
    assert report["statistics"]["deselected"] == 1
    assert report["exit_status"]["meaning"] == "no checks selected or none could run"
    assert {p["core"]["result"] for p in report["profiles"]} == {"not-run"}


@pytest.mark.parametrize("args", [(), ("-n", "2")], ids=["serial", "xdist"])
def test_a_session_without_conformance_checks_gets_no_verdict(fake_suite, args):
    """The project's own tests pass or fail; they must not print that a mesh is conformant."""
    run = fake_suite("def test_one():\n    pass\n\ndef test_two():\n    pass\n", *args)
    assert run.result.parseoutcomes() == {"passed": 2}
    assert not (run.reports / "conformance.json").exists()
    assert "meshproof conformance" not in run.result.stdout.str()
    assert "verdict:" not in run.result.stdout.str()
    assert run.junit()["tests"] == 2


def test_terminal_ends_with_a_capability_table(fake_suite):
    run = fake_suite(MIXED)
    run.result.stdout.re_match_lines([
        r".*meshproof conformance.*",
        r"capability\s+result\s+passed\s+failed\s+skipped\s+not supported\s+not run",
        r"strict-mtls\s+failure\s+2\s+1\s+0\s+0\s+0",
        r"gateway-mtls\s+not-run\s+0\s+0\s+1\s+2\s+0",
        r"egress-tls\s+failure\s+0\s+2\s+0\s+0\s+0",
        r"verdict: not conformant",
    ])


def test_a_mesh_that_supports_no_selected_check_exits_5_before_deploying_the_scene(fake_suite, tmp_path):
    """Issue 12 item 11 (ambient under -m strict-mtls): support is decided before the scene is deployed
    (fixtures/features.py decides in pytest_runtest_setup), and a run that could check nothing says so
    with its own exit code instead of 0."""
    deployed = tmp_path / "deployed"
    run = fake_suite(f"""
        import pytest
        from helpers import *

        @pytest.fixture(scope="session")
        def bookinfo():
            open({str(deployed)!r}, "w").close()  # what deploying the scene would do

        @strict
        @pytest.mark.requires("port-level-mtls")
        def test_one(bookinfo):
            pass

        @strict
        @pytest.mark.requires("probe-rewrite")
        def test_two(bookinfo):
            pass
        """, "-p", "fixtures.features", conftest="""
        from fixtures.mesh import CLUSTER_KEY

        class _Mesh:
            def mesh(self):
                return MeshInfo("ambient", "1.24.2", "kind", features=frozenset({"peer-authentication"}))

        def pytest_sessionstart(session):  # the session's mesh, as fixtures/mesh.py connects it
            session.config.stash[CLUSTER_KEY] = _Mesh()
        """)
    assert run.result.ret == pytest.ExitCode.NO_TESTS_COLLECTED, run.result.stdout.str()
    assert not deployed.exists(), "the scene was deployed for checks the mesh cannot run"
    report = run.conformance
    assert report["verdict"] == "no checks run"
    assert report["exit_status"] == {"code": 5, "meaning": "no checks selected or none could run"}
    assert report["statistics"]["not_supported"] == 2
