"""Dependencies' private APIs (issue 16): none imported, and the few private attributes that
cannot be avoided are reached from one wrapper module each, whose docstring or comments
say why and whose dependency has a pinned version range in pyproject.toml."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "store", "console", "widgets")
OURS = {*PACKAGES, "tests", "__future__"}

# wrapper module -> (the dependency, the private attributes only it may touch)
WRAPPERS = {
    "engine/study/storage.py": ("optuna", {"_storage", "_study_id"}),
    "engine/brokers/alpaca_client.py": ("alpaca-py", {"_retry", "_session"}),
    "engine/bench/inductor_code.py": ("torch", {"_inductor"}),
    "widgets/styles_cache.py": ("textual", set()),
    "widgets/footer.py": ("textual", {"_bindings_ready"}),
}


def _trees() -> list[tuple[str, ast.Module]]:
    return [(p.relative_to(ROOT).as_posix(), ast.parse(p.read_text(encoding="utf-8")))
            for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))]


def test_no_private_module_of_a_dependency_is_imported() -> None:
    bad = []
    for path, tree in _trees():
        if path in WRAPPERS:
            continue  # the one place that may, and says why
        for node in ast.walk(tree):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom)
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            for name in names:
                parts = name.split(".")
                if parts[0] not in OURS and any(p.startswith("_") for p in parts):
                    bad.append(f"{path}:{node.lineno} {name}")
    assert not bad, f"a dependency's private module (use its public API): {bad}"


def test_private_attributes_are_reached_only_from_their_wrapper() -> None:
    owner = {attr: path for path, (_, attrs) in WRAPPERS.items() for attr in attrs}
    bad = []
    for path, tree in _trees():
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr in owner
                    and owner[node.attr] != path
                    and not (isinstance(node.value, ast.Name) and node.value.id == "self")):
                bad.append(f"{path}:{node.lineno} .{node.attr}")
    assert not bad, f"move these into their wrapper module ({WRAPPERS}): {bad}"


def test_each_wrapper_says_why_and_its_dependency_is_pinned() -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    for path, (dist, attrs) in WRAPPERS.items():
        text = (ROOT / path).read_text(encoding="utf-8")
        assert all(a in text for a in attrs), f"{path} no longer uses {attrs}: update the list"
        assert re.search(r"no public way|has no public", text), f"{path}: say why it is needed"
        pin = re.search(rf'"{re.escape(dist)}>=[^"]*,<[^"]*"', pyproject)
        assert pin, f"pyproject.toml: {dist} needs an upper bound (its privates are used)"
