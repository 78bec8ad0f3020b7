"""Upgrading a committed schema-1 store file, and migration safety."""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import sqlite3
from pathlib import Path

import pytest

import store.db as store_db
from store.db import Store, StoreError
from store.migrations import latest_version, migrations
from tests.store.older import store_before

OLD_DB = Path(__file__).with_name("data") / "v0001.db"
TABLES = ("processes", "commands", "studies", "attempts", "models", "traders", "orders",
          "fills", "positions", "equity", "decisions", "alerts", "outbox", "kv")


def schema(path: Path) -> tuple[set[tuple[str, str]], dict[str, list[str]]]:
    conn = sqlite3.connect(path)
    objects = {(r[0], r[1]) for r in conn.execute(
        "SELECT type, name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")}
    columns = {t: [c[1] for c in conn.execute(f"PRAGMA table_info({t})")]
               for kind, t in objects if kind == "table"}
    conn.close()
    return objects, columns


def dump(path: Path) -> dict[str, list[tuple[object, ...]]]:
    """Every row of the schema-1 tables, with schema-1 columns only (later ones may be added)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    v1_cols = schema(OLD_DB)[1]
    out = {t: sorted(conn.execute(f"SELECT {', '.join(v1_cols[t])} FROM {t}").fetchall(),
                     key=repr) for t in TABLES}
    conn.close()
    return out


def unmigrated_rows(path: Path, sql: str) -> list[tuple[object, ...]]:
    """What the old store holds, read without opening it as a Store (which migrates it)."""
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return conn.execute(sql).fetchall()


@pytest.fixture
def old_copy(tmp_path: Path) -> Path:
    dst = tmp_path / "old.db"
    shutil.copyfile(OLD_DB, dst)
    return dst


def test_fixture_is_schema_1_with_rows() -> None:
    conn = sqlite3.connect(f"file:{OLD_DB}?mode=ro", uri=True)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()
    rows = dump(OLD_DB)
    assert all(rows[t] for t in TABLES), [t for t in TABLES if not rows[t]]


def test_upgrade_committed_old_store(old_copy: Path, tmp_path: Path) -> None:
    fixture_digest = hashlib.sha256(OLD_DB.read_bytes()).hexdigest()
    before = dump(old_copy)
    with Store(old_copy) as s:
        assert s.version == latest_version() > 1
        assert s.one("PRAGMA integrity_check")[0] == "ok"
        # Rows are intact and readable through the Store.
        assert s.one("SELECT equity FROM traders WHERE name = 'sim'")[0] == "1012.34"
        assert s.one("SELECT count(*) FROM fills")[0] == 3
        # The upgraded store takes new writes.
        with s.write():
            s.conn.execute("INSERT INTO kv (key, value, updated_at) VALUES ('new', '1', 0)")
    assert dump(old_copy) == before | {"kv": sorted(before["kv"] + [("new", "1", 0.0)],
                                                    key=repr)}
    # Same tables, indexes and columns as a store created fresh at the latest version,
    # whatever later migrations add.
    with Store(tmp_path / "fresh.db"):
        pass
    assert schema(old_copy) == schema(tmp_path / "fresh.db")
    assert hashlib.sha256(OLD_DB.read_bytes()).hexdigest() == fixture_digest


def test_reopen_is_a_no_op(old_copy: Path) -> None:
    with Store(old_copy):
        pass
    first = schema(old_copy)
    with Store(old_copy) as s:
        assert s.version == latest_version()
    assert schema(old_copy) == first


def test_migration_versions_are_contiguous() -> None:
    versions = [v for v, _, _ in migrations()]
    assert versions == list(range(1, latest_version() + 1))
    for _, name, sql in migrations():
        assert name.endswith(".sql") and sql.strip(), name
        assert store_db._split_sql(sql), name


def test_failed_migration_leaves_old_version(old_copy: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails half-way is rolled back whole; the store stays at version 1."""
    bad = [*migrations()[:1], (2, "v0002_bad.sql",
                               "CREATE TABLE extra (a INTEGER);\n"
                               "-- the next statement fails: extra exists\n"
                               "CREATE TABLE extra (a INTEGER);\n")]
    monkeypatch.setattr(store_db, "migrations", lambda: bad)
    monkeypatch.setattr(store_db, "latest_version", lambda: 2)
    before = dump(old_copy)
    with pytest.raises(StoreError, match=r"migration v0002_bad\.sql failed.*version 1"):
        Store(old_copy)
    conn = sqlite3.connect(old_copy)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'extra'").fetchone()[0] == 0
    conn.close()
    assert dump(old_copy) == before


def test_split_sql_keeps_statements_and_drops_comments() -> None:
    sql = ("-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');\n\n"
           "CREATE INDEX a_x ON a(x);\n-- trailing comment\n")
    assert store_db._split_sql(sql) == [
        "-- a comment; with a semicolon\nCREATE TABLE a (x TEXT DEFAULT ';');",
        "CREATE INDEX a_x ON a(x);"]


def test_fills_rekeyed_by_trader_without_losing_a_row(tmp_path: Path) -> None:
    """A store at the version before the (trader, fill_id) key moves forward whole."""
    path = tmp_path / "prev.db"
    with store_before(path, "_store.sql") as s:
        s.conn.executemany(
            "INSERT INTO fills (fill_id, trader, client_order_id, ticker, side, qty, price, fee,"
            " liquidity, realized_pnl, at) VALUES (?, ?, ?, 'BTC-USD', ?, ?, '100.5', '0.01', ?,"
            " ?, ?)",
            [(f"fill-{i}", f"t{i % 3}", f"c{i}", "BUY" if i % 2 else "SELL", f"0.{i + 1}",
              "MAKER" if i % 5 else "TAKER", None if i % 4 else str(i), 1000.0 - i)
             for i in range(500)])
    before = unmigrated_rows(path, "SELECT * FROM fills ORDER BY rowid")
    with Store(path) as s:
        assert s.version == latest_version()
        assert [tuple(r) for r in s.query("SELECT * FROM fills ORDER BY rowid")] == before
        # Ties on `at` keep their order: readers sort by (at, rowid).
        assert s.one("PRAGMA integrity_check")[0] == "ok"
        pk = [r["name"] for r in sorted(s.query("PRAGMA table_info(fills)"),
                                        key=lambda r: r["pk"]) if r["pk"]]
        assert pk == ["trader", "fill_id"]
        with s.write():  # another trader's fill-0 is another fill now
            s.conn.execute("INSERT INTO fills (fill_id, trader, ticker, side, qty, price, fee,"
                           " liquidity, at) VALUES ('fill-0', 't1', 'BTC-USD', 'BUY', '1', '1',"
                           " '0', 'MAKER', 0)")
        assert s.one("SELECT count(*) FROM fills")[0] == 501


def test_book_migration_keeps_every_trader_row(tmp_path: Path) -> None:
    """A store at the version before traders.unattributed moves forward whole."""
    path = tmp_path / "prev.db"
    with store_before(path, "_book.sql") as s:
        s.conn.executemany(
            "INSERT INTO traders (name, broker, mode, model, tickers, timeframe, capital, "
            "equity, cash, started_at, updated_at) VALUES (?, 'coinbase', 'live', 'm', "
            "'[\"BTC-USD\"]', '5m', ?, ?, ?, 1.0, 2.0)",
            [(f"t{i}", str(1000 + i), str(990 + i), str(500 + i)) for i in range(50)])
    before = unmigrated_rows(path, "SELECT * FROM traders ORDER BY name")
    with Store(path) as s:
        assert s.version == latest_version()
        rows = s.query("SELECT * FROM traders ORDER BY name")
        assert [tuple(r)[:len(before[0])] for r in rows] == before
        assert {r["unattributed"] for r in rows} == {None}


def test_retention_migration_keeps_every_command_and_indexes_the_prune(tmp_path: Path) -> None:
    """A store at the version before the retention index moves forward whole, and the
    supervisor's prune of finished commands uses the index instead of scanning the log."""
    path = tmp_path / "prev.db"
    with store_before(path, "_retention.sql") as s:
        s.conn.executemany(
            "INSERT INTO commands (at, source, action, target, args, state, result, done_at) "
            "VALUES (?, 'cli', 'start', ?, '{}', ?, 'r', ?)",
            [(float(i), f"t{i}", ("done", "failed", "pending")[i % 3],
              None if i % 3 == 2 else float(i)) for i in range(60)])
    before = unmigrated_rows(path, "SELECT * FROM commands ORDER BY id")
    with Store(path) as s:
        assert s.version == latest_version()
        assert [tuple(r) for r in s.query("SELECT * FROM commands ORDER BY id")] == before
        plan = " ".join(str(tuple(r)) for r in s.query(
            "EXPLAIN QUERY PLAN DELETE FROM commands WHERE state IN ('done', 'failed') "
            "AND done_at < ?", (10.0,)))
        assert "commands_done_at" in plan
