"""Evidence through the shared study storage: two hosts with separate models paths compute
the same PBO and DSR over every trial, and what another machine put in the storage is
checked before a byte of it is written.

Two stores share `sqlite:///optuna.db` (an RDB storage, like PostgreSQL in
tests/engine/population/test_postgres_hosts.py); each host has its own `[paths] models`.
The trials' traces are planted (engine.study.synthetic) and published with the worker's
own `finish`.
"""

from __future__ import annotations

import base64
import io
import zlib
from pathlib import Path

import numpy as np
import pytest

from engine.study import evidence_share as share
from engine.study.evidence import study_evidence
from engine.study.runner import StudyRun
from engine.study.storage import trial_handle
from engine.study.synthetic import EDGE, FEE_NOISE, write_planted
from engine.study.worker import Overhead, finish, trial_dir
from store import registry


def host(make_config, tmp_path: Path, name: str) -> StudyRun:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    cfg = make_config(f'[store]\npath = "{name}/cappuccino.db"\n[paths]\nmodels = "{name}/models"\n'
                      f'[study]\nstorage = "{url}"\n', name=f"{name}.toml")
    return StudyRun(cfg, "shared", "5m", 4, launcher="direct", log=lambda m: None)


def run_trial(run: StudyRun, mean: float) -> int:
    """A trial as this host's worker ends it: evidence file, attempt, published outcome."""
    n = run._new_trial()
    folder = trial_dir(run.cfg, "shared", n)
    write_planted(Path(run.cfg.paths.models), "shared", n, mean, seeds=2)
    att = registry.start_attempt(run.store, "shared", n, {}, device="cpu")
    registry.end_attempt(run.store, att.id, "COMPLETE", objective=mean * 1e3,
                         model_path=str(folder), progress=1.0)
    final = registry.get_attempt(run.store, att.id)
    assert final is not None
    finish(run.optuna, trial_handle(run.optuna, n), n, final, Overhead(), run.store,
           folder=folder)
    return n


def test_two_hosts_with_separate_models_compute_the_same_evidence(make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = host(make_config, tmp_path, "a"), host(make_config, tmp_path, "b")
    try:
        assert a.cfg.paths.models != b.cfg.paths.models
        mine = [run_trial(a, EDGE), run_trial(a, FEE_NOISE)]
        theirs = [run_trial(b, FEE_NOISE), run_trial(b, FEE_NOISE / 2)]
        a.mirror_remote()
        b.mirror_remote()
        for src_run, dst_run, numbers in ((a, b, mine), (b, a, theirs)):
            for n in numbers:   # each host's files arrive under the other's, byte for byte
                src = trial_dir(src_run.cfg, "shared", n) / "evidence.npz"
                dst = trial_dir(dst_run.cfg, "shared", n) / "evidence.npz"
                assert dst.read_bytes() == src.read_bytes()
        ea, eb = (study_evidence(r.cfg, r.store, "shared").to_json() for r in (a, b))
        assert ea["trials_attempted"] == eb["trials_attempted"] == 4
        assert ea["trials_with_evidence"] == eb["trials_with_evidence"] == 4
        assert ea["pbo"] == eb["pbo"] and ea["pbo"] is not None
        assert ea["best"]["trial"] == eb["best"]["trial"] == mine[0]
        assert ea["best"]["dsr"] == eb["best"]["dsr"]
        assert ea["best"]["holdout_ci"] == eb["best"]["holdout_ci"]
    finally:
        a.close()
        b.close()


def good_attr(tmp_path: Path) -> dict:
    write_planted(tmp_path, "s", 0, EDGE)
    attr = share.pack(tmp_path / "s" / "trial-0")
    assert attr is not None
    return attr


def pickled_npz() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, s0_bars=np.array([object()], dtype=object))
    return buf.getvalue()


def attr_of(raw: bytes, **over: object) -> dict:
    import hashlib

    return {"v": 1, "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest(),
            "zlib_b64": base64.b64encode(zlib.compress(raw)).decode(), **over}


@pytest.mark.parametrize("case", ["not a dict", "version", "sha", "size", "base64", "zlib",
                                  "bomb", "pickle", "not npz"])
def test_untrusted_evidence_is_refused_and_nothing_is_written(tmp_path, case) -> None:  # type: ignore[no-untyped-def]
    attr = good_attr(tmp_path)
    bomb = zlib.compress(b"\0" * (share.MAX_BYTES + 10))
    bad = {
        "not a dict": "evidence",
        "version": {**attr, "v": 2},
        "sha": {**attr, "sha256": "0" * 64},
        "size": {**attr, "bytes": attr["bytes"] - 1},
        "base64": {**attr, "zlib_b64": "!!not base64!!"},
        "zlib": {**attr, "zlib_b64": base64.b64encode(b"not zlib").decode()},
        "bomb": {**attr, "bytes": share.MAX_BYTES,
                 "zlib_b64": base64.b64encode(bomb).decode()},
        "pickle": attr_of(pickled_npz()),
        "not npz": attr_of(b"PK\x03\x04 not really a zip"),
    }[case]
    folder = tmp_path / "other" / "trial-7"
    with pytest.raises(share.BadEvidence):
        share.write(folder, bad)
    assert not folder.exists() or list(folder.iterdir()) == []


def test_a_good_file_is_written_once_and_never_replaced(tmp_path) -> None:  # type: ignore[no-untyped-def]
    attr = good_attr(tmp_path)
    folder = tmp_path / "other" / "trial-7"
    assert share.write(folder, attr) is True
    first = (folder / "evidence.npz").read_bytes()
    other = good_attr(tmp_path / "x")
    other_raw = share.unpack(other)
    assert share.write(folder, attr_of(other_raw[:-1] + b"\0")) is False   # already there
    assert (folder / "evidence.npz").read_bytes() == first


def test_a_forged_attr_in_the_storage_is_skipped_with_a_note(make_config, tmp_path) -> None:  # type: ignore[no-untyped-def]
    a, b = host(make_config, tmp_path, "a"), host(make_config, tmp_path, "b")
    notes: list[str] = []
    b.log = notes.append
    try:
        n = a._new_trial()   # another machine's trial whose evidence attr is forged
        trial_handle(a.optuna, n).set_user_attr(
            share.ATTR_EVIDENCE, {"v": 1, "bytes": 10, "sha256": "0" * 64, "zlib_b64": ""})
        a.optuna.tell(n, 0.5)
        b.mirror_remote()
        assert not (trial_dir(b.cfg, "shared", n) / "evidence.npz").exists()
        assert any(f"trial {n}: evidence from the study storage skipped" in m for m in notes)
        rows = registry.list_attempts(b.store, "shared")
        assert [r.trial for r in rows] == [n]   # still mirrored; it counts in N
    finally:
        a.close()
        b.close()


def test_study_sync_brings_a_finished_hosts_trials_and_evidence(make_config, tmp_path,
                                                               capsys) -> None:  # type: ignore[no-untyped-def]
    import json

    from engine.cli.main import main

    a, b = host(make_config, tmp_path, "a"), host(make_config, tmp_path, "b")
    try:
        mine = [run_trial(a, EDGE), run_trial(a, FEE_NOISE)]
        run_trial(b, FEE_NOISE)   # B's driver has ended: it never polled A's trials
        capsys.readouterr()
        assert main(["--config", str(tmp_path / "b.toml"), "study", "sync", "--study", "shared",
                     "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["mirrored"] == 2 and doc["best_trial"] == mine[0] and doc["skipped"] == []
        ev = study_evidence(b.cfg, b.store, "shared")
        assert ev.trials_attempted == ev.trials_with_evidence == 3
        assert doc["pbo"] == ev.pbo and ev.best is not None and ev.best.trial == mine[0]
    finally:
        a.close()
        b.close()
