"""A machine clock off by more than the JWT allows makes Coinbase refuse every private call
(HTTP 401). Real `cappuccino check coinbase` / `cappuccino trade` processes, the real SDK
against the fake, their clock shifted with tests/fakes/clockshift: they must blame the clock
(measured on Coinbase's public server time), not the keys - an operator told "the key was not
accepted" rotates good keys instead of fixing NTP."""

from __future__ import annotations

import signal
import subprocess
import sys
from contextlib import ExitStack
from pathlib import Path

import pytest

from engine.config import load_config
from engine.soak.venues import CONFIG
from engine.soak.workdir import TICKERS, tiny_model
from tests.fakes import FakeCoinbase
from tests.fakes.fake_coinbase import KEY_NAME, make_ec_key
from tests.fakes.shifted_clock import clock_shift
from tests.fakes.trade_proc import (
    ROOT,
    clean_env,
    live_coinbase,
    start_trader,
    store_rows,
    trade_argv,
    wait_while_alive,
)


def _env(tmp_path: Path, shift_s: float, priv: str) -> dict[str, str]:
    env = clean_env()
    env.update(COINBASE_API_KEY=KEY_NAME, COINBASE_API_SECRET=priv,
               **clock_shift(tmp_path, shift_s)[1])
    return env


def _check(tmp_path: Path, fake: FakeCoinbase, shift_s: float,
           priv: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[coinbase]\nbase_url = "{fake.host_port}"\ntimeout_s = 5\n'
                   '[trader]\ntickers = ["BTC-USD"]\n')
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "check", "coinbase"], cwd=ROOT, env=_env(tmp_path, shift_s, priv),
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(("shift_s", "word", "n"), [(30, "ahead of", 30), (-400, "behind", 400)])
def test_check_blames_the_clock_not_the_keys(tmp_path: Path, shift_s: float, word: str,
                                             n: int) -> None:
    priv, pub = make_ec_key()
    fake = FakeCoinbase(public_key_pem=pub)
    with fake:
        r = _check(tmp_path, fake, shift_s, priv)
        refused = fake.count("GET", "/api/v3/brokerage/key_permissions")
    out = r.stdout + r.stderr
    assert r.returncode == 1 and "Traceback" not in out, out
    assert refused >= 1, "the private call was never tried"
    perm = next(line for line in r.stdout.splitlines() if "permissions" in line)
    assert perm.startswith("FAIL"), out
    assert f"the machine's clock is {n} s {word} Coinbase's" in perm, out
    assert "fix NTP; the keys work at Coinbase's time" in perm, out
    assert "did not accept the API key" not in out, out


def test_check_with_a_right_clock_still_judges_bad_keys(tmp_path: Path) -> None:
    """A real key refusal (the fake knows another key) is still reported as the keys'."""
    priv, _ = make_ec_key()
    _, other_pub = make_ec_key()
    fake = FakeCoinbase(public_key_pem=other_pub)
    with fake:
        r = _check(tmp_path, fake, 0, priv)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "did not accept the API key" in r.stdout, r.stdout
    assert "fix NTP" not in r.stdout, r.stdout


@pytest.mark.slow
def test_trade_start_names_the_clock_and_waits_for_it(tmp_path: Path) -> None:
    """At start the trader says it is the clock, not the keys, and waits it out like an
    outage (under the supervisor, exiting would use up its quick restarts: a FATAL live
    trader); once the clock is right it trades, and stops cleanly on SIGTERM."""
    env = clean_env()
    with ExitStack() as stack:
        cfg_path = tmp_path / "cappuccino.toml"
        live_coinbase(stack, env, cfg_path, CONFIG)
        cfg = load_config(cfg_path, environ={})
        tiny_model(tmp_path / "model", cfg)
        shift, shifted = clock_shift(tmp_path, 60)
        env.update(shifted)
        log = tmp_path / "trader.log"
        p = start_trader(stack, trade_argv(cfg_path, tmp_path / "model", "coinbase", TICKERS,
                                           live=True), env, log)
        said = ("the machine's clock is 60 s ahead of Coinbase's: fix NTP; "
                "the keys work at Coinbase's time")
        # 120 s: the torch import on a loaded machine
        wait_while_alive(p, lambda: said in log.read_text(errors="replace"), 120, 0.2)
        text = log.read_text(errors="replace")
        assert p.poll() is None and said in text, text[-2000:]
        assert "not accepted" not in text and "Traceback" not in text, text[-2000:]
        shift.write_text("0")   # NTP puts it right
        active = wait_while_alive(p, lambda: store_rows(
            Path(cfg.store.path), "SELECT 1 FROM traders WHERE name = 't' AND "
            "trading_state = 'ACTIVE'"), 90, 0.2)
        assert active, log.read_text(errors="replace")[-2000:]
        p.send_signal(signal.SIGTERM)
        assert p.wait(60) == 0, log.read_text(errors="replace")[-2000:]


def test_a_bad_key_on_a_wrong_clock_is_still_the_keys(tmp_path: Path) -> None:
    """Clock off and the key unknown: a request signed at Coinbase's own time is refused
    too, so the keys are blamed - and the clock named as well."""
    priv, _ = make_ec_key()
    _, other_pub = make_ec_key()
    fake = FakeCoinbase(public_key_pem=other_pub)
    with fake:
        r = _check(tmp_path, fake, 30, priv)
    perm = next(line for line in r.stdout.splitlines() if "permissions" in line)
    assert r.returncode == 1 and "Traceback" not in r.stdout + r.stderr, r.stdout + r.stderr
    assert "did not accept the API key" in perm, perm
    assert "the machine's clock is 30 s ahead of Coinbase's: fix NTP" in perm, perm


def test_an_ed25519_key_on_a_wrong_clock_is_cleared_too(tmp_path: Path) -> None:
    """The probe signs as the SDK does for both key kinds (EdDSA here)."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    key = ed25519.Ed25519PrivateKey.generate()
    raw = key.private_bytes(serialization.Encoding.Raw, serialization.PrivateFormat.Raw,
                            serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    fake = FakeCoinbase(public_key_pem=pub.decode())
    with fake:
        r = _check(tmp_path, fake, 30, base64.b64encode(raw).decode())
    perm = next(line for line in r.stdout.splitlines() if "permissions" in line)
    assert "the machine's clock is 30 s ahead of Coinbase's: fix NTP; the keys work" in perm, \
        r.stdout + r.stderr
