"""`cappuccino backtest`: the trader's own decision path over history.

    cappuccino backtest --model DIR|ensemble:K --data FILE|bundled|demo [--from DATE]
        [--to DATE] [--fills close|maker] [--html FILE] [--json] [--study NAME]

Per-ticker trades, round trips and their win rate, PnL and fees; equity against HODL and equal weight, max
drawdown, Sharpe ± its standard error (engine.reports.backtest). A period that overlaps the
model's training data is flagged in one line on stderr. Exit 2: bad arguments, a missing
file or model, data that does not fit the model or the window.
"""

from __future__ import annotations

import argparse
import json
import sys

from engine.cli import Subparsers
from engine.cli.conviction import _when
from engine.cli.errors import UsageError, why_of
from engine.config import Config


def register(sub: Subparsers) -> None:
    p = sub.add_parser("backtest", help="run a model over history the way the trader does "
                       "(conviction and fees): per-ticker PnL, equity vs HODL, Sharpe")
    p.add_argument("--model", required=True,
                   help="model dir, dir1,dir2,..., or ensemble:K (top K of the latest study, "
                   "or of --study)")
    p.add_argument("--data", required=True,
                   help="CSV/Parquet file, or `bundled` (alias `demo`) for the bundled real "
                   "5m closes")
    p.add_argument("--from", dest="start", help="first bar, UTC date (e.g. 2022-03-01)")
    p.add_argument("--to", dest="end", help="bars before this UTC date")
    p.add_argument("--fills", choices=("close", "maker"), default="close",
                   help="close: every order at the bar's close (the env's step, the default);"
                   " maker: the maker-first executor's rule (a limit at the quote, filled on "
                   "the next bar if its range crosses it, else taker at its close)")
    p.add_argument("--html", metavar="FILE", help="also write one self-contained HTML report")
    p.add_argument("--study", default=None, help="study for --model ensemble:K")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, cfg: Config) -> int:
    from pathlib import Path

    from engine.data.candles import DataError
    from engine.model.artifact import ModelError
    from engine.reports.backtest import backtest, overlap_warning, render_text, to_dict, write_html
    from engine.reports.fills import maker_first
    from engine.reports.replay import MismatchError, check_model, load_data, window
    from engine.trading.policy import load_offline_policy

    start, end = _when("--from", args.start), _when("--to", args.end)
    if start is not None and end is not None and end <= start:
        raise UsageError(f"--to {args.end} is not after --from {args.start}")
    data = "demo" if args.data in ("bundled", "demo") else args.data
    if data != "demo" and not Path(data).is_file():
        raise UsageError(f"--data {args.data}: file not found (give a CSV/Parquet file or "
                         "`bundled`)")
    try:
        policy = load_offline_policy(cfg, args.model, args.study)
    except ModelError as e:
        raise UsageError(f"--model {args.model}: {why_of(args.model, e)}") from None
    spec = policy.spec
    try:
        candles = load_data(data, spec.tickers, spec.timeframe, cfg.data.max_fill_bars,
                            on_repair=lambda m: print(f"cappuccino: --data {args.data}: {m}",
                                                      file=sys.stderr))
        check_model(policy, candles)
        lo, hi = window(candles, start, end)
        from engine.env.step import step_params

        result = backtest(policy, candles, cfg.conviction, cfg.risk.max_position_pct, lo, hi,
                          model=args.model, cost=step_params(cfg.env).fee,
                          risk=cfg.risk,
                          execution=maker_first(cfg) if args.fills == "maker" else None)
    except MismatchError as e:
        raise UsageError(f"{policy.describe()} does not match --data {args.data}: "
                         f"{e}") from None
    except DataError as e:
        raise UsageError(f"--data {args.data}: {why_of(args.data, e)}") from None
    warn = overlap_warning(spec, candles, float(result.times[0]), float(result.times[-1]))
    if warn:
        print(warn, file=sys.stderr)
    if args.html:
        write_html(result, args.html)
    if args.json:
        print(json.dumps(to_dict(result)))
    else:
        sys.stdout.write(render_text(result))
        if sys.stdout.isatty():
            from engine.reports.backtest import terminal_chart

            sys.stdout.write(terminal_chart(result))
        if args.html:
            print(f"wrote {args.html}")
    return 0
