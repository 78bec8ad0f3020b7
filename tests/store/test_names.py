"""Each store reader and row type is named once: no two store modules define the same name."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

STORE = Path(__file__).resolve().parents[2] / "store"


def test_no_name_is_defined_in_two_store_modules() -> None:
    where: dict[str, list[str]] = defaultdict(list)
    for path in sorted(STORE.glob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
                where[node.name].append(path.name)
    twice = {name: files for name, files in where.items() if len(files) > 1}
    assert not twice, f"defined in more than one store module: {twice}"
