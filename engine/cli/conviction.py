"""`cappuccino conviction replay`: a model and the conviction filter over historical bars.

    cappuccino conviction replay --model DIR|ensemble:K|dir1,dir2 --data FILE|demo
        [--min-score X] [--start DATE] [--end DATE] [--study NAME] [--tune] [--json]

Reports raw against filtered decisions, the pass rate, trades per day and month, what each
factor blocked, PnL with fees of both, and a min_score hint toward 75-100 trades a month
(see engine.reports.replay). Exit 2: bad arguments, a missing file or model; exit 1: the
model does not match the data (one line naming what differs) or the data is unusable.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from engine.cli import Subparsers
from engine.cli.errors import JobError, UsageError, why_of
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("conviction", help="conviction filter tools (replay a model over "
                       "history to pick min_score)")
    csub = p.add_subparsers(dest="conviction_command", metavar="ACTION", required=True)
    r = csub.add_parser("replay", help="run a model and the conviction filter over a "
                        "historical window: pass rate, trades/month, PnL with fees")
    r.add_argument("--model", required=True,
                   help="model dir, dir1,dir2,..., or ensemble:K (top K of the latest study, "
                   "or of --study)")
    r.add_argument("--data", required=True,
                   help="CSV/Parquet file (wide or long, see `cappuccino data`), or `demo` "
                   "for the bundled real 5m closes")
    r.add_argument("--min-score", type=float, default=None,
                   help="threshold to replay (default: [conviction] min_score)")
    r.add_argument("--start", help="first bar, UTC date or timestamp (e.g. 2022-03-01)")
    r.add_argument("--end", help="bars before this UTC date or timestamp")
    r.add_argument("--study", default=None, help="study for --model ensemble:K")
    r.add_argument("--tune", action="store_true",
                   help="also search min_score for 75-100 trades/month by replaying the "
                   "filtered path (up to 8 more runs; exact, slower than the estimate)")
    r.add_argument("--json", action="store_true", help="print one JSON object")
    r.set_defaults(func=run_replay)


def _when(flag: str, text: str | None) -> float | None:
    if text is None:
        return None
    try:
        dt = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"{flag} {text!r}: expected a date like 2022-03-01 or "
                         "2022-03-01T12:00 (UTC)") from None
    return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def run_replay(args: argparse.Namespace, cfg: Config) -> int:
    from pathlib import Path

    from engine.data.candles import DataError
    from engine.model.artifact import ModelError
    from engine.reports.replay import (
        MismatchError,
        check_model,
        load_data,
        replay,
        window,
    )
    from engine.reports.replay_text import render_text, to_dict
    from engine.trading.policy import load_offline_policy

    conviction = cfg.conviction
    if args.min_score is not None:
        if not 0.0 <= args.min_score <= 1.0:
            raise UsageError(f"--min-score {args.min_score:g}: expected 0 to 1 (the score is a "
                             "weighted mean of factors in [0, 1])")
        conviction = conviction.model_copy(update={"min_score": float(args.min_score)})
    start, end = _when("--start", args.start), _when("--end", args.end)
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--end {args.end} is not after --start {args.start}")
    if args.data != "demo" and not Path(args.data).is_file():
        raise UsageError(f"--data {args.data}: file not found (give a CSV/Parquet file or "
                         "`demo`)")

    try:
        policy = load_offline_policy(cfg, args.model, args.study)
    except ModelError as e:
        raise UsageError(f"model refused: {e}") from None
    spec = policy.spec

    try:
        candles = load_data(args.data, spec.tickers, spec.timeframe, cfg.data.max_fill_bars,
                            on_repair=lambda m: print(f"cappuccino: --data {args.data}: {m}",
                                                      file=sys.stderr))
        check_model(policy, candles)
        lo, hi = window(candles, start, end)
        from engine.env.step import step_params

        # Fees and spread of the target broker (one cost model), the model's own mapping.
        result = replay(policy, candles, conviction, cfg.risk.max_position_pct, lo, hi,
                        model=args.model, tune=args.tune, cost=step_params(cfg.env).fee)
    except MismatchError as e:
        raise JobError(f"{policy.describe()} does not match --data {args.data}: {e}") from None
    except DataError as e:  # a file that cannot be read is bad usage, as in `backtest`
        raise UsageError(f"--data {args.data}: {why_of(args.data, e)}") from None
    if args.json:
        print(json.dumps(to_dict(result)))
    else:
        sys.stdout.write(render_text(result))
    return 0
