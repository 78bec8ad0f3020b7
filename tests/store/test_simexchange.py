"""store.simexchange: the sim exchange file's statements, on real files."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from store.simexchange import ExchangeFileError, SimExchangeFile, SimFillRow, SimGenesis

GENESIS = SimGenesis(index=5, fingerprint="fp", id_prefix="abc", currency="USD",
                     cash=Decimal("1000"))


def test_a_new_file_is_seeded_once_and_keeps_its_state(tmp_path: Path) -> None:
    f = SimExchangeFile(tmp_path / "x.db")
    with f.transaction():
        f.ensure(GENESIS)
        f.set_index(9)
        f.set_balance("BTC", Decimal("0.5"), Decimal("0.1"))
    f.close()
    again = SimExchangeFile(tmp_path / "x.db")
    with again.transaction():
        again.ensure(GENESIS)  # an existing file keeps its clock, ids and money
    assert again.meta("index") == "9" and again.meta("id_prefix") == "abc"
    assert {(b.currency, b.available, b.hold) for b in again.balances()} == {
        ("USD", "1000", "0"), ("BTC", "0.5", "0.1")}
    assert again.balance("ETH") is None


def test_orders_and_fills_round_trip_in_their_order(tmp_path: Path) -> None:
    f = SimExchangeFile(tmp_path / "x.db")
    with f.transaction():
        f.ensure(GENESIS)
        seqs = [f.insert_order(client_order_id=f"c{i}", ticker="BTC-USD", side="BUY",
                               qty=Decimal("1"), limit_price=Decimal("100") if i else None,
                               post_only=bool(i), status="OPEN", held=Decimal("100.6"),
                               created_at=10.0 + i, reason="") for i in range(3)]
        f.mark_filled(seqs[0], Decimal("101"), Decimal("0.606"))
        f.mark_cancelled(seqs[2])
        f.insert_sim_fill(SimFillRow("fill-1", "c0", "sim-1", "BTC-USD", "BUY", "1", "101",
                                     "0.606", "TAKER", 11.0))
    assert [o.client_order_id for o in f.resting_orders()] == ["c1"]
    assert [o.status for o in f.every_order()] == ["FILLED", "OPEN", "CANCELLED"]
    done = f.order("c0")
    assert done is not None and (done.avg_price, done.fees, done.held) == ("101", "0.606", "0")
    assert f.order_at(seqs[1]) == f.order("c1") and f.order("nope") is None
    assert [x.fill_id for x in f.fills_since(11.0)] == ["fill-1"] and not f.fills_since(12.0)


def test_a_failed_transaction_leaves_nothing_behind(tmp_path: Path) -> None:
    f = SimExchangeFile(tmp_path / "x.db")
    with f.transaction():
        f.ensure(GENESIS)
    with pytest.raises(RuntimeError), f.transaction():
        f.set_index(99)
        raise RuntimeError("the matching failed half way")
    assert f.meta("index") == "5"


def test_a_file_that_is_not_a_database_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "x.db"
    bad.write_bytes(b"this is not a database, just some text " * 100)
    with pytest.raises(ExchangeFileError, match=r"x\.db: file is not a database"):
        SimExchangeFile(bad)
    assert bad.read_bytes().startswith(b"this is not a database")  # never overwritten
