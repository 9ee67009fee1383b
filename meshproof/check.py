"""Assertions in the vocabulary of outcomes.

A failed check raises ``AssertionError`` whose message starts with
``NOT CONFORMANT:`` so reports can tell a non-conformant mesh apart from a
suite or infrastructure error (which raises :class:`MeshproofError`).
``expected`` is an outcome, or an :class:`~meshproof.wait.Expectation` that
adds conditions on what each probe saw.
"""
from __future__ import annotations

from typing import Callable

from .outcome import Outcome
from .probe import ProbeResult
from .timeouts import Timeouts
from .wait import Expectation, Waited, consistently, eventually, expect

NOT_CONFORMANT = "NOT CONFORMANT"


def _verdict(waited: Waited) -> Waited:
    if not waited.held:
        last = waited.attempts[-1] if waited.attempts else None
        seen = last.seen if last else "nothing"
        detail = f"\n{last.result.command}\n{last.result.output}" if last else ""
        raise AssertionError(
            f"{NOT_CONFORMANT}: {waited.what}: expected {waited.expected}, saw {seen} "
            f"({len(waited.attempts)} attempts over {waited.elapsed:.2f}s){detail}"
        )
    return waited


def becomes(what: str, probe: Callable[[], ProbeResult], expected: Outcome | Expectation, timeouts: Timeouts,
            **kw) -> Waited:
    """The expectation must be met within the policy timeout and then confirmed."""
    return _verdict(eventually(what, probe, expected, timeouts, **kw))


def stays(what: str, probe: Callable[[], ProbeResult], expected: Outcome | Expectation, timeouts: Timeouts,
          **kw) -> Waited:
    """The expectation must be met on every attempt for the whole window (negative checks)."""
    return _verdict(consistently(what, probe, expected, timeouts, **kw))


def once(what: str, result: ProbeResult, expected: Outcome | Expectation) -> ProbeResult:
    """A single observation, for facts that do not depend on propagation."""
    unmet = expect(expected).unmet(result)
    if unmet is not None:
        raise AssertionError(
            f"{NOT_CONFORMANT}: {what}: expected {expected}, saw {unmet}\n{result.command}\n{result.output}"
        )
    return result


def fact(what: str, holds: bool, evidence: str = "") -> None:
    """A property of the mesh that is not a probe outcome (a header, a file listing)."""
    if not holds:
        raise AssertionError(f"{NOT_CONFORMANT}: {what}" + (f"\n{evidence}" if evidence else ""))
