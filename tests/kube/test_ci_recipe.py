"""The kind + Istio workflow in docs/examples/ stays in step with the project.

It cannot run here (no Docker, no cluster): what is checked is everything
that would break it silently when the project changes — its YAML, the make
targets and variables it uses, the pytest options it passes, the files it
applies, and pinned tool versions.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / "docs" / "examples" / "kind-istio-conformance.yml"


def steps() -> list[dict]:
    doc = yaml.safe_load(WORKFLOW.read_text())
    return doc["jobs"]["conformance"]["steps"]


def run_lines() -> list[str]:
    return [line.strip() for s in steps() for line in str(s.get("run", "")).splitlines() if line.strip()]


def suite_options() -> set[str]:
    """Every option the suite's plugins declare, by asking their pytest_addoption hooks."""
    from fixtures import options

    names: set[str] = set()

    class Group:
        def addoption(self, *opts, **kwargs):
            names.update(o for o in opts if o.startswith("--"))

    class Parser:
        def getgroup(self, *args, **kwargs):
            return Group()

        def addoption(self, *opts, **kwargs):
            names.update(o for o in opts if o.startswith("--"))

    options.pytest_addoption(Parser())
    return names


def test_the_workflow_uses_make_targets_and_variables_that_exist():
    makefile = (ROOT / "Makefile").read_text()
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.M))
    for line in run_lines():
        if line.startswith("make "):
            words = shlex.split(line)[1:]
            assert words[0] in targets, line
            for word in words[1:]:
                variable, assigned, _ = word.partition("=")
                assert assigned and re.search(rf"^{variable}\s*[?:]?=", makefile, re.M), (line, variable)


def test_the_options_it_passes_are_the_suites():
    known = suite_options() | {"-m"}
    for line in run_lines():
        if line.startswith("make conformance"):
            args = shlex.split(shlex.split(line)[-1].split("=", 1)[1])
            passed = {a for a in args if a.startswith("-")}
            assert passed and passed <= known, passed - known


def test_the_files_it_applies_exist_and_tools_are_pinned():
    for line in run_lines():
        for path in re.findall(r"-f (\S+)", line):
            assert (ROOT / path).is_file(), path
    env = yaml.safe_load(WORKFLOW.read_text())["jobs"]["conformance"]["env"]
    assert all(re.search(r"\d+\.\d+", str(v)) for v in env.values()), env
    assert not [s for s in steps() if "uses" in s and "@" not in s["uses"]]


@pytest.mark.parametrize("step", ["report", "clean up"])
def test_report_and_clean_up_run_even_when_the_suite_fails(step):
    [found] = [s for s in steps() if s.get("name") == step]
    assert found.get("if") == "always()"
