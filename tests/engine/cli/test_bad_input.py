"""A corpus of bad files, configs and arguments through the real `cappuccino` CLI.

Each case must end with the documented exit code and clear words on stderr naming what was
wrong, never a Python traceback, and must leave the files it was given as they were.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

Case = tuple[str, list[str], int, str]  # id, argv after --config, exit code, text in stderr


def _files(d: Path) -> dict[str, Path]:
    files = {
        "ok.toml": f'[store]\npath = "{d / "s.db"}"\n',
        "broken.toml": "garbage = [\n",
        "badval.toml": '[store]\nbusy_timeout_s = "x"\n',
        "unknownkey.toml": "[store]\nnope = 1\n",
        "badlogs.toml": f'[store]\npath = "{d / "s.db"}"\n[paths]\nlogs = "/proc/nope/logs"\n',
        "text_price.csv": "timestamp,BTC-USD\n2022-02-01 00:00:00,40000\n"
                          "2022-02-01 00:05:00,abc\n",
        "no_timestamp.csv": "when,BTC-USD\n1,2\n",
        "empty.csv": "",
        "binary.csv": "\x00\x01\x02garbage\xff",
    }
    out = {}
    for name, text in files.items():
        p = d / name
        p.write_text(text, encoding="latin-1")
        out[name] = p
    return out


CASES: list[Case] = [
    ("config missing", ["--config", "{d}/nope.toml", "status"], 2, "config file not found"),
    ("config not TOML", ["--config", "{d}/broken.toml", "status"], 2, "not valid TOML"),
    ("config bad value", ["--config", "{d}/badval.toml", "status"], 2, "busy_timeout_s"),
    ("config unknown key", ["--config", "{d}/unknownkey.toml", "status"], 2, "nope"),
    ("unknown command", ["frobnicate"], 2, "frobnicate"),
    ("logs folder cannot be made", ["--config", "{d}/badlogs.toml", "start", "monitor"], 1,
     "/proc/nope"),
    ("validate missing file", ["data", "validate", "{d}/nope.csv"], 1, "not found"),
    ("validate no timestamp", ["data", "validate", "{d}/no_timestamp.csv"], 1, "timestamp"),
    ("validate empty file", ["data", "validate", "{d}/empty.csv"], 1, "empty.csv"),
    ("validate binary file", ["data", "validate", "{d}/binary.csv"], 1, "binary.csv"),
    ("export bad format", ["export", "fills", "--format", "xml"], 2, "xml"),
    ("export bad since", ["export", "fills", "--since", "notadate"], 2, "notadate"),
    ("report bad period", ["report", "--period", "year"], 2, "year"),
    ("promote non-numeric trial", ["promote", "--to", "paper", "--trial", "abc"], 2, "abc"),
    ("train negative trials", ["train", "--n-trials", "-3"], 2, "-3"),
    ("trade negative capital", ["trade", "--model", "/nope", "--broker", "sim", "--tickers",
                                "BTC-USD", "--capital", "-5"], 2, "capital"),
    ("replay missing data", ["conviction", "replay", "--model", "/nope", "--data",
                             "{d}/nope.csv"], 2, "nope.csv"),
    ("bench unknown module", ["bench", "--only", "nope"], 2, "nope"),
    ("halt unknown trader", ["halt", "nobody"], 2, "nobody"),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_gets_clear_words_and_the_documented_exit_code(tmp_path: Path,
                                                                  case: Case) -> None:
    _, argv, code, needle = case
    files = _files(tmp_path)
    before = {p: p.read_bytes() for p in files.values()}
    args = [a.replace("{d}", str(tmp_path)) for a in argv]
    if args[0] != "--config":
        args = ["--config", str(files["ok.toml"]), *args]
    proc = subprocess.run([sys.executable, "-m", "engine.cli.main", *args], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    assert needle in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr  # one line, no usage dump
    assert {p: p.read_bytes() for p in files.values()} == before
