"""`cappuccino sample [--once]`: GPU (NVML) and system (psutil) sampler daemon."""

from __future__ import annotations

import argparse
import logging
import sys

from engine.cli import Subparsers
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("sample", help="GPU and system sampler daemon (NVML, psutil)")
    p.add_argument("--once", action="store_true", help="take one sample, write it, print it")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.sampler import daemon

    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    daemon.run(cfg, once=args.once)
    if args.once:
        from engine.runtime import open_store
        from store.samples import latest_gpus, latest_system

        store = open_store(cfg)
        try:
            s = latest_system(store)
            if s is not None:
                print(f"cpu {s.cpu_pct:.0f}%  ram {s.ram_used_mb:,.0f}/{s.ram_total_mb:,.0f} MB  "
                      f"disk {s.disk_used_mb:,.0f}/{s.disk_total_mb:,.0f} MB  gpu: {s.gpu_status}")
            for g in latest_gpus(store):
                print(f"gpu{g.gpu} {g.name}: {g.mem_used_mb:,.0f}/{g.mem_total_mb:,.0f} MB "
                      f"util {g.util_pct}% temp {g.temp_c} C")
        finally:
            store.close()
    return 0
