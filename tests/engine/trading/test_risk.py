"""Risk engine: unit cases and hypothesis property tests (no sequence exceeds a limit)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as stgy

from engine.brokers.base import Product
from engine.config.schema import RiskSection
from engine.trading.risk import (
    ACTIVE,
    HALTED,
    REDUCING,
    UNREAD_TODAY,
    ProposedOrder,
    RiskEngine,
    RiskState,
    round_down,
)

PERIOD = 300
DAY = 86400
T0 = 1_700_000_000 - 1_700_000_000 % DAY + 3600  # 01:00 UTC
PRODUCT = Product("BTC-USD", Decimal("0.001"), Decimal("0.01"), Decimal("0.002"), Decimal("5"))


def engine(**kw: float) -> RiskEngine:
    return RiskEngine(RiskSection(**kw), PERIOD)  # type: ignore[arg-type]


def check(r: RiskEngine, side: str, qty: str, price: str, *, equity: str = "1000",
          pos: str = "0", cash: str = "1000", product: Product = PRODUCT):
    return r.check(ProposedOrder("BTC-USD", side, Decimal(qty), Decimal(price)),
                   equity=Decimal(equity), position_qty=Decimal(pos), pending_buy_qty=Decimal(0),
                   cash_available=Decimal(cash), product=product)


def test_daily_loss_halts_until_next_utc_day() -> None:
    r = engine(daily_loss_pct=2.0)
    assert r.update(T0, 1000.0, T0 - PERIOD, False) is None and r.state == ACTIVE
    r.update(T0 + 600, 985.0, T0 + 300, False)
    assert r.state == ACTIVE
    changed = r.update(T0 + 900, 979.0, T0 + 600, False)
    assert changed and changed[0] == HALTED and "daily loss" in changed[1]
    r.update(T0 + 1200, 1500.0, T0 + 900, False)  # recovering the same day does not resume
    assert r.state == HALTED and not check(r, "SELL", "0.01", "100", pos="1").approved
    next_day = T0 - 3600 + DAY + 60
    r.update(next_day, 979.0, next_day - PERIOD, False)
    assert r.state == ACTIVE and r.s.day_start_equity == 979.0


def test_losing_streak_pauses_buys_then_resumes() -> None:
    r = engine(max_consecutive_losses=3, pause_bars=4)
    r.update(T0, 1000.0, T0 - PERIOD, False)
    assert not r.record_trade(-1.0, T0) and not r.record_trade(-1.0, T0)
    assert r.record_trade(-1.0, T0)
    r.update(T0 + 1, 1000.0, T0 - PERIOD, False)
    assert r.state == REDUCING
    assert not check(r, "BUY", "0.01", "100").approved
    assert check(r, "SELL", "0.1", "100", pos="0.5").approved  # exits still allowed
    r.update(T0 + 4 * PERIOD, 1000.0, T0 + 3 * PERIOD, False)
    assert r.state == ACTIVE
    r.record_trade(-1.0, T0)
    r.record_trade(+1.0, T0)  # a win resets the streak
    assert r.s.consecutive_losses == 0


def test_stale_data_and_manual_halt() -> None:
    r = engine(stale_periods=2)
    r.update(T0, 1000.0, T0 - PERIOD, False)
    assert r.state == ACTIVE
    changed = r.update(T0 + 3 * PERIOD + 1, 1000.0, T0 - PERIOD, False)
    assert changed and changed[0] == HALTED and "stale" in changed[1]
    r.update(T0 + 3 * PERIOD + 2, 1000.0, T0 + 2 * PERIOD, False)
    assert r.state == ACTIVE
    r.update(T0 + 3 * PERIOD + 3, 1000.0, T0 + 2 * PERIOD, True)
    assert r.state == HALTED and "manual" in r.s.reason
    assert r.update(T0 + 3 * PERIOD + 4, 1000.0, None, False)[0] == HALTED  # no data at all


def test_limits_clamp_and_round() -> None:
    r = engine(max_order_notional=50, max_position_pct=10)
    r.update(T0, 1000.0, T0 - PERIOD, False)
    d = check(r, "BUY", "1", "100")
    assert d.approved and d.qty == Decimal("0.5") and "max order notional" in d.reason
    d = check(r, "BUY", "1", "100", pos="0.8")  # room 1000*10% - 80 = 20 -> 0.2
    assert d.approved and d.qty == Decimal("0.2")
    assert not check(r, "BUY", "1", "100", pos="1").approved
    assert not check(r, "BUY", "0.0015", "100").approved  # below min size
    assert check(r, "BUY", "0.0823456", "100").qty == Decimal("0.082")
    assert not check(r, "SELL", "1", "100", pos="0").approved
    assert check(r, "SELL", "5", "20", pos="0.3").qty == Decimal("0.3")
    disabled = Product("BTC-USD", Decimal("0.001"), Decimal("0.01"), Decimal("0.001"),
                       Decimal("1"), trading_disabled=True)
    assert not check(r, "SELL", "0.1", "100", pos="1", product=disabled).approved


def test_state_survives_json_and_garbage() -> None:
    s = RiskState(state=HALTED, day=5, day_start_equity=10.0, daily_halt_day=5)
    assert RiskState.from_json(s.to_json()) == s
    # garbage fails closed (a fresh state would forget a halt): HALTED for the day
    assert RiskState.from_json("{not json") == RiskState(unreadable_day=UNREAD_TODAY)


def test_round_down() -> None:
    assert round_down(Decimal("1.23456"), Decimal("0.01")) == Decimal("1.23")


step = stgy.tuples(
    stgy.floats(0.5, 2.0),                         # price multiplier
    stgy.sampled_from(["BUY", "SELL"]),
    stgy.floats(0.0, 50.0),                        # requested qty
    stgy.floats(0.0, 1.0),                         # fill fraction of an approved order
    stgy.integers(0, 40),                          # bars until the next step
    stgy.booleans(),                               # halt flag
    stgy.floats(-30.0, 30.0),                      # realised PnL of a sell
    stgy.booleans(),                               # the bar is stale (data missing)
)


@settings(max_examples=150, deadline=None)
@given(steps=stgy.lists(step, min_size=1, max_size=60),
       max_notional=stgy.floats(5.0, 500.0), max_pos=stgy.floats(1.0, 100.0),
       daily=stgy.floats(0.5, 20.0), losses=stgy.integers(1, 4))
def test_no_sequence_exceeds_a_limit(steps: list, max_notional: float, max_pos: float,
                                     daily: float, losses: int) -> None:
    section = RiskSection(max_order_notional=max_notional, max_position_pct=max_pos,
                          daily_loss_pct=daily, max_consecutive_losses=losses, pause_bars=5)
    r = RiskEngine(section, PERIOD, fee_rate=Decimal("0.006"))
    cash, qty, price, t = Decimal(1000), Decimal(0), 100.0, float(T0)
    halted_day = None
    for mult, side, want, fill_frac, bars, halt, pnl, stale in steps:
        t += bars * PERIOD + 1
        price = max(0.01, price * mult)
        p = Decimal(repr(price)).quantize(Decimal("0.01"))
        if p <= 0:
            continue
        equity = cash + qty * p
        last_bar = t - 10 * PERIOD if stale else t - PERIOD
        r.update(t, float(equity), last_bar, halt)
        day = int(t // DAY)
        if r.s.day_start_equity and float(equity) <= r.s.day_start_equity * (1 - daily / 100):
            halted_day = day
        d = r.check(ProposedOrder("BTC-USD", side, Decimal(repr(want)), p), equity=equity,
                    position_qty=qty, pending_buy_qty=Decimal(0), cash_available=cash,
                    product=PRODUCT)
        if not d.approved:
            continue
        # The limits, whatever came before:
        assert not halt and not stale and halted_day != day and r.state != HALTED
        assert d.qty * p <= Decimal(repr(max_notional)) + Decimal("1e-9")
        assert d.qty % PRODUCT.base_increment == 0 and d.qty >= PRODUCT.base_min_size
        assert d.qty * p >= PRODUCT.quote_min_size
        if side == "BUY":
            assert r.state == ACTIVE
            assert (qty + d.qty) * p <= Decimal(repr(max_pos)) / 100 * equity + Decimal("1e-9")
            assert d.qty * p * Decimal("1.006") <= cash + Decimal("1e-9")
        else:
            assert d.qty <= qty
        filled = round_down(d.qty * Decimal(repr(fill_frac)), PRODUCT.base_increment)
        if side == "BUY":
            cash -= filled * p * Decimal("1.006")
            qty += filled
        else:
            cash += filled * p * Decimal("0.994")
            qty -= filled
            if filled:
                r.record_trade(pnl, t)
        assert cash >= 0 and qty >= 0
