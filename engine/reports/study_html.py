"""One self-contained HTML page of a study's evidence (`cappuccino study show --html`)."""

from __future__ import annotations

import html
from typing import Any


def _n(x: Any, nd: int = 3) -> str:
    return "-" if x is None else f"{x:.{nd}f}"


def curve_svg(values: list[float | None], width: int = 480, height: int = 120) -> str:
    pts = [v for v in values if v is not None]
    if len(pts) < 2:
        return "<p>no learning curve</p>"
    lo, hi = min(pts), max(pts)
    span = (hi - lo) or 1.0
    xy = " ".join(f"{i * width / (len(pts) - 1):.1f},{height - (v - lo) / span * height:.1f}"
                  for i, v in enumerate(pts))
    return (f'<svg width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
            f'<polyline fill="none" stroke="#2a6" stroke-width="1.5" points="{xy}"/></svg>'
            f"<p>mean training reward per PPO update, {_n(lo, 4)} to {_n(hi, 4)}</p>")


def render(doc: dict[str, Any]) -> str:
    e = html.escape
    b = doc.get("best")
    rows = [("trials attempted", doc["trials_attempted"]),
            ("PBO (CSCV)", f"{_n(doc['pbo'])} ({doc['pbo_blocks']} blocks, "
                           f"{doc['pbo_bars']} bars)")]
    curve = "<p>no completed trial with evidence</p>"
    if b:
        ci = b.get("holdout_ci") or [None, None]
        rows += [("best trial", b["trial"]), ("objective (mean - SE of active Sharpe)",
                                              _n(b["objective"])),
                 ("deflated Sharpe ratio", _n(b["dsr"])),
                 ("its N: trials on the same data", doc.get("dsr_trials",
                                                           doc["trials_attempted"])),
                 ("skew / kurtosis", f"{_n(b['skew'], 2)} / {_n(b['kurtosis'], 2)}"),
                 ("held-out active Sharpe [95%]",
                  f"{_n(b['holdout_active_sharpe'], 2)} [{_n(ci[0], 2)}, {_n(ci[1], 2)}]"),
                 ("seed scores", ", ".join(_n(s, 2) for s in b["seed_scores"]))]
        rows += [(f"baseline: {k.replace('_', ' ')}", _n(v, 2))
                 for k, v in b["baselines"].items()]
        curve = curve_svg(b.get("learning_curve") or [])
    gate = doc["gate"]["paper"]
    body = "".join(f"<tr><th>{e(str(k))}</th><td>{e(str(v))}</td></tr>" for k, v in rows)
    reasons = "".join(f"<li>{e(r)}</li>" for r in gate["reasons"])
    verdict = "PASSED" if gate["passed"] else "REFUSED"
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>study "
            f"{e(doc['study'])}</title><style>body{{font-family:sans-serif;margin:2em}}"
            f"th{{text-align:left;padding-right:1em}}</style></head><body>"
            f"<h1>Study {e(doc['study'])}</h1><table>{body}</table>"
            f"<h2>Paper gate: {verdict}</h2><ul>{reasons}</ul>"
            f"<h2>Learning curve of the best trial (final fit)</h2>{curve}</body></html>\n")
