"""Retention: what a box running for weeks would otherwise pile up, pruned by the
supervisor's prune tick ([retention] every_s, a minute; 0 days keeps forever).

- Trial logs (`trial-*.log` and their rotated `.N`) untouched for trial_logs_days, only in
  [paths] logs, never the log of a running child or of a RUNNING attempt's worker. Other
  processes' logs have fixed names and are bounded by rotation already.
- Checkpoints of finished trials (latest attempt COMPLETE/FAILED/PRUNED, ended over
  checkpoints_after_s ago): only a resume reads them and a finished trial is never resumed.
  The trial's evidence, metrics and model stay (the gate counts every trial; traders and
  promotions load models, never checkpoints). Only ckpt files inside [paths] models go.
- Per-bar equity and decisions older than trading_days on each trader's own clock are
  thinned (store.thinning); orders and fills, the books, are kept forever.
- Sent, silent, never tried or given up outbox rows (never one an outage holds), finished commands and old alerts (store writers; what the
  monitor, the live gate and the reports read is kept: see store.alerts.prune_alerts).
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import stat
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from engine.config import Config
from store import alerts, commands, outbox, registry, thinning, views
from store.db import Store

log = logging.getLogger("cappuccino.supervisor")

DAY_S = 86400.0
# files removed per kind per tick: a first tick after weeks of backlog must not stall the
# supervisor's loop (its heartbeat); the rest goes at the next ticks
MAX_FILES = 2000
TRIAL_LOG = re.compile(r"^(trial-[A-Za-z0-9_.-]+?\.log)(\.\d+)?$")  # a log, its backups
CHECKPOINT = re.compile(r"^ckpt-\d{9}\.pt$")
# thinning transactions per tick (thinning.BATCH rows each): a year of 1-minute bars of a
# trader after an upgrade goes over a few ticks, the supervisor's loop never waits long
MAX_THIN_BATCHES = 40


@dataclass(frozen=True)
class Swept:
    logs: tuple[str, ...] = ()
    checkpoints: int = 0
    checkpoint_bytes: int = 0
    outbox: int = 0
    commands: int = 0
    alerts: int = 0
    equity: int = 0
    decisions: int = 0

    def any(self) -> bool:
        return bool(self.logs or self.checkpoints or self.outbox or self.commands
                    or self.alerts or self.equity or self.decisions)


def old_trial_logs(logs_dir: Path, before: float, in_use: Collection[Path],
                   limit: int = MAX_FILES) -> list[Path]:
    """Trial log files directly in logs_dir last written before `before`, none in use."""
    busy = {os.path.abspath(p) for p in in_use}
    found = []
    try:
        entries = list(os.scandir(logs_dir))
    except OSError:
        return []
    for e in entries:
        m = TRIAL_LOG.match(e.name)
        if not m:
            continue
        try:
            st = e.stat(follow_symlinks=False)
        except OSError:
            continue
        base = os.path.abspath(os.path.join(logs_dir, m.group(1)))
        if stat.S_ISREG(st.st_mode) and st.st_mtime < before and base not in busy:
            found.append(Path(e.path))
    return sorted(found)[:limit]


def remove_logs(paths: list[Path]) -> tuple[str, ...]:
    gone = []
    for p in paths:
        try:
            p.unlink()
            gone.append(p.name)
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("cannot remove old log %s: %s", p, e.strerror)
    return tuple(gone)


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
        return True
    except (OSError, ValueError):
        return False


def drop_checkpoints(cfg: Config, store: Store, before: float,
                     limit: int = MAX_FILES) -> tuple[int, int]:
    """Delete checkpoints of trials that ended before `before`; (files, bytes) removed."""
    rows = registry.finished_checkpoints(store, before, limit)
    root = Path(cfg.paths.models)
    n = size = 0
    done: list[str] = []
    for r in rows:
        p = Path(r.path)
        if not (CHECKPOINT.match(p.name) and inside(p, root)):  # a row is anyone's to write
            log.warning("checkpoint row outside [paths] models, file left alone: %r", r.path)
            done.append(r.path)
            continue
        try:
            st = p.lstat()
            if stat.S_ISREG(st.st_mode):
                p.unlink()
                n, size = n + 1, size + st.st_size
        except FileNotFoundError:
            pass
        except OSError as e:
            log.warning("cannot remove checkpoint %s: %s", p, e.strerror)
            continue
        done.append(r.path)
        with contextlib.suppress(OSError):  # the empty checkpoints/ folder; kept while not
            p.parent.rmdir()
    registry.remove_checkpoints(store, done)
    return n, size


def run(cfg: Config, store: Store, now: float, in_use: Collection[Path | None]) -> Swept:
    """sweep(), logged when it removed anything."""
    swept = sweep(cfg, store, now, [p for p in in_use if p is not None])
    if swept.any():
        log.info("%s", describe(swept))
    return swept


def sweep(cfg: Config, store: Store, now: float, in_use: Collection[Path]) -> Swept:
    """One retention pass. `in_use`: the logs the supervisor's children write now."""
    r = cfg.retention
    gone_logs: tuple[str, ...] = ()
    if r.trial_logs_days:
        logs_dir = Path(cfg.paths.logs)
        # a driver's own (direct) workers are no children of ours: their attempts say so
        running = [logs_dir / f"{a.process}.log" for a in registry.running_attempts(store)
                   if a.process]
        gone_logs = remove_logs(old_trial_logs(logs_dir, now - r.trial_logs_days * DAY_S,
                                               [*in_use, *running]))
    n_ckpt = ckpt_bytes = 0
    if r.finished_checkpoints:
        n_ckpt, ckpt_bytes = drop_checkpoints(cfg, store, now - r.checkpoints_after_s)
    thin = thin_trading(store, r.trading_days, now)
    return Swept(
        logs=gone_logs, checkpoints=n_ckpt, checkpoint_bytes=ckpt_bytes,
        outbox=outbox.prune_delivered(store, now - r.outbox_days * DAY_S,
                                      cfg.notify.max_attempts)
        if r.outbox_days else 0,
        commands=commands.prune_finished(store, now - r.commands_days * DAY_S)
        if r.commands_days else 0,
        alerts=alerts.prune_alerts(store, now, r.alerts_days * DAY_S)
        if r.alerts_days else 0,
        equity=thin.equity, decisions=thin.decisions)


def thin_trading(store: Store, days: float, now: float,
                 max_batches: int = MAX_THIN_BATCHES) -> thinning.Thinned:
    """Thin every trader's per-bar rows older than `days` on its own clock (0: keep all).
    A clock is never taken past a day beyond `now` (wall time): one row stamped far in the
    future must not make a trader's whole record look old."""
    eq = dec = used = 0
    if not days:
        return thinning.Thinned()
    for name in thinning.traders_with_rows(store):
        clock = views.trader_clock(store, name)
        if clock is None or used >= max_batches:
            continue
        clock = min(clock, now + DAY_S)
        t = thinning.thin_trader(store, name, thinning.cutoff_for(clock, days),
                                 max_batches - used)
        eq, dec, used = eq + t.equity, dec + t.decisions, used + t.batches
    return thinning.Thinned(eq, dec, used)


def describe(s: Swept) -> str:
    return (f"retention removed {len(s.logs)} trial log(s), {s.checkpoints} finished-trial "
            f"checkpoint(s) ({s.checkpoint_bytes / 1e6:.1f} MB), {s.outbox} outbox, "
            f"{s.commands} command and {s.alerts} alert row(s); thinned {s.equity} equity and "
            f"{s.decisions} decision row(s)")
