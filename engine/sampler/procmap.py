"""Map pids to our supervised processes: their own pid and all their children's pids."""

from __future__ import annotations

import psutil

from store.db import Store
from store.processes import list_processes


def supervised_pids(store: Store) -> dict[int, str]:
    """pid -> process name, for each live supervised process (create_time checked) and its tree."""
    out: dict[int, str] = {}
    for row in list_processes(store):
        if row.pid is None:
            continue
        try:
            proc = psutil.Process(int(row.pid))
            if row.create_time is not None and abs(proc.create_time() - row.create_time) > 1:
                continue  # the pid was reused by someone else
            out[proc.pid] = row.name
            for child in proc.children(recursive=True):
                out.setdefault(child.pid, row.name)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return out
