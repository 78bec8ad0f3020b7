"""The offline demo: the whole pipeline on the bundled real data, with no credentials.

`start_demo(cfg)` writes a demo config under `<store folder>/demo/` (its own store, models,
logs, and a 0600 key file whose only "secret" is a local json:// notification target), starts
that store's supervisor, and asks it to run the `demo` process. The demo process
(`run_demo`) is an orchestrator, not a special mode: it sends the same `train` command the
console's `s` key sends (a seeded study: `[study] seed = 1`, so a rerun gives the same
trials and evidence), waits for the study to end, promotes the trial the study's own
evidence picks (engine.study.evidence) to a paper trader through the same gates as `p`
(forced when the gate refuses, with a recorded reason naming every failing number), and
serves the local notification inbox. The trader replays the held-out
data on the SimBroker faster than real time; only the broker and the clock differ from
real operation.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from engine.config import Config, load_config
from engine.files import private_dir, write_atomic

DEMO_STUDY = "demo"
DEMO_TICKERS = ["BTC-USD", "ETH-USD", "SOL-USD", "LINK-USD"]
INBOX = "notifications.jsonl"
log = logging.getLogger("cappuccino.demo")

DEMO_TOML = """\
# The offline demo's config, written by `cappuccino-console --demo` / `cappuccino demo start`.
# Small and fast on purpose; every other value is the default of cappuccino.toml.
[store]
path = "cappuccino.db"

[paths]
data = "data"
models = "models"
logs = "logs"
run = "run"

[secrets]
key_file = "keys.toml"

[data]
source = "bundled"
tickers = {tickers}

[ppo]
total_steps = 12000
n_envs = 32
n_steps = 64
minibatch = 512
epochs = 3
episode_len = 512

[study]
name = "{study}"
# A seeded study: the same trials, scores and evidence on every run of the demo.
seed = 1
n_trials = 4
cpcv_groups = 4
cpcv_test_groups = 1
max_splits = 2
seeds = 2
embargo_bars = 24
holdout_frac = 0.15

[trials]
time_limit_s = 600

[trader]
tickers = {tickers}
replay_speed = 2.0
# Replay the bars the study held out of training (1 - [study] holdout_frac).
sim_start_frac = 0.85
settle_delay_s = 0.0
notify_fills = true

[monitor]
interval_s = 10.0
window_hours = 24.0
min_samples = 48
emergency_sustain_h = 48.0
cooldown_s = 600.0

[sampler]
interval_s = 2.0
flush_s = 4.0

[notify]
poll_s = 1.0
"""


def demo_dir(cfg: Config) -> Path:
    return Path(cfg.store.path).parent / "demo"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_demo_files(directory: Path) -> Path:
    """Write the demo config and key file once; later starts reuse them (and the store)."""
    private_dir(directory)
    config = directory / "cappuccino.toml"
    keys = directory / "keys.toml"
    if not keys.exists():
        url = f"json://127.0.0.1:{_free_port()}/demo"
        fd = os.open(keys, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f'# The demo\'s local notification inbox (no real secret).\n'
                    f'apprise_urls = "{url}"\n')
    if not config.exists():
        write_atomic(config, DEMO_TOML.format(tickers=json.dumps(DEMO_TICKERS),
                                              study=DEMO_STUDY).encode())
    return config


def demo_fallback(cfg: Config, *, named: bool) -> tuple[Config, str | None]:
    """The demo's config when no config was named (no --config, no $CAPPUCCINO_CONFIG: the
    embedded defaults, or a ./cappuccino.toml such as the repository's reference), the
    configured store is absent and the demo's config exists; else `cfg`. The note names the
    store used and the flag that picks another, for stderr or the console's status."""
    if named or Path(cfg.store.path).exists():
        return cfg, None
    demo = demo_dir(cfg) / "cappuccino.toml"
    if not demo.is_file():
        return cfg, None
    demo_cfg = load_config(demo)
    return demo_cfg, (f"no store at {cfg.store.path}; using the demo's store "
                      f"{demo_cfg.store.path} (--config {demo} to say so, --config PATH "
                      "for another)")


def demo_config(cfg: Config) -> Config:
    """The demo's config (written on first use)."""
    return load_config(write_demo_files(demo_dir(cfg)))


def start_demo(cfg: Config) -> Config:
    """Prepare the demo, start its supervisor and its orchestrator; return the demo config."""
    from engine.supervisor.client import ensure_supervisor, send_command

    demo_cfg = demo_config(cfg)
    ensure_supervisor(demo_cfg)
    send_command(demo_cfg, "start", "demo", {"kind": "demo"},
                 source="console", wait_s=0)
    for name in stopped_by_demo_stop(demo_cfg):
        send_command(demo_cfg, "start", name, source="console", wait_s=0)
    return demo_cfg


# What `demo stop` stops and a later start must bring back: the orchestrator finds its study
# done and its trader promoted, so it starts nothing itself, and the supervisor keeps a
# service or trader the operator stopped stopped across its own restarts.
RESUMED_KINDS = ("monitor", "sampler", "notifier", "telegram", "trader")


def stopped_by_demo_stop(demo_cfg: Config) -> list[str]:
    """The demo's services and traders that a stop left STOPPED (none on a first start)."""
    from engine.runtime import open_store
    from store.processes import list_processes

    store = open_store(demo_cfg)
    try:
        return [r.name for r in list_processes(store)
                if r.kind in RESUMED_KINDS and r.state == "STOPPED" and r.desired == "stopped"]
    finally:
        store.close()


def inbox_port(cfg: Config) -> int:
    from engine.config.secrets import load_secrets

    url = load_secrets(cfg.secrets.key_file).apprise_list[0]
    return int(url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)[1])


def serve_inbox(cfg: Config) -> ThreadingHTTPServer:
    """The demo's notification target: every apprise json:// post becomes a JSONL line."""
    path = demo_dir_of(cfg) / INBOX
    lock = threading.Lock()

    class Inbox(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                msg = json.loads(body)
            except ValueError:
                self.send_response(400)
                self.end_headers()
                return
            with lock, path.open("a") as f:
                f.write(json.dumps({"at": time.time(), "title": msg.get("title"),
                                    "message": msg.get("message"), "type": msg.get("type")})
                        + "\n")
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", inbox_port(cfg)), Inbox)
    threading.Thread(target=server.serve_forever, daemon=True, name="inbox").start()
    return server


def demo_dir_of(cfg: Config) -> Path:
    """The folder of a demo config (its store lives there)."""
    return Path(cfg.store.path).parent


def _study_state(cfg: Config) -> tuple[int, int]:
    """(trials attempted, trials ended) of the demo study."""
    from engine.runtime import open_store
    from store import registry

    store = open_store(cfg)
    try:
        counts = registry.state_counts(store, cfg.study.name)
    finally:
        store.close()
    ended = sum(n for state, n in counts.items() if state in registry.FINAL_STATES)
    return sum(counts.values()), ended


def _study_running(cfg: Config) -> bool:
    """Whether the demo study's driver is running (or about to): never start a second."""
    from engine.runtime import open_store
    from store.processes import get_process

    store = open_store(cfg)
    try:
        row = get_process(store, f"study-{cfg.study.name}")
    finally:
        store.close()
    return row is not None and row.state in ("STARTING", "RUNNING", "BACKOFF", "STOPPING")


def _has_trader(cfg: Config) -> bool:
    from engine.runtime import open_store
    from store.promotions import has_paper_promotion

    store = open_store(cfg)
    try:
        return has_paper_promotion(store)
    finally:
        store.close()


def promote_best(cfg: Config) -> str:
    """Promote the study's best trial, picked by its own evidence (engine.study.evidence),
    through the real gates. When the gate refuses, the demo forces it so every pane has
    data, and the recorded reason names every failing number."""
    from engine.promote import PromotionRefused, Request, promote
    from engine.runtime import open_store
    from engine.study.evidence import study_evidence

    store = open_store(cfg)
    try:
        ev = study_evidence(cfg, store, cfg.study.name)
        if ev.best is None:
            return f"study {cfg.study.name}: no completed trial with evidence; nothing promoted"
        trial = ev.best.trial
        req = Request(to="paper", study=cfg.study.name, trial=trial, name="demo", source="demo")
        try:
            return promote(cfg, store, req).message
        except PromotionRefused as e:
            why = "; ".join(g.describe().removesuffix(" FAILED") for g in e.gates
                            if not g.passed)
            log.info("the paper gate refused trial %d: %s", trial, why)
            reason = (f"demo: trial {trial} is the study's best by its own evidence and is "
                      f"paper-traded so every pane has data, although the gate refused it: "
                      f"{why}")
            forced = Request(to="paper", study=cfg.study.name, trial=trial, name="demo",
                             force=True, reason=reason, source="demo")
            return f"{promote(cfg, store, forced).message} [FORCED: {reason}]"
    finally:
        store.close()


def run_demo(cfg: Config, stop: threading.Event | None = None) -> int:
    """The demo orchestrator (supervised, kind 'demo')."""
    from engine.supervisor.client import send_command

    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = serve_inbox(cfg)
    log.info("demo inbox on 127.0.0.1:%d", server.server_address[1])
    try:
        _, ended = _study_state(cfg)
        # First run, or a study a `demo stop` interrupted: train the trials still missing.
        if ended < cfg.study.n_trials and not _has_trader(cfg) and not _study_running(cfg):
            send_command(cfg, "train", None, {"study": cfg.study.name,
                                              "timeframe": cfg.data.timeframe,
                                              "n_trials": cfg.study.n_trials - ended},
                         source="demo", wait_s=0)
        while not stop.is_set() and not _has_trader(cfg):
            _, ended = _study_state(cfg)
            if ended >= cfg.study.n_trials:  # the whole study: its evidence is complete
                log.info(promote_best(cfg))
                break
            stop.wait(2.0)
        stop.wait()  # keep serving the notification inbox
    finally:
        server.shutdown()
    return 0
