"""`cappuccino trade`: run one trader (usually started by the supervisor from the console)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError
from engine.config import Config

if TYPE_CHECKING:
    from engine.config.secrets import Secrets

TIMEFRAMES = ("1m", "5m", "15m", "30m", "1h", "2h", "6h", "1d")
OUTAGE_MAX_WAIT_S = 60.0   # the longest pause between start-up tries while the exchange is down


def waitable(e: BaseException) -> bool:
    """Signed calls refused for the machine's clock (not the keys): NTP puts it right."""
    return getattr(e, "clock_ahead_s", None) is not None


def wait_for_exchange(stop: threading.Event, broker_name: str,
                      checks: Callable[[], None]) -> bool:
    """Run the start-up checks until the exchange answers. A retryable failure (5xx, 429,
    timeout, reset, malformed reply) is an outage: waited out with a growing pause, so an
    outage at a (re)start does not use up the supervisor's quick restarts and leave the trader
    FATAL; so is a refusal the machine's clock explains. False when stopped meanwhile; other
    failures raise."""
    from engine.brokers.base import BrokerError

    wait = 1.0
    while True:
        try:
            checks()
            return True
        except BrokerError as e:
            # wait it out like an outage instead of using up the supervisor's restarts
            clock = waitable(e)
            if not (e.retryable or clock):
                raise
            logging.getLogger("cappuccino.trading").warning(
                "broker %s %s at start (%s); trying again in %.0fs", broker_name,
                "refuses signed calls" if clock else "not answering", e, wait)
        if stop.wait(wait):
            return False
        wait = min(OUTAGE_MAX_WAIT_S, wait * 2)


def register(sub: Subparsers) -> None:
    p = sub.add_parser("trade", help="run a trader: model or ensemble -> orders, bar by bar")
    p.add_argument("--name", default="", help="trader name (default: the supervisor's "
                   "process name)")
    p.add_argument("--model", required=True, help="model dir, dir1,dir2,..., or ensemble:K "
                   "(top K of the latest study, or of --study)")
    p.add_argument("--broker", choices=("sim", "alpaca", "coinbase"), default=None,
                   help="default: [trader] broker")
    p.add_argument("--tickers", default="", help="comma-separated, e.g. BTC-USD,ETH-USD "
                   "(default: the model's)")
    p.add_argument("--timeframe", choices=TIMEFRAMES, default=None,
                   help="default: the model's")
    p.add_argument("--capital", default=None, help="starting capital in USD")
    p.add_argument("--study", default=None, help="study for --model ensemble:K")
    p.add_argument("--live", action="store_true",
                   help="confirm live trading (required for --broker coinbase)")
    p.add_argument("--replay-speed", type=float, default=None,
                   help="sim only: bars per second of wall time (0: real time)")
    p.set_defaults(func=run)


def _settings(args: argparse.Namespace, cfg: Config) -> Config:
    t = cfg.trader
    tickers = [x.strip().upper() for x in args.tickers.split(",") if x.strip()] or list(t.tickers)
    if len(set(tickers)) != len(tickers):
        raise UsageError(f"--tickers: a ticker is listed twice ({','.join(tickers)})")
    bad = [x for x in tickers if "-" not in x]
    if bad:
        raise UsageError(f"--tickers: {bad[0]!r} is not BASE-QUOTE (e.g. BTC-USD)")
    capital = t.capital
    if args.capital is not None:
        try:
            capital = float(Decimal(args.capital))
        except (InvalidOperation, ValueError):
            raise UsageError(f"--capital: {args.capital!r} is not a number") from None
        if not capital > 0:
            raise UsageError(f"--capital: must be positive, got {args.capital}")
    speed = t.replay_speed if args.replay_speed is None else args.replay_speed
    if speed < 0:
        raise UsageError("--replay-speed: must be >= 0")
    trader = t.model_copy(update={"tickers": tickers, "capital": capital,
                                  "broker": args.broker or t.broker,
                                  "timeframe": args.timeframe or t.timeframe,
                                  "replay_speed": speed})
    return cfg.model_copy(update={"trader": trader})


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.runtime import process_name

    cfg = _settings(args, cfg)
    name = args.name or process_name()
    if not name:
        raise UsageError("--name is required (outside the supervisor)")
    from engine.supervisor.spawn import valid_name

    if not valid_name(name):  # it names <run>/traders/NAME: never a path out of it
        raise UsageError(f"--name {name[:64]!r}: letters, digits, '.', '_', '-' only, not "
                         "starting with '.' or '-', at most 64")
    broker_name = cfg.trader.broker
    from engine.config.secrets import load_secrets

    secrets = load_secrets(cfg.secrets.key_file)
    if broker_name == "coinbase":
        if not cfg.coinbase.live_armed:
            raise UsageError("coinbase is live trading and is not armed: set [coinbase] "
                             "live_armed = true in the config first")
        if not args.live:
            raise UsageError("coinbase is live trading: add --live to confirm")
        if not (secrets.coinbase_api_key and secrets.coinbase_api_secret):
            raise UsageError("coinbase credentials missing: set COINBASE_API_KEY and "
                             "COINBASE_API_SECRET (or the key file)")
    return _trade(cfg, name, broker_name, args.model, args.study, secrets,
                  model_market=(not args.tickers, args.timeframe is None))


def _trade(cfg: Config, name: str, broker_name: str, model_arg: str, study: str | None,
           secrets: Secrets, model_market: tuple[bool, bool] = (False, False)) -> int:
    from engine.brokers.base import BrokerError
    from engine.brokers.factory import make_broker
    from engine.brokers.sim import SimBroker
    from engine.data.candles import DataError
    from engine.device import setup_torch
    from engine.log_once import OnceFilter
    from engine.model.artifact import ModelError, read_spec
    from engine.runtime import STALL_MARGIN_S, Heartbeat, open_store
    from engine.trading.account import AllotmentError
    from engine.trading.clock import RealClock, ReplayClock
    from engine.trading.increments import record_products
    from engine.trading.policy import load_policy, resolve_model_dirs
    from engine.trading.trader import Trader, TraderSettings

    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # The loop and the executor retry a failing broker (a full sim exchange file, an outage)
    # every poll: log the first of each distinct error, then at powers of ten, not each retry.
    once = OnceFilter()
    for logger in ("cappuccino.trading.trader", "cappuccino.trading.execution"):
        logging.getLogger(logger).addFilter(once)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    t = cfg.trader
    store = open_store(cfg)
    try:
        try:
            dirs, study = resolve_model_dirs(model_arg, store, study)
            if any(model_market):  # trade what the model was trained on unless told otherwise
                first = read_spec(dirs[0])
                upd = {k: v for k, v, use in (("tickers", list(first.tickers), model_market[0]),
                                              ("timeframe", first.timeframe, model_market[1]))
                       if use}
                cfg = cfg.model_copy(update={"trader": t.model_copy(update=upd)})
                t = cfg.trader
            device = setup_torch(cfg)
            policy = load_policy(dirs, tickers=tuple(t.tickers), timeframe=t.timeframe,
                                 features=None, env=cfg.env.model_dump(), device=device)
        except ModelError as e:
            raise UsageError(f"model refused: {e}") from None
        state_dir = Path(cfg.paths.run) / "traders" / name
        try:
            broker = make_broker(cfg, secrets, broker_name, state_dir)
        except BrokerError as e:
            raise JobError(f"broker {broker_name}: {e}") from None
        clock = (ReplayClock(broker, t.timeframe, t.replay_speed)
                 if isinstance(broker, SimBroker) else RealClock(t.timeframe, t.settle_delay_s))
        single = policy.members[0].spec if len(policy.members) == 1 else None
        settings = TraderSettings(
            name=name, broker=broker_name, mode="live" if broker_name == "coinbase" else "paper",
            model=model_arg, study=study or (single.study if single and single.study else None),
            trial=single.trial if single and single.trial >= 0 else None,
            tickers=tuple(t.tickers), timeframe=t.timeframe, capital=Decimal(str(t.capital)))
        trader = Trader(cfg, store, broker, clock, policy, settings)

        def start_checks() -> None:
            try:
                if isinstance(clock, RealClock):  # bars on the exchange's clock from the start
                    clock.measure_offset(broker.now)
                    # every exchange broker has this; the Broker protocol does not (the sim
                    # has no exchange clock): its closed-candle cutoff follows this clock
                    broker.exchange_clock = clock.now  # type: ignore[attr-defined]
                trader.check_allotment()
            except AllotmentError as e:
                raise UsageError(str(e)) from None
            except BrokerError as e:
                if e.retryable or waitable(e):  # wait_for_exchange waits these out
                    raise
                raise JobError(f"broker {broker_name}: cannot read the account: {e}") from None
            # How this trader's quantities are shown (display only; sizing asks the broker).
            record_products(store, name, broker_name, broker, t.tickers)
            try:
                trader.check_features(trader.fetch_history(clock.last_closed_bar())[0])
            except ModelError as e:
                raise UsageError(f"model refused: {e}") from None
            except (BrokerError, DataError) as e:
                if isinstance(e, BrokerError) and (e.retryable or waitable(e)):
                    raise
                raise JobError(f"broker {broker_name}: cannot read market data: {e}") from None

        # Beats for the supervisor's row (a no-op outside it), from before the start-up checks
        # (they wait out an exchange outage); a loop stuck for STALL_MARGIN_S stops the beat
        # so the watchdog restarts the trader.
        with Heartbeat(cfg, stall_s=STALL_MARGIN_S) as hb:
            if not wait_for_exchange(stop, broker_name, start_checks):
                return 0  # stopped while the exchange was down
            logging.getLogger("cappuccino.trading").info(
                "trader %s: %s on %s %s %s, capital %s", name, policy.describe(), broker_name,
                ",".join(t.tickers), t.timeframe, t.capital)
            try:
                trader.run(stop, tick=hb.tick)
            finally:
                trader.shutdown()
        return 0
    finally:
        store.close()

