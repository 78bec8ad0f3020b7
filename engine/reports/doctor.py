"""`cappuccino doctor`: one command that checks the installation, a line per check."""

from __future__ import annotations

import importlib.metadata as md
import os
import platform
import shutil
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from engine.config import Config
from engine.config.load import ConfigError
from store.db import StoreError, free_mb

PACKAGES = ("textual", "torch", "optuna", "pandas", "coinbase-advanced-py", "alpaca-py",
            "sqlite-utils", "psutil", "nvidia-ml-py", "apprise")


@dataclass(frozen=True)
class Check:
    name: str
    status: str   # ok | warn | fail
    detail: str


def check_python() -> Check:
    versions = []
    missing = []
    for pkg in PACKAGES:
        try:
            versions.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            missing.append(pkg)
    detail = f"Python {platform.python_version()}; " + ", ".join(versions)
    if missing:
        return Check("packages", "fail", f"missing: {', '.join(missing)}")
    return Check("packages", "ok", detail)


def nvidia_gpus() -> list[str]:
    """The GPUs the NVIDIA driver lists (`nvidia-smi -L`, as .ci/setup asks); [] without one."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return []
    try:
        out = subprocess.run([exe, "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.split(":", 1)[1].split("(UUID")[0].strip()
            for line in out.stdout.splitlines() if out.returncode == 0 and line.startswith("GPU ")]


def torch_summary() -> tuple[str, str]:
    """(status, line): torch's version, CUDA or CPU build, and whether CUDA is usable.
    .ci/setup prints the same line after installing torch."""
    import torch

    head = f"torch {torch.__version__}"
    cuda = torch.version.cuda
    if cuda is None:
        gpus = nvidia_gpus()
        if gpus:
            return "warn", (f"{head}, CPU build; CUDA usable: no, yet the driver sees "
                            f"{', '.join(gpus)}: rerun `bash .ci/setup` for the CUDA build")
        return "ok", f"{head}, CPU build; CUDA usable: no (no NVIDIA driver): training on CPU"
    if torch.cuda.is_available():
        names = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
        return "ok", f"{head}, CUDA {cuda} build; CUDA usable: yes ({', '.join(names)})"
    return "warn", (f"{head}, CUDA {cuda} build; CUDA usable: no (no GPU, or a driver older "
                    f"than CUDA {cuda} needs): training on CPU")


def check_torch() -> Check:
    status, detail = torch_summary()
    return Check("torch", status, detail)


def check_nvml() -> Check:
    try:
        import pynvml

        pynvml.nvmlInit()
        try:
            count = pynvml.nvmlDeviceGetCount()
            return Check("nvml", "ok", f"{count} GPU(s) visible to NVML")
        finally:
            pynvml.nvmlShutdown()
    except Exception as e:  # NVMLError_LibraryNotFound without a driver
        return Check("nvml", "warn", f"no NVIDIA GPU monitoring: {type(e).__name__}: {e}")


def check_store(cfg: Config) -> Check:
    from engine.runtime import open_store
    from store.migrations import latest_version

    path = Path(cfg.store.path)
    if not path.exists():
        return Check("store", "warn", f"{path} does not exist yet (created on first start)")
    try:
        # [store] busy_timeout_s like every other process: opening may migrate (a write).
        store = open_store(cfg, create=False)
    except StoreError as e:
        return Check("store", "fail", str(e))
    try:
        result = store.integrity()
        version = store.version
    finally:
        store.close()
    if result != "ok":
        return Check("store", "fail", f"{path}: integrity_check: {result}")
    return Check("store", "ok", f"{path}: schema v{version} (latest {latest_version()}), "
                 "integrity ok")


# Past both, `compact` is worth a stop: less free space is reused by the books' own growth
# (a few MB an hour per trader) before long, and does not repay stopping the traders.
COMPACT_FREE_FRACTION = 0.5
COMPACT_FREE_BYTES = 64_000_000  # MB as the line prints them


def check_free_pages(cfg: Config) -> Check:
    """The store's size and free fraction; mostly free pages (after thinning): `compact`."""
    from engine.runtime import open_store

    path = Path(cfg.store.path)
    if not path.exists():
        return Check("free pages", "ok", "no store yet")
    try:
        store = open_store(cfg, create=False)
    except StoreError as e:
        return Check("free pages", "warn", f"not checked: {e}")
    try:
        p = store.pages()
    finally:
        store.close()
    frac = p.free_bytes / p.file_bytes if p.file_bytes else 0.0
    detail = (f"{p.file_bytes / 1e6:,.1f} MB, {frac:.0%} free pages "
              f"({p.free_bytes / 1e6:,.1f} MB)")
    if frac > COMPACT_FREE_FRACTION and p.free_bytes > COMPACT_FREE_BYTES:
        return Check("free pages", "warn", f"{detail}: `cappuccino compact` gives them back to "
                     "the disk (offline: `cappuccino stop all`, `stop supervisor` first)")
    return Check("free pages", "ok", detail)


def split_store_holders(path: str | Path) -> list[tuple[int, str]]:
    """(pid, file) of processes holding a DELETED store file, -wal or -shm open.

    Such a process writes to a WAL nobody else sees: the store is split in two, and what it
    writes is lost (issue 10's corruption began like this). Read from /proc/*/fd links
    (readlink opens nothing); other users' processes are visible to root only.
    """
    return store_holders(path, deleted=True)


def store_holders(path: str | Path, *, deleted: bool = False) -> list[tuple[int, str]]:
    """(pid, file) of processes holding the store file, its -wal or -shm open (the
    deleted ones with `deleted`), from /proc/*/fd links; other users' need root."""
    base = os.path.realpath(path)
    mark = " (deleted)" if deleted else ""
    targets = {f"{base}{suffix}{mark}" for suffix in ("", "-wal", "-shm")}
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fd_dir = f"/proc/{entry}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:  # gone, or another user's
            continue
        for fd in fds:
            try:
                link = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if link in targets:
                found.append((int(entry), link.removesuffix(mark) if mark else link))
                break
    return found


def check_split_store(cfg: Config) -> Check:
    if not Path("/proc/self/fd").is_dir():
        return Check("split store", "warn", "cannot look (no /proc): not checked")
    holders = split_store_holders(cfg.store.path)
    if not holders:
        return Check("split store", "ok", "no process holds a deleted store, -wal or -shm")
    who = ", ".join(f"pid {pid} ({command_line(pid)}) holds deleted {Path(f).name}"
                    for pid, f in holders)
    return Check("split store", "fail", f"{who}: its writes are lost to every other process; "
                 "stop it (`cappuccino stop NAME` or kill PID), then run `cappuccino doctor` "
                 "again for the integrity check")


def command_line(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").strip()
    except OSError:
        return "?"
    return " ".join(raw.decode(errors="replace").split())[:80] or "?"  # one line


def check_disk(cfg: Config) -> Check:
    have = free_mb(cfg.store.path)
    need = max(cfg.store.min_free_mb, cfg.trials.min_free_mb)
    status = "ok" if have >= need else "fail"
    return Check("disk", status, f"{have:,.0f} MB free at {Path(cfg.store.path).parent} "
                 f"(need {need} MB)")


def check_key_file(cfg: Config) -> Check:
    from engine.config.secrets import load_secrets

    if not cfg.secrets.key_file:
        return Check("key file", "ok", "none configured; secrets come from the environment")
    path = Path(cfg.secrets.key_file)
    try:
        secrets = load_secrets(cfg.secrets.key_file)
    except ConfigError as e:
        return Check("key file", "fail", str(e))
    mode = stat.S_IMODE(path.stat().st_mode)
    return Check("key file", "ok", f"{path} mode {mode:04o}; holds {repr(secrets)[8:-1]}")


def check_supervisor(cfg: Config) -> Check:
    try:
        from engine.supervisor.client import supervisor_status
    except ImportError:
        return Check("supervisor", "warn", "supervisor client not available in this build")
    alive, pid = supervisor_status(cfg)
    if alive:
        return Check("supervisor", "ok", f"running (pid {pid})")
    return Check("supervisor", "warn", "not running (the console or any CLI command starts it)")


def check_notify(cfg: Config, send: bool) -> Check:
    from engine.config.secrets import load_secrets

    try:
        urls = load_secrets(cfg.secrets.key_file).apprise_list
    except ConfigError as e:
        return Check("notify", "fail", str(e))
    if not urls:
        return Check("notify", "warn", "no apprise targets (set CAPPUCCINO_APPRISE_URLS or "
                     "apprise_urls in the key file)")
    blind = _supervisor_without_targets(cfg)
    if blind:
        return Check("notify", "warn", f"{len(urls)} target(s) here, but the running "
                     f"supervisor (pid {blind}) was started without them, so its notifier "
                     "sends nothing: put apprise_urls in the key file (read at every start), "
                     "or stop that supervisor and let a command from this shell start it")
    if not send:
        return Check("notify", "ok", f"{len(urls)} target(s) configured; --notify sends a test")
    import apprise

    a = apprise.Apprise()
    bad = [i for i, url in enumerate(urls) if not a.add(url)]
    if bad:  # never print the URL: it holds tokens
        return Check("notify", "fail", f"target #{bad[0] + 1} is not a valid apprise URL")
    ok = a.notify(body="Cappuccino doctor: test notification", title="Cappuccino doctor")
    if not ok:
        return Check("notify", "fail", f"test notification to {len(urls)} target(s) failed")
    return Check("notify", "ok", f"test notification sent to {len(urls)} target(s)")


def _supervisor_without_targets(cfg: Config) -> int | None:
    """The running supervisor's pid when the notifier it starts would find no apprise URL.
    Its children inherit its environment, fixed when it started: a variable exported
    later in this shell never reaches them, even after `cappuccino restart notifier`."""
    import psutil

    from engine.config.secrets import load_secrets
    from engine.supervisor.client import supervisor_status

    alive, pid = supervisor_status(cfg)
    if not alive or not pid:
        return None
    try:
        environ = psutil.Process(pid).environ()
        return None if load_secrets(cfg.secrets.key_file, environ).apprise_list else pid
    except (psutil.Error, ConfigError, OSError):  # another user's, gone, or unreadable
        return None


def check_modes(cfg: Config, fix: bool = False) -> Check:
    """Store, WAL files, logs, models, run folder, key file: the operator's alone."""
    from engine.reports.modes import chmod_command, fix_modes, loose_paths

    if fix:
        fixed = fix_modes(cfg)
        left = loose_paths(cfg)
        if left:
            return Check("modes", "fail", f"{len(left)} path(s) still open to others: "
                         f"{chmod_command([p for p, _ in left])}")
        return Check("modes", "ok", f"fixed {len(fixed)} path(s): group and others removed"
                     if fixed else "every file is the operator's alone (0600/0700)")
    found = loose_paths(cfg)
    if not found:
        return Check("modes", "ok", "every file is the operator's alone (0600/0700)")
    shown = ", ".join(f"{p} ({m:04o})" for p, m in found[:4])
    more = f" and {len(found) - 4} more" if len(found) > 4 else ""
    return Check("modes", "warn", f"{len(found)} path(s) open to other users: {shown}{more}; "
                 f"fix: cappuccino doctor --fix-modes (or {chmod_command([p for p, _ in found])})")


def run_checks(cfg: Config, send_notification: bool = False,
               fix_modes: bool = False) -> list[Check]:
    checks: list[Callable[[], Check]] = [
        check_python, check_torch, check_nvml, lambda: check_store(cfg),
        lambda: check_free_pages(cfg),
        lambda: check_split_store(cfg),
        lambda: check_disk(cfg), lambda: check_key_file(cfg), lambda: check_supervisor(cfg),
        lambda: check_notify(cfg, send_notification), lambda: check_modes(cfg, fix_modes)]
    out = []
    for fn in checks:
        try:
            out.append(fn())
        except Exception as e:  # one broken check must not hide the others
            out.append(Check(getattr(fn, "__name__", "check"), "fail", f"{type(e).__name__}: {e}"))
    return out
