"""`ps`, `status` and `logs` never print an escape sequence from the store or a log.

A process's last error is its last log line, an alert can quote an exchange's message, and
a log holds whatever a child printed: an ESC there would be obeyed by the operator's
terminal (OSC 2 sets the title, OSC 52 writes the clipboard, CSI hides and moves text).
Real CLI subprocesses on a real store; the text stays readable, the controls are replaced.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from store.alerts import insert_alert
from store.db import Store, now
from store.processes import update_process, upsert_process

ROOT = Path(__file__).resolve().parents[3]
EVIL = "order refused \x1b]52;c;cm0gLXJmIH4K\x07\x1b]2;pwned\x07\x1b[8mhidden\x1b[0m \x9b2J end"


def test_ps_status_and_logs_print_no_escape(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    logs.mkdir()
    log = logs / "trader-x.log"
    log.write_text(f"first line\n{EVIL}\n")
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text(f'[store]\npath = "{tmp_path / "cappuccino.db"}"\n[paths]\nlogs = "{logs}"\n')
    with Store(tmp_path / "cappuccino.db") as st:
        upsert_process(st, "trader-x", "trader", ["trade", "--name", "x"], "stopped")
        update_process(st, "trader-x", state="FATAL", last_error=EVIL, log_path=str(log))
        insert_alert(st, None, "WARNING", EVIL, now())
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    for argv in (["ps"], ["status"], ["logs", "trader-x"]):
        proc = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                               *argv], cwd=ROOT, env=env, capture_output=True, timeout=60)
        assert proc.returncode == 0, (argv, proc.stderr)
        out = proc.stdout.decode("utf-8")
        assert "order refused" in out, (argv, out)
        assert not [c for c in out if ord(c) < 32 and c not in "\n\t" or 0x7f <= ord(c) <= 0x9f], (
            argv, out)
