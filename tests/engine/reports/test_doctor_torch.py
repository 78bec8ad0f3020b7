"""`cappuccino doctor`'s torch line: version, CUDA or CPU build, whether CUDA is usable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.ci.test_setup import fake_driver


def _torch_line(tmp_path: Path, path_prefix: Path | None = None) -> str:
    cfg = tmp_path / "cappuccino.toml"
    cfg.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAPPUCCINO_")}
    if path_prefix is not None:
        env["PATH"] = f"{path_prefix}:{env['PATH']}"
    out = subprocess.run([sys.executable, "-m", "engine.cli.main", "--config", str(cfg),
                          "doctor"], capture_output=True, text=True, env=env, timeout=120)
    return next(x for x in out.stdout.splitlines() if x.split()[1:2] == ["torch"])


def test_the_torch_line_names_the_build_and_cuda(tmp_path: Path) -> None:
    line = _torch_line(tmp_path)
    assert f"torch {torch.__version__}, " in line
    if torch.version.cuda is None:
        assert "CPU build; CUDA usable: no" in line
    else:
        usable = "yes" if torch.cuda.is_available() else "no"
        assert f"CUDA {torch.version.cuda} build; CUDA usable: {usable}" in line


def test_a_cpu_build_beside_an_nvidia_driver_is_a_warning(tmp_path: Path) -> None:
    if torch.version.cuda is not None:
        pytest.skip("torch here is a CUDA build: the CPU-build warning cannot show")
    line = _torch_line(tmp_path, fake_driver(tmp_path / "bin"))
    assert line.startswith("WARN") and "CPU build; CUDA usable: no" in line
    assert "NVIDIA H200" in line and "bash .ci/setup" in line
