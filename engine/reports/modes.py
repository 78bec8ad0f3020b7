"""File modes of what Cappuccino keeps: the store and its WAL files, logs, models, the run
folder, the data cache and the key file must be the operator's alone (0600 files, 0700
folders). `cappuccino doctor` lists looser ones; `--fix-modes` drops their group and other
bits. Folders Cappuccino did not make for itself (a shared store folder such as /tmp, or
the home folder) are never touched.
"""

from __future__ import annotations

import os
import shlex
import stat
from pathlib import Path

from engine.config import Config
from engine.files import loose, tighten

MAX_ENTRIES = 20_000  # a walk of the models/log folders stops here (doctor stays quick)


def _own_folder(p: Path) -> bool:
    """A folder we may tighten: ours, not shared (sticky), not the home or root folder."""
    try:
        st = p.stat()
    except OSError:
        return False
    return (st.st_uid == os.getuid() and not st.st_mode & stat.S_ISVTX
            and p.resolve() not in (Path.home().resolve(), Path("/")))


def private_paths(cfg: Config) -> list[Path]:
    """Every existing path that should be private."""
    store = Path(cfg.store.path)
    out: list[Path] = []
    if _own_folder(store.parent):
        out.append(store.parent)
    out += [p for p in (store, Path(f"{store}-wal"), Path(f"{store}-shm"),
                        Path(f"{store}.supervisor.lock")) if p.exists()]
    if cfg.secrets.key_file:
        out.append(Path(cfg.secrets.key_file))
    seen = 0
    for root in (cfg.paths.logs, cfg.paths.models, cfg.paths.run, cfg.paths.data):
        top = Path(root)
        if not top.is_dir() or not _own_folder(top):
            continue
        out.append(top)
        for dirpath, dirs, files in os.walk(top):
            for name in dirs + files:
                seen += 1
                if seen > MAX_ENTRIES:
                    return out
                out.append(Path(dirpath) / name)
    return out


def loose_paths(cfg: Config) -> list[tuple[Path, int]]:
    """(path, mode) of each private path that group or others may use."""
    found = []
    for p in private_paths(cfg):
        if p.is_symlink():
            continue
        bits = loose(p)
        if bits:
            found.append((p, p.stat().st_mode & 0o777))
    return found


def fix_modes(cfg: Config) -> list[Path]:
    fixed = []
    for p, _ in loose_paths(cfg):
        tighten(p)
        fixed.append(p)
    return fixed


def chmod_command(paths: list[Path], limit: int = 8) -> str:
    shown = " ".join(shlex.quote(str(p)) for p in paths[:limit])
    return f"chmod go-rwx {shown}" + (" ..." if len(paths) > limit else "")
