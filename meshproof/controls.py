"""The conformance report's controls section: each compliance control, the checks that evidence it, their status.

A pure function over the run's checks (anything with ``nodeid`` and ``outcome``,
or mappings with those keys, e.g. meshproof.report.Check); the mapping of checks
to controls is data in meshproof.capabilities (``CONTROLS``, ``CHECK_CONTROLS``).
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping

from .capabilities import CONTROLS, controls_of
from .verdict import NOT_CONFORMANT_KIND, failure_kind

#: a control's status from its checks' outcomes (meshproof.report's names): a failed check fails it; else an
#: errored one (suite or infrastructure error) leaves it "error", never "failed"; else a passed one evidences
#: it; else (skipped, not supported, not run) it is "not evidenced"
FAILED, ERROR = "failed", "error"
PASSING = frozenset({"passed", "xpassed"})


def _field(check: Any, name: str) -> str:
    return str(check[name] if isinstance(check, Mapping) else getattr(check, name))


def _outcome(check: Any) -> str:
    """A check's outcome for the controls it evidences: a failure counts as "failed" only when the check saw
    the mesh break a rule; a failure of the suite's machinery proved nothing and is an "error"
    (meshproof.verdict.failure_kind)."""
    outcome = _field(check, "outcome")
    reason = check.get("reason", "") if isinstance(check, Mapping) else getattr(check, "reason", "")
    if outcome == FAILED and failure_kind(str(reason)) != NOT_CONFORMANT_KIND:
        return ERROR
    return outcome


def control_status(outcomes: Iterable[str]) -> str:
    outcomes = set(outcomes)
    if FAILED in outcomes:
        return "failed"
    if ERROR in outcomes:
        return "error"
    if outcomes & PASSING:
        return "evidenced"
    return "not evidenced"


def controls_section(checks: Iterable[Any]) -> list[dict[str, Any]]:
    """One entry per control of the registry, in registry order::

        {"framework": str, "control": str, "title": str, "status": "evidenced" | "failed" | "error" | "not evidenced",
         "checks": [{"check": nodeid, "outcome": str}, ...]}

    A control none of the run's checks evidences is listed with no checks and "not evidenced".
    """
    by_control: dict[str, list[dict[str, str]]] = {key: [] for key in CONTROLS}
    for check in checks:
        nodeid = _field(check, "nodeid")
        for key in controls_of(nodeid):
            by_control[key].append({"check": nodeid, "outcome": _outcome(check)})
    return [
        {"framework": control.framework, "control": control.identifier, "title": control.title,
         "status": control_status(c["outcome"] for c in by_control[key]), "checks": by_control[key]}
        for key, control in CONTROLS.items()
    ]
