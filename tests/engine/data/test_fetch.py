"""`data fetch` against local HTTP servers that speak Coinbase's and Alpaca's candle APIs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pandas as pd
import pytest

from engine.data import coinbase
from engine.data.fetch import FetchInterrupted, fetch_candles

ROOT = Path(__file__).resolve().parents[3]
NOW = 1_700_000_000.0          # fixed "now" for in-process fetches
SEC = 300


def price(ticker: str, t: int) -> float:
    return (100.0 if ticker.startswith("BTC") else 10.0) + (t % 86_400) / 3600.0


class CandleServer:
    """Coinbase public candles: bars with start in [start, end], newest first, <= limit."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, int, int]] = []
        self.fail_after: int | None = None
        self.fail_once: set[int] = set()       # request numbers (1-based) that fail once
        self.now = NOW
        self.listed_from: dict[str, int] = {}
        self.no_trades: set[int] = set()
        self.inclusive_end = True              # the API's `end` semantics are not documented
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                url = urlsplit(self.path)
                q = {k: v[0] for k, v in parse_qs(url.query).items()}
                parts = url.path.split("/")
                if url.path.startswith("/v1beta3/crypto/us/bars"):
                    return server.alpaca(self, q)
                if len(parts) < 7 or parts[-1] != "candles":
                    self.send_error(404)
                    return
                product = parts[-2]
                start, end = int(q["start"]), int(q["end"])
                server.requests.append((product, start, end))
                n = len(server.requests)
                if (server.fail_after is not None and n > server.fail_after) or \
                        n in server.fail_once:
                    self.send_response(503)
                    self.end_headers()
                    self.wfile.write(b'{"error":"unavailable"}')
                    return
                assert q["granularity"] == "FIVE_MINUTE"
                first = max(start, server.listed_from.get(product, 0))
                last = min(end if server.inclusive_end else end - SEC,
                           int(server.now // SEC) * SEC - SEC)
                times = [t for t in range(first - first % SEC, last + 1, SEC)
                         if t >= first and t not in server.no_trades]
                times = times[::-1][: int(q["limit"])]
                body = {"candles": [{"start": str(t), "low": str(price(product, t) - 1),
                                     "high": str(price(product, t) + 1),
                                     "open": str(price(product, t)),
                                     "close": str(price(product, t)), "volume": "5"}
                                    for t in times]}
                self._send(body)

            def _send(self, body: object) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def alpaca(self, handler: BaseHTTPRequestHandler, q: dict[str, str]) -> None:
        symbol = q["symbols"]
        start = int(pd.Timestamp(q["start"]).timestamp())
        end = int(pd.Timestamp(q["end"]).timestamp())
        self.requests.append((symbol, start, end))
        first = start + (-start) % SEC
        bars = [{"t": pd.Timestamp(t, unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ"),
                 "o": price(symbol, t), "h": price(symbol, t) + 1, "l": price(symbol, t) - 1,
                 "c": price(symbol, t), "v": 3.0, "n": 1, "vw": price(symbol, t)}
                for t in range(first, end + 1, SEC)]
        handler._send({"bars": {symbol: bars}, "next_page_token": None})  # type: ignore[attr-defined]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[CandleServer]:
    s = CandleServer()
    yield s
    s.close()


def run_fetch(server: CandleServer, root: Path, tickers: list[str], days: float = 3):  # type: ignore[no-untyped-def]
    client = coinbase.make_client(f"127.0.0.1:{server.port}", timeout=5)
    return fetch_candles("coinbase", tickers, "5m", days, root,
                         lambda t, s, e: coinbase.fetch_chunk(client, t, "5m", s, e),
                         coinbase.CHUNK_BARS, now=NOW, progress=False, min_bars=10,
                         retry_wait_s=0.0)


@pytest.mark.parametrize("inclusive_end", [True, False])
def test_fetch_pages_backwards_and_merges(server: CandleServer, tmp_path: Path,
                                          inclusive_end: bool) -> None:
    server.inclusive_end = inclusive_end
    result = run_fetch(server, tmp_path, ["BTC-USD", "ETH-USD"])
    end = int(NOW // SEC) * SEC
    start = end - 3 * 86_400
    # Newest chunk first, each request at most 350 bars.
    btc = [r for r in server.requests if r[0] == "BTC-USD"]
    assert [s for _p, s, _e in btc] == sorted((s for _p, s, _e in btc), reverse=True)
    assert all((e - s) // SEC + 1 <= 350 for _p, s, e in btc)
    assert result.fetched == len(server.requests) and result.cached == 0
    df = pd.read_parquet(tmp_path / "coinbase" / "5m" / "BTC-USD.parquet")
    assert df["timestamp"].iloc[0] == start and df["timestamp"].iloc[-1] == end - SEC
    assert len(df) == 3 * 288
    np.testing.assert_allclose(df["close"], [price("BTC-USD", int(t)) for t in df["timestamp"]])
    assert result.report.clean and result.report.n_bars == 3 * 288


def test_interrupted_fetch_resumes_without_refetching(server: CandleServer,
                                                      tmp_path: Path) -> None:
    server.fail_after = 5
    with pytest.raises(FetchInterrupted, match="rerun to resume") as exc:
        run_fetch(server, tmp_path, ["BTC-USD", "ETH-USD"])
    assert "\n" not in str(exc.value)
    done_before = list(server.requests[:5])
    chunk_files = sorted((tmp_path / "coinbase" / "5m").glob("*.chunks/*.parquet"))
    assert len(chunk_files) == 5 and not list(tmp_path.rglob("*.tmp"))
    assert not (tmp_path / "coinbase" / "5m" / "BTC-USD.parquet").exists()

    server.fail_after = None
    server.requests.clear()
    result = run_fetch(server, tmp_path, ["BTC-USD", "ETH-USD"])
    # Cached final chunks were not asked for again; the newest (still forming) one was.
    newest = max(s for _p, s, _e in done_before)
    refetched = {(p, s) for p, s, _e in server.requests}
    for p, s, _e in done_before:
        assert ((p, s) in refetched) == (s == newest)
    assert result.cached == sum(s != newest for _p, s, _e in done_before) == 3
    assert result.fetched == 6 - 3
    for t in ("BTC-USD", "ETH-USD"):
        df = pd.read_parquet(tmp_path / "coinbase" / "5m" / f"{t}.parquet")
        assert len(df) == 3 * 288 and df["timestamp"].is_monotonic_increasing
    assert result.report.clean

    server.requests.clear()
    again = run_fetch(server, tmp_path, ["BTC-USD", "ETH-USD"])   # only the newest chunks
    assert again.fetched == len(server.requests) == 2


def test_a_damaged_cached_chunk_is_dropped_and_refetched(server: CandleServer,
                                                         tmp_path: Path) -> None:
    run_fetch(server, tmp_path, ["BTC-USD"])
    chunk = sorted((tmp_path / "coinbase" / "5m" / "BTC-USD.chunks").glob("1*.parquet"))[0]
    chunk.write_bytes(b"not parquet")
    with pytest.raises(FetchInterrupted, match="unreadable"):
        run_fetch(server, tmp_path, ["BTC-USD"])
    assert not chunk.exists()
    server.requests.clear()
    result = run_fetch(server, tmp_path, ["BTC-USD"])
    assert {s for _p, s, _e in server.requests} == {int(chunk.stem), max(
        s for _p, s, _e in server.requests)}
    assert result.report.n_bars == 3 * 288


def test_a_transient_failure_is_retried(server: CandleServer, tmp_path: Path) -> None:
    server.fail_once = {2}
    result = run_fetch(server, tmp_path, ["BTC-USD"])
    assert result.fetched == 3 and len(server.requests) == 4
    assert server.requests[1][1:] == server.requests[2][1:]   # the same chunk asked again


def test_missing_bars_are_repaired_and_reported(server: CandleServer, tmp_path: Path) -> None:
    end = int(NOW // SEC) * SEC
    server.listed_from["ETH-USD"] = end - 86_400      # listed one day ago
    server.no_trades = {end - 10 * SEC, end - 11 * SEC}   # Coinbase omits bars without trades
    result = run_fetch(server, tmp_path, ["BTC-USD", "ETH-USD"])
    lines = result.report.lines
    assert any(line.startswith("BTC-USD: trimmed 576 bars") for line in lines)
    assert "BTC-USD: forward-filled 1 gaps (2 bars)" in lines
    assert "ETH-USD: forward-filled 1 gaps (2 bars)" in lines
    assert result.report.n_bars == 288


def test_cli_fetch_then_load_and_info(server: CandleServer, tmp_path: Path) -> None:
    server.now = 4_102_444_800   # the CLI uses the real clock; serve everything up to 2100
    (tmp_path / "cappuccino.toml").write_text(
        '[data]\nsource = "coinbase"\ntickers = ["BTC-USD"]\nmin_bars = 50\n')
    env = {**os.environ, "CAPPUCCINO_CONFIG": str(tmp_path / "cappuccino.toml")}
    cmd = [sys.executable, "-m", "engine.cli.main", "data", "fetch", "--source", "coinbase",
           "--tickers", "BTC-USD", "--timeframe", "5m", "--days", "1",
           "--base-url", f"127.0.0.1:{server.port}"]
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "validation: 288 bars" in out.stdout
    assert "chunk" in out.stderr  # the tqdm progress bar goes to stderr
    info = subprocess.run([sys.executable, "-m", "engine.cli.main", "data", "info", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    doc = json.loads(info.stdout)
    assert [(r["source"], r["ticker"], r["bars"]) for r in doc["cached"]] == \
        [("coinbase", "BTC-USD", 288)]
    assert doc["bundled"]["bars"] == 25_045

    from engine.config import load_config
    from engine.data.load import load_candles

    candles = load_candles(load_config(tmp_path / "cappuccino.toml", environ={}))
    assert candles.n_bars == 288 and candles.has_ohlc and candles.has_volume

    bad = subprocess.run(cmd[:-2] + ["--base-url", "http://example.com"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "plain http is allowed only for loopback" in bad.stderr


def test_cli_validate_reports_and_rejects(tmp_path: Path) -> None:
    (tmp_path / "c.toml").write_text("")
    env = {**os.environ, "CAPPUCCINO_CONFIG": str(tmp_path / "c.toml")}
    good = tmp_path / "good.csv"
    times = 1_700_000_100 + 300 * np.arange(30)
    pd.DataFrame({"timestamp": np.r_[times, times[3]], "BTC-USD": np.r_[np.arange(30) + 1.0, 4.0]}
                 ).to_csv(good, index=False)
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "data", "validate",
                          str(good)], cwd=ROOT, capture_output=True, text=True, timeout=60,
                         env=env)
    assert out.returncode == 0, out.stderr
    assert "BTC-USD: dropped 1 duplicate rows" in out.stdout
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"timestamp": times + 7, "BTC-USD": np.arange(30) + 1.0}).to_csv(bad, index=False)
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "data", "validate", str(bad)],
                         cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 1 and "rejected" in out.stderr and "Traceback" not in out.stderr


def test_alpaca_bars_fetch(server: CandleServer, tmp_path: Path) -> None:
    from engine.data import alpaca

    client = alpaca.make_client(f"http://127.0.0.1:{server.port}")
    result = fetch_candles("alpaca", ["BTC-USD"], "5m", 2, tmp_path,
                           lambda t, s, e: alpaca.fetch_chunk(client, t, "5m", s, e),
                           alpaca.CHUNK_BARS, now=NOW, progress=False, min_bars=10)
    assert server.requests[0][0] == "BTC/USD"
    df = pd.read_parquet(result.paths[0])
    assert len(df) == 2 * 288 and df["volume"].eq(3.0).all()
