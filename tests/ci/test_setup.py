"""`.ci/setup` picks torch's build from the NVIDIA driver (`--torch-plan` installs nothing).

A stand-in `nvidia-smi` on PATH plays the driver: this machine has none, so the CUDA
install itself is not exercised here (it is the same pip call with another requirement).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTING = "GPU 0: NVIDIA H200 (UUID: GPU-0f3c)\nGPU 1: NVIDIA H200 (UUID: GPU-9a1e)\n"


def fake_driver(folder: Path, listing: str = LISTING, code: int = 0) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text(f"#!/bin/sh\nprintf '%s' '{listing}'\nexit {code}\n")
    exe.chmod(0o755)
    return folder


def plan(path_prefix: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    full = {k: v for k, v in os.environ.items() if k != "CAPPUCCINO_TORCH"}
    if path_prefix is not None:
        full["PATH"] = f"{path_prefix}:{full['PATH']}"
    full.update(env)
    return subprocess.run(["bash", ".ci/setup", "--torch-plan"], cwd=ROOT, env=full,
                          capture_output=True, text=True, timeout=30)


def test_a_driver_that_lists_gpus_gets_the_cuda_build(tmp_path: Path) -> None:
    out = plan(fake_driver(tmp_path / "bin"))
    want, requirement, why = out.stdout.strip().split(" ", 2)
    assert (out.returncode, want) == (0, "cuda")
    # Same version, never the local +cpu wheel.
    assert requirement == "torch==2.13.0,!=2.13.0+cpu"
    assert why == "NVIDIA driver sees: NVIDIA H200,NVIDIA H200"


@pytest.mark.parametrize("listing,code", [("", 0), ("No devices were found\n", 6)])
def test_no_gpu_listed_gets_the_cpu_build(tmp_path: Path, listing: str, code: int) -> None:
    out = plan(fake_driver(tmp_path / "bin", listing, code))
    assert out.returncode == 0 and out.stdout.startswith("cpu torch==2.13.0 no NVIDIA driver")


def test_the_choice_can_be_forced_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    assert plan(fake_driver(tmp_path / "bin"), CAPPUCCINO_TORCH="cpu").stdout.startswith(
        "cpu torch==2.13.0 CAPPUCCINO_TORCH=cpu")
    bad = plan(None, CAPPUCCINO_TORCH="rocm")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "setup: CAPPUCCINO_TORCH=rocm: expected cpu or cuda")
