"""The architecture holds: suites never know which backend runs the mesh."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fixtures.options import NAMESPACE_BASES
from tests.suite_runner import ROOT, run_pytest

BACKENDS = ("meshproof.local", "meshproof.kube")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("module", sorted((ROOT / "suites").glob("test_*.py")), ids=lambda p: p.name)
def test_no_suite_imports_a_backend(module):
    backends = {m for m in imported_modules(module) if m.startswith(BACKENDS)}
    assert backends == set(), f"{module.name} imports {backends}"


def test_a_mistyped_existing_namespace_ends_the_run_with_one_line():
    done = run_pytest(["suites", "--use-namespace", "bookinf=team-a"], timeout=60)
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        f"ERROR: --use-namespace 'bookinf=team-a': expected BASE=NAME with BASE one of {', '.join(NAMESPACE_BASES)}"]
