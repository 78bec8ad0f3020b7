"""Every data defect is repaired with a report line, or rejected with one clear message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.data.candles import DataError
from engine.data.validate import validate

T0 = 1_700_000_100  # on the 5m grid
SEC = 300


def long_frame(n: int = 50, tickers: tuple[str, ...] = ("BTC-USD", "ETH-USD")) -> pd.DataFrame:
    rows = []
    for k, t in enumerate(tickers):
        for i in range(n):
            c = 100.0 * (k + 1) + i
            rows.append({"timestamp": T0 + i * SEC, "ticker": t, "open": c - 0.5,
                         "high": c + 1, "low": c - 1, "close": c, "volume": 10.0 + i})
    return pd.DataFrame(rows)


def run(df: pd.DataFrame, **kw: object):  # type: ignore[no-untyped-def]
    return validate(df, timeframe="5m", **{"max_fill_bars": 3, "min_bars": 5, **kw})


def test_clean_data_passes_unchanged() -> None:
    candles, report = run(long_frame())
    assert report.clean and "clean" in str(report)
    assert candles.n_bars == 50 and candles.tickers == ("BTC-USD", "ETH-USD")
    assert candles.has_ohlc and candles.has_volume
    assert candles.close[3, 1] == 203.0 and candles.times[0] == T0


def test_duplicates_are_dropped_and_conflicts_keep_the_last() -> None:
    df = long_frame()
    dup = df.iloc[[5]]
    conflict = df.iloc[[7]].assign(close=150.0, high=151.0)
    candles, report = run(pd.concat([df, dup, conflict], ignore_index=True))
    assert "BTC-USD: dropped 1 duplicate rows" in report.lines
    assert "BTC-USD: 1 timestamps had conflicting rows: kept the last" in report.lines
    assert candles.n_bars == 50 and candles.close[7, 0] == 150.0


def test_out_of_order_rows_are_sorted() -> None:
    df = long_frame()
    shuffled = df.sample(frac=1.0, random_state=1)
    candles, report = run(shuffled, tickers=["BTC-USD", "ETH-USD"])
    assert any("out of order: sorted by time" in line for line in report.lines)
    np.testing.assert_array_equal(candles.close, run(df)[0].close)


def test_short_gaps_are_forward_filled() -> None:
    df = long_frame()
    df = df.drop(df[(df.ticker == "ETH-USD") & df.timestamp.isin([T0 + 10 * SEC, T0 + 11 * SEC])]
                 .index)
    candles, report = run(df)
    assert "ETH-USD: forward-filled 1 gaps (2 bars)" in report.lines
    assert candles.n_bars == 50
    assert candles.close[10, 1] == candles.close[11, 1] == candles.close[9, 1]
    assert candles.volume[10, 1] == 0.0 and candles.high[11, 1] == candles.close[9, 1]


def test_a_long_gap_keeps_the_recent_stretch() -> None:
    df = long_frame()
    gone = (df.ticker == "BTC-USD") & df.timestamp.between(T0 + 10 * SEC, T0 + 19 * SEC)
    candles, report = run(df[~gone])
    assert any(line.startswith("BTC-USD: gap of 10 bars before") and "dropped the 10 bars" in line
               for line in report.lines)
    assert any(line.startswith("ETH-USD: trimmed 20 bars") for line in report.lines)
    assert candles.n_bars == 30 and candles.times[0] == T0 + 20 * SEC


def test_nan_and_non_positive_prices_become_gaps() -> None:
    df = long_frame()
    df.loc[3, "close"] = np.nan
    df.loc[4, "close"] = -1.0
    df.loc[60, "low"] = 0.0   # ETH row 10
    candles, report = run(df)
    assert "BTC-USD: dropped 2 rows with bad prices (1 with NaN/non-numeric, 1 with non-positive); " \
           "treated as gaps" in report.lines
    assert "ETH-USD: dropped 1 rows with bad prices (1 with non-positive); treated as gaps" \
        in report.lines
    assert np.isfinite(candles.close).all() and (candles.close > 0).all()
    assert candles.close[4, 0] == candles.close[2, 0]


def test_text_cells_absurd_prices_and_spikes_become_gaps() -> None:
    times = 1_700_000_100 + 300 * np.arange(40)
    btc = 100.0 + np.arange(40.0)
    wide = pd.DataFrame({"timestamp": times, "BTC-USD": btc.astype(object),
                         "ETH-USD": 50.0 + np.arange(40.0)})
    wide.loc[5, "BTC-USD"] = "abc"          # a text cell in a price column
    wide.loc[9, "ETH-USD"] = 1e308          # a unit or parsing error
    wide.loc[20, "ETH-USD"] = 700.0         # one bad print, x10 away and back
    candles, report = validate(wide, timeframe="5m")
    assert "BTC-USD: dropped 1 rows with bad prices (1 with NaN/non-numeric); treated as gaps" \
        in report.lines
    assert ("ETH-USD: dropped 2 rows with bad prices (1 with above 1e+09, 1 with a one-bar "
            "spike (x5)); treated as gaps") in report.lines
    assert candles.close.max() < 1000 and candles.close[5, 0] == candles.close[4, 0]


def test_real_prices_have_no_spikes() -> None:
    from engine.data.load import read_bundled

    _, report = validate(read_bundled(), timeframe="5m")
    assert report.clean, report.lines


def test_high_low_and_volume_repairs() -> None:
    df = long_frame()
    df.loc[2, "high"] = 1.0           # below the close
    df.loc[8, "volume"] = -5.0
    candles, report = run(df)
    assert "BTC-USD: 1 bars had high/low not bracketing open/close: widened" in report.lines
    assert "BTC-USD: 1 bars had NaN or negative volume: set to 0" in report.lines
    assert candles.high[2, 0] == candles.close[2, 0] and candles.volume[8, 0] == 0.0


@pytest.mark.parametrize("mutate, message", [
    (lambda df: df.assign(timestamp=df.timestamp + 7), "not on the 300s bar grid"),
    (lambda df: df[df.ticker == "BTC-USD"], "ETH-USD not in the data"),
    (lambda df: df.assign(close=np.nan), "no row has a valid price"),
    (lambda df: df.drop(columns="timestamp"), "no `timestamp` column"),
    (lambda df: df[df.timestamp < T0 + 2 * SEC], "only 2 usable bars"),
])
def test_rejections_are_one_clear_line(mutate, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(DataError, match=message) as exc:
        run(mutate(long_frame()), tickers=["BTC-USD", "ETH-USD"])
    assert "\n" not in str(exc.value)


def test_wide_close_only_frame_with_iso_times() -> None:
    times = pd.date_range("2024-01-01", periods=20, freq="5min", tz="UTC")
    df = pd.DataFrame({"timestamp": times.strftime("%Y-%m-%dT%H:%M:%SZ"),
                       "BTC-USD": np.linspace(100, 120, 20), "ETH-USD": np.linspace(10, 12, 20)})
    candles, report = run(df)
    assert report.clean and not candles.has_ohlc and candles.volume is None
    assert candles.times[0] == 1_704_067_200


def test_mixed_fields_keep_only_the_common_ones() -> None:
    df = long_frame()
    df.loc[df.ticker == "ETH-USD", "volume"] = np.nan
    frames = {t: g.drop(columns="ticker") for t, g in df.groupby("ticker")}
    frames["ETH-USD"] = frames["ETH-USD"].drop(columns="volume")
    candles, report = validate(frames, timeframe="5m", min_bars=5)
    assert candles.volume is None and candles.has_ohlc
    assert any("not every ticker has volume" in line for line in report.lines)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_mix_of_defects_is_repaired_or_rejected(data: st.DataObject) -> None:
    df = long_frame(40)
    n = len(df)
    picks = st.lists(st.integers(0, n - 1), max_size=8)
    df.loc[data.draw(picks), "close"] = np.nan
    df.loc[data.draw(picks), "close"] = data.draw(st.sampled_from([0.0, -3.0]))
    df = df.drop(index=data.draw(picks))
    dups = df.iloc[data.draw(st.lists(st.integers(0, len(df) - 1), max_size=5))]
    df = pd.concat([df, dups]).sample(frac=1.0, random_state=data.draw(st.integers(0, 9)))
    try:
        candles, report = run(df, tickers=["BTC-USD", "ETH-USD"])
    except DataError as e:
        assert "\n" not in str(e)
        return
    assert (np.diff(candles.times) == SEC).all()
    assert np.isfinite(candles.close).all() and (candles.close > 0).all()
    assert (candles.high >= candles.close).all() and (candles.low <= candles.close).all()
    assert candles.n_bars == report.n_bars >= 5
