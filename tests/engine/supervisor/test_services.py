"""Built-in services are declared at supervisor start, respecting the operator's choices."""

from __future__ import annotations

from pathlib import Path

from engine.supervisor.supervisor import Supervisor
from store.db import Store
from store.processes import get_process, update_process


def test_services_declared_once_and_fatal_ones_retried(make_config, tmp_path: Path) -> None:
    cfg = make_config('[supervisor]\nservices = ["monitor", "notifier"]\n')
    with Store(cfg.store.path) as store:
        sup = Supervisor(cfg, store)
        sup.declare_services()
        mon, note = get_process(store, "monitor"), get_process(store, "notifier")
        assert mon is not None and note is not None
        assert (mon.kind, mon.args, mon.desired, mon.state) == (
            "monitor", ["monitor"], "running", "STARTING")
        assert (note.kind, note.args) == ("notifier", ["notify"])
        assert get_process(store, "sampler") is None  # not in [supervisor] services
        # The operator stopped the monitor; the notifier went FATAL in an older build.
        update_process(store, "monitor", desired="stopped", state="STOPPED")
        update_process(store, "notifier", state="FATAL", quick_restarts=5)
        Supervisor(cfg, store).declare_services()
        mon, note = get_process(store, "monitor"), get_process(store, "notifier")
        assert mon is not None and note is not None
        assert (mon.desired, mon.state) == ("stopped", "STOPPED")
        assert (note.state, note.quick_restarts) == ("STARTING", 0)


def test_default_config_runs_all_three_services(make_config) -> None:
    assert make_config().supervisor.services == ["monitor", "sampler", "notifier"]
