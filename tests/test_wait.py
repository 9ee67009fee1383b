"""Waits keep each attempt's probe result, report their start and finish, and confirm composed expectations."""
from __future__ import annotations

import json

import pytest

from meshproof import check, observe
from meshproof.outcome import OK, RESET
from meshproof.probe import ProbeResult
from meshproof.timeouts import Timeouts
from meshproof.wait import Expectation, consistently, eventually

FAST = Timeouts(policy=0.5, poll_interval=0.001, confirmations=2, consistently_window=0.05)
SPIFFE = "URI=spiffe://cluster.local/ns/bookinfo/sa/sleep"
SAW_IDENTITY = Expectation(OK(200)).and_(
    f"the echo saw {SPIFFE}", lambda r: SPIFFE in r.json()["headers"]["X-Forwarded-Client-Cert"])


def answer(xfcc: str | None) -> ProbeResult:
    """An echo's /headers answer with the given X-Forwarded-Client-Cert, or a reset for None."""
    if xfcc is None:
        return ProbeResult("sleep -> httpbin", "curl", "reset", RESET)
    body = json.dumps({"headers": {"X-Forwarded-Client-Cert": xfcc}})
    return ProbeResult("sleep -> httpbin", "curl", body, OK(200), body)


def answers(*xfccs: str | None):
    results = [answer(x) for x in xfccs]
    made: list[ProbeResult] = []

    def probe() -> ProbeResult:
        made.append(results[min(len(made), len(results) - 1)])
        return made[-1]
    return probe, made


def test_each_attempt_keeps_its_own_probe_result_and_the_wait_its_start_and_finish():
    probe, made = answers(None, SPIFFE, SPIFFE)
    waited = eventually("the echo answers", probe, OK(200), FAST)
    assert waited.held and [a.result for a in waited.attempts] == made
    assert [a.met for a in waited.attempts] == [False, True, True]
    assert waited.started <= waited.finished


def test_a_composed_expectation_is_confirmed_on_every_confirmation():
    """The identity must be seen on each confirming probe, not on the last one only."""
    probe, _ = answers(SPIFFE, "URI=spiffe://cluster.local/ns/other/sa/x", SPIFFE, SPIFFE)
    waited = eventually("sleep's identity reaches the echo", probe, SAW_IDENTITY, FAST)
    assert waited.held and [a.met for a in waited.attempts] == [True, False, True, True]
    assert waited.attempts[1].seen == f"OK(200), but not: the echo saw {SPIFFE}"


def test_a_probe_that_loses_the_identity_fails_a_stays_check_with_what_it_missed():
    probe, _ = answers(SPIFFE, "")
    with pytest.raises(AssertionError, match=f"expected OK\\(200\\) and the echo saw {SPIFFE}, "
                                             f"saw OK\\(200\\), but not: the echo saw {SPIFFE}"):
        check.stays("sleep keeps its identity", probe, SAW_IDENTITY, FAST)


def test_a_condition_on_an_answer_it_cannot_read_is_not_met():
    unreadable = ProbeResult("sleep -> httpbin", "curl", "<html>", OK(200), "<html>")
    assert SAW_IDENTITY.unmet(unreadable) == f"OK(200), but not: the echo saw {SPIFFE}"
    assert SAW_IDENTITY.unmet(answer(None)) == "RESET"


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, object]] = []

    def probed(self, result) -> None:
        self.events.append(("probed", result))

    def wait_started(self, waited) -> None:
        self.events.append(("started", waited.what))

    def wait_finished(self, waited) -> None:
        self.events.append(("finished", waited.what))


def test_only_the_innermost_registered_observer_sees_a_wait_and_removal_ends_it():
    from meshproof.probe import python_call

    session, outer, inner = observe.current(), Recorder(), Recorder()  # session: the reporting of this very run
    observe.register(outer)
    observe.register(inner)
    try:
        waited = consistently("the echo answers", lambda: python_call("echo", "GET /", lambda: (200, "{}")), OK(200),
                              FAST)
    finally:
        observe.remove(inner)
    try:
        python_call("echo", "GET /", lambda: (200, "{}"))
    finally:
        observe.remove(outer)
    assert inner.events[0] == ("started", "the echo answers") and inner.events[-1] == ("finished", "the echo answers")
    assert [e for e in inner.events if e[0] == "probed"] == [("probed", a.result) for a in waited.attempts]
    assert [e[0] for e in outer.events] == ["probed"]
    assert observe.current() is session
