"""The one place that decides what a failure means and what a run's verdict is.

Three kinds of failure are never mixed (DESIGN.md, "Trust in the verdict"):

- the mesh broke a rule: a check raised ``AssertionError("NOT CONFORMANT: ...")``
  (:mod:`meshproof.check`) *while the suite's own machinery was healthy*;
- the suite could not check: anything else, and any failure that happened while
  a process of the reference mesh had died or the API server was gone
  (:meth:`meshproof.cluster.Cluster.machinery_faults`);
- the run was interrupted (Ctrl-C, SIGTERM): then nothing is concluded.

Plain data in, plain data out, no pytest import; ``fixtures/reporting.py``
feeds it the outcomes and the faults.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from .check import NOT_CONFORMANT
from .errors import InfrastructureError

NOT_CONFORMANT_KIND = "mesh is not conformant"
SUITE_ERROR_KIND = "suite or infrastructure error"


def failure_kind(message: str) -> str:
    """``mesh is not conformant`` for a check's ``NOT CONFORMANT:`` assertion, else a suite error.

    ``message`` is the failure's first line as pytest reports it (with or
    without the ``AssertionError: `` prefix).
    """
    first = message.lstrip().removeprefix("AssertionError: ")
    return NOT_CONFORMANT_KIND if first.startswith(NOT_CONFORMANT) else SUITE_ERROR_KIND


def machinery_failure(message: str, faults: Sequence[str]) -> InfrastructureError:
    """The error that replaces a check's failure when ``faults`` (non-empty) say the machinery broke.

    What the check saw is kept, without the ``NOT CONFORMANT`` prefix: it is a
    symptom of the broken machinery, not evidence about the mesh.
    """
    seen = message.strip().removeprefix("AssertionError: ").removeprefix(f"{NOT_CONFORMANT}: ")
    return InfrastructureError(
        "infrastructure error: " + "; ".join(faults)
        + f" -- nothing was proven; the check saw: {seen.splitlines()[0] if seen else 'nothing'}"
    )


# ---------------------------------------------------------------------------
# The verdict of a run.

@dataclass(frozen=True)
class Verdict:
    """What a run concluded, and the exit code that says it (the table in docs/report.md)."""

    name: str
    exit_code: int


CONFORMANT = Verdict("conformant", 0)
NOT_CONFORMANT_VERDICT = Verdict("not conformant", 1)
INTERRUPTED = Verdict("interrupted", 2)
INFRASTRUCTURE_ERROR = Verdict("infrastructure error", 3)
#: nothing could be checked: no check selected, or every selected one skipped (e.g. not supported on this mesh);
#: pytest's own "no tests collected" code, so that a run which proved nothing never exits 0
NO_CHECKS_RUN = Verdict("no checks run", 5)

#: pytest's exit status for a session ended by Ctrl-C, and the one ``pytest.exit`` gets for a usage
#: or infrastructure error (fixtures/mesh.py)
PYTEST_INTERRUPTED = 2
USAGE_OR_INFRASTRUCTURE = 3


def run_verdict(kinds: Iterable[str], *, passed: int, interrupted: bool, exit_status: int) -> Verdict:
    """The verdict of a run from the kinds of its failed checks and how it ended.

    ``kinds``: :func:`failure_kind` of every failed or errored check; ``passed``:
    the number of checks that finished and passed.  An interrupted run is
    ``interrupted`` whatever its checks saw; a run that pytest ended with exit
    status 2 counts as interrupted too.  Non-conformance outranks an
    infrastructure error: a rule broken while the machinery was healthy stays
    broken.  Only a run whose every finished check passed, with at least one
    passing, is ``conformant``.
    """
    if interrupted or exit_status == PYTEST_INTERRUPTED:
        return INTERRUPTED
    kinds = set(kinds)
    if NOT_CONFORMANT_KIND in kinds:
        return NOT_CONFORMANT_VERDICT
    if kinds or exit_status == USAGE_OR_INFRASTRUCTURE:
        return INFRASTRUCTURE_ERROR
    if not passed:
        return NO_CHECKS_RUN
    return CONFORMANT
