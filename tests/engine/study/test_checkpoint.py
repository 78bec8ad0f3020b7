"""Checkpoints: atomic write with checksum, keep last K, corrupt ones skipped for older."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.study import checkpoint as ckpt


def state(step: int) -> dict:
    return {"step": step, "w": torch.full((3,), float(step))}


def test_save_load_prune(tmp_path: Path) -> None:
    for step in (2, 4, 6, 8):
        ckpt.save(tmp_path, step, state(step))
    assert [s for s, _ in ckpt.list_steps(tmp_path)] == [8, 6, 4, 2]
    gone = ckpt.prune(tmp_path, keep=2)
    assert sorted(p.name for p in gone) == ["ckpt-000000002.pt", "ckpt-000000004.pt"]
    loaded = ckpt.load_latest(tmp_path)
    assert loaded is not None and loaded.step == 8 and not loaded.skipped
    assert torch.equal(loaded.state["w"], torch.full((3,), 8.0))
    assert not list(tmp_path.glob(".*.tmp"))  # no temp files left behind


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty", "garbage"])
def test_corrupt_newest_falls_back_to_previous(tmp_path: Path, damage: str) -> None:
    ckpt.save(tmp_path, 2, state(2))
    newest = ckpt.save(tmp_path, 4, state(4))
    blob = bytearray(newest.read_bytes())
    if damage == "flip":
        blob[-10] ^= 0xFF
    elif damage == "truncate":
        blob = blob[: len(blob) // 2]
    elif damage == "empty":
        blob = bytearray()
    else:
        blob = bytearray(b"not a checkpoint at all")
    newest.write_bytes(bytes(blob))
    with pytest.raises(ckpt.CheckpointError):
        ckpt.read(newest)
    loaded = ckpt.load_latest(tmp_path)
    assert loaded is not None and loaded.step == 2
    assert loaded.skipped and loaded.skipped[0][0] == str(newest)


def test_all_corrupt_means_fresh_start_with_a_record(tmp_path: Path) -> None:
    p = ckpt.save(tmp_path, 2, state(2))
    p.write_bytes(b"x")
    loaded = ckpt.load_latest(tmp_path)
    assert loaded is not None and loaded.state == {} and len(loaded.skipped) == 1
    assert ckpt.load_latest(tmp_path / "none") is None
