"""The store owns every statement: no SQL outside store/, benches and soaks included.

A module that writes SQL fails this test: move the statement into a named reader or writer
in store/ (bulk fixture writers live in store/fixtures.py and store/console_fixture.py).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "console", "widgets")

# A string literal that opens with a statement, or a call that runs one on the store.
SQL = re.compile(
    r"""[rfbu]{0,2}["']\s*(SELECT\s+\S|INSERT(\s+OR\s+\w+)?\s+INTO|UPDATE\s+\w+\s+SET|"""
    r"""DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|PRAGMA\s+\w|WITH\s+\w+\s+AS)"""
    r"""|\.conn\.execute|\.executemany\(|\b(store|st|self\.store)\.(query|one)\(""")


def modules_with_sql() -> set[str]:
    found = set()
    for pkg in PACKAGES:
        for path in (ROOT / pkg).rglob("*.py"):
            if SQL.search(path.read_text(encoding="utf-8")):
                found.add(path.relative_to(ROOT).as_posix())
    return found


def test_no_module_runs_sql_outside_the_store() -> None:
    found = modules_with_sql()
    assert not found, f"SQL outside store/ (add a reader/writer in store/): {sorted(found)}"


def test_the_pattern_catches_a_statement() -> None:
    assert SQL.search('rows = store.query("SELECT 1 FROM kv")')
    assert SQL.search('conn.executemany("INSERT OR REPLACE INTO t VALUES (?)", rows)')
    assert SQL.search('sql = f"SELECT * FROM {table}"')
    assert not SQL.search("bars = self.query(ProgressBar)")
    assert not SQL.search("the loser's CREATE TABLE fails")
