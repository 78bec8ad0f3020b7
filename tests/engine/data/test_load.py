"""load_candles for each source; candles basics; the synthetic generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from engine.data.candles import TIMEFRAME_SECONDS, Candles, DataError
from engine.data.load import bundled_path, load_candles, resample
from engine.data.synthetic import synthetic_candles


def test_bundled_real_closes_map_usdt_to_usd(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config('[data]\nsource = "bundled"\ntickers = ["ETH-USD", "BTC-USD"]\n')
    c = load_candles(cfg)
    assert c.tickers == ("ETH-USD", "BTC-USD") and c.timeframe == "5m"
    assert c.n_bars == 25_045 and c.open is None and c.volume is None
    raw = pd.read_csv(bundled_path(), nrows=1)
    assert c.close[0, 1] == raw["BTC-USDT"][0] and c.close[0, 0] == raw["ETH-USDT"][0]
    assert c.times[0] == 1_643_778_000 and (np.diff(c.times) == 300).all()


def test_bundled_copy_is_the_shared_file() -> None:
    shared = Path(__file__).resolve().parents[4] / "shared" / "data" / bundled_path().name
    if not shared.exists():
        pytest.skip("no shared/ next to the checkout")
    assert bundled_path().read_bytes() == shared.read_bytes()


def test_missing_ticker_is_named(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config('[data]\nsource = "bundled"\ntickers = ["BTC-USD", "DOGE-USD"]\n')
    with pytest.raises(DataError, match=r"DOGE-USD not in the bundled data"):
        load_candles(cfg)


def test_bundled_resampled_to_1h(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config('[data]\nsource = "bundled"\ntimeframe = "1h"\ntickers = ["BTC-USD"]\n')
    c = load_candles(cfg)
    assert c.timeframe == "1h" and (np.diff(c.times) == 3600).all() and c.times[0] % 3600 == 0
    five = load_candles(make_config('[data]\ntickers = ["BTC-USD"]\n', name="b.toml"))
    i = int(np.searchsorted(five.times, c.times[0]))
    assert c.close[0, 0] == five.close[i + 11, 0]     # close of the last 5m bar in the hour


def test_resample_ohlcv() -> None:
    c = synthetic_candles(("BTC-USD",), 48, "5m", seed=1)
    h = resample(c, "1h")
    first = int(np.argmax(c.times % 3600 == 0))
    block = slice(first, first + 12)
    assert h.open[0, 0] == c.open[block][0, 0] and h.close[0, 0] == c.close[block][-1, 0]
    assert h.high[0, 0] == c.high[block].max() and h.low[0, 0] == c.low[block].min()
    assert h.volume[0, 0] == pytest.approx(c.volume[block].sum())
    with pytest.raises(DataError, match="cannot make 5m bars from 1h"):
        resample(h, "5m")


def test_synthetic_is_seeded_correlated_and_consistent(make_config) -> None:  # type: ignore[no-untyped-def]
    cfg = make_config('[data]\nsource = "synthetic"\nsynthetic_bars = 3000\nseed = 5\n')
    a, b = load_candles(cfg), load_candles(cfg)
    assert a.fingerprint() == b.fingerprint() and a.n_assets == 7 and a.n_bars == 3000
    other = synthetic_candles(a.tickers, 3000, "5m", seed=6)
    assert other.fingerprint() != a.fingerprint()
    rets = np.diff(np.log(a.close), axis=0)
    corr = np.corrcoef(rets.T)[np.triu_indices(7, 1)]
    assert 0.3 < corr.mean() < 0.9
    assert (a.high >= np.maximum(a.open, a.close)).all() and (a.low <= np.minimum(a.open, a.close)).all()
    # Volatility changes over time (regimes): rolling std varies a lot.
    roll = pd.Series(rets[:, 0]).rolling(200).std().dropna()
    assert roll.max() / roll.min() > 2


def test_csv_wide_and_parquet_long(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    c = synthetic_candles(("BTC-USD", "ETH-USD"), 600, "5m", seed=2)
    wide = pd.DataFrame({"timestamp": c.times, "BTC-USD": c.close[:, 0], "ETH-USD": c.close[:, 1]})
    wide.to_csv(tmp_path / "wide.csv", index=False)
    cfg = make_config('[data]\nsource = "csv"\npath = "wide.csv"\ntickers = ["ETH-USD"]\n')
    got = load_candles(cfg)
    np.testing.assert_array_equal(got.close[:, 0], c.close[:, 1])
    rows = [{"timestamp": pd.Timestamp(int(t), unit="s", tz="UTC"), "ticker": name,
             "open": c.open[i, k], "high": c.high[i, k], "low": c.low[i, k],
             "close": c.close[i, k], "volume": c.volume[i, k]}
            for k, name in enumerate(c.tickers) for i, t in enumerate(c.times)]
    pd.DataFrame(rows).to_parquet(tmp_path / "long.parquet")
    cfg = make_config('[data]\nsource = "parquet"\npath = "long.parquet"\n'
                      'tickers = ["BTC-USD", "ETH-USD"]\n', name="p.toml")
    got = load_candles(cfg)
    assert got.fingerprint() == c.fingerprint()


def test_file_source_errors(make_config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match="needs \\[data\\] path"):
        load_candles(make_config('[data]\nsource = "csv"\n'))
    with pytest.raises(DataError, match="file not found"):
        load_candles(make_config('[data]\nsource = "csv"\npath = "nope.csv"\n', name="n.toml"))
    with pytest.raises(DataError, match="run `cappuccino data fetch --source coinbase"):
        load_candles(make_config('[data]\nsource = "coinbase"\n', name="c.toml"))


def test_candles_slice_select_fingerprint() -> None:
    c = synthetic_candles(("BTC-USD", "ETH-USD", "SOL-USD"), 100, "15m", seed=1)
    assert c.bar_seconds == TIMEFRAME_SECONDS["15m"] == 900
    s = c.slice(10, 20)
    assert s.n_bars == 10 and s.times[0] == c.times[10] and s.high.shape == (10, 3)
    sel = c.select(["SOL-USD", "BTC-USD"])
    np.testing.assert_array_equal(sel.close[:, 0], c.close[:, 2])
    assert len(c.fingerprint()) == 16 and c.fingerprint() != s.fingerprint()
    changed = Candles(c.times, c.tickers, c.close * 1.0000001, c.open, c.high, c.low, c.volume,
                      c.timeframe)
    assert changed.fingerprint() != c.fingerprint()
    with pytest.raises(DataError, match="DOGE-USD"):
        c.select(["DOGE-USD"])
    with pytest.raises(DataError, match="shape"):
        Candles(c.times[:5], c.tickers, c.close, timeframe="5m")


def test_file_data_coarser_than_the_timeframe_is_refused(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """1h rows under a 5m config were filled forward into flat 5m bars (each 11-bar gap is
    within max_fill_bars); now one line says so. Finer data is still resampled."""
    five = synthetic_candles(("BTC-USD",), 600, "5m", seed=4)
    hourly = resample(five, "1h")
    pd.DataFrame({"timestamp": hourly.times, "BTC-USD": hourly.close[:, 0]}).to_csv(
        tmp_path / "h.csv", index=False)
    cfg = make_config('[data]\nsource = "csv"\npath = "h.csv"\ntickers = ["BTC-USD"]\n'
                      'min_bars = 10\n')
    with pytest.raises(DataError) as e:
        load_candles(cfg)
    msg = str(e.value)
    assert "h.csv" in msg and "a bar every 1h, coarser than [data] timeframe = 5m" in msg
    assert "\n" not in msg
    ok = load_candles(make_config('[data]\nsource = "csv"\npath = "h.csv"\ntimeframe = "1h"\n'
                                  'tickers = ["BTC-USD"]\nmin_bars = 10\n', name="h.toml"))
    np.testing.assert_array_equal(ok.close, hourly.close)
    pd.DataFrame({"timestamp": five.times, "BTC-USD": five.close[:, 0]}).to_csv(
        tmp_path / "f.csv", index=False)  # finer than 1h: resampled as before
    got = load_candles(make_config('[data]\nsource = "csv"\npath = "f.csv"\ntimeframe = "1h"\n'
                                   'tickers = ["BTC-USD"]\nmin_bars = 10\n', name="f.toml"))
    np.testing.assert_array_equal(got.close, hourly.close)
