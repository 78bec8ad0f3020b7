"""The kill switch and resume. Traders poll these flags between bars ([trader] poll_s) and
go HALTED, cancelling their open orders, within a couple of seconds.

- halt everything: kv `kill_switch` = 1 and halt_requested = 1 on every trader.
- halt one trader: its halt_requested = 1.
- resume everything: kill switch off, every halt_requested cleared.
- resume one trader: its halt_requested cleared (a global kill switch still holds it).

`halt_all` / `resume` are the supervisor's command handlers (commands table: action
halt_all / resume, target = a trader name or empty for all).
"""

from __future__ import annotations

from typing import Any

from engine.config import Config
from engine.names import UnknownName, unknown
from store import trading as st
from store.db import Store, now

ALL = ("", "*", "all", "--all")


def _target(command: Any) -> str | None:
    target = getattr(command, "target", None) if command is not None else None
    return None if target is None or target in ALL else str(target)


def _unknown(store: Store, name: str) -> UnknownName:
    return unknown("trader", name, [t.name for t in st.list_traders(store)])


def halt(store: Store, target: str | None) -> str:
    with store.write():
        if target is None:
            st.set_kill_switch(store, True)
            n = st.set_halt_requested(store, None, True)
            return f"kill switch on: {n} trader(s) will halt and cancel their open orders"
        n = st.set_halt_requested(store, target, True)
    if not n:
        raise _unknown(store, target)
    return f"trader {target} will halt and cancel its open orders"


def resume_trading(store: Store, target: str | None) -> str:
    with store.write():
        if target is None:
            st.set_kill_switch(store, False)
            n = st.set_halt_requested(store, None, False)
            return f"kill switch off: {n} trader(s) may trade again (risk limits still apply)"
        n = st.set_halt_requested(store, target, False)
        kill = st.kill_switch_on(store)
    if not n:
        raise _unknown(store, target)
    return (f"trader {target} resumed" + (" — but the global kill switch is still on "
                                          "(resume --all)" if kill else ""))


def request_exit(store: Store, trader: str, ticker: str | None) -> str:
    """Ask a trader to sell to flat (one ticker, or every position). The trader goes
    REDUCING (no buys), sells through its risk engine and maker-first executor (taker after
    the re-price deadline) and clears the request once flat. Raises ValueError for an
    unknown trader, or a ticker the trader does not trade (it would hold none to sell)."""
    row = st.get_trader(store, trader)
    if row is None:
        raise _unknown(store, trader)
    if ticker is not None and ticker not in row.ticker_list:
        raise ValueError(f"trader {trader} does not trade {ticker} (it trades: "
                         f"{', '.join(row.ticker_list)})")
    with store.write():
        if not st.set_exit_request(store, trader, None if ticker is None else [ticker], now()):
            raise _unknown(store, trader)
    what = f"its {ticker} position" if ticker else "every position"
    return f"trader {trader} will sell {what} to flat (REDUCING until done)"


def exit_command(cfg: Config, store: Store, command: Any) -> str:
    """The supervisor's `exit` handler: target = the trader, args.ticker optional."""
    args = getattr(command, "arguments", None) or {}
    ticker = args.get("ticker") if isinstance(args, dict) else None
    return request_exit(store, str(command.target), ticker or None)


def halt_all(cfg: Config, store: Store, command: Any) -> str:
    return halt(store, _target(command))


def resume(cfg: Config, store: Store, command: Any) -> str:
    return resume_trading(store, _target(command))
