"""`cappuccino check coinbase|alpaca` against local fake exchanges (nothing leaves 127.0.0.1)."""
# The fakes' fixtures are imported below; pytest passes them in by name (hence F811).
# ruff: noqa: F811

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from engine.cli.main import main
from tests.fakes import FakeAlpaca, FakeCoinbase
from tests.fakes.fixtures import coinbase_key, fake_alpaca, fake_coinbase  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
Key = tuple[str, str, str]


def write_keyfile(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "keys.toml"
    path.write_text(body)
    path.chmod(0o600)
    return path


def coinbase_setup(tmp_path: Path, host_port: str, key: Key, secret_toml: str | None = None,
                   extra: str = "") -> Path:
    secret = secret_toml if secret_toml is not None else f'"""{key[1]}"""'
    keys = write_keyfile(tmp_path, f'coinbase_api_key = "{key[0]}"\n'
                                   f"coinbase_api_secret = {secret}\n")
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[coinbase]\nbase_url = "{host_port}"\ntimeout_s = 2\n'
                   f'[secrets]\nkey_file = "{keys}"\n'
                   f'[trader]\ntickers = ["BTC-USD", "ETH-USD"]\n{extra}')
    return cfg


def alpaca_setup(tmp_path: Path, al: FakeAlpaca, secret: str = "s3cret") -> Path:
    keys = write_keyfile(tmp_path, f'alpaca_api_key = "PKTEST"\nalpaca_secret_key = "{secret}"\n')
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[alpaca]\nurl_override = "{al.base_url}"\n'
                   f'data_url_override = "{al.base_url}"\ntimeout_s = 2\n'
                   f'[secrets]\nkey_file = "{keys}"\n[trader]\ntickers = ["BTC-USD"]\n')
    return cfg


def run_check(cfg: Path, venue: str, capsys: pytest.CaptureFixture[str],
              *extra: str) -> tuple[int, dict[str, str], str]:
    rc = main(["--config", str(cfg), "check", venue, *extra])
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    lines = {}
    for line in out.out.splitlines():
        status, _, rest = line.partition("  ")
        name = rest[:18].strip()
        if status.strip() in ("ok", "FAIL", "skip"):
            lines[name] = f"{status.strip()} {rest[18:].strip()}"
    return rc, lines, out.out


def test_coinbase_healthy(tmp_path: Path, fake_coinbase: FakeCoinbase, coinbase_key: Key,
                          capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, text = run_check(coinbase_setup(tmp_path, fake_coinbase.host_port,
                                               coinbase_key), "coinbase", capsys)
    assert rc == 0, text
    for name in ("clock", "key", "permissions", "accounts", "fee tier", "candles BTC-USD",
                 "candles ETH-USD"):
        assert lines[name].startswith("ok"), text
    assert "Advanced 1" in lines["fee tier"] and "USD 10000" in lines["accounts"]
    assert coinbase_key[1].splitlines()[1] not in text       # no secret in the output
    assert fake_coinbase.count("POST", "/orders") == 0      # a check never trades


def test_coinbase_unauthorised(tmp_path: Path, fake_coinbase: FakeCoinbase, coinbase_key: Key,
                               capsys: pytest.CaptureFixture[str]) -> None:
    fake_coinbase.unauthorized = True
    rc, lines, text = run_check(coinbase_setup(tmp_path, fake_coinbase.host_port,
                                               coinbase_key), "coinbase", capsys)
    assert rc == 1
    assert lines["permissions"].startswith("FAIL unauthorised"), text
    assert lines["accounts"].startswith("skip")


def test_coinbase_clock_skew(tmp_path: Path, fake_coinbase: FakeCoinbase, coinbase_key: Key,
                             capsys: pytest.CaptureFixture[str]) -> None:
    fake_coinbase.clock_skew_s = 90.0
    cfg = coinbase_setup(tmp_path, fake_coinbase.host_port, coinbase_key)
    rc, lines, text = run_check(cfg, "coinbase", capsys)
    assert rc == 1 and lines["clock"].startswith("FAIL clock skew +90"), text
    # A wider allowance from the command line passes the same skew.
    rc, lines, _ = run_check(cfg, "coinbase", capsys, "--max-skew", "120")
    assert rc == 0 and lines["clock"].startswith("ok")


def test_coinbase_pem_with_literal_newlines(tmp_path: Path, fake_coinbase: FakeCoinbase,
                                           coinbase_key: Key,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    escaped = coinbase_key[1].strip().replace("\n", "\\n")
    cfg = coinbase_setup(tmp_path, fake_coinbase.host_port, coinbase_key,
                         secret_toml=f"'{escaped}'")       # TOML literal string keeps \n
    rc, lines, text = run_check(cfg, "coinbase", capsys)
    assert rc == 1
    assert lines["key"].startswith("FAIL malformed key"), text
    assert "literal \\n" in lines["key"] and "multi-line" in lines["key"]


def test_coinbase_key_without_trade_permission(tmp_path: Path, fake_coinbase: FakeCoinbase,
                                               coinbase_key: Key,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    fake_coinbase.permissions["can_trade"] = False
    rc, lines, text = run_check(coinbase_setup(tmp_path, fake_coinbase.host_port,
                                               coinbase_key), "coinbase", capsys)
    assert rc == 1 and "lacks trade permission" in lines["permissions"], text
    assert lines["accounts"].startswith("ok")       # the other checks still run


def test_coinbase_unknown_and_disabled_products(tmp_path: Path, fake_coinbase: FakeCoinbase,
                                                coinbase_key: Key,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    fake_coinbase.products["ETH-USD"]["trading_disabled"] = True
    cfg = coinbase_setup(tmp_path, fake_coinbase.host_port, coinbase_key)
    rc, lines, text = run_check(cfg, "coinbase", capsys, "--tickers", "BTC-USD,ETH-USD,FOO-USD")
    assert rc == 1
    assert lines["candles BTC-USD"].startswith("ok"), text
    assert "trading-disabled" in lines["product ETH-USD"]
    assert "unknown" in lines["product FOO-USD"]


def test_coinbase_network_unreachable(tmp_path: Path, coinbase_key: Key,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:        # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rc, lines, text = run_check(coinbase_setup(tmp_path, f"127.0.0.1:{port}", coinbase_key),
                                "coinbase", capsys)
    assert rc == 1
    assert lines["clock"].startswith("FAIL network unreachable"), text
    assert "connection refused" in lines["clock"]
    assert lines["key"].startswith("ok")              # checked locally all the same
    assert all(v.startswith("skip") for k, v in lines.items() if k not in ("clock", "key"))


def test_alpaca_healthy(tmp_path: Path, fake_alpaca: FakeAlpaca,
                        capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, text = run_check(alpaca_setup(tmp_path, fake_alpaca), "alpaca", capsys)
    assert rc == 0, text
    assert lines["permissions"].startswith("ok") and lines["candles BTC-USD"].startswith("ok")
    assert fake_alpaca.count("POST", "/v2/orders") == 0


def test_alpaca_unauthorised_skew_and_blocked(tmp_path: Path, fake_alpaca: FakeAlpaca,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    rc, lines, text = run_check(alpaca_setup(tmp_path, fake_alpaca, secret="bad"), "alpaca",
                                capsys)
    assert rc == 1 and lines["clock"].startswith("FAIL unauthorised"), text
    fake_alpaca.clock_skew_s = -30.0
    fake_alpaca.trading_blocked = True
    rc, lines, text = run_check(alpaca_setup(tmp_path, fake_alpaca), "alpaca", capsys)
    assert rc == 1 and lines["clock"].startswith("FAIL clock skew -30"), text
    assert "trading blocked" in lines["permissions"]


def test_alpaca_clock_an_hour_off_blames_only_the_clock(tmp_path: Path,
                                                       fake_alpaca: FakeAlpaca,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Alpaca's keys are plain headers: a clock an hour off leaves them working. The candles
    are looked up on the exchange's clock: on the machine's they were "missing" (the window
    was an hour in the exchange's future), sending the operator after the data feed."""
    fake_alpaca.clock_skew_s = -3600.0   # the machine's clock an hour ahead
    rc, lines, text = run_check(alpaca_setup(tmp_path, fake_alpaca), "alpaca", capsys)
    assert rc == 1 and lines["clock"].startswith("FAIL clock skew -3600"), text
    assert "signed requests" not in lines["clock"], text   # nothing is signed on Alpaca
    assert lines["permissions"].startswith("ok") and lines["accounts"].startswith("ok"), text
    assert lines["candles BTC-USD"].startswith("ok"), text
    when = lines["candles BTC-USD"].split("(")[1].split(")")[0]
    # the last bar on the exchange's clock, not an hour off (nor "-13 s ago" if it is open)
    assert when == "still forming" or 0 <= float(when.removesuffix(" s ago")) <= 600, text


def test_missing_key_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[secrets]\nkey_file = "{tmp_path / "absent.toml"}"\n')
    rc, lines, text = run_check(cfg, "coinbase", capsys)
    assert rc == 1 and "key file not found" in lines["key file"], text


def test_cli_subprocess_exit_status_without_traceback(tmp_path: Path,
                                                      fake_coinbase: FakeCoinbase,
                                                      coinbase_key: Key) -> None:
    fake_coinbase.unauthorized = True
    cfg = coinbase_setup(tmp_path, fake_coinbase.host_port, coinbase_key)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("COINBASE_", "APCA_"))}
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "check", "coinbase"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1
    assert "unauthorised" in proc.stdout and "Traceback" not in proc.stderr + proc.stdout
