"""Run the benchmark modules and assemble the JSON object of design.md."""

from __future__ import annotations

import importlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from engine.bench import BENCH_MODULES, Result


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
    }
    try:
        import torch

        torch.set_num_threads(1)  # as every bench process does (run_module)
        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception as e:  # bench still reports the rest
        info["torch"] = f"unavailable: {e}"
    return info


def run_module(name: str, quick: bool) -> dict[str, Any]:
    """One bench module, in this process: {"results": {...}} or {"error": "..."}."""
    import torch

    torch.set_num_threads(1)  # the figures the issues name are per single-threaded process
    module = importlib.import_module(BENCH_MODULES[name])
    with tempfile.TemporaryDirectory(prefix=f"cappuccino-bench-{name}-") as tmp:
        try:
            out: dict[str, Result] = module.run(quick=quick, workdir=Path(tmp))
        except Exception as e:  # a failing module is reported; the other benches still run
            traceback.print_exc()
            return {"error": f"{type(e).__name__}: {e}"}
    return {"results": {key: res.to_json() for key, res in out.items()}}


def run_all(quick: bool, only: list[str] | None = None) -> dict[str, Any]:
    """Each module runs in a fresh interpreter, so one benchmark's heap, threads and caches
    never weigh on the next (a console measured after a million-row store bench sees
    garbage-collection pauses the real console never has)."""
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    seconds: dict[str, float] = {}
    for name in BENCH_MODULES:
        if only and name not in only:
            continue
        started = time.perf_counter()
        code = ("import json, sys; from engine.bench.runner import run_module; "
                f"print(json.dumps(run_module({name!r}, {quick!r})))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        sys.stderr.write(proc.stderr)
        try:
            out = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            out = {"error": f"bench process exited {proc.returncode} without a result"}
        if "error" in out:
            errors[name] = out["error"]
        else:
            results.update(out["results"])
        seconds[name] = round(time.perf_counter() - started, 2)
    doc: dict[str, Any] = {"machine": machine(), "quick": quick, "results": results,
                           "seconds": seconds}
    if errors:
        doc["errors"] = errors
    return doc
