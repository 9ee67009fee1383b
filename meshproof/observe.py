"""Who watches probes and waits as they happen: the observer of the innermost running session.

The reporting fixtures register an observer when a pytest session starts and
remove it when the session ends. pytester runs sessions inside sessions; only
the innermost one, the last registered, sees the events, so nothing is
reported twice or to a session that has ended.
"""
from __future__ import annotations

from typing import Any, Protocol


class Observer(Protocol):
    def probed(self, result: Any) -> None:
        """A probe finished (a ``meshproof.probe.ProbeResult``)."""

    def wait_started(self, waited: Any) -> None:
        """A wait (a ``meshproof.wait.Waited``) began; the probes until it finishes are its own."""

    def wait_finished(self, waited: Any) -> None:
        """A wait ended, holding every attempt and its probe result."""


_observers: list[Observer] = []


def register(observer: Observer) -> None:
    _observers.append(observer)


def remove(observer: Observer) -> None:
    """Stop ``observer`` seeing events; removing one that is not registered is not an error."""
    if observer in _observers:
        _observers.remove(observer)


def current() -> Observer | None:
    return _observers[-1] if _observers else None
