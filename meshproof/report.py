"""What a run leaves for an auditor: the conformance report and Allure metadata.

Everything here is plain data in, files out, with no pytest import, so the
writers can be tested on their own and the pytest plugin
(``fixtures/reporting.py``) stays a thin adapter.  Capability sections come
from :mod:`meshproof.capabilities`, never from a list kept here.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import yaml

from . import __version__
from .capabilities import CAPABILITIES
from .check import NOT_CONFORMANT
from .controls import controls_section
from .coverage import COLUMNS as COVERAGE_COLUMNS
from .redact import REDACTED, redact_command, scrub, scrub_tree  # noqa: F401 (scrub is used through report)
from .verdict import failure_kind, run_verdict

# ---------------------------------------------------------------------------
# Checks and their classification (the kinds are decided in meshproof.verdict).

PASSED, FAILED, ERROR = "passed", "failed", "error"
SKIPPED, NOT_SUPPORTED = "skipped", "not-supported"
XFAILED, XPASSED = "xfailed", "xpassed"
DESELECTED = "deselected"
#: a check that started but did not finish (the run was interrupted): neither passed nor failed
NOT_RUN = "not-run"

#: a skip reason starting with this means the mesh lacks a feature the check needs
NOT_SUPPORTED_PREFIX = "not supported"


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

SUCCESS, PARTIAL, FAILURE = "success", "partial", "failure"


@dataclass
class CapabilityResult:
    """Counts of one capability's checks, and the verdict they add up to."""

    marker: str
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    not_supported: int = 0
    not_run: int = 0
    failed_tests: list[str] = field(default_factory=list)
    skipped_tests: list[str] = field(default_factory=list)
    unsupported_features: list[str] = field(default_factory=list)

    def add(self, check: "Check") -> None:
        outcome = check.outcome
        if outcome in (PASSED, XPASSED):
            self.passed += 1
        elif outcome in (FAILED, ERROR):
            self.failed += 1
            self.failed_tests.append(check.nodeid)
        elif outcome == NOT_RUN:
            self.not_run += 1
        elif outcome == NOT_SUPPORTED:
            self.not_supported += 1
            self.skipped_tests.append(check.nodeid)
            feature = check.reason.partition(":")[2].strip()
            if feature and feature not in self.unsupported_features:
                self.unsupported_features.append(feature)
        else:  # skipped, xfailed: not run as a conformance check
            self.skipped += 1
            self.skipped_tests.append(check.nodeid)

    @property
    def result(self) -> str:
        """failure if any check failed; not-run if none passed; partial if some were skipped or did not finish."""
        if self.failed:
            return FAILURE
        if not self.passed:
            return NOT_RUN
        return PARTIAL if self.skipped or self.not_supported or self.not_run else SUCCESS

    def profile(self) -> dict[str, Any]:
        """This capability as a Gateway API ``ProfileReport`` (name, summary, core status)."""
        core: dict[str, Any] = {
            "result": self.result,
            "statistics": {"Passed": self.passed, "Failed": self.failed, "Skipped": self.skipped,
                           "NotSupported": self.not_supported, "NotRun": self.not_run},
        }
        if self.skipped_tests:
            core["skippedTests"] = list(self.skipped_tests)
        if self.failed_tests:
            core["failedTests"] = list(self.failed_tests)
        row: dict[str, Any] = {"name": self.marker, "summary": CAPABILITIES[self.marker].title, "core": core}
        if self.unsupported_features:
            row["unsupportedFeatures"] = list(self.unsupported_features)
        return row


def capability_results(checks: Iterable[Check]) -> dict[str, CapabilityResult]:
    """One entry per registered capability, in registry order, checks counted under each marker."""
    results = {marker: CapabilityResult(marker) for marker in CAPABILITIES}
    for check in checks:
        for marker in check.capabilities:
            if marker in results:
                results[marker].add(check)
    return results


# ---------------------------------------------------------------------------
# The conformance report.

EXIT_MEANINGS = {
    0: "conformant",
    1: "not conformant (a check failed)",
    2: "interrupted",
    3: "usage or infrastructure error",
    4: "pytest usage error",
    5: "no checks selected or none could run",
}


@dataclass
class RunFacts:
    """What the report says about the run itself; plain data so xdist can ship it.

    ``settings``: every meshproof option given a non-default value (``--name``
    -> value as text, secrets already redacted); ``commit``: the suite's git
    commit, or "" outside a checkout; ``evidence``: the name of the run's
    evidence directory under ``reports/runs/``.
    """

    backend: str = "unknown"
    run_ids: list[str] = field(default_factory=list)
    mesh: dict[str, Any] = field(default_factory=dict)
    kubernetes_version: str = ""
    command: str = ""
    settings: dict[str, str] = field(default_factory=dict)
    commit: str = ""
    evidence: str = ""
    #: the port coverage table's rows (meshproof.coverage.PortRow, as dicts), in the order swept
    port_coverage: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.command = redact_command(self.command)  # at the source: whoever builds the facts

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
        return cls(run.backend, [run.run_id], mesh, run.kubernetes_version, command or run.command,
                   port_coverage=list(getattr(run, "port_coverage", [])))

    def merge(self, other: "RunFacts") -> "RunFacts":
        """Combine the facts of pytest-xdist workers: one mesh, several run ids."""
        return RunFacts(
            self.backend if self.backend != "unknown" else other.backend,
            sorted({*self.run_ids, *other.run_ids}),
            self.mesh or other.mesh,
            self.kubernetes_version or other.kubernetes_version,
            self.command or other.command,
            self.settings or other.settings,
            self.commit or other.commit,
            self.evidence or other.evidence,
            self.port_coverage + other.port_coverage,
        )

    @property
    def mode(self) -> str:
        """Gateway API's ``mode``: ``default``, or the deliberate defects the reference mesh ran with."""
        defects = self.settings.get("--mesh-defect", "")
        return f"defects: {defects}" if defects else "default"


#: the report's type, as Kubernetes objects and the Gateway API ConformanceReport name theirs
API_VERSION = "meshproof.io/v1alpha1"
KIND = "ConformanceReport"


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


def verdict_of(checks: list[Check], *, interrupted: bool, exit_status: int):
    """The run's :class:`meshproof.verdict.Verdict` from its checks (see :func:`meshproof.verdict.run_verdict`)."""
    passed = sum(1 for check in checks if check.outcome in (PASSED, XPASSED))
    return run_verdict((check.kind for check in checks if check.kind), passed=passed,
                       interrupted=interrupted, exit_status=exit_status)


def conformance_report(
    facts: RunFacts,
    checks: list[Check],
    statistics: Mapping[str, int],
    *,
    started: str,
    finished: str,
    exit_status: int,
    verdict: str,
) -> dict[str, Any]:
    """The report as a plain mapping (docs/report.md): written as YAML and JSON, read by tests.

    ``exit_status`` is the code the run ends with, ``verdict`` the name of its
    :class:`meshproof.verdict.Verdict`.
    """
    mesh = facts.mesh
    stats = {name: int(statistics.get(name, 0)) for name in (PASSED, FAILED, ERROR, SKIPPED, XFAILED, XPASSED, DESELECTED)}
    stats["not_supported"] = sum(1 for check in checks if check.outcome == NOT_SUPPORTED)
    stats["plain_skipped"] = stats[SKIPPED] - stats["not_supported"]
    stats["not_run"] = sum(1 for check in checks if check.outcome == NOT_RUN)
    stats["checks"] = len(checks)
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "date": started,
        "finished": finished,
        "verdict": verdict,
        "implementation": {
            "project": mesh.get("profile", "unknown"),
            "version": mesh.get("version", "unknown"),
            "platform": mesh.get("platform", "unknown"),
        },
        "mode": facts.mode,
        "meshproof": {"version": __version__, "commit": facts.commit or "unknown"},
        "backend": facts.backend,
        "kubernetes_version": facts.kubernetes_version,
        "run_ids": list(facts.run_ids),
        "evidence": facts.evidence,
        "settings": dict(facts.settings),
        "mesh_features": list(mesh.get("features", [])),
        "profiles": [r.profile() for r in capability_results(checks).values()],
        "statistics": stats,
        "controls": controls_section(checks),
        "failed": _listed(checks, FAILED, ERROR, with_kind=True),
        "not_run": _listed(checks, NOT_RUN),
        "not_supported": _listed(checks, NOT_SUPPORTED),
        "skipped": _listed(checks, SKIPPED, XFAILED),
        "exit_status": {"code": exit_status, "meaning": EXIT_MEANINGS.get(exit_status, "unknown")},
        "reproduce": facts.command,
        **({"port_coverage": port_coverage_section(facts.port_coverage)} if facts.port_coverage else {}),
    }


def port_coverage_section(rows: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The port coverage table (docs/report.md): its columns, a count per verdict, and the rows.

    Each row must have exactly the columns of :class:`meshproof.coverage.PortRow`; ValueError otherwise.
    """
    rows = [dict(row) for row in rows]
    for row in rows:
        if tuple(row) != COVERAGE_COLUMNS:
            raise ValueError(f"a port coverage row has the columns {tuple(row)}, not {COVERAGE_COLUMNS}")
    verdicts: dict[str, int] = {}
    for row in rows:
        verdicts[row["verdict"]] = verdicts.get(row["verdict"], 0) + 1
    return {"columns": list(COVERAGE_COLUMNS), "verdicts": verdicts, "rows": rows}


def write_conformance_report(report: Mapping[str, Any], directory: Path) -> list[Path]:
    """Write ``conformance.yaml`` and ``conformance.json``, scrubbed, into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    as_yaml = yaml.safe_dump(dict(report), sort_keys=False, allow_unicode=True, width=120)
    as_json = json.dumps(report, indent=2, ensure_ascii=False) + "\n"
    paths = [directory / "conformance.yaml", directory / "conformance.json"]
    for path, text in zip(paths, (as_yaml, as_json)):
        staged = path.with_name(f".{path.name}.tmp")
        staged.write_text(scrub(text), encoding="utf-8")
        os.replace(staged, path)  # a reader sees the whole report or none
    return paths


# ---------------------------------------------------------------------------
# Allure metadata that allure-pytest does not write.

def environment_properties(facts: RunFacts, conformance: Mapping[str, Any] | None = None) -> str:
    """Allure's environment widget, as a Java properties file: the verdict first, then the run's conditions.

    Every non-default setting is listed (``setting.--mesh-defect=...``), so a run
    with a deliberate defect or weakened timeouts never looks like a real one.
    """
    mesh = facts.mesh
    values: dict[str, Any] = {}
    if conformance is not None:
        values["verdict"] = conformance["verdict"]
        values["exit.code"] = conformance["exit_status"]["code"]
    values.update({
        "backend": facts.backend,
        "mode": facts.mode,
        "mesh.profile": mesh.get("profile", "unknown"),
        "mesh.version": mesh.get("version", "unknown"),
        "mesh.platform": mesh.get("platform", "unknown"),
        "kubernetes.version": facts.kubernetes_version or "n/a",
        "run.id": ",".join(facts.run_ids) or "n/a",
        "meshproof.version": __version__,
        "meshproof.commit": facts.commit or "unknown",
    })
    values.update({f"setting.{name}": value for name, value in facts.settings.items()})
    # properties syntax: escape backslashes, '=' and ':' in keys, and keep each value on one line
    def escaped(text: Any, key: bool = False) -> str:
        text = str(text).replace("\\", "\\\\").replace("\n", " ")
        return text.replace("=", "\\=").replace(":", "\\:") if key else text
    return "\n".join(f"{escaped(key, True)}={escaped(value)}" for key, value in values.items()) + "\n"


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


def write_allure_metadata(facts: RunFacts, results_dir: Path,
                          conformance: Mapping[str, Any] | None = None) -> list[Path]:
    results_dir.mkdir(parents=True, exist_ok=True)
    env = results_dir / "environment.properties"
    env.write_text(scrub(environment_properties(facts, conformance)), encoding="utf-8")
    cats = results_dir / "categories.json"
    cats.write_text(json.dumps(categories(), indent=2) + "\n", encoding="utf-8")
    return [env, cats]


def as_dict(facts: RunFacts) -> dict[str, Any]:
    """Plain types only: what pytest-xdist's workeroutput can carry."""
    return asdict(facts)
