"""What a run leaves for an auditor: the conformance report, Allure metadata, redaction.

Everything here is plain data in, files out, with no pytest import, so the
writers can be tested on their own and the pytest plugin
(``fixtures/reporting.py``) stays a thin adapter.  Capability sections come
from :mod:`meshproof.capabilities`, never from a list kept here.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from . import __version__
from .capabilities import CAPABILITIES
from .check import NOT_CONFORMANT

# ---------------------------------------------------------------------------
# Redaction: a private key must never reach a results file.

REDACTED = "[private key redacted by meshproof]"

# a PEM block, or a block cut off by truncated output (then it runs to the end)
_PEM_KEY = re.compile(
    r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END \1PRIVATE KEY-----|\Z)"
)
# base64 of "-----BEGIN" as found in Kubernetes Secret data (tls.key, key.pem)
_BASE64_PEM = re.compile(r"LS0tLS1CRUdJTi[A-Za-z0-9+/]+=*")
_MARKER = re.compile(r"PRIVATE KEY")


def _redact_base64(match: re.Match[str]) -> str:
    try:
        decoded = base64.b64decode(match.group(0) + "==", validate=False)
    except (binascii.Error, ValueError):
        return match.group(0)
    return REDACTED if b"PRIVATE KEY" in decoded else match.group(0)


def scrub(text: str) -> str:
    """Redact private keys, PEM or base64-encoded PEM, from ``text``.

    A remaining bare mention of the PEM marker (a ``grep "PRIVATE KEY"`` in a
    probe's command, say) is lowercased, so that an auditor's
    ``grep -r "PRIVATE KEY" reports/`` finding nothing is a reliable check.
    """
    text = _PEM_KEY.sub(REDACTED, text)
    text = _BASE64_PEM.sub(_redact_base64, text)
    return _MARKER.sub("private key", text)


def scrub_tree(directory: Path) -> list[Path]:
    """Scrub every text file under ``directory`` in place; return the files changed.

    The last line of defence: it also covers what other plugins wrote
    (allure-pytest's failure traces, the JUnit XML).  Binary files are left alone.
    """
    changed = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        clean = scrub(text)
        if clean != text:
            path.write_text(clean, encoding="utf-8")
            changed.append(path)
    return changed


# ---------------------------------------------------------------------------
# Checks and their classification.

PASSED, FAILED, ERROR = "passed", "failed", "error"
SKIPPED, NOT_SUPPORTED = "skipped", "not-supported"
XFAILED, XPASSED = "xfailed", "xpassed"
DESELECTED = "deselected"

NOT_CONFORMANT_KIND = "mesh is not conformant"
SUITE_ERROR_KIND = "suite or infrastructure error"

#: a skip reason starting with this means the mesh lacks a feature the check needs
NOT_SUPPORTED_PREFIX = "not supported"


def failure_kind(message: str) -> str:
    """Tell a non-conformant mesh apart from a broken suite or cluster, by the error message."""
    first = message.lstrip().removeprefix("AssertionError: ")
    return NOT_CONFORMANT_KIND if first.startswith(NOT_CONFORMANT) else SUITE_ERROR_KIND


def skip_outcome(reason: str) -> str:
    return NOT_SUPPORTED if reason.lower().startswith(NOT_SUPPORTED_PREFIX) else SKIPPED


@dataclass(frozen=True)
class Check:
    """One test's final result, with the capabilities its markers name."""

    nodeid: str
    outcome: str
    capabilities: tuple[str, ...] = ()
    reason: str = ""

    @property
    def kind(self) -> str:
        return failure_kind(self.reason) if self.outcome in (FAILED, ERROR) else ""


# ---------------------------------------------------------------------------
# Per-capability verdicts.

SUCCESS, PARTIAL, FAILURE, NOT_RUN = "success", "partial", "failure", "not-run"


@dataclass
class CapabilityResult:
    """Counts of one capability's checks, and the verdict they add up to."""

    marker: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    not_supported: int = 0

    def add(self, outcome: str) -> None:
        if outcome in (PASSED, XPASSED):
            self.passed += 1
        elif outcome in (FAILED, ERROR):
            self.failed += 1
        elif outcome == NOT_SUPPORTED:
            self.not_supported += 1
        else:  # skipped, xfailed: not run as a conformance check
            self.skipped += 1

    @property
    def result(self) -> str:
        """failure if any check failed; partial if some were skipped; not-run if none ran."""
        if self.failed:
            return FAILURE
        if not self.passed:
            return NOT_RUN
        return PARTIAL if self.skipped or self.not_supported else SUCCESS


def capability_results(checks: Iterable[Check]) -> dict[str, CapabilityResult]:
    """One entry per registered capability, in registry order, checks counted under each marker."""
    results = {marker: CapabilityResult(marker) for marker in CAPABILITIES}
    for check in checks:
        for marker in check.capabilities:
            if marker in results:
                results[marker].add(check.outcome)
    return results


# ---------------------------------------------------------------------------
# The conformance report.

EXIT_MEANINGS = {
    0: "conformant",
    1: "not conformant (a check failed)",
    2: "interrupted",
    3: "usage or infrastructure error",
    4: "pytest usage error",
    5: "no checks selected",
}


@dataclass
class RunFacts:
    """What the report says about the run itself; plain data so xdist can ship it."""

    backend: str = "unknown"
    run_ids: list[str] = field(default_factory=list)
    mesh: dict[str, Any] = field(default_factory=dict)
    kubernetes_version: str = ""
    command: str = ""

    @classmethod
    def from_run_info(cls, run: Any, command: str = "") -> "RunFacts":
        """Build from a :class:`meshproof.run.RunInfo` (duck-typed to keep this module pytest-free)."""
        mesh = {}
        if run.mesh is not None:
            mesh = {
                "profile": run.mesh.profile,
                "version": run.mesh.version,
                "platform": run.mesh.platform,
                "root_namespace": run.mesh.root_namespace,
                "trust_domain": run.mesh.trust_domain,
                "features": sorted(run.mesh.features),
            }
        return cls(run.backend, [run.run_id], mesh, run.kubernetes_version, command or run.command)

    def merge(self, other: "RunFacts") -> "RunFacts":
        """Combine the facts of pytest-xdist workers: one mesh, several run ids."""
        return RunFacts(
            self.backend if self.backend != "unknown" else other.backend,
            sorted({*self.run_ids, *other.run_ids}),
            self.mesh or other.mesh,
            self.kubernetes_version or other.kubernetes_version,
            self.command or other.command,
        )


def _verdict(statistics: Mapping[str, int], checks: list[Check]) -> str:
    kinds = {check.kind for check in checks if check.kind}
    if NOT_CONFORMANT_KIND in kinds:
        return "not conformant"
    if kinds or statistics.get(ERROR, 0):
        return "error"
    if not statistics.get(PASSED, 0) and not statistics.get(XPASSED, 0):
        return "no checks run"
    return "conformant"


def _listed(checks: list[Check], *outcomes: str, with_kind: bool = False) -> list[dict[str, Any]]:
    rows = []
    for check in checks:
        if check.outcome in outcomes:
            row: dict[str, Any] = {"check": check.nodeid, "capabilities": list(check.capabilities)}
            if with_kind:
                row["kind"] = check.kind
                row["outcome"] = check.outcome
            row["reason"] = check.reason
            rows.append(row)
    return rows


def conformance_report(
    facts: RunFacts,
    checks: list[Check],
    statistics: Mapping[str, int],
    *,
    started: str,
    finished: str,
    exit_status: int,
) -> dict[str, Any]:
    """The report as a plain mapping: written as YAML and JSON, read by tests."""
    mesh = facts.mesh
    stats = {name: int(statistics.get(name, 0)) for name in (PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED, DESELECTED)}
    stats["not_supported"] = sum(1 for check in checks if check.outcome == NOT_SUPPORTED)
    stats["plain_skipped"] = stats[SKIPPED] - stats["not_supported"]
    stats["checks"] = len(checks)
    return {
        "meshproof": __version__,
        "verdict": _verdict(statistics, checks),
        "implementation": {
            "profile": mesh.get("profile", "unknown"),
            "version": mesh.get("version", "unknown"),
            "platform": mesh.get("platform", "unknown"),
        },
        "date": started,
        "finished": finished,
        "backend": facts.backend,
        "kubernetes_version": facts.kubernetes_version,
        "run_ids": list(facts.run_ids),
        "mesh_features": list(mesh.get("features", [])),
        "capabilities": {
            marker: {"title": CAPABILITIES[marker].title, "result": r.result, "passed": r.passed,
                     "failed": r.failed, "skipped": r.skipped, "not_supported": r.not_supported}
            for marker, r in capability_results(checks).items()
        },
        "statistics": stats,
        "failed": _listed(checks, FAILED, ERROR, with_kind=True),
        "not_supported": _listed(checks, NOT_SUPPORTED),
        "skipped": _listed(checks, SKIPPED, XFAILED),
        "exit_status": {"code": exit_status, "meaning": EXIT_MEANINGS.get(exit_status, "unknown")},
        "reproduce": facts.command,
    }


def write_conformance_report(report: Mapping[str, Any], directory: Path) -> list[Path]:
    """Write ``conformance.yaml`` and ``conformance.json``, scrubbed, into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    as_yaml = yaml.safe_dump(dict(report), sort_keys=False, allow_unicode=True, width=120)
    as_json = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    paths = [directory / "conformance.yaml", directory / "conformance.json"]
    for path, text in zip(paths, (as_yaml, as_json)):
        path.write_text(scrub(text), encoding="utf-8")
    return paths


# ---------------------------------------------------------------------------
# Allure metadata that allure-pytest does not write.

def environment_properties(facts: RunFacts) -> str:
    """Allure's environment widget, as a Java properties file."""
    mesh = facts.mesh
    values = {
        "backend": facts.backend,
        "mesh.profile": mesh.get("profile", "unknown"),
        "mesh.version": mesh.get("version", "unknown"),
        "mesh.platform": mesh.get("platform", "unknown"),
        "kubernetes.version": facts.kubernetes_version or "n/a",
        "run.id": ",".join(facts.run_ids) or "n/a",
        "meshproof.version": __version__,
    }
    # properties syntax: escape backslashes, and keep each value on one line
    lines = [f"{key}={str(value).replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def categories() -> list[dict[str, Any]]:
    """Allure categories: first match wins, so 'not conformant' is tried first.

    The regexes are written to work both as Allure 2's full match and as
    Allure 3's (JavaScript) search.
    """
    return [
        {
            "name": "Mesh is not conformant",
            "description": "A conformance check observed the mesh violate the expected behaviour.",
            "matchedStatuses": ["failed"],
            "messageRegex": rf"[\s\S]*{NOT_CONFORMANT}[\s\S]*",
        },
        {
            "name": "Suite or infrastructure error",
            "description": "The suite, the backend or the cluster failed; nothing was proven either way.",
            "matchedStatuses": ["failed", "broken"],
        },
    ]


def write_allure_metadata(facts: RunFacts, results_dir: Path) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    env = results_dir / "environment.properties"
    env.write_text(scrub(environment_properties(facts)), encoding="utf-8")
    cats = results_dir / "categories.json"
    cats.write_text(json.dumps(categories(), indent=2) + "\n", encoding="utf-8")
    return [env, cats]


def as_dict(facts: RunFacts) -> dict[str, Any]:
    """Plain types only: what pytest-xdist's workeroutput can carry."""
    return asdict(facts)
