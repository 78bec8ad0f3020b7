"""copytruncate rotation with a live O_APPEND writer; tail and follow for `cappuccino logs`."""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

from engine.supervisor.logs import follow, rotate_if_needed, tail_lines
from engine.supervisor.spawn import open_append


def test_rotation_keeps_backups_and_writer_appends_at_new_end(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    fd = open_append(log)  # as a child holds it: the supervisor never reopens it
    try:
        for gen in range(4):
            os.write(fd, f"gen{gen} ".encode() * 50)
            assert rotate_if_needed(log, max_bytes=100, backups=2)
        os.write(fd, b"after\n")
    finally:
        os.close(fd)
    assert log.read_bytes() == b"after\n"  # no hole of NULs: O_APPEND wrote at offset 0
    assert (tmp_path / "x.log.1").read_text().startswith("gen3")
    assert (tmp_path / "x.log.2").read_text().startswith("gen2")
    assert not (tmp_path / "x.log.3").exists()
    assert not rotate_if_needed(log, max_bytes=100, backups=2)  # small: left alone


def test_tail_and_grep_read_from_the_end(tmp_path: Path) -> None:
    log = tmp_path / "y.log"
    lines = [f"line {i} {'ERR' if i % 7 == 0 else 'ok'}" for i in range(20000)]
    log.write_text("".join(f"{ln}\n" for ln in lines))  # ~340 kB: several 64 kB chunks
    assert tail_lines(log, 3) == lines[-3:]
    assert tail_lines(log, 2, re.compile("ERR")) == [ln for ln in lines if "ERR" in ln][-2:]
    assert tail_lines(log, 30000) == lines
    assert tail_lines(log, 0) == []


def test_follow_survives_truncation(tmp_path: Path) -> None:
    log = tmp_path / "z.log"
    log.write_text("old\n")
    got: list[str] = []
    done = threading.Event()

    def reader() -> None:
        for line in follow(log, poll_s=0.02):
            got.append(line)
            if line == "second":
                done.set()
                return

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    fd = open_append(log)
    try:
        import time

        time.sleep(0.1)
        os.write(fd, b"first\n")
        time.sleep(0.1)
        os.ftruncate(fd, 0)  # what copytruncate does
        time.sleep(0.1)
        os.write(fd, b"second\n")
        assert done.wait(5)
    finally:
        os.close(fd)
    assert got == ["first", "second"]
