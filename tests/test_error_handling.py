"""No error is swallowed without a word (issue 16).

- No `suppress(Exception)` / `suppress(BaseException)`: name the errors you expect, or use
  `engine.log_once.OnceLog.logged()`, which logs each distinct error once.
- Every handler that catches `Exception`, `BaseException` or everything either raises,
  logs (a logger call, `OnceLog.error`), or hands the error on by name (into a result, a
  row or a line the operator sees: `except Exception as e: return Check(..., str(e))`);
  and it says why in a comment. Handlers that do none of these are listed in ALLOWED with
  the reason, and the list only shrinks.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "store", "console", "widgets")
BROAD = {"Exception", "BaseException"}
LOG_METHODS = {"debug", "info", "warning", "error", "exception", "critical", "log"}

# "path:function" -> why a broad handler may neither log, raise nor pass its error on.
ALLOWED: dict[str, str] = {}


@functools.cache
def _sources() -> list[tuple[str, ast.Module, list[str]]]:
    out = []
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            out.append((path.relative_to(ROOT).as_posix(), ast.parse(text), text.splitlines()))
    return out


def _names(node: ast.expr | None) -> set[str]:
    if node is None:
        return {"BaseException"}  # a bare `except:`
    parts = node.elts if isinstance(node, ast.Tuple) else [node]
    return {p.id if isinstance(p, ast.Name) else p.attr if isinstance(p, ast.Attribute) else ""
            for p in parts}


def _handled(h: ast.ExceptHandler) -> bool:
    for node in (n for stmt in h.body for n in ast.walk(stmt)):
        if isinstance(node, ast.Raise):
            return True
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in LOG_METHODS):
            return True
        if h.name and isinstance(node, ast.Name) and node.id == h.name:
            return True  # handed on: a result, a row or a message carries it
    return False


def _reraises(h: ast.ExceptHandler) -> bool:
    """Clean up, then `raise` the same error: nothing is handled, so nothing to explain."""
    last = h.body[-1]
    return isinstance(last, ast.Raise) and last.exc is None


def _has_comment(h: ast.ExceptHandler, lines: list[str]) -> bool:
    if _reraises(h):
        return True
    end = h.end_lineno or h.lineno
    return any("#" in lines[i - 1] for i in range(h.lineno, end + 1))


def _broad_handlers() -> list[tuple[str, str, ast.ExceptHandler, list[str]]]:
    found: dict[tuple[str, int], tuple[str, str, ast.ExceptHandler, list[str]]] = {}
    for path, tree, lines in _sources():
        scopes = [tree, *(n for n in ast.walk(tree)
                          if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]
        for fn in scopes:  # the module, then outer functions first: the innermost names it
            for node in ast.walk(fn):
                if isinstance(node, ast.ExceptHandler) and _names(node.type) & BROAD:
                    name = fn.name if not isinstance(fn, ast.Module) else "<module>"
                    found[(path, node.lineno)] = (path, name, node, lines)
    return list(found.values())


def test_no_suppress_of_every_exception() -> None:
    bad = []
    for path, tree, _ in _sources():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Call) and getattr(node.func, "attr",
                                                      getattr(node.func, "id", "")) == "suppress"
                    and any(_names(a) & BROAD for a in node.args)):
                bad.append(f"{path}:{node.lineno}")
    assert not bad, f"suppress(Exception) hides errors; name them or use OnceLog.logged(): {bad}"


def test_every_broad_handler_logs_raises_or_hands_the_error_on() -> None:
    silent = [f"{path}:{h.lineno} ({fn})" for path, fn, h, _ in _broad_handlers()
              if not _handled(h) and f"{path}:{fn}" not in ALLOWED]
    assert not silent, f"an `except Exception` that swallows the error: {silent}"


def test_every_broad_handler_says_why() -> None:
    bare = [f"{path}:{h.lineno} ({fn})" for path, fn, h, lines in _broad_handlers()
            if not _has_comment(h, lines)]
    assert not bare, f"say in a comment why this handler catches everything: {bare}"


def test_the_allow_list_only_names_handlers_that_still_need_it() -> None:
    needed = {f"{path}:{fn}" for path, fn, h, _ in _broad_handlers() if not _handled(h)}
    stale = set(ALLOWED) - needed
    assert not stale, f"these handlers now log, raise or pass the error on: {sorted(stale)}"


def test_the_rules_catch_a_silent_handler() -> None:
    """The checks themselves: a swallowing handler and a bare suppress are found."""
    tree = ast.parse("def f():\n    try:\n        g()\n    except Exception:\n        pass\n")
    h = next(n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler))
    assert not _handled(h)
    assert not _has_comment(h, ["def f():", "    try:", "        g()", "    except Exception:",
                                "        pass"])
    logged = ast.parse("try:\n    g()\nexcept Exception as e:  # why\n    log.warning('%s', e)\n")
    h = next(n for n in ast.walk(logged) if isinstance(n, ast.ExceptHandler))
    assert _handled(h)
    call = ast.parse("contextlib.suppress(Exception)").body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert _names(call.value.args[0]) & BROAD
