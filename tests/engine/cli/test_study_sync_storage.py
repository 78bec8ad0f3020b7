"""`cappuccino study sync` reads a shared study: a `sqlite:` storage URL naming no file is
bad usage (exit 2, one line, nothing created, neither that database nor the store), and an
unknown study in an existing storage exits 2 naming it (the real CLI, a real SQLite file)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest

ROOT = Path(__file__).resolve().parents[3]


def _sync(tmp_path: Path, storage: str, study: str) -> subprocess.CompletedProcess[str]:
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[study]\nstorage = "{storage}"\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                           "study", "sync", "--study", study], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=120)


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("where", ["absolute", "relative", "missing folder"])
def test_a_missing_sqlite_storage_is_bad_usage_and_creates_nothing(tmp_path: Path,
                                                                   where: str) -> None:
    db = {"absolute": tmp_path / "studies.db", "relative": Path("studies.db"),
          "missing folder": tmp_path / "shared" / "studies.db"}[where]
    out = _sync(tmp_path, f"sqlite:///{db}", "btc")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not exist" in lines[0] and "studies.db" in lines[0], lines
    assert "Traceback" not in out.stderr + out.stdout
    assert _files(tmp_path) == {"cappuccino.toml"}  # no database, no folder, no store


def test_an_unknown_study_in_an_existing_storage_exits_2_naming_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'studies.db'}"
    optuna.create_study(storage=url, study_name="other", direction="maximize")
    before = _files(tmp_path)
    out = _sync(tmp_path, url, "ghost")
    assert out.returncode == 2, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "'ghost'" in lines[0], lines
    assert "Traceback" not in out.stderr + out.stdout
    assert _files(tmp_path) == before | {"cappuccino.toml"}  # the store was not created
