"""The console queues only what the supervisor would execute: the same typed check first."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.commands import CommandRequest, submit
from engine.config import load_config
from store.db import Store


@pytest.mark.parametrize(("req", "why"), [
    (CommandRequest("start", "evil", {"kind": "exec", "argv": ["/bin/sh"]}), "unknown kind"),
    (CommandRequest("capital", "t1", {"trader": "t1", "capital": "-5"}), "capital:"),
    (CommandRequest("promote", "s", {"to": "moon"}), "to:"),
    (CommandRequest("kill", "../etc", {}), "target must be a process name"),
    (CommandRequest("halt_all", None, {"reason": "x", "sudo": True}), "unknown argument"),
])
def test_bad_requests_are_refused_before_any_row_is_written(tmp_path: Path, req, why) -> None:
    path = tmp_path / "cappuccino.toml"
    path.write_text("")
    cfg = load_config(path, environ={})
    with Store(cfg.store.path) as store:
        with pytest.raises(ValueError, match=why):
            submit(store, req, cfg)
        assert store.query("SELECT * FROM commands") == []
        ok = submit(store, CommandRequest("stop", "trader-x", {}), cfg)
        assert store.one("SELECT source FROM commands WHERE id = ?", (ok,))["source"] == "console"
