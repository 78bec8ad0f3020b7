"""A log path in a `processes` row is a claim: only files under [paths] logs are a log.

The supervisor rotates (copies, then truncates) each child's log once it passes
log_max_bytes, and `cappuccino logs NAME` and the console print it. The path comes from the
row, and a row is anyone's who can write the store: pointed at a file outside the logs
folder, an adopting supervisor (often root) would truncate that file, and `logs` would
print it. Here the row of a real adopted child names such a file; it stays whole and unread.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

SLEEPER = "import time\nprint('child up', flush=True)\ntime.sleep(600)\n"
SECRET = "TOP-SECRET-LINE-8812"


def test_a_forged_log_path_is_never_rotated_nor_printed(harness, script, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    h = harness()
    victim = tmp_path / "elsewhere" / "database.file"
    victim.parent.mkdir()
    victim.write_text((SECRET + "\n") * 2000)  # past log_max_bytes (10000 in the harness)
    size = victim.stat().st_size
    first = h.supervise()
    h.start_exec("job", script("job.py", SLEEPER))
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    with h.store() as s, s.write():
        s.conn.execute("UPDATE processes SET log_path = ? WHERE name = 'job'", (str(victim),))
    h.supervise()
    h.wait_for(lambda: "adopted job" in h.output(2), what="adoption")
    time.sleep(40 * h.cfg.supervisor.poll_s)  # many rotation rounds (one per poll)
    assert victim.stat().st_size == size, "the supervisor truncated a file outside the logs"
    assert not list(victim.parent.glob("database.file.*")), "a rotation copy was made"
    out = h.cli("logs", "job", "-n", "5")
    assert SECRET not in out.stdout + out.stderr
    assert "child up" in out.stdout, out
