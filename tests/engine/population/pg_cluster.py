"""A throwaway PostgreSQL cluster for tests: initdb + pg_ctl on a temp folder and a free port.

`start()` returns the cluster or raises Unavailable with the reason (no server binaries,
no psycopg2 driver, root without a `postgres` user); tests skip with that reason.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


class Unavailable(Exception):
    pass


def _binary(name: str) -> str:
    found = shutil.which(name) or next(iter(sorted(glob.glob(
        f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if not found:
        raise Unavailable(f"PostgreSQL server not installed ({name} not found; Debian: "
                          "apt-get install postgresql)")
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    root: Path
    port: int
    prefix: list[str]
    pg_ctl: str

    @property
    def url(self) -> str:
        return f"postgresql+psycopg2://cap@127.0.0.1:{self.port}/studies"

    def stop(self) -> None:
        subprocess.run([*self.prefix, self.pg_ctl, "-D", str(self.root / "data"), "-m",
                        "immediate", "-w", "stop"], capture_output=True, timeout=60)
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> Cluster:
    try:
        import psycopg2
    except ImportError:
        raise Unavailable("psycopg2 not installed (pip install cappuccino[postgres])") from None
    initdb, pg_ctl = _binary("initdb"), _binary("pg_ctl")
    root = Path(tempfile.mkdtemp(prefix="cappuccino-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:   # the server refuses to run as root
        import pwd

        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            raise Unavailable("running as root and there is no 'postgres' user") from None
        os.chown(root, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()
    init = subprocess.run([*prefix, initdb, "-D", str(data), "-U", "cap", "--auth=trust",
                           "-E", "UTF8", "--no-sync"], capture_output=True, text=True,
                          timeout=120)
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise Unavailable(f"initdb failed: {init.stderr.strip()[-300:]}")
    up = subprocess.run([*prefix, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w",
                         "-o", f"-p {port} -h 127.0.0.1 -k {root} -c fsync=off", "start"],
                        capture_output=True, text=True, timeout=120)
    cluster = Cluster(root, port, prefix, pg_ctl)
    if up.returncode != 0:
        cluster.stop()
        raise Unavailable(f"pg_ctl start failed: {up.stderr.strip()[-300:]}")
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="cap", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("CREATE DATABASE studies")
    conn.close()
    return cluster
