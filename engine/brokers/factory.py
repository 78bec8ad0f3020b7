"""Build the broker a trader asked for. The real brokers' SDKs are imported only here, lazily."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

from engine.brokers.base import Broker, BrokerError
from engine.config import Config
from engine.config.secrets import Secrets
from engine.data.candles import Candles, DataError


def sim_candles(cfg: Config) -> Candles:
    """The market the sim replays: [data] source, restricted to the trader's tickers."""
    data = cfg.data.model_copy(update={"timeframe": cfg.trader.timeframe,
                                       "tickers": list(cfg.trader.tickers)})
    c2 = cfg.model_copy(update={"data": data})
    loader: Callable[[Config], Candles] | None
    try:
        from engine.data.load import load_candles
        loader = load_candles
    except ModuleNotFoundError:  # the loader is optional here: synthetic data always works
        loader = None
    if loader is not None:
        candles = loader(c2)
    else:
        from engine.data.synthetic import synthetic_candles

        candles = synthetic_candles(cfg.trader.tickers, cfg.data.synthetic_bars,
                                    cfg.trader.timeframe, cfg.data.seed)
    return candles.select(tuple(cfg.trader.tickers))


def sim_start_index(cfg: Config, n_bars: int) -> int:
    """Where a new sim replay starts: [trader] sim_start_frac of the data, but never before
    the trader has its history (history_bars, the longest feature history, the volatility
    window). A replay that already runs keeps its own position."""
    from engine.features import longest_history

    warmup = max(cfg.trader.history_bars,
                 longest_history(cfg.features.lookback, cfg.features.norm_window),
                 cfg.conviction.volatility_window + 1)
    start = max(warmup, int(cfg.trader.sim_start_frac * n_bars))
    if start >= n_bars - 1:
        raise BrokerError(f"sim: nothing to replay: the data has {n_bars} bars and the replay "
                          f"would start at bar {start} ([trader] sim_start_frac = "
                          f"{cfg.trader.sim_start_frac:g}, warmup {warmup} bars)")
    return start


def make_broker(cfg: Config, secrets: Secrets, broker_name: str, state_dir: str | Path,
                start_index: int | None = None) -> Broker:
    if broker_name == "sim":
        from engine.brokers.sim import SimBroker

        try:
            candles = sim_candles(cfg)
        except DataError as e:
            raise BrokerError(f"sim: no market data: {e}") from None
        t = cfg.trader
        start = start_index if start_index is not None else sim_start_index(cfg, candles.n_bars)
        return SimBroker(Path(state_dir) / "sim-exchange.db", candles, start_index=start,
                         initial_cash=Decimal(str(t.capital)),
                         maker_rate=Decimal(str(t.sim_maker_fee_rate)),
                         taker_rate=Decimal(str(t.sim_taker_fee_rate)),
                         spread_bps=t.sim_spread_bps)
    if broker_name == "alpaca":
        from engine.brokers.alpaca import AlpacaPaperBroker

        return AlpacaPaperBroker(cfg, secrets)
    if broker_name == "coinbase":
        from engine.brokers.coinbase import CoinbaseBroker

        return CoinbaseBroker(cfg, secrets)
    raise BrokerError(f"unknown broker {broker_name!r} (expected sim, alpaca or coinbase)")
