"""The risk engine: every order passes through `RiskEngine.check`, every bar through `update`.

States:
- ACTIVE    everything the limits allow.
- REDUCING  only sells of held positions (after `max_consecutive_losses` losing trades in a
            row, for `pause_bars` bars).
- HALTED    nothing; open orders are cancelled by the trader. Causes: the daily loss limit
            (until the next UTC day), stale data (until a fresh bar), a manual halt
            (traders.halt_requested or the global kv kill_switch, until resumed), credentials
            the exchange refuses (until they work again), the machine's clock too far from
            the exchange's (until it is back).

Limits applied to each order (a quantity is clamped down where it can be, else refused):
- max order notional (qty x price);
- max position per asset: (held + pending buys + qty) x price <= max_position_pct x equity;
- cash: a buy's cost with the taker fee fits the available cash; a sell never exceeds the
  held quantity (no shorting);
- the product's increments (rounded down) and minimums (refused below them); a product
  that is trading-disabled or cancel-only is refused.

The state is a small JSON value the trader persists (kv `risk:<trader>`), so a restart does
not forget the day's starting equity, a daily halt or a loss streak. A value that cannot be
read back (not JSON, not an object, a field of the wrong type) fails closed: HALTED until the
next UTC day, as a daily loss would, never a fresh ACTIVE state (that would forget a halt).
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from decimal import ROUND_DOWN, Decimal

from engine.brokers.base import Product
from engine.config.schema import RiskSection

ACTIVE, REDUCING, HALTED = "ACTIVE", "REDUCING", "HALTED"
DAY_S = 86400
BOOK = "book"


UNREAD_TODAY = -2


def _same_type(default: object, value: object) -> bool:
    """A stored field of its default's type (an int where a float is kept; finite)."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, int | float) and math.isfinite(value)
    return type(value) is type(default)


@dataclass
class RiskState:
    state: str = ACTIVE
    reason: str = ""
    day: int = -1
    day_start_equity: float = 0.0
    daily_halt_day: int = -1
    consecutive_losses: int = 0
    paused_until: float = 0.0
    manual_halt: bool = False
    stale: bool = False
    # What the equity figures are measured on: "book" (the trader's own book). A state saved
    # before books existed held account-wide equity; its daily base is re-taken from the book.
    basis: str = ""
    auth_reason: str = ""     # the exchange refuses the credentials: halted until they work
    clock_reason: str = ""    # the machine's clock is too far from the exchange's
    # The day a stored state could not be read (halted that day); UNREAD_TODAY: not yet dated.
    unreadable_day: int = -1

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def on_book(self) -> RiskState:
        """This state measured on the trader's book. A state saved before books (account-wide
        equity) keeps its streak and pause but re-takes the day's base from the book, so an
        account larger than the capital never reads as a daily loss."""
        if self.basis != BOOK:
            self.basis, self.day, self.day_start_equity, self.daily_halt_day = BOOK, -1, 0.0, -1
        return self

    @classmethod
    def from_json(cls, text: str | None) -> RiskState:
        """The stored state; one that cannot be read is HALTED for the day (fail closed)."""
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except (ValueError, RecursionError):
            raw = None
        if not isinstance(raw, dict):
            return cls(unreadable_day=UNREAD_TODAY)
        defaults = asdict(cls())
        kept = {k: v for k, v in raw.items() if k in defaults}
        if not all(_same_type(defaults[k], v) for k, v in kept.items()):
            return cls(unreadable_day=UNREAD_TODAY)
        return cls(**kept)


@dataclass(frozen=True)
class ProposedOrder:
    ticker: str
    side: str          # BUY | SELL
    qty: Decimal
    price: Decimal


@dataclass(frozen=True)
class RiskDecision:
    approved: bool
    qty: Decimal
    reason: str


def round_down(qty: Decimal, increment: Decimal) -> Decimal:
    if increment <= 0:
        return qty
    return (qty / increment).to_integral_value(rounding=ROUND_DOWN) * increment


class RiskEngine:
    def __init__(self, section: RiskSection, period_s: float, state: RiskState | None = None,
                 fee_rate: Decimal = Decimal("0.006")) -> None:
        self.cfg = section
        self.period = period_s
        self.s = state or RiskState()
        self.fee_rate = fee_rate

    @property
    def state(self) -> str:
        return self.s.state

    # -- per bar / per poll --------------------------------------------------------------
    def update(self, now: float, equity: float, last_bar_at: float | None,
               halt_requested: bool, exiting: bool = False) -> tuple[str, str] | None:
        """Re-derive the state. Returns (new_state, reason) when it changed, else None.
        `exiting`: the operator asked to sell to flat (REDUCING until the trader is flat)."""
        s = self.s
        day = int(now // DAY_S)
        if day != s.day and math.isfinite(equity) and equity > 0:
            s.day, s.day_start_equity = day, equity  # equity at (the first look after) 00:00
        if (s.day_start_equity > 0 and math.isfinite(equity)
                and equity <= s.day_start_equity * (1 - self.cfg.daily_loss_pct / 100)):
            s.daily_halt_day = s.day
        s.manual_halt = bool(halt_requested)
        if s.unreadable_day == UNREAD_TODAY:
            s.unreadable_day = day
        if last_bar_at is None:
            s.stale = True
        else:
            age = now - (last_bar_at + self.period)  # since the last bar closed
            s.stale = age > self.cfg.stale_periods * self.period
        if s.manual_halt:
            new, reason = HALTED, "manual halt (kill switch)"
        elif s.auth_reason:
            new, reason = HALTED, s.auth_reason
        elif s.clock_reason:
            new, reason = HALTED, s.clock_reason
        elif s.unreadable_day == day:
            new, reason = HALTED, ("stored risk state unreadable (a daily halt or loss streak "
                                   "may be lost); halted until 00:00 UTC")
        elif s.daily_halt_day == s.day and s.day >= 0:
            new, reason = HALTED, (f"daily loss limit {self.cfg.daily_loss_pct:g}% hit; "
                                   "halted until 00:00 UTC")
        elif s.stale:
            new, reason = HALTED, (f"stale data: last bar older than "
                                   f"{self.cfg.stale_periods:g} periods")
        elif exiting:
            new, reason = REDUCING, "operator exit: selling to flat"
        elif s.paused_until > now:
            new, reason = REDUCING, (f"{self.cfg.max_consecutive_losses} losing trades in a row;"
                                     f" buys paused {self.cfg.pause_bars} bars")
        else:
            new, reason = ACTIVE, ""
        changed = (new, reason) != (s.state, s.reason)
        s.state, s.reason = new, reason
        return (new, reason) if changed else None

    def record_trade(self, realized_pnl: float, now: float) -> bool:
        """A closed trade (a sell fill). Returns True when it starts a pause."""
        if realized_pnl < 0:
            self.s.consecutive_losses += 1
            if self.s.consecutive_losses >= self.cfg.max_consecutive_losses:
                self.s.consecutive_losses = 0
                self.s.paused_until = now + self.cfg.pause_bars * self.period
                return self.cfg.pause_bars > 0
        elif realized_pnl > 0:
            self.s.consecutive_losses = 0
        return False

    # -- per order ------------------------------------------------------------------------
    def check(self, order: ProposedOrder, *, equity: Decimal, position_qty: Decimal,
              pending_buy_qty: Decimal, cash_available: Decimal,
              product: Product) -> RiskDecision:
        zero = Decimal(0)

        def refuse(reason: str) -> RiskDecision:
            return RiskDecision(False, zero, reason)

        if order.price <= 0 or order.qty <= 0:
            return refuse("no quantity or price")
        if self.s.state == HALTED:
            return refuse(f"halted: {self.s.reason}")
        if product.trading_disabled or product.cancel_only:
            return refuse(f"{order.ticker} is not tradable now (disabled or cancel-only)")
        qty = order.qty
        price = order.price
        notes: list[str] = []
        if order.side == "SELL":
            if position_qty <= 0:
                return refuse("nothing held to sell")
            if qty > position_qty:
                qty = position_qty
                notes.append("capped at holding")
        else:
            if self.s.state == REDUCING:
                return refuse(f"reducing: {self.s.reason}")
            room = (Decimal(str(self.cfg.max_position_pct)) / 100 * equity
                    - (position_qty + pending_buy_qty) * price)
            if room <= 0:
                return refuse(f"position limit {self.cfg.max_position_pct:g}% of equity reached")
            if qty * price > room:
                qty = room / price
                notes.append("position limit")
            affordable = cash_available / (price * (1 + self.fee_rate))
            if qty > affordable:
                qty = affordable
                notes.append("cash")
        max_notional = Decimal(str(self.cfg.max_order_notional))
        if qty * price > max_notional:
            qty = max_notional / price
            notes.append("max order notional")
        qty = round_down(qty, product.base_increment)
        if qty <= 0 or qty < product.base_min_size:
            return refuse(f"below the minimum size {product.base_min_size} {order.ticker}")
        if qty * price < product.quote_min_size:
            return refuse(f"below the minimum order value {product.quote_min_size}")
        return RiskDecision(True, qty, ("clamped: " + ", ".join(notes)) if notes else "ok")
