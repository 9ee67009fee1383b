"""What the Allure results show of a test: labels, parameters, waits as steps, probes attached."""
from fixtures import reporting
from meshproof.outcome import OK, RESET
from meshproof.probe import ProbeResult
from meshproof.wait import Attempt, Expectation, Waited

SUITE = """
    import pytest
    from helpers import *

    @strict
    def test_plaintext_is_reset():
        '''namespace STRICT resets plaintext from a pod without sidecar'''
        once("details answers before STRICT", answers("before")(), OK(200))
        becomes("plaintext is reset", answers("hello", "hello", None), RESET, FAST)

    @gateway
    @pytest.mark.parametrize("client", ["no certificate", "untrusted CA"], ids=["no client cert", "untrusted ca"])
    def test_mutual_gateway_rejects(client):
        pass
"""


def _steps(result: dict) -> list[tuple[str, str, list[str], list[str]]]:
    return [(s["name"], s["status"], [a["name"] for a in s.get("attachments", [])], [c["name"] for c in s.get("steps", [])])
            for s in result["steps"]]


def test_labels_come_from_the_capability_registry(fake_suite):
    run = fake_suite(SUITE)
    labels = run.labels("test_plaintext_is_reset")
    assert (labels["epic"], labels["feature"], labels["severity"], labels["story"]) == (
        "Workload mutual TLS", "PeerAuthentication enforces mutual TLS between workloads", "critical",
        "namespace STRICT resets plaintext from a pod without sidecar")
    gateway = run.labels("test_mutual_gateway_rejects[no client cert]")
    assert (gateway["epic"], gateway["story"]) == ("Ingress TLS", "mutual gateway rejects")


def test_matrix_cases_carry_their_case_as_a_parameter(fake_suite):
    result = fake_suite(SUITE).allure_results()["test_mutual_gateway_rejects[untrusted ca]"]
    assert {p["name"]: p["value"] for p in result["parameters"]} == {"case": "'untrusted ca'", "client": "'untrusted CA'"}


def test_a_wait_is_a_step_holding_its_attempts_and_probes(fake_suite):
    result = fake_suite(SUITE).allure_results()["test_plaintext_is_reset"]
    steps = _steps(result)
    assert steps[0] == ("probe sleep -> details: OK(200)", "passed", ["command", "output"], [])
    name, status, attachments, children = steps[1]
    assert name.startswith("wait: plaintext is reset: expected RESET, held after ")
    assert name.endswith(" and 4 attempts")
    assert (status, attachments) == ("passed", ["attempts"])
    # the first probe, the one where the outcome changed, and the last
    assert children == ["probe sleep -> details: OK(200)", "probe sleep -> details: RESET",
                        "probe sleep -> details: RESET"]


def test_a_wait_that_did_not_hold_is_a_failed_step(fake_suite):
    result = fake_suite("""
        from helpers import *

        @strict
        def test_still_plaintext():
            becomes("plaintext is reset", answers("hello"), RESET, FAST)
    """).allure_results()["test_still_plaintext"]
    wait = result["steps"][0]
    assert wait["status"] == "failed"
    assert wait["statusDetails"]["message"].startswith("AssertionError: plaintext is reset: expected RESET, NOT held")


def test_attachments_hold_command_and_output(fake_suite):
    run = fake_suite(SUITE)
    texts = [p.read_text() for p in (run.reports / "allure-results").glob("*-attachment.txt")]
    assert "curl -sS http://details:9080/" in texts
    assert "before" in texts
    assert any(t.startswith("what: plaintext is reset\nexpected: RESET\nresult: held after ") for t in texts)
    waits = [t for t in texts if t.startswith("what: plaintext is reset")]
    assert len(waits) == 1 and "\nstarted: 20" in waits[0] and "\nfinished: 20" in waits[0], waits


def _probe(command: str, outcome=RESET) -> ProbeResult:
    return ProbeResult("sleep -> details", command, "out", outcome)


def _attempt(elapsed: float, result: ProbeResult) -> Attempt:
    return Attempt(elapsed, result, True, str(result.outcome))


def _waited(*elapsed: float) -> Waited:
    return Waited("b resets", Expectation(RESET), attempts=[_attempt(e, _probe("curl b")) for e in elapsed], held=True)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_reports_a_long_wait_while_it_waits_and_when_it_ends():
    lines: list[str] = []
    clock = Clock()
    progress = reporting.Progress(lines.append, clock)
    progress.probed(_probe("curl a", OK(200)))  # before the wait: not one of its attempts
    progress.wait_started(_waited())
    for now in (100.0, 101.0, 102.5, 104.0, 107.6):
        clock.now = now
        progress.probed(_probe("curl b"))
    progress.wait_finished(_waited(0.0, 7.6))
    assert lines == [
        "meshproof: still waiting after 2.5s: sleep -> details (attempt 3, last RESET)",
        "meshproof: still waiting after 7.6s: sleep -> details (attempt 5, last RESET)",
        "meshproof: waited 7.6s for b resets: expected RESET, held after 2 attempts",
    ]


def test_progress_stays_quiet_for_short_waits():
    lines: list[str] = []
    progress = reporting.Progress(lines.append, Clock())
    progress.wait_started(_waited())
    progress.probed(_probe("curl b"))
    progress.wait_finished(_waited(0.3))
    assert lines == []


def test_progress_reaches_the_terminal_during_a_test(fake_suite, monkeypatch):
    monkeypatch.setenv("MESHPROOF_PROGRESS_AFTER", "0.05")  # read by the child pytest
    run = fake_suite("""
        from helpers import *

        @strict
        def test_slow():
            becomes("plaintext is reset", answers(*["hello"] * 10, None), RESET, FAST)
    """)
    run.result.stdout.re_match_lines([
        r"meshproof: still waiting after 0\.\d+s: sleep -> details \(attempt \d+, last OK\(200\)\)",
        r"meshproof: waited 0\.\d+s for plaintext is reset: expected RESET, held after 12 attempts",
    ])


def test_a_suite_module_names_its_feature_under_the_capability_epic(fake_suite):
    """The report's features say what each module proves (e.g. DestinationRule), not only the capability's title."""
    run = fake_suite('\n    """DestinationRule: the client side of mutual TLS."""' + SUITE)
    labels = run.labels("test_plaintext_is_reset")
    assert (labels["epic"], labels["feature"]) == ("Workload mutual TLS", "DestinationRule")
