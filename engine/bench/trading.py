"""Trading benchmarks.

- decision_latency_ms: one bar, from bar close to orders submitted (reconcile, history
  fetch, features, policy, conviction, risk, store writes, submits) on the sim broker with
  a 10-model ensemble and 7 tickers, default feature config. Median over bars. Baseline:
  the same trader with a single model, measured in the same run. Goal <= 250 ms.
- conviction_us_per_decision: the conviction filter's whole per-bar work (momentum once,
  the volatility regime per ticker, the scoring) divided by the decisions. Goal <= 50 us.
- trader_broker_calls_per_bar: broker calls one bar (step + one poll) makes; each is one
  exchange request on Coinbase and Alpaca. One model, 7 tickers, sim broker, mean over bars
  after the first. No baseline.
- trader_candles_per_bar: candles those calls fetched. Baseline: the same trader refetching
  its whole candle window every bar (as before the in-memory history), same run.
"""

from __future__ import annotations

import statistics
import time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from engine.bench import Result

if TYPE_CHECKING:
    from engine.brokers.sim import SimBroker
    from engine.config import Config

TICKERS = ("BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD", "LTC-USD", "AVAX-USD", "UNI-USD")


def _config(workdir: Path, bars: int) -> Config:
    from engine.config import load_config

    path = workdir / "cappuccino.toml"
    path.write_text(f"""
[data]
source = "synthetic"
synthetic_bars = {bars}
[conviction]
min_score = 0.0
[trader]
notify_fills = false
tickers = {list(TICKERS)!r}
""".replace("'", '"'))
    return load_config(path, environ={})


def _models(cfg: Config, workdir: Path, n: int) -> list[Path]:
    import torch

    from engine.data.synthetic import synthetic_candles
    from engine.features import feature_spec, obs_dim
    from engine.model.artifact import ModelSpec, save_model
    from engine.model.network import Actor

    candles = synthetic_candles(TICKERS, 100, "5m", seed=cfg.data.seed)
    fs = feature_spec(cfg.features, candles)
    dim = obs_dim(fs, len(TICKERS))
    out = []
    for i in range(n):
        torch.manual_seed(i)
        actor = Actor(dim, len(TICKERS), cfg.ppo.hidden)
        with torch.no_grad():
            # decisive actions: orders get placed (mlp() ends in a Linear layer)
            cast(torch.nn.Linear, actor.net[-1]).weight.mul_(100)
        spec = ModelSpec(tickers=TICKERS, timeframe="5m", obs_dim=dim, act_dim=len(TICKERS),
                         hidden=cfg.ppo.hidden, features=fs.to_dict(), env=cfg.env.model_dump(),
                         data_fingerprint=candles.fingerprint(), study="bench", trial=i)
        out.append(save_model(workdir / f"model-{i}", actor.state_dict(), spec, {}, {}))
    return out


def _sim(cfg: Config, workdir: Path, name: str) -> SimBroker:
    from engine.brokers.factory import make_broker
    from engine.brokers.sim import SimBroker
    from engine.config.secrets import Secrets

    broker = make_broker(cfg, Secrets(), "sim", workdir / name)
    assert isinstance(broker, SimBroker)
    return broker


def _latency(cfg: Config, workdir: Path, dirs: list[Path], name: str, bars: int
             ) -> list[float]:
    from engine.trading.clock import ReplayClock
    from engine.trading.policy import load_policy
    from engine.trading.trader import Trader, TraderSettings
    from store.db import Store

    policy = load_policy(dirs, tickers=TICKERS, timeframe="5m", features=None,
                         env=cfg.env.model_dump())
    broker = _sim(cfg, workdir, name)
    store = Store(cfg.store.path)
    clock = ReplayClock(broker, "5m", 1000)
    trader = Trader(cfg, store, broker, clock, policy, TraderSettings(
        name, "sim", "paper", name, None, None, TICKERS, "5m", Decimal(10_000)))
    trader.register()
    times = []
    for i in range(bars + 1):
        t0 = time.perf_counter()
        trader.step(clock.last_closed_bar())
        if i:  # the first bar warms caches
            times.append((time.perf_counter() - t0) * 1000)
        broker.advance()
    store.close()
    return times


class _Counting:
    """A broker whose calls are counted (the replay clock's own calls are not)."""

    def __init__(self, broker: SimBroker) -> None:
        self._b, self.calls, self.candles = broker, 0, 0

    # A transparent proxy: each attribute has the wrapped broker's own type.
    def __getattr__(self, name: str) -> Any:  # noqa: ANN401
        attr = getattr(self._b, name)
        if not callable(attr) or name in ("now", "advance"):
            return attr

        def counted(*a: Any, **k: Any) -> Any:  # noqa: ANN401
            self.calls += 1
            out = attr(*a, **k)
            if name == "bars":
                self.candles += len(out)
            return out
        return counted


def _calls_per_bar(cfg: Config, workdir: Path, dirs: list[Path], name: str, bars: int,
                   refetch: bool) -> tuple[float, float]:
    from engine.trading.clock import ReplayClock
    from engine.trading.policy import load_policy
    from engine.trading.trader import Trader, TraderSettings
    from store.db import Store

    policy = load_policy(dirs, tickers=TICKERS, timeframe="5m", features=None,
                         env=cfg.env.model_dump())
    sim = _sim(cfg, workdir, name)
    broker = _Counting(sim)
    store = Store(cfg.store.path)
    clock = ReplayClock(sim, "5m", 1000)
    trader = Trader(cfg, store, broker, clock, policy, TraderSettings(
        name, "sim", "paper", name, None, None, TICKERS, "5m", Decimal(10_000)))
    trader.register()
    calls, candles = [], []
    for i in range(bars + 1):
        if refetch:
            trader.history_cache.clear()
        before = (broker.calls, broker.candles)
        trader.step(clock.last_closed_bar())
        trader.poll()
        if i:
            calls.append(broker.calls - before[0])
            candles.append(broker.candles - before[1])
        sim.advance()
    store.close()
    return statistics.mean(calls), statistics.mean(candles)


def _conviction_us(bars: int) -> tuple[float, int]:
    """The trader's per-bar path: bar_factors over all tickers, then one verdict each."""
    from engine.config.schema import ConvictionSection
    from engine.trading.conviction import ConvictionFilter, bar_factors

    sec = ConvictionSection()
    f = ConvictionFilter(sec, 35.0)
    rng = np.random.default_rng(0)
    closes = 100 * np.exp(np.cumsum(rng.normal(0, 0.002, (bars + sec.volatility_window + 1,
                                                          len(TICKERS))), axis=0))
    orders = rng.uniform(-1, 1, (bars, len(TICKERS)))
    members = rng.uniform(-1, 1, (bars, 3, len(TICKERS)))
    passed = 0
    t0 = time.perf_counter()
    for b in range(bars):
        window = closes[b:b + sec.volatility_window + 1]
        fac = bar_factors(sec, window, orders[b], members[b], window[-1], 100.0)
        row = orders[b].tolist()
        for j, t in enumerate(TICKERS):
            v = f.evaluate(t, "BUY" if row[j] > 0 else "SELL", float(fac.size[j]),
                           float(fac.agreement[j]), float(fac.momentum[j]),
                           float(fac.volatility[j]), 0.1, float(fac.market[j]), True)
            passed += v.passed
    dt = time.perf_counter() - t0
    return dt / (bars * len(TICKERS)) * 1e6, passed


def run(quick: bool, workdir: Path) -> dict[str, Result]:
    from engine.device import setup_torch

    bars = 8 if quick else 40
    cfg = _config(workdir, 700 if quick else 1200)
    setup_torch(cfg)
    dirs = _models(cfg, workdir, 10)
    single = _latency(cfg, workdir, dirs[:1], "single", bars)
    ensemble = _latency(cfg, workdir, dirs, "ensemble", bars)
    us, _ = _conviction_us(300 if quick else 3000)
    calls, candles = _calls_per_bar(cfg, workdir, dirs[:1], "calls", bars, refetch=False)
    _, candles_before = _calls_per_bar(cfg, workdir, dirs[:1], "calls-refetch", bars,
                                       refetch=True)
    med = statistics.median(ensemble)
    p95 = float(np.percentile(ensemble, 95))
    return {
        "decision_latency_ms": Result(
            med, "ms", baseline=statistics.median(single),
            note=f"median of {bars} bars, 10-model ensemble, 7 tickers, sim broker; p95 "
                 f"{p95:.1f} ms; baseline: one model, same run; goal <= 250 ms"),
        "conviction_us_per_decision": Result(us, "us", note="momentum + volatility regime + "
                                             "score per decision, 7 tickers; goal <= 50 us"),
        "trader_broker_calls_per_bar": Result(
            calls, "calls", note=f"mean of {bars} bars (step + one poll), 7 tickers, sim "
                                 "broker; each is one request on Coinbase/Alpaca"),
        "trader_candles_per_bar": Result(
            candles, "candles", baseline=candles_before,
            note="candles fetched per bar; baseline: the whole window refetched each bar"),
    }
