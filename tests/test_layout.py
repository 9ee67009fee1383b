"""The architecture holds: suites never know which backend runs the mesh, and each layer imports only what it may.

Data flows one way: suites -> fixtures -> library (meshproof/) -> backend
(meshproof/local, meshproof/kube). ``LAYERS`` says, per layer, which layers its
modules may import; every import counts, those inside functions and under
``TYPE_CHECKING`` too, and the library's import graph has no circle.
"""
from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.options import NAMESPACE_BASES
from tests.suite_runner import ROOT, run_pytest

def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(name: str) -> bool:
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved (``from . import x`` names the module ``x``)."""
    tree = ast.parse(path.read_text())
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join([*package[:len(package) - node.level + 1], *([node.module] if node.module else [])]) \
                if node.level else node.module
            submodules = {f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}")}
            found.update(submodules or {base})
    return found


#: layer -> the layers (or single modules) its modules may import; the longest matching prefix names a module's layer
LAYERS = {
    "suites": {"meshproof"},
    "fixtures": {"fixtures", "meshproof", "meshproof.apps"},
    "meshproof": {"meshproof"},
    # the seed-000 app runs from a bundle holding only itself and these two modules (apps/mysql_query.bundle)
    "meshproof.apps": {"meshproof.apps", "meshproof.errors", "meshproof.sslmode"},
    "meshproof.local": {"meshproof", "meshproof.local", "meshproof.apps"},
    "meshproof.kube": {"meshproof", "meshproof.kube"},
}
#: the modules that choose a backend, and so may import one
CHOOSE_A_BACKEND = {"fixtures.mesh": {"meshproof.local", "meshproof.kube"},
                    "meshproof.sweep": {"meshproof.local", "meshproof.kube"}}


def layer_of(module: str) -> str | None:
    matching = [layer for layer in LAYERS if module == layer or module.startswith(layer + ".")]
    return max(matching, key=len) if matching else None


def project_modules() -> Iterator[Path]:
    for top in ("suites", "fixtures", "meshproof"):
        yield from sorted((ROOT / top).rglob("*.py"))


def project_imports(path: Path) -> set[str]:
    return {m for m in imported_modules(path) if layer_of(m) is not None}


@pytest.mark.parametrize("path", list(project_modules()), ids=lambda p: str(p.relative_to(ROOT)))
def test_each_module_imports_only_what_its_layer_may(path):
    name = module_name(path)
    allowed = LAYERS[layer_of(name)] | CHOOSE_A_BACKEND.get(name, set())
    forbidden = {m for m in project_imports(path) if layer_of(m) not in allowed and m not in allowed}
    assert forbidden == set(), f"{name} ({layer_of(name)}) imports {sorted(forbidden)}; it may import {sorted(allowed)}"


def test_the_library_has_no_import_circle():
    graph = {module_name(p): {m for m in project_imports(p) if m.startswith("meshproof")}
             for p in sorted((ROOT / "meshproof").rglob("*.py"))}
    done: set[str] = set()

    def visit(module: str, path: tuple[str, ...]) -> None:
        if module in path:
            circle = path[path.index(module):] + (module,)
            raise AssertionError(f"import circle: {' -> '.join(circle)}")
        if module in done:
            return
        for target in sorted(graph.get(module, ())):
            visit(target, path + (module,))
        done.add(module)

    for module in sorted(graph):
        visit(module, ())


def test_a_mistyped_existing_namespace_ends_the_run_with_one_line():
    done = run_pytest(["suites", "--use-namespace", "bookinf=team-a"], timeout=60)
    assert done.returncode == 4
    assert done.stderr.strip().splitlines() == [
        f"ERROR: --use-namespace 'bookinf=team-a': expected BASE=NAME with BASE one of {', '.join(NAMESPACE_BASES)}"]
