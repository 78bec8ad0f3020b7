"""Run the benchmark modules and assemble the JSON object of design.md."""

from __future__ import annotations

import importlib
import os
import platform
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

        info["torch"] = torch.__version__
        info["torch_threads"] = torch.get_num_threads()
        info["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except Exception as e:  # bench still reports the rest
        info["torch"] = f"unavailable: {e}"
    return info


def run_all(quick: bool, only: list[str] | None = None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name in BENCH_MODULES:
        if only and name not in only:
            continue
        module = importlib.import_module(f"engine.bench.{name}")
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix=f"cappuccino-bench-{name}-") as tmp:
            try:
                out: dict[str, Result] = module.run(quick=quick, workdir=Path(tmp))
            except Exception as e:
                errors[name] = f"{type(e).__name__}: {e}"
                traceback.print_exc()
                continue
        for key, res in out.items():
            results[key] = res.to_json()
        results.setdefault("_seconds", {})[name] = round(time.perf_counter() - started, 2)
    seconds = results.pop("_seconds", {})
    doc: dict[str, Any] = {"machine": machine(), "quick": quick, "results": results,
                           "seconds": seconds}
    if errors:
        doc["errors"] = errors
    return doc
