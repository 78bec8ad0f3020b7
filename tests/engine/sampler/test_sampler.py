"""The sampler on this machine, which has no NVML: GPUs recorded as unavailable and why,
CPU, RAM and disk still sampled."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from engine.cli.main import main
from engine.sampler.daemon import Sampler
from engine.sampler.gpu import Nvml
from engine.sampler.procmap import supervised_pids
from store.db import Store, now
from store.fixtures import system_sample_count
from store.processes import update_process, upsert_process
from store.samples import latest_system
from tests.fakes.shifted_clock import clock_shift


def nvml_present() -> bool:
    try:
        import pynvml

        pynvml.nvmlInit()
        pynvml.nvmlShutdown()
        return True
    except Exception:
        return False


ROOT = Path(__file__).resolve().parents[3]
needs_no_nvml = pytest.mark.skipif(nvml_present(), reason="this test is for machines without NVML")


@needs_no_nvml
def test_without_nvml_the_reason_is_recorded_and_cpu_ram_disk_sampled(make_config) -> None:
    cfg = make_config("[sampler]\ninterval_s = 1\n")
    with Store(cfg.store.path) as store:
        sampler = Sampler(cfg, store)
        t = now()
        status = sampler.sample(t)
        sampler.sample(t + 1)
        assert status.startswith("NVML unavailable") and "Library" in status
        assert sampler.flush() == 2
        rows = store.query("SELECT * FROM system_samples ORDER BY at")
        assert len(rows) == 2 and all(r["gpu_status"] == status for r in rows)
        r = rows[-1]
        assert 0 <= r["cpu_pct"] <= 100 and r["resolution"] == 1
        assert 0 < r["ram_used_mb"] <= r["ram_total_mb"]
        assert 0 < r["disk_used_mb"] <= r["disk_total_mb"]
        assert store.query("SELECT * FROM gpu_samples") == []


@needs_no_nvml
def test_nvml_init_is_not_retried_every_sample() -> None:
    nv = Nvml(retry_s=600)
    a = nv.read(1000.0)
    assert nv._tried_at == 1000.0 and a.status != "ok" and a.gpus == ()
    nv.read(1001.0)
    assert nv._tried_at == 1000.0  # no new init attempt within retry_s
    nv.read(1700.0)
    assert nv._tried_at == 1700.0


def test_sample_once_cli(config_path, capsys) -> None:
    assert main(["--config", str(config_path), "sample", "--once"]) == 0
    out = capsys.readouterr().out
    assert "cpu" in out and "gpu:" in out
    from engine.config import load_config

    cfg = load_config(config_path, environ={})
    with Store(cfg.store.path) as store:
        s = latest_system(store)
        assert s is not None and s.gpu_status


def test_supervised_pids_include_children(make_config) -> None:
    cfg = make_config()
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with Store(cfg.store.path) as store:
            me = psutil.Process(os.getpid())
            upsert_process(store, "trainer-1", "trainer", ["train"])
            update_process(store, "trainer-1", pid=me.pid, create_time=me.create_time())
            upsert_process(store, "stale", "trader", ["trade"])  # pid reused by someone else
            update_process(store, "stale", pid=me.pid, create_time=me.create_time() - 100)
            ours = supervised_pids(store)
            assert ours[me.pid] == "trainer-1" and ours[child.pid] == "trainer-1"
            assert "stale" not in ours.values()
    finally:
        child.kill()
        child.wait()


def test_a_wall_clock_step_back_does_not_stop_the_writes(tmp_path) -> None:
    """`cappuccino sample` (a real process) whose wall clock steps an hour back keeps
    flushing its samples every flush_s (it used to wait out the hour)."""
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text("[sampler]\ninterval_s = 0.2\nflush_s = 0.5\nretention_every_s = 3\n")
    shift, shifted = clock_shift(tmp_path)
    env = dict(os.environ, **shifted)
    proc = subprocess.Popen([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                             "sample"], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    db = tmp_path / "var" / "cappuccino.db"

    def rows() -> int:
        if not db.exists():
            return 0
        with Store(db, create=False, check=False, busy_timeout_s=10) as s:
            return system_sample_count(s)

    def wait_more(than: int, what: str) -> int:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            n = rows()
            if n >= than + 5:
                return n
            time.sleep(0.2)
        raise AssertionError(f"{what}: {rows()} rows (had {than}); "
                             f"{proc.stderr.read().decode()[-500:] if proc.poll() else ''}")

    try:
        n = wait_more(0, "no samples before the step")
        shift.write_text("-3600")
        wait_more(n, "no samples written after the clock stepped back")
    finally:
        proc.terminate()
        proc.wait(30)
