"""`.ci/setup` picks torch's build from the NVIDIA driver (`--torch-plan` and
CAPPUCCINO_SETUP_DRY_RUN=1 install nothing).

A stand-in `nvidia-smi` on PATH plays the driver (it lists GPUs, reports a driver version,
or fails as a driver that cannot talk to its GPU does); this machine has none, so the CUDA
install itself is not exercised here (it is the same pip call with another requirement and
index, which the dry run prints).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LISTING = "GPU 0: NVIDIA H200 (UUID: GPU-0f3c)\nGPU 1: NVIDIA H200 (UUID: GPU-9a1e)\n"
INDEX = "https://download.pytorch.org/whl"


def fake_driver(folder: Path, listing: str = LISTING, code: int = 0,
                driver: str = "580.95.05") -> Path:
    """An `nvidia-smi` that answers -L, the driver-version query and the plain header."""
    folder.mkdir(parents=True, exist_ok=True)
    exe = folder / "nvidia-smi"
    exe.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f"  *-L*) printf '%s' '{listing}' ;;\n"
        f"  *driver_version*) [ -n '{driver}' ] && printf '%s\\n' '{driver}' ;;\n"
        f"  *) printf '| NVIDIA-SMI {driver}   Driver Version: {driver}   CUDA Version: 13.0 |\\n' ;;\n"
        "esac\n"
        f"exit {code}\n")
    exe.chmod(0o755)
    return folder


def _env(path_prefix: Path | None, env: dict[str, str]) -> dict[str, str]:
    full = {k: v for k, v in os.environ.items()
            if k not in ("CAPPUCCINO_TORCH", "CAPPUCCINO_SETUP_DRY_RUN")}
    # no real nvidia-smi may answer for the stand-in (or for its absence)
    dirs = [d for d in full["PATH"].split(":") if not (Path(d) / "nvidia-smi").exists()]
    full["PATH"] = ":".join(([str(path_prefix)] if path_prefix else []) + dirs)
    full.update(env)
    return full


def plan(path_prefix: Path | None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", ".ci/setup", "--torch-plan"], cwd=ROOT,
                          env=_env(path_prefix, env), capture_output=True, text=True, timeout=30)


def _fields(out: subprocess.CompletedProcess[str]) -> list[str]:
    assert out.returncode == 0, out.stderr
    return out.stdout.strip().split(" ", 4)  # want, build, requirement, index, why


@pytest.mark.parametrize(("driver", "build", "requirement", "index"), [
    # CUDA 13.0 needs 580+: the package index's default Linux wheel, never the local +cpu one
    ("580.95.05", "cu130", "torch==2.13.0,!=2.13.0+cpu", "default"),
    ("590.10", "cu130", "torch==2.13.0,!=2.13.0+cpu", "default"),
    ("570.86.15", "cu128", "torch==2.13.0+cu128", f"{INDEX}/cu128"),
    ("560.35.03", "cu126", "torch==2.13.0+cu126", f"{INDEX}/cu126"),
    # CUDA 12 minor-version compatibility: a 12.6 runtime on a 525+ driver
    ("535.183.01", "cu126", "torch==2.13.0+cu126", f"{INDEX}/cu126"),
])
def test_a_driver_gets_the_cuda_build_it_supports(tmp_path: Path, driver: str, build: str,
                                                  requirement: str, index: str) -> None:
    got = _fields(plan(fake_driver(tmp_path / "bin", driver=driver)))
    assert got == ["cuda", build, requirement, index,
                   f"NVIDIA driver {driver} sees: NVIDIA H200,NVIDIA H200"]


def test_the_driver_version_is_read_from_the_header_when_the_query_says_nothing(
        tmp_path: Path) -> None:
    exe = fake_driver(tmp_path / "bin", driver="570.86.15") / "nvidia-smi"
    exe.write_text(exe.read_text().replace("*driver_version*)", "*driver_version*) exit 6;;"
                                                                "  *never*)"))
    assert _fields(plan(exe.parent))[:2] == ["cuda", "cu128"]


def test_a_driver_too_old_for_any_cuda_build_gets_the_cpu_build_and_says_why(
        tmp_path: Path) -> None:
    want, build, requirement, index, why = _fields(
        plan(fake_driver(tmp_path / "bin", driver="470.256.02")))
    assert (want, build, requirement, index) == ("cpu", "cpu", "torch==2.13.0", "default")
    assert why.startswith("NVIDIA driver 470.256.02 is older than") and "update it" in why


@pytest.mark.parametrize("listing,code", [("", 0), ("No devices were found\n", 6),
                                          ("NVIDIA-SMI has failed because it couldn't "
                                           "communicate with the NVIDIA driver.\n", 9)])
def test_no_gpu_listed_gets_the_cpu_build(tmp_path: Path, listing: str, code: int) -> None:
    got = _fields(plan(fake_driver(tmp_path / "bin", listing, code)))
    assert got == ["cpu", "cpu", "torch==2.13.0", "default",
                   "no NVIDIA driver (nvidia-smi -L lists no GPU)"]


def test_no_nvidia_smi_at_all_gets_the_cpu_build() -> None:
    assert _fields(plan(None))[:2] == ["cpu", "cpu"]


def test_the_choice_can_be_forced_and_a_bad_one_is_refused(tmp_path: Path) -> None:
    bin_ = fake_driver(tmp_path / "bin")
    assert _fields(plan(bin_, CAPPUCCINO_TORCH="cpu"))[:4] == [
        "cpu", "cpu", "torch==2.13.0", "default"]
    assert _fields(plan(None, CAPPUCCINO_TORCH="cu128"))[:4] == [
        "cuda", "cu128", "torch==2.13.0+cu128", f"{INDEX}/cu128"]
    assert _fields(plan(None, CAPPUCCINO_TORCH="cuda"))[:2] == ["cuda", "cu130"]
    bad = plan(None, CAPPUCCINO_TORCH="rocm")
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "setup: CAPPUCCINO_TORCH=rocm: expected cpu, cuda, cu126, cu128 or cu130")


@pytest.mark.parametrize(("driver", "said"), [
    ("570.86.15", f"would install torch's cu128 build: torch==2.13.0+cu128 from {INDEX}/cu128 "
                  "(NVIDIA driver 570.86.15 sees: NVIDIA H200,NVIDIA H200)"),
    ("580.95.05", "would install torch's cu130 build: torch==2.13.0,!=2.13.0+cpu from the "
                  "default package index"),
    (None, "would install torch's cpu build: torch==2.13.0 from the default package index "
           "(no NVIDIA driver"),
])
def test_the_dry_run_says_what_it_would_install_and_installs_nothing(
        tmp_path: Path, driver: str | None, said: str) -> None:
    """The set-up's own path (not --torch-plan) on a fresh copy: no .venv is made."""
    (tmp_path / "repo" / ".ci").mkdir(parents=True)
    shutil.copy(ROOT / ".ci" / "setup", tmp_path / "repo" / ".ci" / "setup")
    bin_ = fake_driver(tmp_path / "bin", driver=driver) if driver else None
    out = subprocess.run(["bash", ".ci/setup", "--test"], cwd=tmp_path / "repo",
                         env=_env(bin_, {"CAPPUCCINO_SETUP_DRY_RUN": "1"}),
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert said in out.stdout and "dry run (CAPPUCCINO_SETUP_DRY_RUN): nothing installed" in \
        out.stdout
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [".ci"]
