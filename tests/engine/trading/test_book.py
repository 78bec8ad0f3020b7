"""The book: capital plus the trader's own fills; what the account holds beyond the books."""

from __future__ import annotations

from decimal import Decimal as D

from engine.brokers.base import Balance, OrderState
from engine.trading.book import Book, fill_qty, unattributed
from engine.trading.risk import RiskState
from store.trading import FillRow


def fill(ticker: str, side: str, qty: str, price: str, fee: str) -> FillRow:
    return FillRow("f", "t", "c", ticker, side, qty, price, fee, "MAKER", None, 0.0)


def test_book_is_capital_plus_own_fills() -> None:
    fills = [fill("BTC-USD", "BUY", "0.01", "50000", "3"), fill("BTC-USD", "SELL", "0.004",
                                                               "51000", "1.2")]
    b = Book.from_fills(D(1000), fills)
    assert b.cash == D(1000) - D("503") + D("204") - D("1.2")
    assert b.qty("BTC-USD") == D("0.006")
    assert b.equity({"BTC-USD": D(52000)}) == b.cash + D("0.006") * 52000
    assert b.equity({}) == b.cash + D("0.006") * b.ledger.lot("BTC-USD").avg_price
    assert fill_qty(fills) == {"BTC-USD": D("0.006")}


def test_unattributed_names_extra_coins_missing_coins_and_foreign_orders() -> None:
    bal = {"BTC": Balance("BTC", D("0.5")), "ETH": Balance("ETH", D("1"), D("0.5"))}
    order = OrderState("x", "ex-1", "BTC-USD", "BUY", D("0.1"), D("90"), "OPEN")
    lines = unattributed(bal, ["BTC-USD", "ETH-USD", "SOL-USD"],
                         {"BTC-USD": D("0.5"), "ETH-USD": D("2"), "SOL-USD": D(0)}, [order])
    assert lines == ["ETH: the books hold 0.5 more than the account",
                     "open order not placed by a trader: BUY 0.1 BTC-USD at 90 (id ex-1)"]
    assert unattributed(bal, ["BTC-USD"], {}, []) == [
        "BTC 0.5 held beyond the traders' books"]


def test_a_state_saved_before_books_is_rebased_keeping_its_streak() -> None:
    old = RiskState(day=20000, day_start_equity=9939.0, daily_halt_day=20000,
                    consecutive_losses=2, paused_until=5.0)
    s = RiskState.from_json(old.to_json()).on_book()
    assert (s.day, s.day_start_equity, s.daily_halt_day) == (-1, 0.0, -1)
    assert (s.consecutive_losses, s.paused_until, s.basis) == (2, 5.0, "book")
    again = RiskState.from_json(s.to_json())
    again.day, again.day_start_equity = 20001, 1000.0
    assert again.on_book().day_start_equity == 1000.0  # a book state is kept as it is
