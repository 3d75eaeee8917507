"""Package structure: every package imports on its own, and imports run one way.

* Each subpackage and top-level module of ``discovervoice`` is imported alone in a fresh
  interpreter, then every module of that subpackage in the same interpreter: nothing relies
  on another package having been imported first, and no module fails to import.
* No import cycle between packages, nor between the files of one package, read from the
  source with :mod:`ast`.

What counts as an import (the rule this test enforces):

* every ``import`` / ``from ... import`` of a ``discovervoice`` module, at module level *or
  inside a function*: a lazy import still makes one package need the other to run (the
  enhance <-> prep cycle of issue 20 was made of function-level imports only). Imports under
  ``if TYPE_CHECKING:`` do not count (they never run).
* ``from a.b import c`` is an import of module ``a.b.c`` when that module exists, else of
  ``a.b``.
* Nodes of the package graph are the subpackages (``discovervoice.separation``) and the
  top-level modules (``discovervoice.audio``, ``discovervoice.pipeline``); the package
  ``discovervoice/__init__.py`` itself is not a node (every module imports it anyway).
* A file's import of its own package's ``__init__`` is an edge like any other.

:data:`KNOWN_EDGES` lists the package edges that still close a cycle, each with the work that
removes it; the test fails on any other cycle and on a listed edge that no longer exists
(so the list only shrinks).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "discovervoice"

#: ``(importing module, imported module)``: edges allowed to close a package cycle for now.
#: (empty: the last one, corpus.realsongs -> prep.vad, went when VAD moved to
#: discovervoice.signals; issue 20)
KNOWN_EDGES: dict[tuple[str, str], str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}
SUBPACKAGES = sorted(m for m, p in MODULES.items() if p.name == "__init__.py" and m.count(".") == 1)
TOP_MODULES = sorted(m for m, p in MODULES.items() if p.name != "__init__.py" and m.count(".") == 1)


def _imports(path: Path) -> set[str]:
    """``discovervoice`` modules imported anywhere in ``path`` (see the module docstring)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, ast.Import):
                found.update(a.name for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"{path}: relative import (the package uses absolute ones)"
                for a in child.names:
                    full = f"{child.module}.{a.name}"
                    found.add(full if full in MODULES else child.module)
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
    return {m for m in found if m in MODULES and m != "discovervoice"}


def _node(module: str) -> str:
    return ".".join(module.split(".")[:2])


GRAPH = {m: _imports(p) - {m} for m, p in MODULES.items()}


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10000))
    for v in sorted(edges):
        if v not in index:
            strong(v)
    return out


def _package_edges(skip: set[tuple[str, str]]) -> dict[str, dict[str, list[tuple[str, str]]]]:
    """``{node: {node: [(module, imported module), ...]}}`` between different nodes."""
    edges: dict[str, dict[str, list[tuple[str, str]]]] = {}
    for m, deps in GRAPH.items():
        if m == "discovervoice":
            continue
        for d in deps:
            a, b = _node(m), _node(d)
            if a != b and (m, d) not in skip:
                edges.setdefault(a, {}).setdefault(b, []).append((m, d))
    return edges


def test_the_module_list_is_the_package():
    assert "discovervoice.separation" in SUBPACKAGES and "discovervoice.transcribe" in SUBPACKAGES
    assert "discovervoice.pipeline" in TOP_MODULES
    assert "discovervoice.prep.transcribe" not in MODULES, "speech recognition is discovervoice.transcribe"


def test_no_import_cycle_between_packages():
    edges = _package_edges(set(KNOWN_EDGES))
    cycles = _cycles({a: set(bs) for a, bs in edges.items()})
    detail = [" -> ".join(c) + ": " + "; ".join(f"{m} imports {d}" for a in c for b in c
                                                for m, d in edges.get(a, {}).get(b, []))
              for c in cycles]
    assert not cycles, "import cycles between packages:\n" + "\n".join(detail)


def test_known_cycle_edges_still_exist():
    """A listed edge that is gone must leave :data:`KNOWN_EDGES`, so the list only shrinks."""
    gone = [e for e in KNOWN_EDGES if e[1] not in GRAPH.get(e[0], set())]
    assert not gone, f"remove from KNOWN_EDGES: {gone}"


def test_no_import_cycle_between_files_of_a_package():
    inner = {m: {d for d in deps if _node(d) == _node(m)} for m, deps in GRAPH.items()}
    cycles = _cycles(inner)
    assert not cycles, f"import cycles between files of a package: {cycles}"


def _application(module: str) -> bool:
    """The top layer (docs/ARCHITECTURE.md): pipeline and command-line modules."""
    last = module.rsplit(".", 1)[-1]
    return module in ("discovervoice.pipeline", "discovervoice.__main__") or last == "cli" or last.endswith("_cli")


def test_library_code_does_not_import_the_application_layer():
    """Stages and the foundation never import ``pipeline`` or a CLI module (the app and the
    CLI sit on top of them, docs/ARCHITECTURE.md)."""
    bad = {m: sorted(d for d in deps if _application(d)) for m, deps in GRAPH.items() if not _application(m)}
    assert not {m: d for m, d in bad.items() if d}


@pytest.mark.parametrize("package", SUBPACKAGES + TOP_MODULES)
def test_each_package_imports_alone_in_a_fresh_interpreter(package):
    """Import the package alone, then each of its modules (same fresh interpreter)."""
    modules = [m for m in MODULES if m == package or m.startswith(package + ".")]
    code = "import importlib, sys\n" + "".join(
        f"importlib.import_module({m!r})\n" for m in [package] + sorted(set(modules) - {package}))
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                       timeout=600, env=env)
    assert r.returncode == 0, f"importing {package} alone failed:\n{r.stderr[-3000:]}"
