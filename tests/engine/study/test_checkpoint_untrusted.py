"""A checkpoint is data, never code: a file planted in a trial's checkpoint folder cannot run.

`[paths] models` may be a folder shared between hosts (engine.study.mirror), and the
checkpoint's checksum is no signature: whoever writes the folder writes a matching one. So a
checkpoint whose pickle names a callable (here `os.system`) must be refused as unreadable,
and the trial falls back to a fresh start, without the callable ever running. A real
trial's checkpoint (agent, optimizer, RNG states, the trace) still loads.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from pathlib import Path

from engine.study import checkpoint as ckpt

ROOT = Path(__file__).resolve().parents[3]


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def plant(directory: Path, step: int, marker: Path) -> Path:
    """A checkpoint file with the right header and checksum around a hostile pickle."""
    payload = pickle.dumps({"state": _Payload(marker)}, protocol=2)
    directory.mkdir(parents=True, exist_ok=True)
    path = ckpt.checkpoint_path(directory, step)
    path.write_bytes(ckpt.MAGIC + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    return path


def test_a_planted_checkpoint_never_runs_and_falls_back(tmp_path: Path) -> None:
    folder = tmp_path / "models" / "s" / "trial-0" / "checkpoints"
    marker = tmp_path / "pwned"
    plant(folder, 7, marker)
    # the resume path a worker runs, in its own process
    code = ("import sys; from pathlib import Path; from engine.study import checkpoint as c; "
            "r = c.load_latest(Path(sys.argv[1])); "
            "print(r.step if r else None, [w for _p, w in r.skipped] if r else [])")
    proc = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not marker.exists(), "the checkpoint ran a command"
    assert proc.stdout.startswith("-1 ") and "unreadable" in proc.stdout, proc.stdout


def test_a_real_trials_checkpoint_still_loads(tmp_path: Path) -> None:
    import torch

    from engine.agent.hyperparams import Hyperparams
    from engine.agent.ppo import PPO
    from engine.study.trace import Trace

    agent = PPO(obs_dim=6, act_dim=2, hp=Hyperparams(hidden=8, n_envs=2, n_steps=4),
                device="cpu", seed=3)
    t = Trace()
    import numpy as np

    t.add_split(0, np.arange(4), np.zeros(4))
    t.add_active(0, np.ones(4))
    state = {"unit_i": 1, "scores": [0.5], "split_metrics": [{"split": 0, "sharpe": 0.1}],
             "global_updates": 3, "elapsed": 1.5, "trace": t.to_state(), "curve": [0.1],
             "agent": agent.state_dict()}
    path = ckpt.save(tmp_path, 3, state)
    back = ckpt.read(path)
    assert back["scores"] == [0.5] and back["trace"] == t.to_state()
    for k, v in agent.state_dict()["actor"].items():
        assert torch.equal(back["agent"]["actor"][k], v)
    assert torch.equal(back["agent"]["gen"], agent.state_dict()["gen"])
