"""Polling for an eventually-consistent mesh: no fixed sleeps anywhere else.

``eventually`` polls until the expected outcome has been seen ``confirmations``
times in a row; ``consistently`` insists the outcome holds for a whole window.
Every attempt is kept (elapsed time and outcome) so the report shows the wait.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from .outcome import Outcome
from .probe import ProbeResult
from .timeouts import Timeouts


@dataclass
class Attempt:
    elapsed: float
    outcome: Outcome


@dataclass
class Waited:
    """The story of one wait: what was expected, every attempt, the last probe."""

    what: str
    expected: Outcome
    attempts: list[Attempt] = field(default_factory=list)
    last: ProbeResult | None = None
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


Listener = Callable[[Waited], None]
_listeners: list[Listener] = []


def on_wait_finished(listener: Listener) -> None:
    """Let the reporting layer see every wait (Allure steps, terminal progress)."""
    _listeners.append(listener)


def _finish(waited: Waited) -> Waited:
    for listener in _listeners:
        listener(waited)
    return waited


def eventually(what: str, probe: Callable[[], ProbeResult], expected: Outcome, timeouts: Timeouts,
               *, within: float | None = None, confirmations: int | None = None) -> Waited:
    deadline_after = timeouts.policy if within is None else within
    needed = timeouts.confirmations if confirmations is None else confirmations
    waited = Waited(what, expected)
    start = time.monotonic()
    streak = 0
    while True:
        result = probe()
        now = time.monotonic() - start
        waited.attempts.append(Attempt(now, result.outcome))
        waited.last = result
        streak = streak + 1 if expected.matches(result.outcome) else 0
        if streak >= needed:
            waited.held = True
            return _finish(waited)
        if now >= deadline_after:
            return _finish(waited)
        time.sleep(timeouts.poll_interval)


def consistently(what: str, probe: Callable[[], ProbeResult], expected: Outcome, timeouts: Timeouts,
                 *, window: float | None = None) -> Waited:
    span = timeouts.consistently_window if window is None else window
    waited = Waited(what, expected)
    start = time.monotonic()
    while True:
        result = probe()
        now = time.monotonic() - start
        waited.attempts.append(Attempt(now, result.outcome))
        waited.last = result
        if not expected.matches(result.outcome):
            return _finish(waited)
        if now >= span:
            waited.held = True
            return _finish(waited)
        time.sleep(timeouts.poll_interval)
