"""The trader's guards between bars: the exchange's clock, credentials the exchange stops
accepting, and what the account holds that no trader placed (a mixin of Trader).

- Clock: at start and every [trader] clock_check_s the trader asks the exchange for its time
  and adopts it (RealClock.offset_s), so bars, order ages and re-pricing follow the exchange.
  A skew above clock_warn_s is alerted once; above clock_halt_s the trader is HALTED with the
  reason until the skew is back under it.
- Credentials: a 401/403 from any call halts the trader with one alert (the risk state's
  auth_reason); one private call now and then (backing off to a minute) tells when they work
  again, and the trader resumes by itself.
- The account: orders and holdings no trader of this store placed are recorded on the
  trader's row (`unattributed`, shown by status) and alerted when they change.
"""

from __future__ import annotations

import logging
import time

from engine.brokers.base import BrokerError
from engine.brokers.retry import BrokerCallError
from engine.notify.events import emit
from engine.trading import account
from engine.trading.clock import RealClock
from engine.trading.parts import TraderParts
from store import trading as st

log = logging.getLogger("cappuccino.trading.trader")
AUTH_KINDS = ("unauthorised", "forbidden")


class Guards(TraderParts):
    def check_clock(self) -> float | None:
        """Measure the exchange's clock (live brokers): adopt its time, alert above
        [trader] clock_warn_s, halt above clock_halt_s until it is back. Returns the skew."""
        if not isinstance(self.clock, RealClock):
            return None
        skew = self.clock.measure_offset(self.broker.now)
        if hasattr(self.broker, "exchange_clock"):  # its closed-candle cutoff: this clock
            self.broker.exchange_clock = self.clock.now
        t = self.cfg.trader
        level = "halt" if abs(skew) > t.clock_halt_s else "warn" if abs(skew) > t.clock_warn_s \
            else "ok"
        ahead = "behind" if skew > 0 else "ahead of"
        what = f"this machine's clock is {abs(skew):.1f}s {ahead} the {self.s.broker} exchange's"
        reason = f"clock: {what} (more than {t.clock_halt_s:g}s)" if level == "halt" else ""
        refresh = reason != self.risk.s.clock_reason
        self.risk.s.clock_reason = reason
        if level != self._clock_level:
            if level == "warn":
                self._alert("WARNING", f"clock: {what} (warning above {t.clock_warn_s:g}s); "
                            "bars and order ages follow the exchange's clock")
            elif level == "ok":
                log.info("%s: clock back within %gs of the exchange (%.1fs)", self.name,
                         t.clock_warn_s, skew)
            self._clock_level = level
        if refresh:
            self._refresh_state()
        return skew

    def audit_account(self) -> list[str]:
        """What the account holds or has open that no trader placed: recorded on the trader's
        row (status) and alerted when it changes (once the same is seen in two audits in a
        row); never adopted, never closed."""
        if not account.shares_account(self.s.broker):
            return []
        self.sync_fills()  # what filled is ours before the account is compared with the books
        lines = account.audit(self.store, self.s.broker, self.name, self.s.tickers,
                              self.broker.balances(), self.broker.open_orders(),
                              self.clock.now(), self.period)
        # Reported once seen twice in a row: a fill between the exchange and a book (another
        # trader's, not yet booked) is not the operator's doing.
        confirmed, self._audit_last = lines == self._audit_last, lines
        if not confirmed:
            return lines
        row = st.get_trader(self.store, self.name)
        now_json = account.as_json(lines)
        if row is not None and row.unattributed != now_json:
            with self.store.write():
                st.set_trader_fields(self.store, self.name, unattributed=now_json,
                                     at=self.clock.now())
            if lines:
                self._alert("WARNING", "account: not this trader's, left untouched: "
                            + "; ".join(lines))
        return lines

    def _alert(self, level: str, message: str) -> None:
        from store.alerts import insert_alert

        log.warning("%s: %s", self.name, message)
        insert_alert(self.store, self.name, level, message, self.clock.now())
        emit(self.store, self.cfg, "alert", f"{self.name}: {message[:80]}", message, "warning",
             trader=self.name, model=self.s.model, trial=self.s.trial, study=self.s.study)

    def _refresh_state(self) -> None:
        halt_req, kill = st.halt_flags(self.store, self.name)
        exiting = st.exit_request(self.store, self.name) is not None  # engine.trading.exits
        changed = self.risk.update(self.clock.now(), float(self.equity), self.last_bar_at,
                                   halt_req or kill, exiting=exiting)
        if changed:
            self._on_state_change(*changed)

    def _housekeeping(self) -> None:
        """Every [trader] clock_check_s: the exchange's clock and the account audit."""
        if time.monotonic() < self._next_clock_check:
            return
        self._next_clock_check = time.monotonic() + self.cfg.trader.clock_check_s
        self.check_clock()
        self.audit_account()

    def _on_broker_error(self, e: BrokerError) -> bool:
        """Credentials refused (401/403): HALTED with one alert until they work again.
        Returns True when it was that."""
        if not (isinstance(e, BrokerCallError) and e.kind in AUTH_KINDS):
            return False
        if not self.risk.s.auth_reason:
            # a refusal the machine's clock explains (e says so) must not send the operator
            # to rotate good keys
            what = ("signed calls refused" if e.clock_ahead_s is not None
                    else "credentials refused")
            self.risk.s.auth_reason = (f"{what} by {self.s.broker}: {e}; halted "
                                       "until they work again")
            self._refresh_state()
        self._auth_failures += 1
        wait = min(60.0, self.cfg.trader.poll_s * 2 ** min(self._auth_failures, 6))
        self._next_auth_probe = time.monotonic() + wait
        return True

    def _probe_auth(self) -> None:
        """While the keys are refused: try one private call now and then; resume on success."""
        if not self.risk.s.auth_reason or time.monotonic() < self._next_auth_probe:
            return
        try:
            self.broker.balances()
        except BrokerError as e:
            if not self._on_broker_error(e):
                log.warning("%s: credentials check failed: %s", self.name, e)
            return
        log.info("%s: the %s credentials work again", self.name, self.s.broker)
        self.risk.s.auth_reason = ""
        self._auth_failures = 0
        self._refresh_state()
