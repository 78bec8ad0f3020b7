"""Loading cappuccino.toml: lookup order, env overrides, and one clear line for bad input."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine.config import Config, ConfigError, load_config
from engine.config.load import find_config_path

ROOT = Path(__file__).resolve().parents[3]

# name -> (cappuccino.toml text, extra env, substrings the one stderr line must hold)
BAD = {
    "unknown_key": ("[risk]\ndaily_loss = 2.0\n", {},
                    ["[risk] daily_loss", "unknown key", "did you mean 'daily_loss_pct'"]),
    "unknown_section": ("[riskk]\ndaily_loss_pct = 2.0\n", {}, ["[riskk]", "unknown section"]),
    "wrong_type": ("[risk]\ndaily_loss_pct = \"two\"\n", {},
                   ["[risk] daily_loss_pct", "expected a number", "got 'two'"]),
    "out_of_range": ("[risk]\ndaily_loss_pct = 150.0\n", {},
                     ["[risk] daily_loss_pct", "must be <= 100", "got 150.0"]),
    "bad_choice": ("[trader]\nbroker = \"binance\"\n", {},
                   ["[trader] broker", "'sim', 'alpaca' or 'coinbase'", "got 'binance'"]),
    "invalid_toml": ("[risk\ndaily_loss_pct = 2.0\n", {}, ["not valid TOML", "line 1"]),
    "bad_env": ("", {"CAPPUCCINO_RISK__MAX_CONSECUTIVE_LOSSES": "0"},
                ["[risk] max_consecutive_losses", "$CAPPUCCINO_RISK__MAX_CONSECUTIVE_LOSSES",
                 "must be >= 1", "got 0"]),
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str, Path]]:
    """Every bad config through the real CLI, all processes started at once (faster)."""
    procs = {}
    for name, (text, extra, _) in BAD.items():
        folder = tmp_path_factory.mktemp(name)
        cfg = folder / "bad.toml"
        cfg.write_text(text)
        env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
        env |= extra
        # `bench` loads the config before its handler runs, like every subcommand.
        procs[name] = (subprocess.Popen(
            [sys.executable, "-m", "engine.cli.main", "--config", str(cfg), "bench", "--only",
             "none"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True), cfg)
    missing = tmp_path_factory.mktemp("missing") / "nope.toml"
    procs["missing_file"] = (subprocess.Popen(
        [sys.executable, "-m", "engine.cli.main", "--config", str(missing), "bench", "--only",
         "none"], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True), missing)
    out = {}
    for name, (p, cfg) in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        out[name] = (p.returncode, stdout, stderr, cfg)
    return out


@pytest.mark.parametrize("name", [*BAD, "missing_file"])
def test_bad_config_exits_2_with_one_line(cli_runs: dict[str, tuple[int, str, str, Path]],
                                          name: str) -> None:
    rc, stdout, stderr, cfg = cli_runs[name]
    wanted = BAD[name][2] if name in BAD else ["config file not found"]
    lines = stderr.strip().splitlines()
    assert rc == 2, stderr
    assert len(lines) == 1 and "Traceback" not in stderr, stderr
    assert str(cfg) in lines[0], lines[0]
    for part in wanted:
        assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    assert stdout == ""


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("text, parts", [
    ("[study]\ncpcv_groups = 4\ncpcv_test_groups = 4\n",
     ["[study]", "cpcv_test_groups must be smaller than cpcv_groups"]),
    ("[conviction.weights]\nsize = 2.0\n", ["[conviction.weights] size", "must be <= 1"]),
    ("[conviction.weights]\nsize = 0.5\n", ["[conviction.weights]", "must sum to 1.0"]),
    ("store = 5\n", ["[store]", "must be a table"]),
    ("[study]\npruning = \"yes\"\n", ["[study] pruning", "expected true or false", "'yes'"]),
    ("[ppo]\nhidden = 64.5\n", ["[ppo] hidden", "expected a whole number"]),
    ("[ppo]\nhidden = \"64\"\n", ["[ppo] hidden", "expected an integer", "'64'"]),
    ("[data]\ntickers = []\n", ["[data] tickers", "needs at least 1 item"]),
    ("[data]\ntickers = \"BTC-USD\"\n", ["[data] tickers", "expected a list"]),
    ("[runtime]\ndevice = \"tpu\"\n", ["[runtime] device", "must match", "'tpu'"]),
    ("[notify.events]\nfill = \"loud\"\n",
     ["[notify.events] fill", "'on', 'silent' or 'off'", "'loud'"]),
    ("source = \"x\"\n", ["[source]", "unknown key"]),
    ("[coinbase]\napi_secret = \"abc\"\n",
     ["[coinbase] api_secret", "secrets never go in the config file"]),
    ("[risk]\ndaily_loss_pct = -1.0\nmax_position_pct = 0.0\n", ["(and 1 more)"]),
])
def test_messages_name_key_and_expectation(tmp_path: Path, text: str, parts: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_config(path, environ={})
    msg = str(e.value)
    assert msg.startswith(f"{path}: ") and "\n" not in msg, msg
    for part in parts:
        assert part in msg, f"{part!r} not in {msg!r}"
    assert "Value error" not in msg and "Input should" not in msg


def test_not_utf8_and_folder(tmp_path: Path) -> None:
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe[risk]\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad, environ={})
    with pytest.raises(ConfigError, match="is a folder"):
        load_config(tmp_path, environ={})


def test_env_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, "[risk]\ndaily_loss_pct = 3.0\n[trader]\nbroker = \"alpaca\"\n")
    cfg = load_config(path, environ={
        "CAPPUCCINO_RISK__DAILY_LOSS_PCT": "1.5",  # env beats the file
        "CAPPUCCINO_DATA__TICKERS": '["BTC-USD"]',
        "CAPPUCCINO_STUDY__PRUNING": "false",
        "CAPPUCCINO_STUDY__NAME": "2024",  # a string key keeps its text
        "CAPPUCCINO_STORE__PATH": "elsewhere/s.db",
        "CAPPUCCINO_CONVICTION__WEIGHTS__SIZE": "0.4",  # nested table
        "CAPPUCCINO_CONVICTION__WEIGHTS__MOMENTUM": "0.1",
        "CAPPUCCINO_NOTIFY__EVENTS__FILL": "silent",
        "CAPPUCCINO_CONFIG": "ignored-here.toml",  # not an override (no __)
        "CAPPUCCINO_PROCESS_NAME": "x",
    })
    assert cfg.risk.daily_loss_pct == 1.5
    assert cfg.trader.broker == "alpaca"  # the file still counts where env is silent
    assert cfg.data.tickers == ["BTC-USD"]
    assert cfg.study.pruning is False and cfg.study.name == "2024"
    assert cfg.store.path == str(tmp_path / "elsewhere" / "s.db")
    assert (cfg.conviction.weights.size, cfg.conviction.weights.momentum) == (0.4, 0.1)
    assert cfg.notify.events.fill == "silent"


@pytest.mark.parametrize("env, parts", [
    ({"CAPPUCCINO_RISK__DAILY_LOSS_PCT": "abc"},
     ["[risk] daily_loss_pct (from $CAPPUCCINO_RISK__DAILY_LOSS_PCT)", "expected a number"]),
    ({"CAPPUCCINO_RISK__NOPE": "1"}, ["[risk] nope (from $CAPPUCCINO_RISK__NOPE)", "unknown key"]),
    ({"CAPPUCCINO_BOGUS__X": "1"}, ["[bogus] (from $CAPPUCCINO_BOGUS__X)", "unknown section"]),
    ({"CAPPUCCINO_CONVICTION__WEIGHTS__SIZE": "0.5"},
     ["[conviction.weights] (from $CAPPUCCINO_CONVICTION__WEIGHTS__SIZE)", "sum to 1.0"]),
    ({"CAPPUCCINO_RISK__DAILY_LOSS_PCT__X": "1"}, ["$CAPPUCCINO_RISK__DAILY_LOSS_PCT__X"]),
])
def test_bad_env_override_names_the_variable(tmp_path: Path, env: dict[str, str],
                                             parts: list[str]) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as e:
        load_config(path, environ=env)
    for part in parts:
        assert part in str(e.value), str(e.value)


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    explicit = write(tmp_path, "[console]\npage_rows = 11\n", "explicit.toml")
    from_env = write(tmp_path, "[console]\npage_rows = 22\n", "from_env.toml")
    (tmp_path / "cwd").mkdir()
    write(tmp_path / "cwd", "[console]\npage_rows = 33\n", "cappuccino.toml")
    monkeypatch.chdir(tmp_path / "cwd")
    env = {"CAPPUCCINO_CONFIG": str(from_env)}
    assert load_config(explicit, environ=env).console.page_rows == 11
    assert load_config(None, environ=env).console.page_rows == 22
    cfg = load_config(None, environ={})
    assert cfg.console.page_rows == 33 and cfg.source == "cappuccino.toml"
    assert cfg.store.path == str(tmp_path / "cwd" / "var" / "cappuccino.db")
    monkeypatch.chdir(tmp_path)  # no ./cappuccino.toml here
    assert find_config_path(None, {}) is None
    cfg = load_config(None, environ={})
    assert cfg.console.page_rows == Config().console.page_rows
    assert cfg.source == "<embedded defaults>"
    assert cfg.store.path == str(tmp_path / "var" / "cappuccino.db")
    # $CAPPUCCINO_CONFIG naming a missing file is an error, not a silent fallback.
    with pytest.raises(ConfigError, match="gone.toml: config file not found"):
        load_config(None, environ={"CAPPUCCINO_CONFIG": str(tmp_path / "gone.toml")})


def test_relative_paths_follow_the_config_file(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    path = write(tmp_path / "etc", "[store]\npath = \"db/s.db\"\n[paths]\nlogs = \"/abs/logs\"\n")
    cfg = load_config(path, environ={})
    assert cfg.store.path == str(tmp_path / "etc" / "db" / "s.db")
    assert cfg.paths.logs == "/abs/logs"
    assert cfg.paths.models == str(tmp_path / "etc" / "var" / "models")


def test_config_is_frozen(tmp_path: Path) -> None:
    cfg = load_config(write(tmp_path, ""), environ={})
    with pytest.raises(ValueError):
        cfg.risk.daily_loss_pct = 5.0  # type: ignore[misc]
