"""Polling for an eventually-consistent mesh: no fixed sleeps anywhere else.

``eventually`` polls until the expectation has been met ``confirmations``
times in a row; ``consistently`` insists it is met for a whole window. Every
attempt keeps its probe result (so the report shows each call with its
command, output and verdict), and a wait tells the session's observer
(:mod:`meshproof.observe`) when it starts and when it finishes.

An expectation is an outcome, or an outcome with conditions on what the probe
saw (:class:`Expectation`): "OK(200) and the echo saw this SPIFFE identity" is
then confirmed on every confirmation of the wait, not on its last probe only.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable, Iterator

from . import observe
from .outcome import Outcome
from .probe import ProbeResult
from .timeouts import Timeouts


@dataclass(frozen=True)
class Condition:
    """Something a probe must have seen besides its outcome; ``holds`` False or unreadable means not seen."""

    what: str
    holds: Callable[[ProbeResult], bool]

    def seen_in(self, result: ProbeResult) -> bool:
        try:
            return bool(self.holds(result))
        except (ValueError, KeyError, TypeError):  # an answer that is not what the condition reads (no JSON body)
            return False


@dataclass(frozen=True)
class Expectation:
    """An outcome, and the conditions every probe with that outcome must also meet."""

    outcome: Outcome
    conditions: tuple[Condition, ...] = ()

    def and_(self, what: str, holds: Callable[[ProbeResult], bool]) -> "Expectation":
        """This expectation with one more condition, e.g. ``.and_("the echo saw X", lambda r: ...)``."""
        return Expectation(self.outcome, (*self.conditions, Condition(what, holds)))

    def unmet(self, result: ProbeResult) -> str | None:
        """None when ``result`` meets the expectation, else what it saw instead (its outcome, or a missed condition)."""
        if not self.outcome.matches(result.outcome):
            return str(result.outcome)
        missed = next((c for c in self.conditions if not c.seen_in(result)), None)
        return f"{result.outcome}, but not: {missed.what}" if missed else None

    def __str__(self) -> str:
        return " and ".join([str(self.outcome), *(c.what for c in self.conditions)])


def expect(expected: Outcome | Expectation) -> Expectation:
    return expected if isinstance(expected, Expectation) else Expectation(expected)


@dataclass(frozen=True)
class Attempt:
    """One probe of a wait: seconds since the wait started, the probe's result, and whether it met the expectation."""

    elapsed: float
    result: ProbeResult
    met: bool
    #: what the report shows of the attempt: the outcome, or the outcome and the condition it missed
    seen: str

    @property
    def outcome(self) -> Outcome:
        return self.result.outcome


@dataclass
class Waited:
    """The story of one wait: what was expected, when it started and finished (epoch seconds), every attempt."""

    what: str
    expected: Expectation
    started: float = field(default_factory=time.time)
    finished: float | None = None
    attempts: list[Attempt] = field(default_factory=list)
    held: bool = False

    @property
    def elapsed(self) -> float:
        return self.attempts[-1].elapsed if self.attempts else 0.0

    @property
    def verdict(self) -> str:
        return "held" if self.held else "NOT held"

    @property
    def headline(self) -> str:
        """What the report and the terminal say of a finished wait."""
        return f"{self.what}: expected {self.expected}, {self.verdict}"


class _Wait:
    """A running wait: probes, records each attempt, tells the observer of its start and finish."""

    def __init__(self, what: str, probe: Callable[[], ProbeResult], expected: Outcome | Expectation) -> None:
        self.probe = probe
        self.waited = Waited(what, expect(expected))
        self.start = time.monotonic()
        observer = observe.current()
        if observer is not None:
            observer.wait_started(self.waited)

    def attempt(self) -> Attempt:
        result = self.probe()
        unmet = self.waited.expected.unmet(result)
        attempt = Attempt(time.monotonic() - self.start, result, unmet is None, unmet or str(result.outcome))
        self.waited.attempts.append(attempt)
        return attempt

    def finish(self, held: bool) -> Waited:
        self.waited.held, self.waited.finished = held, time.time()
        observer = observe.current()
        if observer is not None:
            observer.wait_finished(self.waited)
        return self.waited


def eventually(what: str, probe: Callable[[], ProbeResult], expected: Outcome | Expectation, timeouts: Timeouts,
               *, within: float | None = None, confirmations: int | None = None) -> Waited:
    deadline_after = timeouts.policy if within is None else within
    needed = timeouts.confirmations if confirmations is None else confirmations
    wait = _Wait(what, probe, expected)
    streak = 0
    while True:
        attempt = wait.attempt()
        streak = streak + 1 if attempt.met else 0
        if streak >= needed:
            return wait.finish(True)
        if attempt.elapsed >= deadline_after:
            return wait.finish(False)
        time.sleep(timeouts.poll_interval)


def consistently(what: str, probe: Callable[[], ProbeResult], expected: Outcome | Expectation, timeouts: Timeouts,
                 *, window: float | None = None) -> Waited:
    span = timeouts.consistently_window if window is None else window
    wait = _Wait(what, probe, expected)
    while True:
        attempt = wait.attempt()
        if not attempt.met:
            return wait.finish(False)
        if attempt.elapsed >= span:
            return wait.finish(True)
        time.sleep(timeouts.poll_interval)


def polls(timeouts: Timeouts, within: float) -> Iterator[float]:
    """The attempts of a poll a check drives itself (several probes per attempt): yields the seconds since the
    first attempt, paced by ``timeouts.poll_interval``, until ``within`` seconds have passed."""
    start = time.monotonic()
    while (elapsed := time.monotonic() - start) < within:
        yield elapsed
        time.sleep(timeouts.poll_interval)
