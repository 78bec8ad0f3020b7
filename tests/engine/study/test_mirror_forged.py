"""Another machine's trial attributes in the shared study storage are claims, checked.

Every host that shares a study's RDB storage reads the other hosts' trial user attrs
(engine.study.mirror). A host (or anyone who reaches the database) can write any JSON there.
`cappuccino study sync` must mirror such a trial with the forged fields dropped, cut to
size and stripped of control characters, never crash on them: a crash here stops every
host's study driver and sync at once.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import optuna

from engine.study import mirror
from engine.study.runner import StudyRun
from engine.study.storage import trial_handle
from store import registry

ROOT = Path(__file__).resolve().parents[3]

FORGED = {
    mirror.ATTR_PROGRESS: "half",
    mirror.ATTR_DEVICE: {"cuda": 0},
    mirror.ATTR_HOST: "gpu\x1b]2;pwned\x07[/]" + "x" * 100_000,
    mirror.ATTR_ERROR: {"class": ["Boom"], "message": {"m": 1}},
    mirror.ATTR_MODEL: ["/etc"],
    mirror.ATTR_SCORES: ["0.5", {"x": 1}, float("inf")],
    mirror.ATTR_STORE: ["not", "an", "id"],
}


def test_forged_attrs_are_dropped_and_sync_carries_on(make_config, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    runs = []
    for name in ("a", "b"):
        cfg = make_config(f'[store]\npath = "{name}/cappuccino.db"\n[paths]\nmodels = '
                          f'"{name}/models"\n[study]\nstorage = "{url}"\n', name=f"{name}.toml")
        runs.append(StudyRun(cfg, "shared", "5m", 4, launcher="direct", log=lambda m: None))
    a, b = runs
    try:
        numbers = []
        for state in (optuna.trial.TrialState.FAIL, optuna.trial.TrialState.COMPLETE, None):
            n = a._new_trial()
            t = trial_handle(a.optuna, n)
            for key, value in FORGED.items():
                t.set_user_attr(key, value)
            if state is optuna.trial.TrialState.COMPLETE:
                a.optuna.tell(n, 0.5)
            elif state is not None:
                a.optuna.tell(n, state=state)
            numbers.append(n)
    finally:
        a.close()
        b.close()

    proc = subprocess.run(
        [sys.executable, "-m", "engine.cli.main", "--config", str(tmp_path / "b.toml"),
         "study", "sync", "--study", "shared", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["mirrored"] == 3

    from store.db import Store

    with Store(tmp_path / "b" / "cappuccino.db") as st:
        rows = {r.trial: r for r in registry.list_attempts(st, "shared")}
        models = registry.list_models(st, "shared")
    assert sorted(rows) == numbers
    for r in rows.values():
        assert isinstance(r.progress, float) and 0.0 <= r.progress <= 1.0
        assert r.device is None and r.model_path is None and r.error_class is None
        assert r.host is not None and len(r.host) <= mirror.MAX_TEXT
        assert r.host.startswith("gpu") and not any(ord(c) < 32 for c in r.host)
        assert mirror.ATTR_SCORES not in (r.metrics_dict or {})  # not a list of numbers
    failed = rows[numbers[0]]
    assert failed.state == "FAILED" and failed.error_message and "\x1b" not in failed.error_message
    assert models == []
