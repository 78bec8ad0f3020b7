"""`cappuccino backtest` end to end on the bundled data, and its bad-input exits."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.config import Config
from engine.model.untrained import untrained_model
from engine.soak.workdir import SMALL_WINDOWS

TICKERS = ("BTC-USD", "ETH-USD")
CONFIG = SMALL_WINDOWS


def close_only_model(directory: Path, cfg: Config) -> Path:
    """A small untrained actor on close-only features (the bundled data has only closes)."""
    from engine.data.synthetic import synthetic_candles

    c = synthetic_candles(TICKERS, 200, "5m", seed=1)
    c = replace(c, open=None, high=None, low=None, volume=None)
    return untrained_model(directory, cfg, TICKERS, candles=c, scale=3.0)


@pytest.fixture
def model(make_config: Callable[..., Config], tmp_path: Path) -> Path:
    return close_only_model(tmp_path / "model", make_config(CONFIG))


def test_bundled_window_json_and_html(model: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    html = tmp_path / "bt.html"
    assert main(["--config", str(tmp_path / "cappuccino.toml"), "backtest", "--model",
                 str(model), "--data", "bundled", "--from", "2022-03-01", "--to",
                 "2022-03-02", "--html", str(html), "--json"]) == 0
    cap = capsys.readouterr()
    d = json.loads(cap.out)
    assert {"equity", "hodl", "equal_weight", "per_ticker", "trades", "fees", "start",
            "end"} <= set(d)
    assert {"sharpe", "sharpe_se", "max_drawdown", "return", "final"} <= set(d["equity"])
    assert [t["ticker"] for t in d["per_ticker"]] == list(TICKERS)
    assert {"trades", "win_rate", "pnl", "fees"} <= set(d["per_ticker"][0])
    assert d["start"].startswith("2022-03-01") and d["end"] < "2022-03-02"
    pnl = sum(t["pnl"] for t in d["per_ticker"])
    assert d["equity"]["final"] == pytest.approx(d["initial_cash"] + pnl, rel=1e-9)
    text = html.read_text()
    assert "Equity vs HODL" in text and "BTC-USD: price, entries and exits" in text
    assert cap.err == ""   # not the training data: no overlap warning
    # The text table
    assert main(["--config", str(tmp_path / "cappuccino.toml"), "backtest", "--model",
                 str(model), "--data", "demo", "--from", "2022-03-01", "--to",
                 "2022-03-01T06:00"]) == 0
    out = capsys.readouterr().out
    assert "win rate" in out and "HODL" in out and "equal weight" in out and "±" in out
    assert "round trips" in out and "fills: every order at the bar's close" in out


def test_maker_fills_on_the_bundled_data(model: Path, tmp_path: Path,
                                         capsys: pytest.CaptureFixture) -> None:
    base = ["--config", str(tmp_path / "cappuccino.toml"), "backtest", "--model", str(model),
            "--data", "bundled", "--from", "2022-03-01", "--to", "2022-03-02", "--json"]
    assert main(base) == 0
    close = json.loads(capsys.readouterr().out)
    assert main([*base, "--fills", "maker"]) == 0
    maker = json.loads(capsys.readouterr().out)
    assert (close["fills"], maker["fills"]) == ("close", "maker")
    assert "maker-first" in maker["fills_note"] and "taker" in maker["fills_note"]
    assert maker["trades"] > 0 and maker["equity"]["final"] != close["equity"]["final"]
    pnl = sum(t["pnl"] for t in maker["per_ticker"])
    assert maker["equity"]["final"] == pytest.approx(maker["initial_cash"] + pnl, rel=1e-9)
    for t in maker["per_ticker"]:
        assert t["round_trips"] >= 0 and t["trades"] == t["buys"] + t["sells"]


@pytest.mark.parametrize(("extra", "needle"), [
    (["--data", "nope.csv"], "nope.csv: file not found"),
    (["--data", "bundled", "--from", "March"], "--from 'March'"),
    (["--data", "bundled", "--from", "2022-03-02", "--to", "2022-03-01"],
     "--to 2022-03-01 is not after --from 2022-03-02"),
    (["--data", "bundled", "--from", "2030-01-01"], "nothing to replay"),
])
def test_bad_input_exits_2(model: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                           extra: list[str], needle: str) -> None:
    base = ["--config", str(tmp_path / "cappuccino.toml"), "backtest"]
    assert main([*base, "--model", str(model), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err


def test_unknown_fill_model_exits_2(model: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as e:   # argparse's one line, as for every command
        main(["--config", str(tmp_path / "cappuccino.toml"), "backtest", "--model",
              str(model), "--data", "bundled", "--fills", "taker"])
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1 and "argument --fills" in err


def test_missing_model_exits_2(model: Path, tmp_path: Path,
                               capsys: pytest.CaptureFixture) -> None:
    assert main(["--config", str(tmp_path / "cappuccino.toml"), "backtest", "--model",
                 str(tmp_path / "nomodel"), "--data", "bundled"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "model directory not found" in err


def test_data_without_the_models_tickers_exits_2(model: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture) -> None:
    from engine.data.synthetic import synthetic_candles
    from tests.engine.reports.test_replay import write_long_csv

    other = write_long_csv(tmp_path / "other.csv",
                           synthetic_candles(("DOGE-USD",), 100, "5m", seed=2))
    assert main(["--config", str(tmp_path / "cappuccino.toml"), "backtest", "--model",
                 str(model), "--data", str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "does not match --data" in err and "BTC-USD" in err
