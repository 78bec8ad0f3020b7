"""Console test fixtures: a real store filled with realistic rows, and an app on a frozen clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from console.app import CappuccinoApp
from console.bench import T0, populate
from console.data import Loader
from console.procinfo import ProcStats
from engine.config import Config, load_config
from store.db import Store


def fixed_stats(pid: int | None, create_time: float | None) -> ProcStats:
    # Deterministic CPU/RAM: the pids in the fixture store are not real processes.
    return ProcStats(12.5, 210.0) if pid else ProcStats(None, None)


@dataclass
class Env:
    cfg: Config
    db: Path
    logs: Path

    def commands(self) -> list[dict[str, Any]]:
        """The queued rows; each one must pass the supervisor's own typed-command check."""
        from engine.supervisor.commands import parse

        with Store(self.db) as st:
            rows = st.query("SELECT * FROM commands ORDER BY id")
        for r in rows:
            parse(self.cfg, r["id"], r["action"], r["target"], r["args"])  # Refused: fails
        return [{**dict(r), "args": json.loads(r["args"])} for r in rows]

    def app(self, readonly: bool = False, **kw: Any) -> CappuccinoApp:
        loader = Loader(self.db, clock=lambda: T0, proc_stats=fixed_stats, logs_dir=self.logs)
        return CappuccinoApp(self.cfg, readonly=readonly, clock=lambda: T0, loader=loader,
                             autorefresh=False, **kw)


def write_evidence(models: Path, st: Store) -> None:
    """Each btc-5m trial's evidence file (engine.study.trace), as its worker would leave it:
    the three best trials (objective > 0.25) hold a real edge, the rest are noise, so the
    paper gate passes them on deflated evidence and refuses the rest. Another host's trial
    keeps its evidence with its model, over there."""
    from engine.study.synthetic import write_planted
    from store import registry

    here = {m.trial for m in registry.list_models(st, "btc-5m")}
    for a in registry.list_attempts(st, "btc-5m"):
        if a.objective is None or (a.mirrored and a.trial not in here):
            continue
        write_planted(models, "btc-5m", a.trial, 4e-4 if a.objective > 0.25 else 0.0,
                      block=500)


@pytest.fixture
def env(tmp_path: Path) -> Env:
    db = tmp_path / "var" / "cappuccino.db"
    with Store(db) as st:
        populate(st, T0, log_dir=tmp_path / "logs")
        write_evidence(tmp_path / "models", st)
    path = tmp_path / "cappuccino.toml"
    path.write_text(f'[store]\npath = "{db}"\n[paths]\nmodels = "{tmp_path / "models"}"\n'
                    f'logs = "{tmp_path / "logs"}"\n[console]\nrefresh_s = 60\n')
    return Env(load_config(path, environ={}), db, tmp_path / "logs")


@pytest.fixture
def make_env(env: Env) -> Callable[[], Env]:
    return lambda: env
