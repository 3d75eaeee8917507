"""No function in ``discovervoice/`` or ``app.py`` is longer than :data:`MAX_LINES` lines
(issue 20), except those listed in :data:`EXCEPTIONS`, which may only shrink: a listed
function that is split (or gone) must leave the list, and none may grow past its count."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 120

#: ``"path:qualified name"`` -> its length in lines today (the ceiling until it is split).
EXCEPTIONS = {
}


def _lengths() -> dict[str, int]:
    out: dict[str, int] = {}
    files = sorted((ROOT / "discovervoice").rglob("*.py")) + [ROOT / "app.py"]
    for path in files:
        rel = path.relative_to(ROOT).as_posix()

        def visit(node: ast.AST, prefix: str) -> None:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    name = f"{prefix}{child.name}"
                    if not isinstance(child, ast.ClassDef):
                        out[f"{rel}:{name}"] = child.end_lineno - child.lineno + 1
                    visit(child, name + ".")
                else:
                    visit(child, prefix)

        visit(ast.parse(path.read_text(), str(path)), "")
    return out


def test_no_function_is_longer_than_the_limit_except_the_listed_ones():
    lengths = _lengths()
    too_long = {k: n for k, n in lengths.items() if n > MAX_LINES and k not in EXCEPTIONS}
    assert not too_long, f"functions over {MAX_LINES} lines (split them): {too_long}"
    grown = {k: (lengths[k], EXCEPTIONS[k]) for k in EXCEPTIONS
             if k in lengths and lengths[k] > EXCEPTIONS[k]}
    assert not grown, f"listed functions grew (now, ceiling): {grown}"


def test_the_exception_list_only_shrinks():
    lengths = _lengths()
    done = [k for k in EXCEPTIONS if lengths.get(k, 0) <= MAX_LINES]
    assert not done, f"now within {MAX_LINES} lines or gone; remove from EXCEPTIONS: {done}"
