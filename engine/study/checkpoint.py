"""Trial checkpoints: atomic files (temp, fsync, rename) with a checksum, last K kept.

File layout: b"CAPCKPT1 " + sha256 hex of the payload + b"\\n" + torch.save payload. A file
whose checksum does not match, or that torch cannot read, is corrupt: `load_latest` skips
it (and says so) and falls back to the previous checkpoint, or to a fresh start.
"""

from __future__ import annotations

import hashlib
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.files import write_atomic

MAGIC = b"CAPCKPT1 "
_NAME = re.compile(r"^ckpt-(\d{9})\.pt$")


class CheckpointError(Exception):
    """A checkpoint file that cannot be used (corrupt or truncated)."""


@dataclass(frozen=True)
class Loaded:
    path: Path
    step: int
    state: dict[str, Any]
    skipped: tuple[tuple[str, str], ...]  # (path, why) of corrupt newer checkpoints


def checkpoint_path(directory: Path, step: int) -> Path:
    return directory / f"ckpt-{step:09d}.pt"


def save(directory: Path, step: int, state: dict[str, Any]) -> Path:
    import torch

    buf = io.BytesIO()
    torch.save(state, buf)
    payload = buf.getvalue()
    digest = hashlib.sha256(payload).hexdigest().encode()
    path = checkpoint_path(directory, step)
    write_atomic(path, MAGIC + digest + b"\n" + payload)
    return path


def read(path: Path) -> dict[str, Any]:
    import torch

    try:
        blob = path.read_bytes()
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read ({e.strerror})") from None
    head, sep, payload = blob.partition(b"\n")
    if not sep or not head.startswith(MAGIC):
        raise CheckpointError(f"{path}: not a checkpoint (bad header)")
    if hashlib.sha256(payload).hexdigest().encode() != head[len(MAGIC):]:
        raise CheckpointError(f"{path}: checksum mismatch (corrupt or truncated)")
    try:
        # weights_only: tensors and plain containers, never a callable. The checksum is no
        # signature (a shared models folder is anyone's who can write it), so a pickle that
        # names a function is refused as unreadable instead of run.
        state = torch.load(io.BytesIO(payload), map_location="cpu", weights_only=True)
    except Exception as e:  # a payload torch cannot parse is corrupt, whatever the error
        raise CheckpointError(f"{path}: unreadable ({type(e).__name__})") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path}: unexpected content")
    return state


def list_steps(directory: Path) -> list[tuple[int, Path]]:
    """(step, path), newest first."""
    if not directory.is_dir():
        return []
    out = []
    for p in directory.iterdir():
        m = _NAME.match(p.name)
        if m:
            out.append((int(m.group(1)), p))
    return sorted(out, reverse=True)


def load_latest(directory: Path) -> Loaded | None:
    """The newest readable checkpoint; None (fresh start) when none can be read."""
    skipped: list[tuple[str, str]] = []
    for step, path in list_steps(directory):
        try:
            return Loaded(path, step, read(path), tuple(skipped))
        except CheckpointError as e:
            skipped.append((str(path), str(e)))
    if skipped:
        return Loaded(Path(), -1, {}, tuple(skipped))
    return None


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` checkpoints; returns what was deleted."""
    gone = []
    for _step, path in list_steps(directory)[keep:]:
        path.unlink(missing_ok=True)
        gone.append(path)
    return gone
