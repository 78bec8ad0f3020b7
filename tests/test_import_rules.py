"""The dependency rules of design.md, checked in a fresh interpreter."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "optuna", "coinbase", "alpaca")


def loaded_modules(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys, json; print(json.dumps(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


def test_console_process_never_imports_heavy_packages() -> None:
    mods = loaded_modules("import console.main, console.app")
    heavy = sorted(m for m in mods if m.split(".")[0] in HEAVY)
    assert heavy == []


def test_engine_and_store_never_import_textual() -> None:
    mods = loaded_modules("import engine.cli.main, store.db, engine.config")
    assert not any(m.split(".")[0] in ("textual", "rich") for m in mods)


def test_import_linter_contracts_hold() -> None:
    out = subprocess.run([sys.executable, "-m", "importlinter.cli"], capture_output=True, text=True)
    if "No module named" in out.stderr:
        out = subprocess.run(["lint-imports"], capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
