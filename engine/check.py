"""`cappuccino check coinbase|alpaca`: credentials and connectivity, without trading.

Each check gives one line (ok / FAIL / skip + detail); a failure carries its own one-line
diagnosis. Nothing here places, changes or cancels an order.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from engine.brokers.base import Bar, Broker, BrokerError
from engine.brokers.retry import BrokerCallError, RetryPolicy
from engine.config.schema import Config
from engine.config.secrets import Secrets

TIMEFRAME_S = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "2h": 7200,
               "6h": 21600, "1d": 86400}
# Fail fast: a check is a diagnosis, not a trading loop.
CHECK_RETRY = RetryPolicy(attempts=2, initial_s=0.2, max_s=1.0)


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str          # ok | FAIL | skip
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


class _Stop(Exception):
    """The remaining checks cannot run (no network, no valid key)."""


def diagnose(e: BaseException, venue: str) -> str:
    """One line that says what went wrong and what to do."""
    if isinstance(e, BrokerCallError):
        kind = e.kind
        if e.clock_ahead_s is not None:  # the refusal was the machine's clock: keys unjudged
            return str(e)
        also = f" (also: {e.clock_note})" if e.clock_note else ""
        if kind == "unauthorised":
            return (f"unauthorised (HTTP 401): {venue} did not accept the API key; check that "
                    f"the key is active, the key/secret pair match, and the system clock is "
                    f"right{also}")
        if kind == "forbidden":
            return (f"forbidden (HTTP 403): the key lacks a permission this call needs"
                    f"{': ' + e.detail if e.detail else ''}{also}")
        if kind == "network":
            return (f"network unreachable ({e.detail or 'cannot connect'}): cannot reach the "
                    f"{venue} API - check the endpoint URL, DNS, proxy and firewall")
        if kind == "timeout":
            return f"timed out: {e} - the exchange or the network is slow or blocked"
        if kind == "reset":
            return f"connection reset: {e} - a proxy or firewall may be cutting the connection"
        if kind in ("rate_limited", "server"):
            return f"{e} - the exchange is busy or down; try again later"
        if kind == "malformed":
            return f"{e} - the endpoint does not speak the {venue} API (wrong URL?)"
        if kind in ("bad_key", "config"):
            return str(e).removeprefix(f"{venue}: ")
        return str(e)
    if isinstance(e, BrokerError):
        return str(e)
    return f"{type(e).__name__}: {e}"


def _fmt_amount(x: Decimal) -> str:
    return f"{x.normalize():f}"


def _pct(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}%"


def _balances_line(bals: dict[str, Any]) -> str:
    nonzero = [b for b in bals.values() if b.total != 0]
    shown = ", ".join(f"{b.currency} {_fmt_amount(b.available)}"
                      + (f" (+{_fmt_amount(b.hold)} held)" if b.hold else "")
                      for b in sorted(nonzero, key=lambda b: b.currency)[:8])
    more = f", +{len(nonzero) - 8} more" if len(nonzero) > 8 else ""
    return f"{len(bals)} accounts; {shown or 'all empty'}{more}"


def _skew_result(server: float, local_mid: float, limit: float,
                 why: str) -> CheckResult:
    skew = server - local_mid
    if abs(skew) > limit:
        return CheckResult("clock", "FAIL", f"clock skew {skew:+.1f} s exceeds {limit:g} s: "
                           f"sync this machine's clock (enable NTP, e.g. "
                           f"`timedatectl set-ntp true`) - {why}")
    return CheckResult("clock", "ok", f"skew {skew:+.2f} s (limit {limit:g} s)")


def _timed(fn: Callable[[], float]) -> tuple[float, float]:
    t0 = time.time()
    server = fn()
    return server, (t0 + time.time()) / 2


def _ticker_checks(broker: Broker, tickers: list[str], timeframe: str) -> list[CheckResult]:
    out = []
    step = TIMEFRAME_S.get(timeframe, 300)
    for t in tickers:
        try:
            prod = broker.product(t)
        except BrokerCallError as e:
            if e.kind in ("not_found", "bad_request"):
                out.append(CheckResult(f"product {t}", "FAIL",
                                       f"product {t} is unknown on {broker.name}"))
                continue
            raise
        if prod.trading_disabled or prod.cancel_only:
            why = "trading-disabled" if prod.trading_disabled else "cancel-only"
            out.append(CheckResult(f"product {t}", "FAIL",
                                   f"product {t} is {why} on {broker.name} right now"))
            continue
        end = broker.now()  # the exchange's clock: the machine's may be off (the clock check)
        bars: list[Bar] = broker.bars(t, end - 12 * step, end, timeframe)
        if not bars:
            out.append(CheckResult(f"candles {t}", "FAIL",
                                   f"no {timeframe} candles for {t} in the last {12 * step} s"))
            continue
        last = bars[-1]
        age = end - (last.start + step)
        out.append(CheckResult(f"candles {t}", "ok",
                               f"{len(bars)} x {timeframe}, last close {last.close:g} "
                               f"({f'{age:.0f} s ago' if age >= 0 else 'still forming'}); "
                               f"min size {_fmt_amount(prod.base_min_size)}"))
    return out


def _run(steps: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]],
         venue: str, local: frozenset[str] = frozenset()) -> list[CheckResult]:
    """Run the steps in order; after a blocking failure the rest are skipped, except the
    `local` ones that need no network (the key's format)."""
    results: list[CheckResult] = []
    stopped = ""
    for name, step in steps:
        if stopped and name not in local:
            results.append(CheckResult(name, "skip", stopped))
            continue
        try:
            r = step()
            results.extend(r if isinstance(r, list) else [r])
        except _Stop as s:
            results.append(CheckResult(name, "FAIL", str(s)))
            stopped = f"not checked ({name} failed)"
        except BrokerCallError as e:
            results.append(CheckResult(name, "FAIL", diagnose(e, venue)))
            if e.kind in ("network", "unauthorised", "bad_key", "config", "malformed",
                          "timeout"):
                stopped = f"not checked ({name} failed)"
        except Exception as e:  # one line, never a traceback
            results.append(CheckResult(name, "FAIL", diagnose(e, venue)))
    return results


def check_coinbase(cfg: Config, secrets: Secrets, tickers: list[str] | None = None,
                   *, max_skew_s: float | None = None,
                   retry: RetryPolicy = CHECK_RETRY) -> list[CheckResult]:
    from engine.brokers.coinbase import CoinbaseBroker, call_once, parse_server_time
    from engine.brokers.coinbase_client import key_problem, make_rest_client

    tickers = tickers or list(cfg.trader.tickers)
    limit = max_skew_s if max_skew_s is not None else cfg.coinbase.max_clock_skew_s
    state: dict[str, CoinbaseBroker] = {}

    def key() -> CheckResult:
        problem = key_problem(secrets.coinbase_api_key, secrets.coinbase_api_secret)
        if problem:
            raise _Stop(problem)
        name = secrets.coinbase_api_key
        short = f"…{name[-6:]}" if len(name) > 6 else "set"
        return CheckResult("key", "ok", f"key {short} loads")

    def clock() -> CheckResult:
        try:
            public = make_rest_client(cfg.coinbase.base_url, timeout=cfg.coinbase.timeout_s)
        except ValueError as e:
            raise _Stop(str(e)) from None
        from engine.brokers.retry import call_with_retry
        server, mid = _timed(lambda: call_with_retry(
            lambda: call_once("server time", public.get_unix_time, parse_server_time), retry))
        return _skew_result(server, mid, limit, "signed requests fail when it drifts")

    def broker() -> CoinbaseBroker:
        if "broker" not in state:
            state["broker"] = CoinbaseBroker(cfg, secrets, retry=retry)
        return state["broker"]

    def permissions() -> CheckResult:
        perms = broker().key_permissions()
        if not perms.get("can_view", True):
            return CheckResult("permissions", "FAIL", "the key lacks view permission: enable "
                               "View for this key in the Coinbase Developer Platform")
        if not perms.get("can_trade"):
            return CheckResult("permissions", "FAIL", "the key lacks trade permission: enable "
                               "Trade for this key in the Coinbase Developer Platform")
        extra = " (can also transfer: consider a trade-only key)" if perms.get(
            "can_transfer") else ""
        return CheckResult("permissions", "ok", f"view + trade{extra}")

    def accounts() -> CheckResult:
        return CheckResult("accounts", "ok", _balances_line(broker().balances()))

    def fees() -> CheckResult:
        tier = broker().fee_tier()
        return CheckResult("fee tier", "ok",
                           f"{tier.name or 'unnamed'}: maker {_pct(tier.maker_rate)}, "
                           f"taker {_pct(tier.taker_rate)}, 30-day volume "
                           f"${tier.volume_30d:,.2f}")

    steps: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]] = [
        ("clock", clock), ("key", key), ("permissions", permissions),
        ("accounts", accounts), ("fee tier", fees),
        ("products", lambda: _ticker_checks(broker(), tickers, cfg.trader.timeframe))]
    return _run(steps, "coinbase", local=frozenset({"key"}))


def check_alpaca(cfg: Config, secrets: Secrets, tickers: list[str] | None = None,
                 *, max_skew_s: float | None = None,
                 retry: RetryPolicy = CHECK_RETRY) -> list[CheckResult]:
    from engine.brokers.alpaca import AlpacaPaperBroker

    tickers = tickers or list(cfg.trader.tickers)
    limit = max_skew_s if max_skew_s is not None else cfg.alpaca.max_clock_skew_s
    state: dict[str, AlpacaPaperBroker] = {}

    def broker() -> AlpacaPaperBroker:
        if "broker" not in state:
            state["broker"] = AlpacaPaperBroker(cfg, secrets, retry=retry)
        return state["broker"]

    def key() -> CheckResult:
        try:
            broker()
        except BrokerCallError as e:
            raise _Stop(diagnose(e, "alpaca")) from None
        kid = secrets.alpaca_api_key
        note = "" if kid.startswith("PK") else " (paper keys usually start with PK)"
        return CheckResult("key", "ok", f"key …{kid[-4:]} present{note}")

    def clock() -> CheckResult:
        server, mid = _timed(broker().now)
        # Alpaca's keys are headers (nothing signed): a wrong clock misdates, not refuses
        return _skew_result(server, mid, limit, "log, alert and report times go wrong")

    def permissions() -> CheckResult:
        acct = broker().account()
        problems = []
        if str(acct.get("status", "")).upper() != "ACTIVE":
            problems.append(f"account status is {acct.get('status')}")
        crypto = acct.get("crypto_status")
        if crypto is not None and str(crypto).upper() != "ACTIVE":
            problems.append(f"crypto status is {crypto}")
        for flag in ("trading_blocked", "account_blocked", "trade_suspended_by_user"):
            if acct.get(flag):
                problems.append(flag.replace("_", " "))
        if problems:
            return CheckResult("permissions", "FAIL", "the account cannot trade: "
                               + "; ".join(problems))
        return CheckResult("permissions", "ok", "account ACTIVE, crypto trading allowed")

    def accounts() -> CheckResult:
        return CheckResult("accounts", "ok", _balances_line(broker().balances()))

    def fees() -> CheckResult:
        tier = broker().fee_tier()
        return CheckResult("fee tier", "ok", f"configured schedule: maker "
                           f"{_pct(tier.maker_rate)}, taker {_pct(tier.taker_rate)}")

    steps: list[tuple[str, Callable[[], CheckResult | list[CheckResult]]]] = [
        ("key", key), ("clock", clock), ("permissions", permissions),
        ("accounts", accounts), ("fee tier", fees),
        ("products", lambda: _ticker_checks(broker(), tickers, cfg.trader.timeframe))]
    return _run(steps, "alpaca")


def format_result(r: CheckResult) -> str:
    return f"{r.status:4s}  {r.name:18s} {r.detail}"
