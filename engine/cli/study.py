"""`cappuccino study show [--study S] [--json] [--html FILE]`: what a study's evidence says.

Computed fresh from the store and the trials' evidence files (engine.study.evidence): the
trials attempted, the PBO (CSCV, S blocks), the best trial's objective, deflated Sharpe
ratio, held-out active Sharpe with its 95 % block-bootstrap interval, the trivial
baselines scored by the same objective, its seed spread and learning curve, and the paper
gate's verdict with every failing number. `--json` prints one object:

    {"study", "trials_attempted", "pbo", "pbo_blocks",
     "dsr_trials": N, "dsr_pool": {"n", "data", "own", "others": [{"study", "trials"}],
                                   "deleted", "shared", "with_sharpe", "note"},
     "best": {"trial", "objective", "dsr", "holdout_active_sharpe", "holdout_ci": [lo, hi],
              "baselines": {"cash", "hodl", "equal_weight", "static_tilt"}, ...},
     "gate": {"paper": {"passed", "reasons": [...]}}}

(more fields may be added). Exit 0 whether or not the gate passes; 2 for an unknown study;
1 when there is no store.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from engine.cli import Subparsers
from engine.cli.errors import UsageError
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("study", help="a study's evidence: PBO, deflated Sharpe, held-out "
                       "interval, baselines and the paper gate")
    verbs = p.add_subparsers(dest="verb", metavar="VERB", required=True)
    show = verbs.add_parser("show", help="show the evidence of a study (default: the latest)")
    show.add_argument("--study", help="study name (default: the most recently updated)")
    show.add_argument("--json", action="store_true", help="print one JSON object")
    show.add_argument("--html", metavar="FILE", help="also write a self-contained HTML page")
    show.set_defaults(func=run)
    sync = verbs.add_parser("sync", help="copy other hosts' trials and evidence from the "
                            "shared study storage into this store, then recompute the evidence")
    sync.add_argument("--study", help="study name (default: [study] name)")
    sync.add_argument("--json", action="store_true", help="print one JSON object")
    sync.set_defaults(func=run_sync)


def run_sync(args: argparse.Namespace, cfg: Config) -> int:
    from engine.study.storage import StorageMissing
    from engine.study.sync import NotShared, sync

    name = args.study or cfg.study.name
    try:
        res = sync(cfg, name)
    except (NotShared, StorageMissing) as e:
        raise UsageError(str(e)) from None
    except KeyError:   # optuna.load_study: no such study in the storage
        raise UsageError(f"no study named {name!r} in the shared study storage") from None
    doc = {"study": res.study, "mirrored": res.mirrored, "best_value": res.best_value,
           "best_trial": res.best_trial, "pbo": res.pbo, "skipped": list(res.notes)}
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        for note in res.notes:
            print(note)
        print(f"study {name}: {res.mirrored} trials from other hosts updated; best "
              f"{_n(res.best_value)} (trial {res.best_trial}), PBO {_n(res.pbo)}")
    return 0


def run(args: argparse.Namespace, cfg: Config) -> int:
    from engine.cli.status import open_existing
    from engine.names import listing, no_store
    from engine.study.evidence import study_evidence
    from store import registry

    if args.html and not Path(args.html).resolve().parent.is_dir():
        raise UsageError(f"{args.html}: folder {Path(args.html).parent} does not exist")
    if not Path(cfg.store.path).exists():  # like an empty store: no study to name (exit 2)
        if args.study:
            raise no_store("study", args.study, cfg.store.path)
        raise UsageError(f"no study: no store at {cfg.store.path} yet (run a study first)")
    store = open_existing(cfg)
    try:
        studies = [s.name for s in registry.list_studies(store)]
        name = args.study or (studies[0] if studies else None)
        if name is None:
            raise UsageError(f"no study in {cfg.store.path}")
        if name not in studies:
            raise UsageError(f"no study named {name!r} in {cfg.store.path} "
                             f"(studies: {listing(studies)})")
        doc = study_evidence(cfg, store, name).to_json()
    finally:
        store.close()
    if args.html:
        from engine.files import write_atomic
        from engine.reports.study_html import render

        write_atomic(args.html, render(doc).encode())
    if args.json:
        print(json.dumps(doc, indent=2))
    else:
        print("\n".join(text_lines(doc)))
        if args.html:
            print(f"wrote {args.html}")
    return 0


def _n(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def _pool_line(pool: dict[str, Any] | None) -> list[str]:
    """Where the DSR's N comes from (engine.study.pool), when more than this study."""
    if not pool or pool["n"] == pool["own"] and not pool.get("note"):
        return []
    parts = [f"{pool['own']} in this study"]
    if pool["others"]:
        parts.append(", ".join(f"{o['trials']} in {o['study']}" for o in pool["others"]))
    if pool["deleted"]:
        parts.append(f"{pool['deleted']} of deleted studies (trial ledger)")
    if pool["shared"]:
        parts.append(f"{pool['shared']} in the shared storage not synced here")
    note = f"; {pool['note']}" if pool.get("note") else ""
    return [f"    N counts every trial on the same data: {', '.join(parts)}{note}"]


def text_lines(doc: dict[str, Any]) -> list[str]:
    lines = [f"study {doc['study']}: {doc['trials_attempted']} trials attempted, "
             f"{doc['trials_with_evidence']} with out-of-sample evidence",
             f"PBO {_n(doc['pbo'])} (CSCV, {doc['pbo_blocks']} blocks over "
             f"{doc['pbo_bars']} bars)"]
    empty = [t for t in doc.get("trials", []) if not t["splits"]]
    if empty:
        lines.append("without out-of-sample returns (counted in N): " + ", ".join(
            f"#{t['trial']} {t['state']}"
            + (" before any split" if t["evidence"] else ", no evidence file") for t in empty))
    b = doc["best"]
    if b is None:
        lines.append("no completed trial with evidence yet")
    else:
        ci = b["holdout_ci"] or [None, None]
        lines += [
            f"best trial {b['trial']}: objective {_n(b['objective'])} (mean - SE of active "
            f"Sharpe), seeds {', '.join(_n(s, 2) for s in b['seed_scores'])} "
            f"(spread {_n(b['seed_spread'], 2)})",
            f"  deflated Sharpe ratio {_n(b['dsr'])} (N = "
            f"{doc.get('dsr_trials', doc['trials_attempted'])}, {b['bars']} bars, skew "
            f"{_n(b['skew'], 2)}, kurtosis {_n(b['kurtosis'], 2)})",
            *_pool_line(doc.get("dsr_pool")),
            f"  held-out active Sharpe {_n(b['holdout_active_sharpe'], 2)}, 95% interval "
            f"[{_n(ci[0], 2)}, {_n(ci[1], 2)}]",
            "  baselines (same objective): " + ", ".join(
                f"{k.replace('_', ' ')} {_n(v, 2)}" for k, v in b["baselines"].items())]
    gate = doc["gate"]["paper"]
    lines.append(f"paper gate: {'PASSED' if gate['passed'] else 'REFUSED'}")
    lines += [f"  {r}" for r in gate["reasons"]]
    return lines
