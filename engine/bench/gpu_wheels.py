"""The Python packages the GPU machine lacks for engine.bench.gpu_check, fetched as wheels.

    .venv/bin/python -m engine.bench.gpu_wheels [--dest .whl] [--dry-run]

The lent GPU machine reaches no package index. Its image (python3 3.12, torch 2.11 with
CUDA 13, triton, numpy, psutil, nvidia-ml-py, tqdm, ...) lacks what the check's `train`
process and the config need: pydantic (with pydantic-core, annotated-types,
typing-inspection and a recent typing_extensions) and optuna (with colorlog). This fetches
those, at the versions installed here (the ones the tests ran), as cp312 manylinux wheels
into --dest (about 3 MB; .gitignore keeps `.whl/` out of commits), then prints the one
command to run there, with `.whl` named in the device tool's `carry`.

tests/engine/bench/test_gpu_check.py records every module the check's processes import and
fails if one is neither on the image (DEVICE_HAS) nor fetched here (CARRY).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from importlib import metadata

# import name -> distribution, for what the GPU image lacks
CARRY = {"pydantic": "pydantic", "pydantic_core": "pydantic_core",
         "annotated_types": "annotated-types", "typing_inspection": "typing-inspection",
         "typing_extensions": "typing_extensions", "optuna": "optuna", "colorlog": "colorlog"}
# Import names on the GPU image (its package list, read 2026-11-17), as far as the check
# imports them. typing_extensions is there too, but possibly older than pydantic needs.
DEVICE_HAS = frozenset({"numpy", "torch", "torchgen", "triton", "psutil", "pynvml", "tqdm",
                        "packaging", "sympy", "mpmath", "tabulate", "yaml", "filelock",
                        "jinja2", "markupsafe", "networkx", "fsspec", "cython_runtime"})
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
             "manylinux2014_x86_64", "manylinux1_x86_64")
DEVICE_PYTHON = "3.12"
CHECK_TIMEOUT_S = 340   # gpu_check's 300 s budget, its watchdog's 20 s and some margin
DEVICE_COMMAND = (
    "set -o pipefail; python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade "
    "--target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 || exit; "
    "nvidia-smi -L; timeout -k 5 {timeout} python3 -m engine.bench.gpu_check "
    "--out $OUT/gpu_check.json 2>&1 | tee $OUT/gpu_check.log")


def requirements() -> list[str]:
    """name==version for each package to carry, at the version installed here."""
    return [f"{dist}=={metadata.version(dist)}" for dist in CARRY.values()]


def pip_command(dest: str, python: str = DEVICE_PYTHON) -> list[str]:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--python-version", python, "--implementation", "cp", "-d", dest]
    for plat in PLATFORMS:
        cmd += ["--platform", plat]
    return cmd + requirements()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--dest", default=".whl")
    p.add_argument("--dry-run", action="store_true", help="print the pip command, fetch nothing")
    p.add_argument("--python-version", default=DEVICE_PYTHON,
                   help=f"the GPU image's Python ({DEVICE_PYTHON}; another to rehearse here)")
    args = p.parse_args(argv)
    cmd = pip_command(args.dest, args.python_version)
    print(" ".join(cmd))
    if not args.dry_run:
        rc = subprocess.call(cmd)
        if rc:
            print(f"gpu_wheels: pip download exited {rc}", file=sys.stderr)
            return 1
    print("on the GPU machine (device tool: carry [\".whl\"], timeout_s "
          f"{CHECK_TIMEOUT_S + 40}):")
    print(DEVICE_COMMAND.format(timeout=CHECK_TIMEOUT_S))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
