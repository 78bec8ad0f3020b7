"""A corpus of bad files, configs and arguments through every `cappuccino` command.

Each case must end with the documented exit code (README: 1 the job failed, 2 bad usage or
configuration) and exactly one stderr line naming what was wrong, never a Python traceback;
the files it was given stay as they were and no output file is left half-written. One
driver process imports the CLI once and forks a child per case (bad_input_driver.py), so the
whole corpus costs one interpreter start-up. A walk of the real parser fails when a command
or subcommand has no case here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli.main import build_parser
from engine.config import load_config
from tests.engine.cli.test_backtest_cli import CONFIG, close_only_model

DRIVER = Path(__file__).with_name("bad_input_driver.py")
LOG_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (INFO|WARNING) |  - )")

# id, argv ({d}: the case folder; no leading --config means ok.toml), exit code, text in
# stderr, and output files that must not exist afterwards.
Case = tuple[str, list[str], int, str, tuple[str, ...]]

_ROWS = [f"2022-02-01 {h:02d}:{m:02d}:00,{40000 + m},{3000 + m}\n"
         for h in range(8) for m in range(0, 60, 5)]
_ROWS[50] = "2022-02-01 04:10:00,abc,3010\n"
TEXT_PRICE = "timestamp,BTC-USD,ETH-USD\n" + "".join(_ROWS)
HUGE_PRICE = TEXT_PRICE.replace("abc", "1e308")


def _files(d: Path) -> dict[str, Path]:
    store = f'[store]\npath = "{d / "s.db"}"\n'
    files = {
        "ok.toml": store + CONFIG,
        "broken.toml": "garbage = [\n",
        "badval.toml": '[store]\nbusy_timeout_s = "x"\n',
        "unknownkey.toml": "[store]\nnope = 1\n",
        "badlogs.toml": store + '[paths]\nlogs = "/proc/nope/logs"\n',
        "zero.toml": f'[store]\npath = "{d / "zero.db"}"\n',
        "corrupt.toml": f'[store]\npath = "{d / "corrupt.db"}"\n',
        "textdata.toml": store + CONFIG + f'[data]\nsource = "csv"\npath = "{d / "text_price.csv"}"\n',
        "zero.db": "",
        "corrupt.db": "SQLite format 3\x00" + "\xff\x13garbage" * 500,
        "text_price.csv": TEXT_PRICE,
        "huge_price.csv": HUGE_PRICE,
        "no_timestamp.csv": "when,BTC-USD\n1,2\n",
        "empty.csv": "",
        "binary.csv": "\x00\x01\x02garbage\xff",
        # a text file that is not a table (a README): pandas' message spans two lines
        "ragged.csv": "timestamp,BTC-USD\n2022-02-01 00:00:00,1\nprose, with, commas\n",
    }
    out = {}
    for name, text in files.items():
        p = d / name
        p.write_text(text, encoding="latin-1")
        out[name] = p
    (d / "folder.csv").mkdir(exist_ok=True)  # root reads any file: a folder cannot be read
    return out


Z = ("--config", "{d}/zero.toml")
C = ("--config", "{d}/corrupt.toml")
CASES: list[Case] = [
    # the config itself
    ("config missing", ["--config", "{d}/nope.toml", "status"], 2, "config file not found", ()),
    ("config not TOML", ["--config", "{d}/broken.toml", "status"], 2, "not valid TOML", ()),
    ("config bad value", ["--config", "{d}/badval.toml", "status"], 2, "busy_timeout_s", ()),
    ("config unknown key", ["--config", "{d}/unknownkey.toml", "status"], 2, "nope", ()),
    ("config is binary", ["--config", "{d}/binary.csv", "status"], 2, "binary.csv", ()),
    ("unknown command", ["frobnicate"], 2, "frobnicate", ()),
    # a 0-byte or corrupt store never becomes a new one, and says so
    ("status 0-byte store", [*Z, "status"], 1, "zero.db", ()),
    ("status corrupt store", [*C, "status"], 1, "corrupt.db", ()),
    ("status --json corrupt store", [*C, "status", "--json"], 1, "corrupt.db", ()),
    ("ps 0-byte store", [*Z, "ps"], 1, "zero.db", ()),
    ("ps corrupt store", [*C, "ps"], 1, "corrupt.db", ()),
    ("doctor 0-byte store", [*Z, "doctor"], 1, "zero.db", ()),
    ("report 0-byte store", [*Z, "report"], 1, "zero.db", ()),
    ("report corrupt store", [*C, "report", "--html", "{d}/r.html"], 1, "corrupt.db",
     ("r.html",)),
    ("export 0-byte store", [*Z, "export", "fills", "-o", "{d}/f.csv"], 1, "zero.db",
     ("f.csv",)),
    ("export corrupt store", [*C, "export", "fills", "-o", "{d}/f.csv"], 1, "corrupt.db",
     ("f.csv",)),
    ("study show 0-byte store", [*Z, "study", "show"], 1, "zero.db", ()),
    ("study sync without a storage", [*C, "study", "sync"], 2, "storage", ()),
    ("monitor corrupt store", [*C, "monitor", "--once"], 1, "corrupt.db", ()),
    ("sample 0-byte store", [*Z, "sample", "--once"], 1, "zero.db", ()),
    ("notify corrupt store", [*C, "notify", "--pending"], 1, "corrupt.db", ()),
    ("supervise corrupt store", [*C, "supervise"], 1, "corrupt.db", ()),
    ("compact 0-byte store", [*Z, "compact"], 1, "zero.db", ()),
    ("compact corrupt store", [*C, "compact"], 1, "corrupt.db", ()),
    ("compact an argument", ["compact", "now"], 2, "now", ()),
    ("soak bad minutes", ["soak", "--minutes", "-1"], 2, "--minutes", ()),
    ("soak non-numeric kill rounds", ["soak", "--kill-rounds", "many"], 2, "many", ()),
    # process control
    ("logs folder cannot be made", ["--config", "{d}/badlogs.toml", "start", "monitor"], 1,
     "/proc/nope", ()),
    ("stop non-numeric wait", ["stop", "x", "--wait", "soon"], 2, "soon", ()),
    ("restart negative wait", ["restart", "x", "--wait", "-1"], 2, "--wait", ()),
    ("kill without a name", ["kill"], 2, "name", ()),
    ("logs non-numeric lines", ["logs", "x", "-n", "ten"], 2, "ten", ()),
    ("logs negative lines", ["logs", "x", "-n", "-4"], 2, "-n must be", ()),
    ("logs bad regex", ["logs", "x", "--grep", "(("], 2, "--grep", ()),
    # data
    ("validate missing file", ["data", "validate", "{d}/nope.csv"], 2, "not found", ()),
    ("validate no timestamp", ["data", "validate", "{d}/no_timestamp.csv"], 1, "timestamp", ()),
    ("validate empty file", ["data", "validate", "{d}/empty.csv"], 1, "empty.csv", ()),
    ("validate binary file", ["data", "validate", "{d}/binary.csv"], 1, "binary.csv", ()),
    ("validate a ragged file", ["data", "validate", "{d}/ragged.csv"], 1, "Expected 2 fields",
     ()),
    ("validate a folder", ["data", "validate", "{d}/folder.csv"], 1, "folder.csv", ()),
    ("validate text price", ["data", "validate", "{d}/text_price.csv"], 0, "non-numeric", ()),
    ("validate 1e308 price", ["data", "validate", "{d}/huge_price.csv"], 0, "above 1e+09", ()),
    ("fetch negative days", ["data", "fetch", "--days", "-2"], 2, "--days", ()),
    ("fetch bad timeframe", ["data", "fetch", "--timeframe", "7m"], 2, "7m", ()),
    ("info unknown flag", ["data", "info", "--verbose"], 2, "--verbose", ()),
    # study, trading and models
    ("train negative trials", ["train", "--n-trials", "-3"], 2, "-3", ()),
    ("train non-numeric workers", ["train", "--workers", "two"], 2, "two", ()),
    # no machine here has 100 GPUs: refused up front, never trained on the CPU instead
    ("train on a GPU that is not there", ["train", "--device", "cuda:99", "--n-trials", "1",
                                          "--population", "1"], 2, "cuda:99", ()),
    ("worker non-numeric trial", ["worker", "--study", "s", "--trial", "x"], 2, "x", ()),
    ("promote non-numeric trial", ["promote", "--to", "paper", "--trial", "abc"], 2, "abc", ()),
    ("trade negative capital", ["trade", "--model", "/nope", "--broker", "sim", "--tickers",
                                "BTC-USD", "--capital", "-5"], 2, "capital", ()),
    ("trade non-numeric capital", ["trade", "--model", "/nope", "--capital", "lots"], 2,
     "lots", ()),
    ("trade text price data", ["--config", "{d}/textdata.toml", "trade", "--model",
                               "{d}/model", "--broker", "sim", "--name", "t1"], 1, "text_price.csv", ()),
    ("replay missing data", ["conviction", "replay", "--model", "/nope", "--data",
                             "{d}/nope.csv"], 2, "nope.csv", ()),
    ("replay unreadable data", ["conviction", "replay", "--model", "{d}/model", "--data",
                                "{d}/ragged.csv"], 2, "Expected 2 fields", ()),
    ("replay text price", ["conviction", "replay", "--model", "{d}/model", "--data",
                           "{d}/text_price.csv"], 0, "non-numeric", ()),
    ("replay 1e308 price", ["conviction", "replay", "--model", "{d}/model", "--data",
                            "{d}/huge_price.csv"], 0, "above 1e+09", ()),
    ("backtest text price", ["backtest", "--model", "{d}/model", "--data",
                             "{d}/text_price.csv", "--json"], 0, "non-numeric", ()),
    ("backtest 1e308 price", ["backtest", "--model", "{d}/model", "--data",
                              "{d}/huge_price.csv", "--json"], 0, "above 1e+09", ()),
    ("backtest binary data", ["backtest", "--model", "{d}/model", "--data",
                              "{d}/binary.csv"], 2, "binary.csv", ()),
    ("backtest missing model", ["backtest", "--model", "{d}/nomodel", "--data", "bundled"], 2,
     "nomodel", ()),
    ("backtest bad date", ["backtest", "--model", "{d}/model", "--data", "bundled", "--from",
                           "yesterday"], 2, "yesterday", ()),
    # operator commands
    ("export bad format", ["export", "fills", "--format", "xml"], 2, "xml", ()),
    ("export bad since", ["export", "fills", "--since", "notadate"], 2, "notadate", ()),
    ("report bad period", ["report", "--period", "year"], 2, "year", ()),
    ("halt unknown trader", ["halt", "nobody"], 2, "nobody", ()),
    ("resume unknown trader", ["resume", "nobody"], 2, "nobody", ()),
    ("exit without a store", ["exit", "--trader", "nobody"], 2, "no store at", ()),
    ("bench unknown module", ["bench", "--only", "nope"], 2, "nope", ()),
    ("check unknown venue", ["check", "kraken"], 2, "kraken", ()),
    ("check non-numeric skew", ["check", "coinbase", "--max-skew", "abc"], 2, "abc", ()),
    ("demo unknown action", ["demo", "dance"], 2, "dance", ()),
    ("telegram switched off", ["telegram"], 2, "enabled = false", ()),
    ("notify bad flag value", ["notify", "--once=yes"], 2, "--once", ()),
]


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every case, each in its own folder, through one driver process."""
    root = tmp_path_factory.mktemp("bad-input")
    model = None
    jobs = []
    before: dict[int, dict[str, bytes]] = {}
    for n, (name, argv, *_rest) in enumerate(CASES):
        d = root / f"case{n}"
        d.mkdir()
        files = _files(d)
        before[n] = {p.name: p.read_bytes() for p in files.values()}
        if any("{d}/model" in a for a in argv):
            if model is None:
                model = close_only_model(root / "model", load_config(files["ok.toml"]))
            (d / "model").symlink_to(model)
        args = [a.replace("{d}", str(d)) for a in argv]
        if args[0] != "--config":
            args = ["--config", str(files["ok.toml"]), *args]
        jobs.append({"id": name, "argv": args, "cwd": str(d)})
    out = root / "results.json"
    subprocess.run([sys.executable, str(DRIVER), str(out)], input=json.dumps(jobs),
                   text=True, check=True, timeout=600, cwd=root,
                   env={**os.environ, "CAPPUCCINO_CONFIG": ""})
    return {"root": root, "by_id": json.loads(out.read_text()), "before": before}


@pytest.mark.parametrize("n", range(len(CASES)), ids=[c[0] for c in CASES])
def test_bad_input_gets_one_clear_line_and_the_documented_exit_code(
        results: dict[str, Any], n: int) -> None:
    name, _, code, needle, absent = CASES[n]
    got = results["by_id"][name]
    err = got["stderr"]
    assert "Traceback" not in err, err
    assert got["code"] == code, err
    # A daemon's own log lines (trade logs to stderr) are its log, not the error message.
    lines = [line for line in err.strip().splitlines() if not LOG_LINE.match(line)]
    d = results["root"] / f"case{n}"
    if name.startswith("doctor"):  # a checklist: the FAIL line on stdout names it
        assert any(needle in line for line in got["stdout"].splitlines()
                   if line.startswith("FAIL")), got["stdout"]
        assert not lines, err
    elif code == 0:  # repaired, and said so: the report (stdout) or one warning line
        assert needle in got["stdout"] + err, got["stdout"] + err
        assert len(lines) <= 1, err
    else:
        assert needle in err, err
        assert len(lines) == 1, err  # one line, no usage dump
        named = re.findall(re.escape(str(d)) + r"/[^\s:,'\"]+", lines[0])
        assert len(named) == len(set(named)), f"a file named twice: {lines[0]}"
    for f in absent:
        assert not (d / f).exists(), f"{f} left behind"


def test_inputs_are_left_as_they_were(results: dict[str, Any]) -> None:
    for n, before in results["before"].items():
        d = results["root"] / f"case{n}"
        assert {name: (d / name).read_bytes() for name in before} == before, CASES[n][0]


def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[
        tuple[str, ...]]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                sub = list(_commands(child, (*path, name)))
                yield from sub or [(*path, name)]


def test_every_command_and_subcommand_has_a_case() -> None:
    commands = set(_commands(build_parser()))
    assert len(commands) >= 31
    covered = set()
    for _, argv, *_rest in CASES:
        words = argv[2:] if argv[0] == "--config" else argv
        covered |= {c for c in commands if tuple(words[:len(c)]) == c}
    missing = sorted(" ".join(c) for c in commands - covered)
    assert not missing, f"no bad-input case for: {missing}"
